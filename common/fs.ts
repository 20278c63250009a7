// Small filesystem helpers shared across modules.

import { closeSync, lstatSync, openSync, type Stats } from 'node:fs';
import { isErrno } from './errors.ts';
import { syncfs } from './libc.ts';

/** lstat that answers null when the path (or a parent) does not exist. */
export function lstatOrNull(path: string): Stats | null {
  try {
    return lstatSync(path);
  } catch (err) {
    if (isErrno(err, 'ENOENT') || isErrno(err, 'ENOTDIR')) return null;
    throw err;
  }
}

/** syncfs on the filesystem holding `path`. */
export function syncfsPath(path: string): void {
  const fd = openSync(path, 'r');
  try {
    syncfs(fd, path);
  } finally {
    closeSync(fd);
  }
}
