// Round trips against the real ostree (Debian 2022.7) in every repository mode:
// our commits pass `ostree fsck`, check out identically with `ostree checkout`,
// and have ostree's checksums; ostree's repos are read, checked out and fscked by us.

import { lstat } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { atomic, have, isRoot, makeAwkwardTree, makeTmp, ostree, removeTmp, runOk, snapshotTree } from '../test-support/index.ts';
import { checkoutCommit, commitDirectory, fsckRepo, Repo, type RepoMode } from './index.ts';

const HAVE_OSTREE = have('ostree');
const MODES: RepoMode[] = isRoot ? ['archive', 'bare-user', 'bare', 'bare-user-only'] : ['archive', 'bare-user', 'bare-user-only'];
const COMMIT_ARGS = ['--subject=round trip', '--timestamp=2024-05-06T07:08:09Z', '--add-metadata-string=version=7.1', '--add-metadata-string=flavor=test'];

describe.skipIf(!HAVE_OSTREE)('round trips with the real ostree', () => {
  let tmp: string;
  let tree: string;
  beforeAll(async () => {
    tmp = await makeTmp();
    tree = join(tmp, 'tree');
    await makeAwkwardTree(tree, { owners: true });
  });
  afterAll(async () => removeTmp(tmp));

  for (const mode of MODES) {
    describe(`mode ${mode}`, () => {
      // bare-user-only canonicalises ownership and permissions; other modes keep them.
      const owners = mode === 'bare' || mode === 'bare-user' || mode === 'archive';
      const ostreeMode = mode === 'archive' ? 'archive-z2' : mode;
      let ours: string;

      it('our commit passes ostree fsck and has ostree\'s checksum', async () => {
        const repo = join(tmp, `ours-${mode}`);
        const theirs = join(tmp, `theirs-${mode}`);
        expect((await atomic(['repo', 'init', `--repo=${repo}`, `--mode=${mode}`])).code).toBe(0);
        const res = await atomic(['repo', 'commit', `--repo=${repo}`, '--branch=test/main', ...COMMIT_ARGS, tree]);
        expect(res.stderr).toBe('');
        ours = res.stdout.trim();
        expect(ours).toMatch(/^[0-9a-f]{64}$/);
        const fsck = await ostree(['fsck', `--repo=${repo}`]);
        expect(fsck.stderr + fsck.stdout).toContain('no errors found');
        expect(fsck.code).toBe(0);

        await runOk('ostree', ['init', `--repo=${theirs}`, `--mode=${ostreeMode}`]);
        const theirCsum = (await runOk('ostree', ['commit', `--repo=${theirs}`, '--branch=test/main', ...COMMIT_ARGS, tree])).trim();
        expect(ours).toBe(theirCsum);
      });

      it('ostree checkout of our commit equals the source tree', async () => {
        const repo = join(tmp, `ours-${mode}`);
        const dest = join(tmp, `ostree-co-${mode}`);
        const userMode = mode !== 'bare' ? ['--user-mode'] : [];
        await runOk('ostree', ['checkout', `--repo=${repo}`, ...userMode, 'test/main', dest]);
        const want = await snapshotTree(tree, { owners: owners && mode === 'bare', xattrs: mode === 'bare' });
        const got = await snapshotTree(dest, { owners: owners && mode === 'bare', xattrs: mode === 'bare' });
        if (mode === 'bare-user-only') {
          // Canonical permissions: at most 0755, no setuid.
          for (const e of want) if (e.type !== 'l') e.mode &= 0o755;
        } else if (mode !== 'bare') {
          // User-mode checkouts drop setuid/setgid.
          for (const e of want) if (e.type !== 'l') e.mode &= 0o777;
        }
        expect(got).toEqual(want);
      });

      it('our checkout of an ostree commit equals the source tree, and our fsck is clean', async () => {
        const theirs = join(tmp, `theirs-${mode}`);
        const repo = await Repo.open(theirs);
        const res = await fsckRepo(repo);
        expect(res.problems).toEqual([]);
        expect(res.commits).toBe(1);
        const dest = join(tmp, `our-co-${mode}`);
        const userMode = mode !== 'bare';
        await checkoutCommit(repo, await repo.resolveRev('test/main'), dest, { userMode });
        const snapOpts = { owners: mode === 'bare', xattrs: mode === 'bare' };
        const want = await snapshotTree(tree, snapOpts);
        for (const e of want) {
          if (e.type === 'l') continue;
          if (mode === 'bare-user-only') e.mode &= 0o755;
          else if (userMode) e.mode &= 0o777;
        }
        expect(await snapshotTree(dest, snapOpts)).toEqual(want);
      });

      it('checks out with hardlinks where the mode allows, copying empty files', async () => {
        const repo = await Repo.open(join(tmp, `ours-${mode}`));
        const dest = join(tmp, `hl-${mode}`);
        const canLink = mode !== 'archive';
        const res = await atomic(['repo', 'checkout', `--repo=${repo.path}`, ...(canLink ? ['-H'] : []), ...(mode !== 'bare' ? ['-U'] : []), 'test/main', dest]);
        expect(res.stderr).toBe('');
        const st = await lstat(join(dest, 'hello.txt'));
        const empty = await lstat(join(dest, 'empty'));
        expect(empty.nlink).toBe(1);
        if (canLink) {
          const info = await repo.readContentInfo((await repo.loadDirtree((await repo.loadCommit(ours)).rootTree)).files.find((f) => f.name === 'hello.txt')!.checksum);
          expect(st.ino).toBe((await lstat(info.path)).ino);
        } else {
          expect(st.nlink).toBe(1);
        }
      });
    });
  }

  it('a modified hardlink checkout recommits reading only the changed files (devino cache)', async () => {
    const repoPath = join(tmp, 'devino');
    const repo = await Repo.init(repoPath, 'bare-user');
    const plain = join(tmp, 'plain-tree');
    await makeAwkwardTree(plain);
    const first = await commitDirectory(repo, plain, { branch: 'main', timestamp: 1 });
    const co = join(tmp, 'devino-co');
    await checkoutCommit(repo, first.checksum, co, { userMode: true });
    await runOk('sh', ['-c', `rm -f '${co}/hello.txt' && echo changed > '${co}/hello.txt' && echo new > '${co}/added'`]);
    const second = await commitDirectory(repo, co, { branch: 'main', timestamp: 2 });
    expect(second.stats.contentWritten).toBe(2);
    expect(second.stats.filesReused).toBeGreaterThan(1500);
    const diff = await atomic(['repo', 'diff', `--repo=${repoPath}`, first.checksum, second.checksum]);
    // The user-mode checkout dropped /sub's xattr, so /sub's dirmeta changed too.
    expect(diff.stdout.split('\n').sort()).toEqual(['', 'A    /added', 'M    /hello.txt', 'M    /sub']);
    const fsck = await ostree(['fsck', `--repo=${repoPath}`]);
    expect(fsck.code).toBe(0);
  });
});
