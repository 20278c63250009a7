// Resolves a path inside an install root as a process chrooted there would see it:
// absolute symlinks restart at the root and `..` never climbs above it. /etc is looked up
// in usr/etc when the tree has already been converted to the OSTree layout.

import { readlinkSync } from 'node:fs';
import { join } from 'node:path';
import { UpdaterError } from '../../common/errors.ts';
import { lstatOrNull } from '../../common/fs.ts';

const MAX_SYMLINKS = 40;

/**
 * The root-relative path (no leading slash) that `path` resolves to inside `rootfs`, or
 * null when some component does not exist. With `etcInUsr`, a leading `etc` component
 * maps to `usr/etc` (the tree's /etc after conversion).
 */
export function resolveInRoot(rootfs: string, path: string, opts: { etcInUsr?: boolean } = {}): string | null {
  // `done` holds the logical path (as seen inside the root); `onDisk` maps it to the tree.
  const onDisk = (parts: string[]): string =>
    (opts.etcInUsr && parts[0] === 'etc' ? ['usr', ...parts] : parts).join('/');
  const pending = path.split('/').filter((c) => c !== '' && c !== '.');
  const done: string[] = [];
  let links = 0;
  while (pending.length > 0) {
    const c = pending.shift()!;
    if (c === '..') {
      done.pop();
      continue;
    }
    const rel = onDisk([...done, c]);
    const st = lstatOrNull(join(rootfs, rel));
    if (st === null) return null;
    if (st.isSymbolicLink()) {
      if (++links > MAX_SYMLINKS) {
        throw new UpdaterError('ROOTFS_SYMLINK_LOOP', `too many levels of symbolic links resolving ${path} in ${rootfs}`);
      }
      const target = readlinkSync(join(rootfs, rel));
      if (target.startsWith('/')) done.length = 0;
      pending.unshift(...target.split('/').filter((x) => x !== '' && x !== '.'));
      continue;
    }
    if (pending.length > 0 && !st.isDirectory()) return null;
    done.push(c);
  }
  return onDisk(done);
}
