// Pull interop with the real ostree (Debian 2022.7) and a real nginx: we pull
// what `ostree commit` + `ostree summary -u` published, and `ostree pull`
// fetches from a repo we published (objects and refs only, no summary).

import { mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { have, makeAwkwardTree, makeTmp, ostree, removeTmp, runOk } from '../../test-support/index.ts';
import { NGINX_BIN, startNginx, type NginxServer } from '../../test-support/nginx.ts';
import { commitDirectory } from '../commit-dir.ts';
import { fsckRepo } from '../fsck.ts';
import { Repo } from '../repo/repo.ts';
import { addRemote } from '../remote/index.ts';
import { pullRemote } from './index.ts';

describe.skipIf(!have('ostree') || !NGINX_BIN)('pull interop with ostree over nginx', () => {
  let tmp: string;
  let nginx: NginxServer;
  beforeAll(async () => {
    tmp = await makeTmp('atomic-pull-oracle-');
    await mkdir(join(tmp, 'www'));
    nginx = await startNginx(join(tmp, 'www'), join(tmp, 'nginx'));
  });
  afterAll(async () => {
    await nginx?.stop();
    await removeTmp(tmp);
  });

  it('our pull of an ostree-published repo ends with the same commit and a clean fsck by both tools', async () => {
    const theirs = join(tmp, 'www', 'theirs');
    const tree = join(tmp, 'tree-theirs');
    await makeAwkwardTree(tree, { manyFiles: 60 });
    await runOk('ostree', ['init', `--repo=${theirs}`, '--mode=archive']);
    const c1 = (await runOk('ostree', ['commit', `--repo=${theirs}`, '--branch=os/main', '--timestamp=2024-01-01T00:00:00Z', tree])).trim();
    await writeFile(join(tree, 'hello.txt'), 'hello again\n');
    const c2 = (await runOk('ostree', ['commit', `--repo=${theirs}`, '--branch=os/main', '--timestamp=2024-02-01T00:00:00Z', tree])).trim();
    await runOk('ostree', ['summary', `--repo=${theirs}`, '-u']);

    for (const mode of ['bare-user', 'archive'] as const) {
      const ours = await Repo.init(join(tmp, `ours-${mode}`), mode);
      await addRemote(ours, 'origin', `${nginx.url}/theirs`, { options: [['gpg-verify', 'false']] });
      const repo = await Repo.open(ours.path);
      await pullRemote(repo, 'origin', { refs: ['os/main'], depth: 1 });
      expect(await repo.readRef('origin:os/main')).toBe(c2);
      expect(await repo.hasObject(c1, 'commit')).toBe(true);
      expect((await fsckRepo(repo)).problems).toEqual([]);
      const fsck = await ostree(['fsck', `--repo=${repo.path}`]);
      expect(fsck.stdout + fsck.stderr).toContain('no errors found');
      expect((await ostree(['rev-parse', `--repo=${repo.path}`, 'origin:os/main'])).stdout.trim()).toBe(c2);
    }
    const log = await nginx.accessLog();
    const first = log.filter((e) => e.path.startsWith('/theirs/')).slice(0, 3).map((e) => e.path);
    expect(first).toEqual(['/theirs/summary.sig', '/theirs/summary', '/theirs/config']);
  });

  it('ostree pull from a repo we published (no summary) ends clean with our commit', async () => {
    const pub = await Repo.init(join(tmp, 'www', 'ours'), 'archive');
    const tree = join(tmp, 'tree-ours');
    await makeAwkwardTree(tree, { manyFiles: 60 });
    const { checksum } = await commitDirectory(pub, tree, { branch: 'os/main', subject: 'from atomic', timestamp: 1_717_000_000 });
    for (const mode of ['bare-user', 'archive']) {
      const client = join(tmp, `ostree-client-${mode}`);
      await runOk('ostree', ['init', `--repo=${client}`, `--mode=${mode}`]);
      await runOk('ostree', ['remote', 'add', `--repo=${client}`, '--no-gpg-verify', 'origin', `${nginx.url}/ours`]);
      const pull = await ostree(['pull', `--repo=${client}`, 'origin', 'os/main']);
      expect(pull.stderr).toBe('');
      expect(pull.code).toBe(0);
      expect((await ostree(['rev-parse', `--repo=${client}`, 'origin:os/main'])).stdout.trim()).toBe(checksum);
      const fsck = await ostree(['fsck', `--repo=${client}`]);
      expect(fsck.stdout + fsck.stderr).toContain('no errors found');
      expect(fsck.code).toBe(0);
    }
  });

  it('our pull over nginx from our own archive repo, then an ostree pull from the same repo agree', async () => {
    const ours = await Repo.init(join(tmp, 'ours-from-ours'), 'bare-user');
    await addRemote(ours, 'origin', `${nginx.url}/ours`, { options: [['gpg-verify', 'false']] });
    const repo = await Repo.open(ours.path);
    const res = await pullRemote(repo, 'origin', { refs: ['os/main'] });
    expect(res.refs[0]!.commit).toBe((await ostree(['rev-parse', `--repo=${join(tmp, 'ostree-client-bare-user')}`, 'origin:os/main'])).stdout.trim());
    expect((await fsckRepo(repo)).problems).toEqual([]);
    const fsck = await ostree(['fsck', `--repo=${repo.path}`]);
    expect(fsck.stdout + fsck.stderr).toContain('no errors found');
  });

  it('our pull uses a delta made by `ostree static-delta generate` and ends with the same commit as `ostree pull`', async () => {
    const theirs = join(tmp, 'www', 'theirs-delta');
    const tree = join(tmp, 'tree-delta');
    await makeAwkwardTree(tree, { manyFiles: 30 });
    await writeFile(join(tree, 'big.txt'), 'line of text\n'.repeat(20_000));
    await runOk('ostree', ['init', `--repo=${theirs}`, '--mode=archive']);
    const c1 = (await runOk('ostree', ['commit', `--repo=${theirs}`, '--branch=os/main', '--timestamp=2024-01-01T00:00:00Z', tree])).trim();
    await runOk('ostree', ['summary', `--repo=${theirs}`, '-u']);
    const ours = await Repo.init(join(tmp, 'ours-delta'), 'bare-user');
    await addRemote(ours, 'origin', `${nginx.url}/theirs-delta`, { options: [['gpg-verify', 'false']] });
    const repo = await Repo.open(ours.path);
    await pullRemote(repo, 'origin', { refs: ['os/main'] });
    const client = join(tmp, 'ostree-delta-client');
    await runOk('ostree', ['init', `--repo=${client}`, '--mode=bare-user']);
    await runOk('ostree', ['remote', 'add', `--repo=${client}`, '--no-gpg-verify', 'origin', `${nginx.url}/theirs-delta`]);
    await runOk('ostree', ['pull', `--repo=${client}`, 'origin', 'os/main']);

    await writeFile(join(tree, 'big.txt'), 'line of text\n'.repeat(20_000) + 'one more line\n');
    await writeFile(join(tree, 'added.txt'), 'added\n');
    const c2 = (await runOk('ostree', ['commit', `--repo=${theirs}`, '--branch=os/main', '--timestamp=2024-02-01T00:00:00Z', tree])).trim();
    await runOk('ostree', ['static-delta', 'generate', `--repo=${theirs}`, `--from=${c1}`, `--to=${c2}`]);
    await runOk('ostree', ['summary', `--repo=${theirs}`, '-u']);
    const before = (await nginx.accessLog()).length;
    const res = await pullRemote(repo, 'origin', { refs: ['os/main'] });
    const paths = (await nginx.accessLog()).slice(before).map((e) => e.path);
    expect(paths.some((p) => p.endsWith('/superblock'))).toBe(true);
    expect(paths.filter((p) => p.endsWith('.filez') || p.endsWith('.dirtree'))).toEqual([]);
    expect(res.progress.deltaPartsFetched).toBeGreaterThan(0);
    await runOk('ostree', ['pull', `--repo=${client}`, 'origin', 'os/main']);
    expect(await repo.readRef('origin:os/main')).toBe(c2);
    expect((await ostree(['rev-parse', `--repo=${client}`, 'origin:os/main'])).stdout.trim()).toBe(c2);
    expect((await fsckRepo(repo)).problems).toEqual([]);
    const fsck = await ostree(['fsck', `--repo=${repo.path}`]);
    expect(fsck.stdout + fsck.stderr).toContain('no errors found');
  });
});
