// `atomic repo fsck --repair`: fsck with --delete (corrupt objects go, their
// commits become partial), then each affected commit is pulled again by
// checksum from the remote whose ref reaches it (refs/remotes/REMOTE/…), which
// re-walks the partial tree and fetches exactly what is missing; then fsck again.

import { fsckRepo, type FsckResult } from '../fsck.ts';
import type { Repo } from '../repo/repo.ts';
import { pullRemote, type PullOptions } from './pull.ts';

export type RepairOptions = Omit<PullOptions, 'refs' | 'mirror' | 'commitMetadataOnly' | 'depth'>;

export interface RepairedCommit {
  commit: string;
  /** The remote it was fetched from again, or null when no remote ref reaches it. */
  remote: string | null;
  repaired: boolean;
  error?: string;
}

export interface RepairResult {
  /** fsck before the repair (its problems are what was found). */
  before: FsckResult;
  commits: RepairedCommit[];
  /** fsck after the repair. */
  after: FsckResult;
}

/** Which remote's ref reaches `commit` (the ref itself or one of its local ancestors). */
async function remoteFor(repo: Repo, commit: string, refs: Map<string, string>): Promise<string | null> {
  for (const [name, head] of refs) {
    const i = name.indexOf(':');
    if (i < 0) continue;
    let csum: string | null = head;
    for (let n = 0; csum !== null && n < 10_000; n++) {
      if (csum === commit) return name.slice(0, i);
      if (!(await repo.hasObject(csum, 'commit'))) break;
      try {
        csum = (await repo.loadCommit(csum)).parent;
      } catch {
        break;
      }
    }
  }
  return null;
}

export async function repairRepo(repo: Repo, opts: RepairOptions = {}): Promise<RepairResult> {
  const before = await fsckRepo(repo, { delete: true });
  const refs = await repo.listRefs();
  const affected = new Set<string>();
  for (const p of before.problems) {
    if (p.kind === 'ref') {
      const csum = refs.get(p.object);
      if (csum) affected.add(csum);
    } else {
      for (const c of p.commits) affected.add(c);
    }
  }
  const byRemote = new Map<string, string[]>();
  const commits: RepairedCommit[] = [];
  for (const c of [...affected].sort()) {
    const remote = await remoteFor(repo, c, refs);
    if (remote === null) {
      commits.push({ commit: c, remote: null, repaired: false, error: 'no remote ref reaches this commit' });
      continue;
    }
    byRemote.set(remote, [...(byRemote.get(remote) ?? []), c]);
  }
  for (const [remote, list] of byRemote) {
    try {
      await pullRemote(repo, remote, { ...opts, refs: list });
      for (const c of list) commits.push({ commit: c, remote, repaired: true });
    } catch (err) {
      for (const c of list) commits.push({ commit: c, remote, repaired: false, error: (err as Error).message });
    }
  }
  commits.sort((a, b) => (a.commit < b.commit ? -1 : 1));
  const after = await fsckRepo(repo);
  return { before, commits, after };
}
