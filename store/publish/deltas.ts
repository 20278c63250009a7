// The static deltas a repository holds, as `ostree summary -u` sees them (ostree-format.md
// §8): names read from deltas/XX/REST[-TO]/superblock in directory-listing order, the
// sha256 of each superblock, and the per-target delta-indexes/ files it regenerates.

import { opendir, readFile, unlink, mkdir } from 'node:fs/promises';
import { join } from 'node:path';
import { isErrno } from '../../common/errors.ts';
import { writeFileAtomic } from '../../common/fs-atomic.ts';
import { fromModifiedBase64, isChecksum, sha256Hex, toModifiedBase64 } from '../objects/index.ts';
import { buildDeltaIndex, type DeltaDigest } from './summary-build.ts';

/** Directory entries in readdir() order (fs.readdir sorts; ostree's listing does not). */
async function listDir(dir: string): Promise<{ name: string; isDir: boolean }[]> {
  let handle;
  try {
    handle = await opendir(dir);
  } catch (err) {
    if (isErrno(err, 'ENOENT') || isErrno(err, 'ENOTDIR')) return [];
    throw err;
  }
  const out: { name: string; isDir: boolean }[] = [];
  for await (const e of handle) out.push({ name: e.name, isDir: e.isDirectory() });
  return out;
}

/** Decodes a modified-base64 checksum only when it is canonical (re-encodes to itself). */
function decodeName(mb64: string): string | null {
  try {
    const hex = fromModifiedBase64(mb64);
    return toModifiedBase64(hex) === mb64 ? hex : null;
  } catch {
    return null;
  }
}

/**
 * Every delta with a superblock, as `{name, superblockSha256}` (`name` is `TO` or
 * `FROM-TO` in hex), in the order ostree's ostree_repo_list_static_delta_names finds
 * them. Directories whose names are not checksums are skipped.
 */
export async function listStaticDeltas(repoPath: string): Promise<DeltaDigest[]> {
  const out: DeltaDigest[] = [];
  const base = join(repoPath, 'deltas');
  for (const prefix of await listDir(base)) {
    if (!prefix.isDir || prefix.name.length !== 2) continue;
    for (const sub of await listDir(join(base, prefix.name))) {
      if (!sub.isDir) continue;
      const parts = (prefix.name + sub.name).split('-');
      if (parts.length > 2) continue;
      const hex = parts.map(decodeName);
      if (hex.some((h) => h === null)) continue;
      let superblock: Buffer;
      try {
        superblock = await readFile(join(base, prefix.name, sub.name, 'superblock'));
      } catch (err) {
        if (isErrno(err, 'ENOENT')) continue; // ostree skips a delta directory without a superblock
        throw err;
      }
      out.push({ name: hex.join('-'), superblockSha256: sha256Hex(superblock) });
    }
  }
  return out;
}

/** Repo-relative path of the delta index for target commit `to`. */
export function deltaIndexRelPath(to: string): string {
  const b = toModifiedBase64(to);
  return join('delta-indexes', b.slice(0, 2), `${b.slice(2)}.index`);
}

/**
 * Rewrites `delta-indexes/` from `deltas` (what `ostree static-delta reindex` and
 * `ostree summary -u` do): one index per target commit listing every delta that ends
 * there, then removes the index files of targets that no longer have a delta.
 * Returns the number of index files written.
 */
export async function reindexStaticDeltas(repoPath: string, deltas: DeltaDigest[]): Promise<number> {
  const byTarget = new Map<string, DeltaDigest[]>();
  for (const d of deltas) {
    const to = d.name.includes('-') ? d.name.slice(65) : d.name;
    const list = byTarget.get(to) ?? [];
    list.push(d);
    byTarget.set(to, list);
  }
  for (const [to, list] of byTarget) {
    const rel = deltaIndexRelPath(to);
    await mkdir(join(repoPath, rel, '..'), { recursive: true, mode: 0o775 });
    await writeFileAtomic(join(repoPath, rel), buildDeltaIndex(list));
  }
  const base = join(repoPath, 'delta-indexes');
  for (const prefix of await listDir(base)) {
    if (!prefix.isDir || prefix.name.length !== 2) continue;
    for (const f of await listDir(join(base, prefix.name))) {
      if (f.isDir || !f.name.endsWith('.index')) continue;
      const to = decodeName(prefix.name + f.name.slice(0, -'.index'.length));
      if (to === null || !isChecksum(to) || byTarget.has(to)) continue;
      await unlink(join(base, prefix.name, f.name)).catch((err) => {
        if (!isErrno(err, 'ENOENT')) throw err;
      });
    }
  }
  return byTarget.size;
}
