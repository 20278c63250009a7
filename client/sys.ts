// System calls the host client needs beyond common/libc.ts, through koffi: the inode
// flags ioctl (`chattr +i` on deployment roots, as ostree sets) and the global sync().

import { closeSync, openSync } from 'node:fs';
import koffi from 'koffi';
import { UpdaterError } from '../common/errors.ts';

const libc = koffi.load('libc.so.6');
const c = {
  ioctlFlags: libc.func('int ioctl(int fd, unsigned long request, _Inout_ int *flags)'),
  ioctlArg: libc.func('ioctl', 'int', ['int', 'unsigned long', 'long']),
  sync: libc.func('void sync(void)'),
  strerror: libc.func('const char *strerror(int errnum)'),
};

// <linux/fs.h>: FS_IOC_GETFLAGS = _IOR('f', 1, long), FS_IOC_SETFLAGS = _IOW('f', 2, long); FS_IMMUTABLE_FL.
const FS_IOC_GETFLAGS = 0x80086601;
const FS_IOC_SETFLAGS = 0x40086602;
const FS_IMMUTABLE_FL = 0x10;
// EPERM (no CAP_LINUX_IMMUTABLE), ENOTTY/EOPNOTSUPP/EINVAL (tmpfs, overlayfs, …): ostree ignores these too.
const IGNORED = new Set([1, 25, 95, 22]);

/**
 * Sets or clears the immutable flag of `path` (a directory). Returns false when the
 * filesystem or the caller cannot, which ostree also tolerates.
 */
export function setImmutable(path: string, on: boolean): boolean {
  let fd: number;
  try {
    fd = openSync(path, 'r');
  } catch (err) {
    throw new UpdaterError('DEPLOY_IO', `opening ${path} to ${on ? 'set' : 'clear'} its immutable flag: ${(err as Error).message}`, { cause: err });
  }
  try {
    const flags = [0];
    if (c.ioctlFlags(fd, FS_IOC_GETFLAGS, flags) !== 0) {
      const errno = koffi.errno();
      if (IGNORED.has(errno)) return false;
      throw new UpdaterError('DEPLOY_IO', `FS_IOC_GETFLAGS ${path}: ${c.strerror(errno) as string}`);
    }
    const want = on ? flags[0]! | FS_IMMUTABLE_FL : flags[0]! & ~FS_IMMUTABLE_FL;
    if (want === flags[0]) return true;
    if (c.ioctlFlags(fd, FS_IOC_SETFLAGS, [want]) !== 0) {
      const errno = koffi.errno();
      if (IGNORED.has(errno)) return false;
      throw new UpdaterError('DEPLOY_IO', `FS_IOC_SETFLAGS ${path}: ${c.strerror(errno) as string}`);
    }
    return true;
  } finally {
    closeSync(fd);
  }
}

/** True when `path` has the immutable flag (false where flags are unsupported). */
export function isImmutable(path: string): boolean {
  const fd = openSync(path, 'r');
  try {
    const flags = [0];
    if (c.ioctlFlags(fd, FS_IOC_GETFLAGS, flags) !== 0) return false;
    return (flags[0]! & FS_IMMUTABLE_FL) !== 0;
  } finally {
    closeSync(fd);
  }
}

/** sync(2): ostree's belt-and-braces global flush after syncfs of the sysroot and /boot. */
export function syncAll(): void {
  c.sync();
}

