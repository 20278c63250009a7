// Checkout options: --subpath (a directory or a single file) and copy mode from each repo mode;
// a large checkout shared with a second thread gives the same tree, read-only directories
// included, and reports a missing object whichever thread meets it.

import { chmod, mkdir, readFile, readdir, symlink, unlink, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { isRoot, makeAwkwardTree, makeTmp, rejectionOf, removeTmp, snapshotTree } from '../test-support/index.ts';
import { checkoutCommit, commitDirectory, Repo } from './index.ts';

let tmp: string;
let tree: string;
beforeAll(async () => {
  tmp = await makeTmp();
  tree = join(tmp, 'tree');
  await makeAwkwardTree(tree, { manyFiles: 20 });
});
afterAll(async () => removeTmp(tmp));

describe('checkout', () => {
  it('--subpath checks out one directory, or one file', async () => {
    const repo = await Repo.init(join(tmp, 'sub'), 'bare-user');
    const { checksum } = await commitDirectory(repo, tree, { branch: 'main' });
    await checkoutCommit(repo, checksum, join(tmp, 'only-sub'), { subpath: '/sub', userMode: true });
    expect((await readdir(join(tmp, 'only-sub'))).sort()).toEqual((await readdir(join(tree, 'sub'))).sort());
    await checkoutCommit(repo, checksum, join(tmp, 'one-file'), { subpath: 'sub/xa.txt', userMode: true });
    expect(await readFile(join(tmp, 'one-file'), 'utf8')).toBe('xattr data\n');
    await expect(checkoutCommit(repo, checksum, join(tmp, 'nope'), { subpath: '/no/such' })).rejects.toMatchObject({ code: 'STORE_PATH_NOT_FOUND' });
  });

  for (const mode of ['archive', 'bare-user', 'bare-user-only'] as const) {
    it(`copy mode from ${mode} reproduces the tree`, async () => {
      const repo = await Repo.init(join(tmp, `copy-${mode}`), mode);
      const { checksum } = await commitDirectory(repo, tree, { branch: 'main' });
      const dest = join(tmp, `copy-co-${mode}`);
      const stats = await checkoutCommit(repo, checksum, dest, { forceCopy: true, userMode: true });
      expect(stats.hardlinked).toBe(0);
      const opts = { owners: false, xattrs: false };
      const want = await snapshotTree(tree, opts);
      for (const e of want) if (e.type !== 'l') e.mode &= mode === 'bare-user-only' ? 0o755 : 0o777;
      expect(await snapshotTree(dest, opts)).toEqual(want);
    });
  }
});

describe('a checkout large enough for a second thread', () => {
  let big: string;
  beforeAll(async () => {
    big = join(tmp, 'big');
    await makeAwkwardTree(big, { manyFiles: 10 });
    // 60 directories of 80 files (regular, empty, symlinks), the last ones read-only.
    for (let d = 0; d < 60; d++) {
      const dir = join(big, 'tree', `d${d}`);
      await mkdir(dir, { recursive: true });
      for (let f = 0; f < 80; f++) {
        if (f % 20 === 19) await symlink(`../d${(d + 1) % 60}/f0`, join(dir, `l${f}`));
        else await writeFile(join(dir, `f${f}`), f % 25 === 24 ? '' : `dir ${d} file ${f}\n`, { mode: f % 3 === 0 ? 0o755 : 0o644 });
      }
      if (d >= 55) await chmod(dir, 0o555);
    }
  });

  for (const [mode, userMode] of [['bare-user', true], ['bare', false]] as const) {
    it.skipIf(mode === 'bare' && !isRoot)(`from ${mode}${userMode ? ' in user mode' : ''}: the same tree, part of it by the second thread`, async () => {
      const repo = await Repo.init(join(tmp, `big-${mode}`), mode);
      const { checksum } = await commitDirectory(repo, big, { branch: 'main' });
      const dest = join(tmp, `big-co-${mode}`);
      const stats = await checkoutCommit(repo, checksum, dest, { requireHardlinks: true, userMode });
      expect(stats.files).toBeGreaterThan(4800);
      expect(stats.byThread).toBeGreaterThan(0);
      expect(stats.byThread).toBeLessThan(stats.files);
      const opts = { owners: !userMode, xattrs: !userMode };
      const want = await snapshotTree(big, opts);
      if (userMode) for (const e of want) if (e.type !== 'l') e.mode &= 0o777;
      expect(await snapshotTree(dest, opts)).toEqual(want);
    });
  }

  it('a missing object fails the checkout, naming it', async () => {
    const repo = await Repo.init(join(tmp, 'big-missing'), 'bare-user');
    const { checksum } = await commitDirectory(repo, big, { branch: 'main' });
    // An object of a late directory: the second thread has started by then.
    const victim = (await repo.loadDirtree((await repo.loadCommit(checksum)).rootTree)).dirs.find((d) => d.name === 'tree')!;
    const sub = (await repo.loadDirtree(victim.treeChecksum)).dirs.find((d) => d.name === 'd50')!;
    const file = (await repo.loadDirtree(sub.treeChecksum)).files.find((f) => f.name === 'f1')!;
    await unlink(repo.objectPath(file.checksum, 'file'));
    const err = await rejectionOf(checkoutCommit(repo, checksum, join(tmp, 'big-co-missing'), { userMode: true }));
    expect(err.message).toContain(file.checksum);
  });
});
