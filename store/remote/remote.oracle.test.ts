// Remote configuration against the real ostree: it reads what we write, and we read what it writes.

import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { atomic, have, makeTmp, ostree, removeTmp, runOk } from '../../test-support/index.ts';
import { Repo } from '../repo/repo.ts';
import { getRemote, listRemotes } from './index.ts';

const KEY = 'WkNqNzpHrA9HuBG6GK0jAm97OF7HNNJwRNvmiwXbZ6c=';

describe.skipIf(!have('ostree'))('remote config with the real ostree', () => {
  let tmp: string;
  beforeAll(async () => {
    tmp = await makeTmp();
  });
  afterAll(async () => removeTmp(tmp));

  it('ostree remote list/show-url read what we wrote', async () => {
    const repo = join(tmp, 'ours');
    await runOk('ostree', ['init', `--repo=${repo}`, '--mode=archive']);
    expect((await atomic(['repo', 'remote', 'add', `--repo=${repo}`, '--no-gpg-verify', 'origin', 'http://127.0.0.1:8/repo', 'os/main'])).code).toBe(0);
    expect((await atomic(['repo', 'remote', 'add', `--repo=${repo}`, `--sign-verify=ed25519=inline:${KEY}`, 'signed', 'file:///srv/r'])).code).toBe(0);
    expect((await ostree(['remote', 'list', `--repo=${repo}`, '-u'])).stdout).toBe('origin  http://127.0.0.1:8/repo\nsigned  file:///srv/r\n');
    expect((await ostree(['remote', 'show-url', `--repo=${repo}`, 'signed'])).stdout).toBe('file:///srv/r\n');
    const opt = await ostree(['config', `--repo=${repo}`, 'get', '--group=remote "signed"', 'verification-ed25519-key']);
    expect(opt.stdout.trim()).toBe(KEY);
    expect((await ostree(['remote', 'delete', `--repo=${repo}`, 'origin'])).code).toBe(0);
    expect((await atomic(['repo', 'remote', 'list', `--repo=${repo}`])).stdout).toBe('signed\n');
  });

  it('we read what ostree remote add wrote', async () => {
    const repo = join(tmp, 'theirs');
    await runOk('ostree', ['init', `--repo=${repo}`, '--mode=bare-user']);
    await runOk('ostree', ['remote', 'add', `--repo=${repo}`, '--no-sign-verify', '--set=sign-verify-summary=false', 'origin', 'http://h/repo', 'a', 'b']);
    await runOk('ostree', ['remote', 'add', `--repo=${repo}`, 'plain', 'https://h2/']);
    const r = await Repo.open(repo);
    expect(listRemotes(r)).toEqual(['origin', 'plain']);
    expect(getRemote(r, 'origin').options).toEqual([['branches', 'a;b;'], ['sign-verify-summary', 'false'], ['gpg-verify', 'false'], ['sign-verify', 'false']]);
    expect((await atomic(['repo', 'remote', 'list', `--repo=${repo}`, '-u'])).stdout).toBe('origin  http://h/repo\nplain   https://h2/\n');
    expect((await atomic(['repo', 'remote', 'show-url', `--repo=${repo}`, 'plain'])).stdout).toBe('https://h2/\n');
    expect((await atomic(['repo', 'remote', 'delete', `--repo=${repo}`, 'plain'])).code).toBe(0);
    expect((await ostree(['remote', 'list', `--repo=${repo}`])).stdout).toBe('origin\n');
  });
});
