// Test helpers for publishing: a writable copy of the ostree 2022.7 vector archive repo.

import { cpSync, mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { ARCHIVE } from '../sign/test-vectors.ts';

/** Copies the vector archive repo to `dest`, adding the empty directories git does not keep. */
export function copyVectorRepo(dest: string): string {
  cpSync(ARCHIVE, dest, { recursive: true });
  for (const d of ['refs/mirrors', 'refs/remotes', 'tmp', 'state', 'extensions']) mkdirSync(join(dest, d), { recursive: true });
  return dest;
}
