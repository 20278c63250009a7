// The deltas stored in a repository: listing, reading, deleting, `show`, the
// delta-indexes/ files (ostree writes them on `summary -u` and `static-delta
// reindex`, not on generate), and applying a delta directory offline.

import { mkdir, opendir, readFile, rm, stat, unlink } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { isErrno, UpdaterError } from '../../common/errors.ts';
import { writeFileAtomic } from '../../common/fs-atomic.ts';
import { dictGet } from '../gvariant/index.ts';
import { fromModifiedBase64, sha256Hex, toModifiedBase64 } from '../objects/index.ts';
import type { Repo } from '../repo/repo.ts';
import { applyStaticDelta, type ApplyOptions, type ApplyResult } from './apply.ts';
import { decodePartFile, type PartPayload } from './part.ts';
import { formatDeltaShow } from './show.ts';
import {
  decodeDeltaIndex, decodeSuperblock, deltaIndexRelPath, deltaName, deltaRelDir, encodeDeltaIndex, inlinePartKey, parseDeltaName,
  type DeltaDigest,
} from './superblock.ts';

/** Directory entries in readdir() order (fs.readdir sorts; ostree's listing does not). */
async function listDir(dir: string): Promise<Array<{ name: string; isDir: boolean }>> {
  let handle;
  try {
    handle = await opendir(dir);
  } catch (err) {
    if (isErrno(err, 'ENOENT') || isErrno(err, 'ENOTDIR')) return [];
    throw err;
  }
  const out: Array<{ name: string; isDir: boolean }> = [];
  for await (const e of handle) out.push({ name: e.name, isDir: e.isDirectory() });
  return out;
}

/** Decodes a modified-base64 checksum only when it is canonical (re-encodes to itself). */
function canonicalChecksum(mb64: string): string | null {
  try {
    const hex = fromModifiedBase64(mb64);
    return toModifiedBase64(hex) === mb64 ? hex : null;
  } catch {
    return null;
  }
}

/**
 * The deltas with a superblock, as `{name, dir}`, in the order
 * ostree_repo_list_static_delta_names finds them (directory-listing order; names that
 * are not canonical modified-base64 checksums are skipped).
 */
async function walkDeltas(repoPath: string): Promise<Array<{ name: string; to: string; superblock: string }>> {
  const out: Array<{ name: string; to: string; superblock: string }> = [];
  const base = join(repoPath, 'deltas');
  for (const prefix of await listDir(base)) {
    if (!prefix.isDir || prefix.name.length !== 2) continue;
    for (const sub of await listDir(join(base, prefix.name))) {
      if (!sub.isDir) continue;
      const parts = (prefix.name + sub.name).split('-');
      if (parts.length > 2) continue;
      const hex = parts.map(canonicalChecksum);
      if (hex.some((h) => h === null)) continue;
      const superblock = join(base, prefix.name, sub.name, 'superblock');
      // ostree skips a delta directory without a superblock.
      if (!(await stat(superblock).then((st) => st.isFile(), () => false))) continue;
      out.push({ name: hex.join('-'), to: hex[hex.length - 1]!, superblock });
    }
  }
  return out;
}

/** Names (`FROM-TO` or `TO`) of the deltas in the repo, sorted. */
export async function listDeltas(repo: Repo): Promise<string[]> {
  return (await walkDeltas(repo.path)).map((d) => d.name).sort();
}

/**
 * Every delta with the sha256 of its superblock, in ostree's listing order (the order
 * `summary -u` inserts them into `ostree.static-deltas`).
 */
export async function listDeltaDigests(repo: Repo): Promise<DeltaDigest[]> {
  const out: DeltaDigest[] = [];
  for (const d of await walkDeltas(repo.path)) out.push({ name: d.name, superblockSha256: sha256Hex(await readFile(d.superblock)) });
  return out;
}

/** Reads a delta's superblock file bytes; STORE-level error naming the delta when absent. */
export async function readSuperblock(repo: Repo, name: string): Promise<Uint8Array> {
  const { from, to } = parseDeltaName(name);
  const p = join(repo.path, deltaRelDir(from, to), 'superblock');
  try {
    return await readFile(p);
  } catch (err) {
    if (isErrno(err, 'ENOENT')) throw new UpdaterError('DELTA_NOT_FOUND', `no static delta ${name} in ${repo.path}`, { hint: 'list them with `atomic repo static-delta list`' });
    throw err;
  }
}

/** Deletes a delta directory. */
export async function deleteDelta(repo: Repo, name: string): Promise<void> {
  const { from, to } = parseDeltaName(name);
  const dir = join(repo.path, deltaRelDir(from, to));
  if (!(await stat(dir).then(() => true, () => false))) throw new UpdaterError('DELTA_NOT_FOUND', `no static delta ${name} in ${repo.path}`);
  await rm(dir, { recursive: true, force: true });
  await rm(dirname(dir), { recursive: false }).catch(() => {});
}

/** Reads the decoded payloads of a delta directory's parts (inline or files). */
async function readParts(dir: string, sb: ReturnType<typeof decodeSuperblock>): Promise<PartPayload[]> {
  const out: PartPayload[] = [];
  for (let i = 0; i < sb.parts.length; i++) {
    const inline = dictGet(sb.metadata, inlinePartKey(sb.from, sb.to, i), '(yay)') as [number, Uint8Array] | undefined;
    const what = `part ${i} of delta ${deltaName(sb.from, sb.to)}`;
    let bytes: Uint8Array;
    if (inline) bytes = Buffer.concat([Uint8Array.of(inline[0]), inline[1]]);
    else {
      bytes = await readFile(join(dir, String(i))).catch((err: unknown) => {
        throw new UpdaterError('DELTA_PART_MISSING', `${what}: cannot read ${join(dir, String(i))}`, { cause: err });
      });
    }
    out.push(decodePartFile(bytes, what));
  }
  return out;
}

/**
 * A delta's superblock bytes by name (from the repo) or by a path to a superblock file
 * or delta directory (anything with a '/'), with the directory its parts are in.
 */
export async function readSuperblockFile(repo: Repo, nameOrPath: string): Promise<{ bytes: Uint8Array; dir: string; label: string }> {
  if (!nameOrPath.includes('/')) {
    const { from, to } = parseDeltaName(nameOrPath);
    return { bytes: await readSuperblock(repo, nameOrPath), dir: join(repo.path, deltaRelDir(from, to)), label: nameOrPath };
  }
  const isDir = await stat(nameOrPath).then((s) => s.isDirectory(), () => false);
  const file = isDir ? join(nameOrPath, 'superblock') : nameOrPath;
  const bytes = await readFile(file).catch((err: unknown) => {
    throw new UpdaterError('DELTA_NOT_FOUND', `no superblock at ${file}`, { cause: err });
  });
  return { bytes, dir: isDir ? nameOrPath : dirname(nameOrPath), label: nameOrPath };
}

/** `static-delta show`: by name from the repo, or by a path to a superblock or delta directory. */
export async function showDelta(repo: Repo, nameOrPath: string): Promise<string> {
  const { bytes, dir, label } = await readSuperblockFile(repo, nameOrPath);
  const sb = decodeSuperblock(bytes, join(dir, 'superblock'));
  return formatDeltaShow(label, sb, await readParts(dir, sb));
}

/**
 * Applies a delta stored as a directory (superblock + parts), like
 * `ostree static-delta apply-offline PATH`: PATH is the directory or its superblock.
 */
export async function applyDeltaDirectory(repo: Repo, path: string, opts: Omit<ApplyOptions, 'fetchPart'> = {}): Promise<ApplyResult> {
  const isDir = await stat(path).then((s) => s.isDirectory(), (err: unknown) => {
    throw new UpdaterError('DELTA_NOT_FOUND', `no static delta at ${path}`, { cause: err });
  });
  const dir = isDir ? path : dirname(path);
  const sbPath = isDir ? join(path, 'superblock') : path;
  const bytes = await readFile(sbPath).catch((err: unknown) => {
    throw new UpdaterError('DELTA_NOT_FOUND', `no superblock at ${sbPath}`, { cause: err });
  });
  return applyStaticDelta(repo, bytes, {
    ...opts,
    fetchPart: async (i) => readFile(join(dir, String(i))).catch((err: unknown) => {
      throw new UpdaterError('DELTA_PART_MISSING', `part ${i} of the delta in ${dir} is missing`, { cause: err });
    }),
  });
}

/** TO checksums that have a delta index, sorted. */
export async function listDeltaIndexes(repo: Repo): Promise<string[]> {
  return (await walkIndexes(repo.path)).map((x) => x.to).sort();
}

async function walkIndexes(repoPath: string): Promise<Array<{ to: string; path: string }>> {
  const base = join(repoPath, 'delta-indexes');
  const out: Array<{ to: string; path: string }> = [];
  for (const prefix of await listDir(base)) {
    if (!prefix.isDir || prefix.name.length !== 2) continue;
    for (const f of await listDir(join(base, prefix.name))) {
      if (f.isDir || !f.name.endsWith('.index')) continue;
      const to = canonicalChecksum(prefix.name + f.name.slice(0, -'.index'.length));
      if (to !== null) out.push({ to, path: join(base, prefix.name, f.name) });
    }
  }
  return out;
}

/** Reads the delta index for TO: the deltas ending there and their superblock digests ([] when there is none). */
export async function readDeltaIndex(repo: Repo, to: string): Promise<DeltaDigest[]> {
  const p = join(repo.path, deltaIndexRelPath(to));
  const bytes = await readFile(p).catch((err: unknown) => {
    if (isErrno(err, 'ENOENT')) return null;
    throw err;
  });
  return bytes === null ? [] : decodeDeltaIndex(bytes, p);
}

export interface ReindexResult {
  /** Every delta found, with its superblock digest, in ostree's listing order. */
  deltas: DeltaDigest[];
  /** Index files written (unchanged ones are left alone). */
  written: number;
  /** Stale index files removed. */
  removed: number;
}

/**
 * Rewrites delta-indexes/ as ostree_repo_static_delta_reindex does (on `static-delta
 * reindex` and `summary -u`): one index per TO commit listing its deltas in GVariantDict
 * order, indexes of targets that no longer have a delta removed, and
 * `core.indexed-deltas=true` set in the config. With `to`, only that commit's index.
 */
export async function reindexDeltas(repo: Repo, to?: string): Promise<ReindexResult> {
  if (repo.config.get('core', 'indexed-deltas') !== 'true') {
    repo.config.set('core', 'indexed-deltas', 'true');
    await repo.saveConfig();
  }
  const deltas = await listDeltaDigests(repo);
  const byTo = new Map<string, DeltaDigest[]>();
  for (const d of deltas) {
    const target = parseDeltaName(d.name).to;
    if (to !== undefined && target !== to) continue;
    (byTo.get(target) ?? byTo.set(target, []).get(target)!).push(d);
  }
  let written = 0;
  for (const [t, entries] of byTo) {
    const p = join(repo.path, deltaIndexRelPath(t));
    const bytes = encodeDeltaIndex(entries);
    const old = await readFile(p).catch(() => null);
    if (old && Buffer.from(bytes).equals(old)) continue;
    await mkdir(dirname(p), { recursive: true, mode: 0o775 });
    await writeFileAtomic(p, bytes);
    written++;
  }
  let removed = 0;
  for (const idx of await walkIndexes(repo.path)) {
    if (byTo.has(idx.to) || (to !== undefined && idx.to !== to)) continue;
    await unlink(idx.path).catch((err) => {
      if (!isErrno(err, 'ENOENT')) throw err;
    });
    removed++;
  }
  return { deltas, written, removed };
}
