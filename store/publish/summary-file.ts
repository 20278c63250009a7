// `atomic repo summary -u`: regenerates a repository's `summary` (and `summary.sig`) the
// way `ostree summary -u` 2022.7 does (ostree-format.md §6): in a collection repo it first
// commits a new `ostree-metadata` commit, then, under the repository lock, reindexes the
// static deltas, writes `summary` atomically and replaces or removes `summary.sig`.

import { readdir, readFile, unlink } from 'node:fs/promises';
import { join } from 'node:path';
import { isErrno, UpdaterError } from '../../common/errors.ts';
import { writeFileAtomic } from '../../common/fs-atomic.ts';
import { bswap64, variant, type VarDict } from '../gvariant/index.ts';
import { isChecksum } from '../objects/index.ts';
import { lockRepo } from '../repo/lock.ts';
import { Repo } from '../repo/repo.ts';
import { Transaction } from '../repo/transaction.ts';
import { reindexDeltas } from '../delta/index.ts';
import { addSignatureToCommitmeta, hasSignature, signBytes, type KeyInput } from '../sign/index.ts';
import { buildMetadataCommit, buildSummary, emptyRootObjects, METADATA_REF, SUMMARY_KEYS, type RefCommit } from './summary-build.ts';

export interface RegenerateSummaryOptions {
  /** Extra summary metadata (`--add-metadata`), in the order given. */
  additionalMetadata?: VarDict;
  /** Adds `ostree.summary.expires` (seconds since the epoch, stored big-endian as ostree reads it). */
  expires?: number;
  /** ed25519 secret keys: each signs the new summary into `summary.sig`. */
  signingKeys?: readonly KeyInput[];
  /** The current time in seconds (last-modified, and the ostree-metadata commit's timestamp). */
  now?: number;
  /** Called once if the repository lock is busy and we start waiting for it. */
  onLockWait?: () => void;
}

export interface RegenerateSummaryResult {
  /** The bytes written to `summary`. */
  summary: Uint8Array;
  /** Refs listed (main collection plus collection map). */
  refs: number;
  /** Static deltas listed. */
  deltas: number;
  /** Signatures written to `summary.sig` (0: the file was removed). */
  signatures: number;
  /** The new `ostree-metadata` commit in a collection repo, else null. */
  metadataCommit: string | null;
}

/** Reads ref files under `dir` (recursively) as name → checksum; names use '/'. */
async function readRefDir(dir: string, prefix = ''): Promise<Map<string, string>> {
  const out = new Map<string, string>();
  let entries;
  try {
    entries = await readdir(dir, { withFileTypes: true });
  } catch (err) {
    if (isErrno(err, 'ENOENT') || isErrno(err, 'ENOTDIR')) return out;
    throw err;
  }
  for (const e of entries) {
    const name = prefix ? `${prefix}/${e.name}` : e.name;
    if (e.isDirectory()) {
      for (const [k, v] of await readRefDir(join(dir, e.name), name)) out.set(k, v);
    } else if (e.isFile()) {
      const csum = (await readFile(join(dir, e.name), 'utf8')).trim();
      if (!isChecksum(csum)) throw new UpdaterError('STORE_BAD_REF', `ref ${name} (${join(dir, e.name)}) does not hold a checksum`);
      out.set(name, csum);
    }
  }
  return out;
}

/**
 * The refs the summary lists, as ostree_repo_list_collection_refs(EXCLUDE_REMOTES) finds
 * them: refs/heads belong to the repo's own collection (or to none), refs/mirrors/ID/… to
 * collection ID; a mirror ref of the repo's own collection replaces a head of the same
 * name. Remote refs (refs/remotes) are never published.
 */
async function collectRefs(repo: Repo, collectionId: string | null): Promise<{ main: Map<string, string>; others: Map<string, Map<string, string>> }> {
  const main = await readRefDir(join(repo.path, 'refs', 'heads'));
  const others = new Map<string, Map<string, string>>();
  const mirrors = join(repo.path, 'refs', 'mirrors');
  for (const e of await readdir(mirrors, { withFileTypes: true }).catch(() => [])) {
    if (!e.isDirectory()) continue;
    const refs = await readRefDir(join(mirrors, e.name));
    if (refs.size === 0) continue;
    if (e.name === collectionId) for (const [k, v] of refs) main.set(k, v);
    else others.set(e.name, refs);
  }
  return { main, others };
}

async function loadRefCommits(repo: Repo, refs: Map<string, string>, collection: string | null): Promise<RefCommit[]> {
  const out: RefCommit[] = [];
  for (const [name, checksum] of refs) {
    let commitBytes: Buffer;
    try {
      commitBytes = await repo.readMetadata(checksum, 'commit');
    } catch (err) {
      const label = collection === null ? name : `(${collection}, ${name})`;
      if (err instanceof UpdaterError) throw new UpdaterError(err.code, `ref ${label}: ${err.message}`, { hint: err.hint, cause: err });
      throw err;
    }
    out.push({ name, checksum, commitBytes });
  }
  return out;
}

/**
 * Commits a new `ostree-metadata` commit (empty tree, bindings + extra metadata) on top
 * of the previous one, as `ostree summary -u` does in a repo with `core.collection-id`.
 */
async function commitMetadataRef(repo: Repo, collectionId: string, additionalMetadata: VarDict, now: number, onWait?: () => void): Promise<string> {
  const tx = await Transaction.begin(repo, { onWait });
  try {
    const parent = await repo.readRef(METADATA_REF);
    const root = emptyRootObjects();
    const rootMeta = await tx.writeMetadata('dirmeta', root.dirmeta);
    const rootTree = await tx.writeMetadata('dirtree', root.dirtree);
    const commit = buildMetadataCommit({ collectionId, additionalMetadata, parent, timestamp: now, rootTree, rootMeta });
    const checksum = await tx.writeMetadata('commit', commit);
    tx.setRef(null, METADATA_REF, checksum);
    await tx.commit();
    return checksum;
  } catch (err) {
    await tx.abort();
    throw err;
  }
}

/**
 * Regenerates `summary` like `ostree summary -u [-m KEY=VALUE…] [--sign KEY…]`.
 * Throws STORE_OBJECT_MISSING / STORE_OBJECT_CORRUPT naming the ref whose commit cannot
 * be read, STORE_BAD_REF for a malformed ref file, KEYFILE_INVALID for a bad boolean in
 * the config; the previous summary stays in place on any error.
 */
export async function regenerateSummary(repoOrPath: Repo | string, opts: RegenerateSummaryOptions = {}): Promise<RegenerateSummaryResult> {
  const path = typeof repoOrPath === 'string' ? repoOrPath : repoOrPath.path;
  const now = opts.now ?? Math.floor(Date.now() / 1000);
  const additional: VarDict = [...(opts.additionalMetadata ?? [])];
  if (opts.expires !== undefined) additional.push([SUMMARY_KEYS.expires, variant('t', bswap64(BigInt(opts.expires)))]);

  let repo = await Repo.open(path);
  const collectionId = repo.config.get('core', 'collection-id') ?? null;
  let metadataCommit: string | null = null;
  // Own transaction (and lock) first; the summary below then lists the new commit.
  if (collectionId !== null) metadataCommit = await commitMetadataRef(repo, collectionId, additional, now, opts.onLockWait);

  const lock = await lockRepo(path, { onWait: opts.onLockWait });
  try {
    repo = await Repo.open(path); // fresh config, read under the lock
    const config = repo.config;
    const { main, others } = await collectRefs(repo, collectionId);
    const refs = await loadRefCommits(repo, main, null);
    const collectionMap = new Map<string, RefCommit[]>();
    for (const [id, m] of others) collectionMap.set(id, await loadRefCommits(repo, m, id));

    // ostree's summary -u reindexes the deltas (and sets core.indexed-deltas) first.
    const { deltas } = await reindexDeltas(repo);

    const summary = buildSummary({
      refs, collectionMap, deltas,
      mode: config.get('core', 'mode') ?? 'bare',
      tombstoneCommits: config.getBoolean('core', 'tombstone-commits', false),
      noDeltasInSummary: config.getBoolean('core', 'no-deltas-in-summary', false),
      collectionId,
      additionalMetadata: additional,
      lastModified: now,
    });

    // Sign before touching the files, so a bad key leaves the old pair intact.
    let sig: Uint8Array | null = null;
    let signatures = 0;
    for (const key of opts.signingKeys ?? []) {
      const one = await signBytes(key, summary);
      if (hasSignature(sig, one, 'summary.sig')) continue; // the same key given twice
      sig = addSignatureToCommitmeta(sig, one, 'summary.sig');
      signatures++;
    }

    await writeFileAtomic(join(path, 'summary'), summary);
    const sigPath = join(path, 'summary.sig');
    if (sig === null) {
      // The old signatures cover the old bytes: a stale summary.sig would only fail verification.
      await unlink(sigPath).catch((err) => {
        if (!isErrno(err, 'ENOENT')) throw err;
      });
    } else {
      await writeFileAtomic(sigPath, sig);
    }
    let listed = refs.length;
    for (const l of collectionMap.values()) listed += l.length;
    return { summary, refs: listed, deltas: deltas.length, signatures, metadataCommit };
  } finally {
    await lock.release();
  }
}

/** Reads a repository's `summary` (and `summary.sig` when present). Throws STORE_SUMMARY_MISSING. */
export async function readSummaryFiles(repoPath: string): Promise<{ summary: Buffer; summarySig: Buffer | null }> {
  let summary: Buffer;
  try {
    summary = await readFile(join(repoPath, 'summary'));
  } catch (err) {
    if (isErrno(err, 'ENOENT')) {
      throw new UpdaterError('STORE_SUMMARY_MISSING', `${repoPath} has no summary file`, { hint: 'create it with `atomic repo summary -u`' });
    }
    throw err;
  }
  const summarySig = await readFile(join(repoPath, 'summary.sig')).catch((err: unknown) => {
    if (isErrno(err, 'ENOENT')) return null;
    throw err;
  });
  return { summary, summarySig };
}
