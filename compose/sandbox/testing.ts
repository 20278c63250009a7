// Test support: a tiny usr-merged install root made from the host's static busybox, enough
// to run shell scriptlets and postprocess scripts in the sandbox.

import { chmod, mkdir, symlink, copyFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';

/** Where the host's static busybox lives (Debian's busybox-static). */
export const HOST_BUSYBOX = '/bin/busybox';

const APPLETS = [
  'sh', 'cat', 'echo', 'ls', 'sleep', 'touch', 'mkdir', 'id', 'wget', 'ln', 'rm', 'realpath', 'test', 'printf',
  'chmod', 'cp', 'mv', 'grep', 'sed', 'head', 'tail', 'cut', 'true', 'false', 'env', 'nc', 'find', 'sort', 'wc', 'readlink',
  'basename', 'dirname', 'stat', 'uname', 'tr', 'gzip', 'cpio', 'xargs', 'tee',
];

/**
 * Makes a usr-merged root in `root`: usr/bin/busybox with applet links, bin/sbin/lib
 * symlinks into usr, and empty etc and var (with var/tmp).
 */
export async function makeBusyboxRoot(root: string): Promise<void> {
  for (const d of ['usr/bin', 'usr/sbin', 'usr/lib', 'usr/share', 'etc', 'var/tmp', 'var/lib']) await mkdir(join(root, d), { recursive: true });
  await copyFile(HOST_BUSYBOX, join(root, 'usr/bin/busybox'));
  await chmod(join(root, 'usr/bin/busybox'), 0o755);
  for (const a of APPLETS) await symlink('busybox', join(root, 'usr/bin', a));
  for (const [l, t] of [['bin', 'usr/bin'], ['sbin', 'usr/sbin'], ['lib', 'usr/lib']]) await symlink(t!, join(root, l!));
  await writeFile(join(root, 'etc/passwd'), 'root:x:0:0:root:/root:/bin/sh\n');
  await writeFile(join(root, 'etc/group'), 'root:x:0:\n');
}
