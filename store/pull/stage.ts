// Where pulled objects go: the transaction's staging directory
// (tmp/staging-BOOTID-RANDOM/CHECKSUM.EXT, the layout transaction.ts renames from),
// and the resumable partial downloads in tmp/pull-partial/.

import { readFileSync } from 'node:fs';
import { copyFile, rename, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { isErrno } from '../../common/errors.ts';
import type { ObjectKind } from '../objects/index.ts';
import type { Transaction } from '../repo/transaction.ts';

/** The staged path of an object (the transaction's layout). */
export function stagedPath(tx: Transaction, csum: string, kind: ObjectKind): string {
  return tx.stagedPath(csum, kind);
}

/** The remote path of an object in an archive repository. */
export function remoteObjectPath(csum: string, kind: ObjectKind): string {
  const ext = kind === 'file' ? 'filez' : kind;
  return `objects/${csum.slice(0, 2)}/${csum.slice(2)}.${ext}`;
}

/** Directory of partial downloads; survives crashes, unlike nothing else in a pull. */
export function partialDir(repoPath: string): string {
  return join(repoPath, 'tmp', 'pull-partial');
}

/** Reads a metadata object that is already in the repo or staged; null when absent. */
export async function readLocalMetadata(tx: Transaction, csum: string, kind: 'commit' | 'dirtree' | 'dirmeta'): Promise<Buffer | null> {
  // Small files read inline: a thread-pool round trip per tree costs more than the read.
  for (const p of [tx.repo.objectPath(csum, kind), stagedPath(tx, csum, kind)]) {
    try {
      return readFileSync(p);
    } catch (err) {
      if (!isErrno(err, 'ENOENT')) throw err;
    }
  }
  return null;
}

let counter = 0;

/**
 * Stages an already-verified `.filez` object verbatim (archive repo, archive source):
 * written to a temp name in the staging dir, then renamed, so a crash leaves whole objects only.
 * `from` is bytes, a file to move (a finished partial download), or a file to copy.
 */
export async function stageArchiveObject(tx: Transaction, csum: string, from: { bytes: Uint8Array } | { path: string; owned: boolean }): Promise<void> {
  const dest = stagedPath(tx, csum, 'file');
  if ('path' in from && from.owned) {
    await rename(from.path, dest);
    tx.markStaged(csum, 'file');
    return;
  }
  const tmp = join(tx.staging, `pull-${process.pid}-${counter++}`);
  try {
    if ('bytes' in from) await writeFile(tmp, from.bytes, { mode: 0o644 });
    else await copyFile(from.path, tmp);
    await rename(tmp, dest);
    tx.markStaged(csum, 'file');
  } catch (err) {
    await rm(tmp, { force: true });
    throw err;
  }
}
