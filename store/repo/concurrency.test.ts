// The repository lock and crash safety: a second writer waits for the first;
// a commit killed with SIGKILL at any point leaves the repo fsck-clean, the
// ref unchanged, and the next run completes leaving no staging files behind.

import { spawn } from 'node:child_process';
import { readdir } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ATOMIC, atomic, have, makeAwkwardTree, makeTmp, ostree, removeTmp, ROOT } from '../../test-support/index.ts';
import { fsckRepo, Repo } from '../index.ts';

let tmp: string;
let tree: string;
beforeAll(async () => {
  tmp = await makeTmp();
  tree = join(tmp, 'tree');
  await makeAwkwardTree(tree, { manyFiles: 3000 });
});
afterAll(async () => removeTmp(tmp));

describe('repository lock', () => {
  it('a second writer waits for the first and then succeeds', async () => {
    const repo = await Repo.init(join(tmp, 'locked'), 'archive');
    const holder = spawn(join(ROOT, 'node_modules', '.bin', 'node'), ['-e', `
      const { lockRepo } = await import('${join(ROOT, 'store', 'repo', 'lock.ts')}');
      const l = await lockRepo(${JSON.stringify(repo.path)});
      console.log('locked');
      setTimeout(async () => { await l.release(); process.exit(0); }, 1500);
    `], { stdio: ['ignore', 'pipe', 'inherit'] });
    await new Promise<void>((resolve) => holder.stdout.once('data', () => resolve()));
    const t0 = Date.now();
    const res = await atomic(['repo', 'commit', `--repo=${repo.path}`, '-b', 'main', tree]);
    expect(res.code).toBe(0);
    expect(res.stderr).toContain('Waiting for the repository lock');
    expect(Date.now() - t0).toBeGreaterThan(1000);
    holder.kill();
  });
});

describe('kill -9 during commit', () => {
  it('never leaves a corrupt repo or a moved ref, and a rerun completes cleanly', async () => {
    const repoPath = join(tmp, 'killed');
    const repo = await Repo.init(repoPath, 'bare-user');
    const first = await atomic(['repo', 'commit', `--repo=${repoPath}`, '-b', 'main', '--timestamp=1', join(tree, 'sub')]);
    const before = first.stdout.trim();
    const delays = [30, 120, 250, 400, 600, 900, 1300];
    for (const ms of delays) {
      const child = spawn(ATOMIC, ['repo', 'commit', `--repo=${repoPath}`, '-b', 'main', '--timestamp=2', tree], { stdio: 'ignore' });
      const exited = new Promise((r) => child.once('exit', r));
      await new Promise((r) => setTimeout(r, ms));
      child.kill('SIGKILL');
      await exited;
      const ref = await repo.readRef('main');
      const res = await fsckRepo(repo);
      expect(res.problems, `after a kill at ${ms} ms`).toEqual([]);
      if (ref !== before) break; // the commit got through before the kill
    }
    const rerun = await atomic(['repo', 'commit', `--repo=${repoPath}`, '-b', 'main', '--timestamp=2', tree]);
    expect(rerun.code).toBe(0);
    expect(await repo.readRef('main')).toBe(rerun.stdout.trim());
    expect((await readdir(join(repoPath, 'tmp'))).filter((n) => n.startsWith('staging-'))).toEqual([]);
    expect((await fsckRepo(repo)).problems).toEqual([]);
    if (have('ostree')) expect((await ostree(['fsck', `--repo=${repoPath}`])).code).toBe(0);
  });
});
