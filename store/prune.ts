// Deletes unreachable objects (`ostree prune`, ostree-format.md §11). Roots are
// every commit object, or with refsOnly the commits of all refs; `depth` bounds
// how many ancestors each root keeps (-1 = all); `keepYoungerThan` drops
// ancestors older than a date. A commit's .commitmeta and commitpartial go with it.

import { lstat, readdir, rm, unlink } from 'node:fs/promises';
import { join } from 'node:path';
import { lockRepo } from './repo/lock.ts';
import type { Repo } from './repo/repo.ts';
import { objectKey, traverseCommit, type ObjectKey } from './traverse.ts';
import { fromModifiedBase64, isChecksum, type ObjectKind } from './objects/index.ts';
import { syncfsPath } from '../common/fs.ts';

export interface PruneOptions {
  refsOnly?: boolean;
  /** Ancestors kept per root; -1 = all (ostree's CLI default). */
  depth?: number;
  /** Seconds since the epoch: ancestors older than this are pruned (implies refsOnly). */
  keepYoungerThan?: number;
  /** Extra commits to keep (the sysroot's deployments). */
  extraRoots?: string[];
  dryRun?: boolean;
  onLockWait?: () => void;
}

export interface PruneResult {
  total: number;
  deleted: number;
  freedBytes: number;
  deletedDeltas: number;
}

export async function pruneRepo(repo: Repo, opts: PruneOptions = {}): Promise<PruneResult> {
  // The exclusive lock keeps a concurrent commit from losing objects it is about to reference.
  const lock = await lockRepo(repo.path, { onWait: opts.onLockWait });
  try {
    const refsOnly = opts.refsOnly || opts.keepYoungerThan !== undefined;
    const depth = opts.depth ?? -1;
    const roots = new Set<string>(opts.extraRoots ?? []);
    if (refsOnly) for (const csum of (await repo.listRefs()).values()) roots.add(csum);
    else for (const c of await repo.listCommitObjects()) roots.add(c);

    const reachable = new Set<ObjectKey>();
    const keepIf = opts.keepYoungerThan === undefined ? undefined : (ts: number) => ts >= opts.keepYoungerThan!;
    for (const root of [...roots].sort()) {
      if (await repo.hasObject(root, 'commit')) await traverseCommit(repo, root, depth, reachable, keepIf);
    }

    let total = 0;
    let deleted = 0;
    let freedBytes = 0;
    const deletedCommits = new Set<string>();
    // Unreachable commits go first: a prune killed half-way then leaves objects that
    // nothing names (the next prune takes them), never a commit whose tree is gone.
    const doomed: Array<[string, ObjectKind, string]> = [];
    for (const [key, dir, name] of repo.listObjectKeysSync()) {
      if (reachable.has(key)) {
        total++;
        continue;
      }
      const csum = key.slice(0, 64);
      const kind = key.slice(65) as ObjectKind;
      if (kind === 'commitmeta' || !isChecksum(csum)) continue; // commitmeta goes with its commit
      total++;
      doomed.push([csum, kind, `${dir}/${name}`]);
    }
    doomed.sort((a, b) => Number(b[1] === 'commit') - Number(a[1] === 'commit'));
    let commitsGone = false;
    for (const [csum, kind, path] of doomed) {
      // The commit deletions reach the disk before any of their objects go (power cuts too).
      if (!commitsGone && kind !== 'commit') {
        commitsGone = true;
        if (!opts.dryRun && deletedCommits.size > 0) syncfsPath(repo.path);
      }
      const st = await lstat(path).catch(() => null);
      if (!opts.dryRun) {
        await unlink(path).catch(() => {});
        if (kind === 'commit') {
          deletedCommits.add(csum);
          const meta = repo.objectPath(csum, 'commitmeta');
          const mst = await lstat(meta).catch(() => null);
          if (mst) {
            freedBytes += mst.size;
            await unlink(meta);
          }
          await repo.clearCommitPartial(csum);
        }
      }
      deleted++;
      freedBytes += st && st.nlink <= 1 ? st.size : 0;
    }
    const deletedDeltas = opts.dryRun ? 0 : await pruneDeltas(repo, (c) => deletedCommits.has(c) || !reachable.has(objectKey(c, 'commit')));
    return { total, deleted, freedBytes, deletedDeltas };
  } finally {
    await lock.release();
  }
}

/** Removes static deltas whose target commit is gone. */
async function pruneDeltas(repo: Repo, gone: (csum: string) => boolean): Promise<number> {
  const base = join(repo.path, 'deltas');
  let n = 0;
  for (const prefix of await readdir(base).catch(() => [] as string[])) {
    for (const rest of await readdir(join(base, prefix)).catch(() => [] as string[])) {
      const name = prefix + rest;
      const to = name.includes('-') ? name.slice(name.indexOf('-') + 1) : name;
      let toCsum: string;
      try {
        toCsum = fromModifiedBase64(to);
      } catch {
        continue;
      }
      if (gone(toCsum)) {
        await rm(join(base, prefix, rest), { recursive: true, force: true });
        n++;
      }
    }
  }
  return n;
}
