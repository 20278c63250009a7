// Checkout options: --subpath (a directory or a single file) and copy mode from each repo mode.

import { readFile, readdir } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { makeAwkwardTree, makeTmp, removeTmp, snapshotTree } from '../test-support/index.ts';
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
