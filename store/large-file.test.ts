// Files above the in-memory limit take the streaming paths (hash, copy, deflate):
// regression test for an archive commit of a large file that never finished.

import { randomBytes } from 'node:crypto';
import { mkdir, readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { have, makeTmp, ostree, removeTmp } from '../test-support/index.ts';
import { checkoutCommit, commitDirectory, fsckRepo, Repo } from './index.ts';

let tmp: string;
let tree: string;
let big: Buffer;
beforeAll(async () => {
  tmp = await makeTmp();
  tree = join(tmp, 'tree');
  await mkdir(tree);
  // 20 MiB, half random (incompressible) and half repetitive.
  big = Buffer.concat([randomBytes(10 << 20), Buffer.alloc(10 << 20, 'ab')]);
  await writeFile(join(tree, 'big.bin'), big);
});
afterAll(async () => removeTmp(tmp));

describe('large files', () => {
  for (const mode of ['archive', 'bare-user'] as const) {
    it(`commit, fsck and checkout a 20 MiB file in ${mode} mode`, async () => {
      const repo = await Repo.init(join(tmp, mode), mode);
      const { checksum } = await commitDirectory(repo, tree, { branch: 'main' });
      expect((await fsckRepo(repo)).problems).toEqual([]);
      if (have('ostree')) expect((await ostree(['fsck', `--repo=${repo.path}`])).code).toBe(0);
      const dest = join(tmp, `co-${mode}`);
      await checkoutCommit(repo, checksum, dest, { userMode: true });
      expect((await readFile(join(dest, 'big.bin'))).equals(big)).toBe(true);
    });
  }
});
