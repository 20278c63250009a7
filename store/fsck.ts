// Repository verification (`ostree fsck`, ostree-format.md §11): every ref names
// an existing commit; every reachable object of every complete commit is re-read
// and re-hashed. Missing and corrupt objects are reported with the commits that
// reach them; --delete removes corrupt ones and marks those commits partial.

import { createHash } from 'node:crypto';
import { createReadStream, readFileSync, statSync } from 'node:fs';
import { open, unlink } from 'node:fs/promises';
import { inflateRawSync } from 'node:zlib';
import { UpdaterError } from '../common/errors.ts';
import { inflateFile } from '../common/inflate-file.ts';
import { contentStreamPrefix, type ObjectKind } from './objects/index.ts';
import type { ContentInfo, Repo } from './repo/repo.ts';
import { objectKey } from './traverse.ts';

export interface FsckProblem {
  object: string;
  kind: ObjectKind | 'ref';
  problem: 'missing' | 'corrupt';
  message: string;
  commits: string[];
}

export interface FsckResult {
  commits: number;
  partialCommits: number;
  objectsChecked: number;
  problems: FsckProblem[];
  deleted: number;
}

export interface FsckOptions {
  /** Delete corrupt objects and mark the commits reaching them partial. */
  delete?: boolean;
  onProgress?: (done: number, phase: string) => void;
}

const SMALL_FILE = 8 * 1024 * 1024;

/**
 * Computes a content object's checksum from its stored form (any repo mode).
 * Objects up to SMALL_FILE are read with one synchronous read; larger ones stream.
 */
export async function computeContentChecksum(repo: Repo, csum: string): Promise<string> {
  const info = repo.readContentInfoSync(csum);
  const small = repo.mode === 'archive' ? statSync(info.path).size <= SMALL_FILE : info.size <= SMALL_FILE;
  if (info.header.symlinkTarget || small) return contentChecksumSync(repo, csum, info);
  const h = createHash('sha256').update(contentStreamPrefix(info.header));
  let n = 0;
  if (repo.mode === 'archive') {
    try {
      n = await inflateFile(info.path, 8 + (await headerLength(info.path)), (chunk) => void h.update(chunk));
    } catch (err) {
      throw new UpdaterError('STORE_OBJECT_CORRUPT', `object ${csum}.file: compressed data is corrupt (${(err as Error).message})`, { cause: err });
    }
  } else {
    for await (const chunk of createReadStream(info.path, { highWaterMark: 1 << 20 })) {
      h.update(chunk as Buffer);
      n += (chunk as Buffer).length;
    }
  }
  if (n !== info.size) throw new UpdaterError('STORE_OBJECT_CORRUPT', `object ${csum}.file: ${n} bytes of data, header says ${info.size}`);
  return h.digest('hex');
}

/** The small-object case: one read (and inflate), hashed in memory. */
function contentChecksumSync(repo: Repo, csum: string, info: ContentInfo): string {
  const h = createHash('sha256').update(contentStreamPrefix(info.header));
  if (info.header.symlinkTarget) return h.digest('hex');
  let data: Buffer;
  if (repo.mode === 'archive') {
    const raw = readFileSync(info.path);
    try {
      data = inflateRawSync(raw.subarray(8 + raw.readUInt32BE(0)));
    } catch (err) {
      throw new UpdaterError('STORE_OBJECT_CORRUPT', `object ${csum}.file: compressed data is corrupt (${(err as Error).message})`, { cause: err });
    }
  } else {
    data = readFileSync(info.path);
  }
  if (data.length !== info.size) throw new UpdaterError('STORE_OBJECT_CORRUPT', `object ${csum}.file: ${data.length} bytes of data, header says ${info.size}`);
  return h.update(data).digest('hex');
}

async function headerLength(path: string): Promise<number> {
  const fh = await open(path, 'r');
  try {
    const b = Buffer.alloc(4);
    await fh.read(b, 0, 4, 0);
    return b.readUInt32BE(0);
  } finally {
    await fh.close();
  }
}

/** Verifies the repository; never throws for bad objects, it reports them. */
export async function fsckRepo(repo: Repo, opts: FsckOptions = {}): Promise<FsckResult> {
  const problems = new Map<string, FsckProblem>();
  const report = (object: string, kind: FsckProblem['kind'], err: unknown, commit: string | null): void => {
    const key = `${object}.${kind}`;
    let p = problems.get(key);
    if (!p) {
      const missing = err instanceof UpdaterError && err.code === 'STORE_OBJECT_MISSING';
      p = { object, kind, problem: missing ? 'missing' : 'corrupt', message: err instanceof Error ? err.message : String(err), commits: [] };
      problems.set(key, p);
    }
    if (commit !== null && !p.commits.includes(commit)) p.commits.push(commit);
  };

  for (const [name, csum] of await repo.listRefs()) {
    if (!(await repo.hasObject(csum, 'commit'))) report(name, 'ref', new UpdaterError('STORE_OBJECT_MISSING', `ref ${name} points to missing commit ${csum}`), null);
  }

  const commits = (await repo.listCommitObjects()).sort();
  const verified = new Map<string, unknown>(); // object key → null (ok) or the error
  let partial = 0;
  let checked = 0;

  const check = async (csum: string, kind: ObjectKind, commit: string, fn: () => Promise<void>): Promise<boolean> => {
    const key = objectKey(csum, kind);
    if (!verified.has(key)) {
      try {
        await fn();
        verified.set(key, null);
      } catch (err) {
        verified.set(key, err);
      }
      checked++;
      if (checked % 500 === 0) opts.onProgress?.(checked, 'objects');
    }
    const err = verified.get(key);
    if (err) report(csum, kind, err, commit);
    return !err;
  };

  const walk = async (commit: string, tree: string, meta: string, seen: Set<string>): Promise<void> => {
    await check(meta, 'dirmeta', commit, async () => void (await repo.loadDirmeta(meta)));
    if (seen.has(tree)) return;
    seen.add(tree);
    const ok = await check(tree, 'dirtree', commit, async () => void (await repo.loadDirtree(tree)));
    if (!ok) return;
    const dt = await repo.loadDirtree(tree);
    for (const f of dt.files) {
      await check(f.checksum, 'file', commit, async () => {
        const got = await computeContentChecksum(repo, f.checksum);
        if (got !== f.checksum) throw new UpdaterError('STORE_OBJECT_CORRUPT', `object ${f.checksum}.file: computed checksum ${got}`);
      });
    }
    for (const d of dt.dirs) await walk(commit, d.treeChecksum, d.metaChecksum, seen);
  };

  for (const commit of commits) {
    if (await repo.isCommitPartial(commit)) {
      partial++;
      continue;
    }
    let c;
    try {
      c = await repo.loadCommit(commit);
      verified.set(objectKey(commit, 'commit'), null);
      checked++;
    } catch (err) {
      report(commit, 'commit', err, commit);
      continue;
    }
    await walk(commit, c.rootTree, c.rootMeta, new Set());
  }

  let deleted = 0;
  if (opts.delete) {
    for (const p of problems.values()) {
      if (p.problem !== 'corrupt' || p.kind === 'ref') continue;
      await unlink(repo.objectPath(p.object, p.kind)).catch(() => {});
      deleted++;
      for (const commit of p.commits) if (commit !== p.object) await repo.markCommitPartial(commit, 'f');
    }
    for (const p of problems.values()) {
      if (p.problem === 'missing' && p.kind !== 'ref') for (const commit of p.commits) await repo.markCommitPartial(commit, 'f');
    }
  }
  return { commits: commits.length, partialCommits: partial, objectsChecked: checked, problems: [...problems.values()], deleted };
}
