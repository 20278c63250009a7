// The repo's decoded-dirtree cache: a tree read once is not read or decoded again by the
// same Repo, trees a pull fetched are in it, and it stays within its bound in entries.

import { mkdir, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { makeTmp, removeTmp } from '../../test-support/index.ts';
import { commitDirectory, Repo } from '../index.ts';

describe('decoded-dirtree cache', () => {
  let tmp: string;
  let repoPath: string;
  let root: string;
  let subtrees: string[];
  beforeAll(async () => {
    tmp = await makeTmp();
    const tree = join(tmp, 'tree');
    for (let d = 0; d < 6; d++) {
      await mkdir(join(tree, `d${d}`), { recursive: true });
      for (let f = 0; f < 4; f++) await writeFile(join(tree, `d${d}`, `f${f}`), `${d}/${f}\n`);
    }
    repoPath = join(tmp, 'repo');
    const repo = await Repo.init(repoPath, 'bare-user');
    const c = await commitDirectory(repo, tree, { branch: 'main', timestamp: 1 });
    root = (await repo.loadCommit(c.checksum)).rootTree;
    subtrees = (await repo.loadDirtree(root)).dirs.map((d) => d.treeChecksum);
  });
  afterAll(async () => removeTmp(tmp));

  it('a second load of a tree reads nothing from disk', async () => {
    const repo = await Repo.open(repoPath);
    const first = await repo.loadDirtree(root);
    await rm(repo.objectPath(root, 'dirtree'));
    expect(await repo.loadDirtree(root)).toBe(first);
    // Another Repo has no such memory: the object is gone for it.
    await expect((await Repo.open(repoPath)).loadDirtree(root)).rejects.toThrow(/missing/);
  });

  it('keeps within its bound, dropping the oldest trees first', async () => {
    const repo = await Repo.open(repoPath);
    repo.dirtreeCacheLimit = 10; // each subtree is 4 files + 1
    for (const t of subtrees) await repo.loadDirtree(t);
    // Only the last two subtrees are still cached: delete all, and those two still load.
    const kept = subtrees.slice(-2);
    for (const t of subtrees) await rm(repo.objectPath(t, 'dirtree'));
    for (const t of kept) expect((await repo.loadDirtree(t)).files).toHaveLength(4);
    for (const t of subtrees.slice(0, -2)) await expect(repo.loadDirtree(t)).rejects.toThrow(/missing/);
  });
});
