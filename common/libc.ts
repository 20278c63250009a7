// The system calls Node lacks, through koffi: syncfs, extended attributes,
// open-file-description locks, ioctl (FIFREEZE/FITHAW), getdents64, statfs and
// linkat (naming O_TMPFILE files).
// Linux x86_64/aarch64 glibc.

import { closeSync, constants, openSync, statSync } from 'node:fs';
import koffi from 'koffi';
import { UpdaterError } from './errors.ts';

const libc = koffi.load('libc.so.6');

const c = {
  syncfs: libc.func('int syncfs(int fd)'),
  llistxattr: libc.func('long llistxattr(const char *path, _Out_ uint8_t *list, size_t size)'),
  lgetxattr: libc.func('long lgetxattr(const char *path, const char *name, _Out_ uint8_t *value, size_t size)'),
  lsetxattr: libc.func('int lsetxattr(const char *path, const char *name, const uint8_t *value, size_t size, int flags)'),
  fgetxattr: libc.func('long fgetxattr(int fd, const char *name, _Out_ uint8_t *value, size_t size)'),
  fsetxattr: libc.func('int fsetxattr(int fd, const char *name, const uint8_t *value, size_t size, int flags)'),
  lremovexattr: libc.func('int lremovexattr(const char *path, const char *name)'),
  fcntlLock: libc.func('int fcntl(int fd, int cmd, _Inout_ uint8_t *lock)'),
  ioctl: libc.func('int ioctl(int fd, unsigned long request, long arg)'),
  strerror: libc.func('const char *strerror(int errnum)'),
  getdents64: libc.func('long getdents64(int fd, _Out_ void *buf, size_t count)'),
  fstatfs: libc.func('int fstatfs(int fd, _Out_ void *buf)'),
  linkat: libc.func('int linkat(int olddirfd, const char *oldpath, int newdirfd, const char *newpath, int flags)'),
};

const ERANGE = 34;
const ENODATA = 61;
const ENOTSUP = 95;

function errnoError(op: string, target: string): UpdaterError {
  const errno = koffi.errno();
  const err = new UpdaterError('IO_ERRNO', `${op} ${target}: ${c.strerror(errno) as string} (errno ${errno})`);
  (err as UpdaterError & { errno: number }).errno = errno;
  return err;
}

/** Flushes every dirty page of the filesystem holding `fd` (one call for a whole transaction). */
export function syncfs(fd: number, what = `fd ${fd}`): void {
  if (c.syncfs(fd) !== 0) throw errnoError('syncfs', what);
}

/** syncfs on one of koffi's worker threads: the caller's thread goes on meanwhile. */
export function syncfsAsync(fd: number, what = `fd ${fd}`): Promise<void> {
  return new Promise((resolve, reject) => {
    (c.syncfs as unknown as { async: (fd: number, cb: (err: unknown, r: number) => void) => void }).async(fd, (err, r) => {
      if (err) reject(err);
      else if (r !== 0) reject(errnoError('syncfs', what));
      else resolve();
    });
  });
}

const O_TMPFILE = 0o20000000 | constants.O_DIRECTORY;
const AT_FDCWD = -100;
const AT_SYMLINK_FOLLOW = 0x400;
const EEXIST = 17;
/** Whether this process can create unnamed files and link them (null: not tried yet). */
let unnamedFiles: boolean | null = null;

/**
 * Opens a new unnamed file in directory `dir` for writing (O_TMPFILE), to be given its
 * name with linkUnnamed() once it is whole: a crash before that leaves nothing behind, and
 * there is no temporary name to create and rename away. Null where the filesystem (or a
 * missing /proc) does not allow it: the caller writes a temporary file and renames it.
 */
export function openUnnamed(dir: string, mode: number): number | null {
  if (unnamedFiles === false) return null;
  let fd: number;
  try {
    fd = openSync(dir, O_TMPFILE | constants.O_WRONLY, mode);
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    if (code === 'EOPNOTSUPP' || code === 'EISDIR' || code === 'EINVAL' || code === 'ENOTSUP') {
      unnamedFiles = false;
      return null;
    }
    throw err;
  }
  if (unnamedFiles === null) {
    try {
      unnamedFiles = statSync(`/proc/self/fd/${fd}`, { throwIfNoEntry: false }) !== undefined;
    } catch {
      unnamedFiles = false;
    }
    if (!unnamedFiles) {
      closeSync(fd);
      return null;
    }
  }
  return fd;
}

/** Names a file opened by openUnnamed() `dest`; an existing `dest` is kept (true: it was linked). */
export function linkUnnamed(fd: number, dest: string): boolean {
  if (c.linkat(AT_FDCWD, `/proc/self/fd/${fd}`, AT_FDCWD, dest, AT_SYMLINK_FOLLOW) === 0) return true;
  if (koffi.errno() === EEXIST) return false;
  throw errnoError('linkat', dest);
}

/** Lists the xattr names of `path` (not following symlinks). Unsupported filesystems give []. */
export function listXattrs(path: string): string[] {
  let size = 256;
  for (;;) {
    const buf = Buffer.alloc(size);
    const n = Number(c.llistxattr(path, buf, size));
    if (n >= 0) return n === 0 ? [] : buf.subarray(0, n - 1).toString('latin1').split('\0');
    const errno = koffi.errno();
    if (errno === ENOTSUP) return [];
    if (errno !== ERANGE) throw errnoError('llistxattr', path);
    size *= 4;
  }
}

/** Reads one xattr of `path` (not following symlinks); null when absent. */
export function getXattr(path: string, name: string): Buffer | null {
  let size = 256;
  for (;;) {
    const buf = Buffer.alloc(size);
    const n = Number(c.lgetxattr(path, name, buf, size));
    if (n >= 0) return buf.subarray(0, n);
    const errno = koffi.errno();
    if (errno === ENODATA || errno === ENOTSUP) return null;
    if (errno !== ERANGE) throw errnoError(`lgetxattr ${name}`, path);
    size = Math.max(size * 4, Number(c.lgetxattr(path, name, null, 0)));
  }
}

/** Reads one xattr through an open fd; null when absent. */
export function fgetXattr(fd: number, name: string, what: string): Buffer | null {
  let size = 256;
  for (;;) {
    const buf = Buffer.alloc(size);
    const n = Number(c.fgetxattr(fd, name, buf, size));
    if (n >= 0) return buf.subarray(0, n);
    const errno = koffi.errno();
    if (errno === ENODATA || errno === ENOTSUP) return null;
    if (errno !== ERANGE) throw errnoError(`fgetxattr ${name}`, what);
    size *= 4;
  }
}

/** All xattrs of `path` with non-empty values (ostree skips empty ones), sorted by name. */
export function readAllXattrs(path: string): { name: string; value: Buffer }[] {
  const out: { name: string; value: Buffer }[] = [];
  for (const name of listXattrs(path).sort()) {
    const value = getXattr(path, name);
    if (value !== null && value.length > 0) out.push({ name, value });
  }
  return out;
}

export function setXattr(path: string, name: string, value: Uint8Array): void {
  if (c.lsetxattr(path, name, value, value.length, 0) !== 0) throw errnoError(`lsetxattr ${name}`, path);
}

export function fsetXattr(fd: number, name: string, value: Uint8Array, what: string): void {
  if (c.fsetxattr(fd, name, value, value.length, 0) !== 0) throw errnoError(`fsetxattr ${name}`, what);
}

// Open-file-description locks, as ostree takes on `.lock` (fcntl F_OFD_SETLK).
const F_OFD_SETLK = 37;
const F_RDLCK = 0;
const F_WRLCK = 1;
const F_UNLCK = 2;
const EAGAIN = 11;
const EACCES = 13;

/** Tries to take (or drop) an OFD lock on the whole file; returns false when another holder conflicts. */
export function tryLockFd(fd: number, kind: 'shared' | 'exclusive' | 'unlock', what: string): boolean {
  // struct flock { short l_type; short l_whence; off_t l_start; off_t l_len; pid_t l_pid; } = 32 bytes on LP64.
  const fl = Buffer.alloc(32);
  fl.writeInt16LE(kind === 'shared' ? F_RDLCK : kind === 'exclusive' ? F_WRLCK : F_UNLCK, 0);
  if (c.fcntlLock(fd, F_OFD_SETLK, fl) === 0) return true;
  const errno = koffi.errno();
  if (errno === EAGAIN || errno === EACCES) return false;
  throw errnoError('fcntl(F_OFD_SETLK)', what);
}

// <linux/fs.h>: FIFREEZE = _IOWR('X', 119, int), FITHAW = _IOWR('X', 120, int).
const FIFREEZE = 0xc0045877;
const FITHAW = 0xc0045878;

/**
 * FIFREEZE then FITHAW of the filesystem of `fd`: the freeze writes the journal out
 * (what a bootloader that cannot replay it needs). Returns false when the filesystem
 * or the caller cannot freeze, or another process has it frozen (EBUSY): the caller
 * syncs instead. A thaw that finds the filesystem already thawed (EINVAL: someone
 * else thawed it) is success, since the flush happened at the freeze.
 */
export function freezeThaw(fd: number, what: string): boolean {
  if (c.ioctl(fd, FIFREEZE, 0) !== 0) {
    const errno = koffi.errno();
    // EPERM, EINVAL, ENOTTY, EOPNOTSUPP: cannot freeze here; EBUSY: already frozen.
    if (errno === 1 || errno === 22 || errno === 25 || errno === 95 || errno === 16) return false;
    throw errnoError('ioctl(FIFREEZE)', what);
  }
  if (c.ioctl(fd, FITHAW, 0) !== 0 && koffi.errno() !== 22) throw errnoError('ioctl(FITHAW)', what);
  return true;
}

/** The entries of one directory as getdents64 returns them: no stat per entry. */
export interface DirEntries {
  /** Names, neither `.` nor `..`, in the directory's own order, decoded as UTF-8. */
  names: string[];
  /** Indexes of the names that are not valid UTF-8 (those are decoded as Latin-1). */
  nonUtf8: number[];
  /** d_type per entry: DT_REG, DT_DIR, DT_LNK, … or DT_UNKNOWN when the filesystem does not say. */
  types: Uint8Array;
  /** d_ino per entry, as a number the way Node's Stats carries st_ino. */
  inos: Float64Array;
}

export const DT_UNKNOWN = 0;
export const DT_DIR = 4;
export const DT_REG = 8;
export const DT_LNK = 10;

const utf8 = new TextDecoder('utf-8', { fatal: true });
let direntBuf = Buffer.allocUnsafe(256 * 1024);

/**
 * Reads a directory with getdents64: names, types and inode numbers in one system call per
 * 256 KiB of entries. `struct linux_dirent64` is { u64 d_ino; s64 d_off; u16 d_reclen;
 * u8 d_type; char d_name[] } on every architecture.
 */
export function readDirEntries(path: string): DirEntries {
  const fd = openSync(path, constants.O_RDONLY | constants.O_DIRECTORY);
  const names: string[] = [];
  const nonUtf8: number[] = [];
  let types = new Uint8Array(64);
  let inos = new Float64Array(64);
  try {
    for (;;) {
      const n = Number(c.getdents64(fd, direntBuf, direntBuf.length));
      if (n < 0) throw errnoError('getdents64', path);
      if (n === 0) break;
      const buf = direntBuf;
      // The whole chunk as Latin-1 once; ASCII names are substrings of it.
      const text = buf.toString('latin1', 0, n);
      for (let off = 0; off < n;) {
        const reclen = buf[off + 16] | (buf[off + 17] << 8);
        const start = off + 19;
        const recEnd = off + reclen;
        let nameEnd = start;
        let ascii = true;
        for (; nameEnd < recEnd; nameEnd++) {
          const b = buf[nameEnd];
          if (b === 0) break;
          if (b >= 0x80) ascii = false;
        }
        // Skip "." and "..".
        const dot = buf[start] === 0x2e && (nameEnd === start + 1 || (nameEnd === start + 2 && buf[start + 1] === 0x2e));
        if (!dot) {
          const i = names.length;
          if (i === types.length) {
            const t = new Uint8Array(i * 2); t.set(types); types = t;
            const o = new Float64Array(i * 2); o.set(inos); inos = o;
          }
          if (ascii) names.push(text.substring(start, nameEnd));
          else {
            try {
              names.push(utf8.decode(buf.subarray(start, nameEnd)));
            } catch {
              nonUtf8.push(i);
              names.push(text.substring(start, nameEnd));
            }
          }
          types[i] = buf[off + 18];
          // u64 little-endian: both halves exact, one rounding past 2^53 (as Node's st_ino).
          const lo = (buf[off] | (buf[off + 1] << 8) | (buf[off + 2] << 16)) + buf[off + 3] * 0x1000000;
          const hi = (buf[off + 4] | (buf[off + 5] << 8) | (buf[off + 6] << 16)) + buf[off + 7] * 0x1000000;
          inos[i] = lo + hi * 4294967296;
        }
        off += reclen;
      }
    }
  } finally {
    closeSync(fd);
  }
  return { names, nonUtf8, types: types.subarray(0, names.length), inos: inos.subarray(0, names.length) };
}

/** f_type of the filesystem holding `path` (statfs(2)), e.g. 0xEF53 for ext4. */
export function filesystemType(path: string): number {
  const fd = openSync(path, constants.O_RDONLY | constants.O_DIRECTORY);
  try {
    // struct statfs starts with a long f_type on LP64.
    const buf = Buffer.alloc(120);
    if (c.fstatfs(fd, buf) !== 0) throw errnoError('fstatfs', path);
    return Number(buf.readBigInt64LE(0));
  } finally {
    closeSync(fd);
  }
}
