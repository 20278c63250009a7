// Remote configuration: what `atomic repo remote` writes and reads, checked
// against the text `ostree remote add` writes (store/remote/remote.oracle.test.ts runs ostree itself).

import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { atomic, makeTmp, removeTmp } from '../../test-support/index.ts';
import { Repo } from '../repo/repo.ts';
import { addRemote, deleteRemote, getRemote, listRemotes, parseSignVerifySpec, signPolicy } from './index.ts';

const KEY = 'WkNqNzpHrA9HuBG6GK0jAm97OF7HNNJwRNvmiwXbZ6c=';

describe('remote config', () => {
  let tmp: string;
  beforeAll(async () => {
    tmp = await makeTmp();
  });
  afterAll(async () => removeTmp(tmp));

  it('adds, lists, shows and deletes remotes in ostree\'s key-file layout', async () => {
    const repo = await Repo.init(join(tmp, 'lib'), 'archive');
    expect(await addRemote(repo, 'origin', 'http://example.com/repo')).toBe(true);
    await addRemote(repo, 'o2', 'file:///x', { branches: ['br1', 'br2'], options: [['foo', 'bar'], ['gpg-verify', 'false'], ['sign-verify', 'false']] });
    expect(await readFile(join(repo.path, 'config'), 'utf8')).toBe(
      '[core]\nrepo_version=1\nmode=archive-z2\n\n[remote "origin"]\nurl=http://example.com/repo\n\n' +
      '[remote "o2"]\nurl=file:///x\nbranches=br1;br2;\nfoo=bar\ngpg-verify=false\nsign-verify=false\n',
    );
    expect(listRemotes(repo)).toEqual(['o2', 'origin']);
    expect(getRemote(repo, 'o2')).toEqual({ name: 'o2', url: 'file:///x', options: [['branches', 'br1;br2;'], ['foo', 'bar'], ['gpg-verify', 'false'], ['sign-verify', 'false']] });
    await expect(addRemote(repo, 'origin', 'http://other')).rejects.toMatchObject({ code: 'REMOTE_EXISTS', message: expect.stringContaining('remote "origin" already exists') });
    expect(await addRemote(repo, 'origin', 'http://other', { ifNotExists: true })).toBe(false);
    expect(getRemote(repo, 'origin').url).toBe('http://example.com/repo');
    await addRemote(repo, 'origin', 'http://other', { force: true });
    expect(getRemote(repo, 'origin').url).toBe('http://other');
    expect(await deleteRemote(repo, 'origin')).toBe(true);
    await expect(deleteRemote(repo, 'origin')).rejects.toMatchObject({ code: 'REMOTE_NOT_FOUND' });
    expect(await deleteRemote(repo, 'origin', { ifExists: true })).toBe(false);
    expect(() => getRemote(repo, 'origin')).toThrow(/remote "origin" not found/);
    await expect(addRemote(repo, 'bad name', 'http://x')).rejects.toMatchObject({ code: 'STORE_INVALID_REMOTE' });
  });

  it('parses --sign-verify specs and the signature policy', () => {
    expect(parseSignVerifySpec(`ed25519=inline:${KEY}`)).toEqual({ type: 'ed25519', key: 'verification-ed25519-key', value: KEY });
    expect(parseSignVerifySpec('ed25519=file:/etc/k')).toEqual({ type: 'ed25519', key: 'verification-ed25519-file', value: '/etc/k' });
    expect(() => parseSignVerifySpec('gpg=inline:x')).toThrow(/not implemented/);
    expect(() => parseSignVerifySpec('ed25519=url:x')).toThrow(/expected inline\|file/);
    expect(() => parseSignVerifySpec('ed25519')).toThrow(/KEYTYPE/);
    const r = (options: Array<[string, string]>) => ({ name: 'r', url: 'http://x', options });
    expect(signPolicy(r([]))).toEqual({ commitTypes: [], summary: false });
    expect(signPolicy(r([['sign-verify', 'true'], ['sign-verify-summary', 'true']]))).toEqual({ commitTypes: ['ed25519'], summary: true });
    expect(signPolicy(r([['sign-verify', 'ed25519']]))).toEqual({ commitTypes: ['ed25519'], summary: false });
    expect(signPolicy(r([['gpg-verify', 'false']]))).toEqual({ commitTypes: [], summary: false });
    expect(() => signPolicy(r([['gpg-verify', 'true']]))).toThrow(/GPG verification is not supported/);
    expect(() => signPolicy(r([['sign-verify', 'dummy']]))).toThrow(/'dummy'/);
  });

  it('CLI: remote add with --sign-verify, list -u, show-url, delete', async () => {
    const repo = join(tmp, 'cli');
    expect((await atomic(['repo', 'init', `--repo=${repo}`, '--mode=archive'])).code).toBe(0);
    let r = await atomic(['repo', 'remote', 'add', `--repo=${repo}`, `--sign-verify=ed25519=inline:${KEY}`, '--set=foo=bar', 'origin', 'http://127.0.0.1:1/repo']);
    expect(r.stderr).toBe('');
    r = await atomic(['repo', 'remote', 'add', `--repo=${repo}`, '--no-sign-verify', 'mirror', 'file:///srv/repo']);
    expect(r.code).toBe(0);
    expect(await readFile(join(repo, 'config'), 'utf8')).toContain(
      `[remote "origin"]\nurl=http://127.0.0.1:1/repo\nfoo=bar\nverification-ed25519-key=${KEY}\nsign-verify=ed25519\n\n` +
      '[remote "mirror"]\nurl=file:///srv/repo\ngpg-verify=false\nsign-verify=false\n',
    );
    expect((await atomic(['repo', 'remote', 'list', `--repo=${repo}`, '-u'])).stdout).toBe('mirror  file:///srv/repo\norigin  http://127.0.0.1:1/repo\n');
    expect((await atomic(['repo', 'remote', 'show-url', `--repo=${repo}`, 'origin'])).stdout).toBe('http://127.0.0.1:1/repo\n');
    r = await atomic(['repo', 'remote', 'add', `--repo=${repo}`, '--sign-verify=ed25519=inline:notakey', 'bad', 'http://x']);
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(/error: invalid --sign-verify ed25519 public key 'notakey'/);
    r = await atomic(['repo', 'remote', 'delete', `--repo=${repo}`, 'nope']);
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(/remote "nope" not found/);
    expect((await atomic(['repo', 'remote', 'delete', `--repo=${repo}`, '--if-exists', 'nope'])).code).toBe(0);
    expect((await atomic(['repo', 'remote', 'delete', `--repo=${repo}`, 'mirror'])).code).toBe(0);
    expect((await atomic(['repo', 'remote', 'list', `--repo=${repo}`])).stdout).toBe('origin\n');
  });
});
