// Reachability (ostree-format.md §11): a commit reaches its root dirtree and
// dirmeta, recursively every dirtree, dirmeta and file, and with depth N its
// N ancestors. Partial commits tolerate missing children.

import { UpdaterError } from '../common/errors.ts';
import type { ObjectKind } from './objects/index.ts';
import type { Repo } from './repo/repo.ts';

/** Key of an object in reachability sets: `CHECKSUM.KIND`. */
export type ObjectKey = string;
export const objectKey = (csum: string, kind: ObjectKind): ObjectKey => `${csum}.${kind}`;

/** Adds every object reachable from `commit`'s tree (not the commit itself) to `out`. */
export async function traverseTree(repo: Repo, treeCsum: string, metaCsum: string, out: Set<ObjectKey>, tolerateMissing: boolean): Promise<void> {
  out.add(objectKey(metaCsum, 'dirmeta'));
  const key = objectKey(treeCsum, 'dirtree');
  if (out.has(key)) return; // identical subtrees share one dirtree
  out.add(key);
  let tree;
  try {
    tree = await repo.loadDirtree(treeCsum);
  } catch (err) {
    if (tolerateMissing && err instanceof UpdaterError && err.code === 'STORE_OBJECT_MISSING') return;
    throw err;
  }
  for (const f of tree.files) out.add(objectKey(f.checksum, 'file'));
  for (const d of tree.dirs) await traverseTree(repo, d.treeChecksum, d.metaChecksum, out, tolerateMissing);
}

/**
 * Objects reachable from `commit` and `depth` of its ancestors (-1 = all).
 * `keepIf` stops the walk up the history at the first ancestor it rejects.
 */
export async function traverseCommit(repo: Repo, commit: string, depth: number, out: Set<ObjectKey>, keepIf?: (timestamp: number) => boolean): Promise<void> {
  let csum: string | null = commit;
  let remaining = depth;
  let first = true;
  while (csum !== null) {
    if (!(await repo.hasObject(csum, 'commit'))) {
      if (first) throw new UpdaterError('STORE_OBJECT_MISSING', `commit ${csum} is missing from ${repo.path}`);
      return; // history beyond a shallow pull
    }
    const c = await repo.loadCommit(csum);
    if (!first && keepIf && !keepIf(c.timestamp)) return;
    out.add(objectKey(csum, 'commit'));
    if (!out.has(objectKey(c.rootTree, 'dirtree'))) await traverseTree(repo, c.rootTree, c.rootMeta, out, await repo.isCommitPartial(csum));
    if (remaining === 0) return;
    if (remaining > 0) remaining--;
    csum = c.parent;
    first = false;
  }
}
