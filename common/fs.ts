// Small filesystem helpers shared across modules.

import { lstatSync, type Stats } from 'node:fs';
import { isErrno } from './errors.ts';

/** lstat that answers null when the path (or a parent) does not exist. */
export function lstatOrNull(path: string): Stats | null {
  try {
    return lstatSync(path);
  } catch (err) {
    if (isErrno(err, 'ENOENT') || isErrno(err, 'ENOTDIR')) return null;
    throw err;
  }
}
