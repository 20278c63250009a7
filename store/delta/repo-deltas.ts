// The deltas stored in a repository: listing, reading, deleting, `show`, the
// delta-indexes/ files (ostree writes them on `summary -u` and `static-delta
// reindex`, not on generate), and applying a delta directory offline.

import { mkdir, readdir, readFile, rm, stat, unlink } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { isErrno, UpdaterError } from '../../common/errors.ts';
import { writeFileAtomic } from '../../common/fs-atomic.ts';
import { dictGet } from '../gvariant/index.ts';
import { sha256Hex } from '../objects/index.ts';
import type { Repo } from '../repo/repo.ts';
import { applyStaticDelta, type ApplyOptions, type ApplyResult } from './apply.ts';
import { decodePartFile, type PartPayload } from './part.ts';
import { formatDeltaShow } from './show.ts';
import {
  decodeDeltaIndex, decodeSuperblock, deltaFromDirNames, deltaIndexRelPath, deltaName, deltaRelDir, encodeDeltaIndex,
  inlinePartKey, parseDeltaName,
} from './superblock.ts';

/** Names (`FROM-TO` or `TO`) of the deltas in the repo, sorted. */
export async function listDeltas(repo: Repo): Promise<string[]> {
  const base = join(repo.path, 'deltas');
  const out: string[] = [];
  for (const prefix of await readdir(base).catch(() => [] as string[])) {
    for (const rest of await readdir(join(base, prefix)).catch(() => [] as string[])) {
      const d = deltaFromDirNames(prefix, rest);
      if (!d) continue;
      if (await stat(join(base, prefix, rest, 'superblock')).then(() => true, () => false)) out.push(deltaName(d.from, d.to));
    }
  }
  return out.sort();
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

/** `static-delta show`: by name from the repo, or by a path to a superblock or delta directory. */
export async function showDelta(repo: Repo, nameOrPath: string): Promise<string> {
  let dir: string;
  let bytes: Uint8Array;
  let label = nameOrPath;
  if (nameOrPath.includes('/')) {
    const isDir = await stat(nameOrPath).then((s) => s.isDirectory(), () => false);
    dir = isDir ? nameOrPath : dirname(nameOrPath);
    bytes = await readFile(isDir ? join(nameOrPath, 'superblock') : nameOrPath);
  } else {
    const { from, to } = parseDeltaName(nameOrPath);
    dir = join(repo.path, deltaRelDir(from, to));
    bytes = await readSuperblock(repo, nameOrPath);
    label = nameOrPath;
  }
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
  const base = join(repo.path, 'delta-indexes');
  const out: string[] = [];
  for (const prefix of await readdir(base).catch(() => [] as string[])) {
    for (const f of await readdir(join(base, prefix)).catch(() => [] as string[])) {
      if (!f.endsWith('.index')) continue;
      const d = deltaFromDirNames(prefix, f.slice(0, -'.index'.length));
      if (d && d.from === null) out.push(d.to);
    }
  }
  return out.sort();
}

/** Reads the delta index for TO: delta name → superblock sha256. */
export async function readDeltaIndex(repo: Repo, to: string): Promise<Array<{ name: string; digest: string }>> {
  const p = join(repo.path, deltaIndexRelPath(to));
  const bytes = await readFile(p).catch((err: unknown) => {
    if (isErrno(err, 'ENOENT')) return null;
    throw err;
  });
  return bytes === null ? [] : decodeDeltaIndex(bytes, p);
}

/**
 * Rewrites delta-indexes/ (ostree_repo_static_delta_reindex): one index per
 * TO commit listing its deltas and their superblock digests; stale indexes are
 * removed; `core.indexed-deltas=true` is set in the config. With `to`, only that commit.
 */
export async function reindexDeltas(repo: Repo, to?: string): Promise<number> {
  if (repo.config.get('core', 'indexed-deltas') !== 'true') {
    repo.config.set('core', 'indexed-deltas', 'true');
    await repo.saveConfig();
  }
  const byTo = new Map<string, Array<{ name: string; digest: string }>>();
  for (const t of to === undefined ? await listDeltaIndexes(repo) : [to]) byTo.set(t, []);
  for (const name of await listDeltas(repo)) {
    const d = parseDeltaName(name);
    if (to !== undefined && d.to !== to) continue;
    const digest = sha256Hex(await readSuperblock(repo, name));
    (byTo.get(d.to) ?? byTo.set(d.to, []).get(d.to)!).push({ name, digest });
  }
  let written = 0;
  for (const [t, entries] of byTo) {
    const p = join(repo.path, deltaIndexRelPath(t));
    if (entries.length === 0) {
      await unlink(p).catch((err) => {
        if (!isErrno(err, 'ENOENT')) throw err;
      });
      continue;
    }
    const bytes = encodeDeltaIndex(entries);
    const old = await readFile(p).catch(() => null);
    if (old && Buffer.from(bytes).equals(old)) continue;
    await mkdir(dirname(p), { recursive: true, mode: 0o775 });
    await writeFileAtomic(p, bytes);
    written++;
  }
  return written;
}
