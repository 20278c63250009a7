// Commit signing in a repository against the ostree 2022.7 ed25519 vector: the stored
// .commitmeta equals ostree's byte for byte; appending keeps earlier signatures and never
// duplicates one; verification by given keys, keys file and trust store; key files and
// their errors; the repository lock.

import { mkdirSync } from 'node:fs';
import { chmod, readFile, stat, unlink, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { makeTmp, removeTmp } from '../../test-support/index.ts';
import { lockRepo } from '../repo/lock.ts';
import { Repo } from '../repo/repo.ts';
import { keyPairFromSeed, parsePublicKey, parseSecretKey, signaturesFromMetadata } from '../sign/index.ts';
import { COMMIT_A, COMMIT_B, PUBLIC, readEd, SECRET, vectorHex } from '../sign/test-vectors.ts';
import { formatVerifySuccess, generateKeyFiles, loadKeysFile, signCommitInRepo, verifyCommitInRepo } from './sign-repo.ts';
import { copyVectorRepo } from './test-helpers.ts';

let tmp: string;
let repo: Repo;
beforeEach(async () => {
  tmp = await makeTmp('publish-sign-');
  const path = copyVectorRepo(join(tmp, 'repo'));
  for (const c of [COMMIT_A, COMMIT_B]) await unlink(join(path, 'objects', c.slice(0, 2), `${c.slice(2)}.commitmeta`));
  repo = await Repo.open(path);
});
afterEach(async () => {
  await removeTmp(tmp);
});

const OTHER = keyPairFromSeed(Buffer.alloc(32, 7));

describe('signCommitInRepo', () => {
  it('stores exactly the .commitmeta ostree sign wrote for commit A', async () => {
    const res = await signCommitInRepo(repo, COMMIT_A, [SECRET]);
    expect(res).toEqual({ commit: COMMIT_A, added: 1, total: 1 });
    const meta = await repo.readCommitmeta(COMMIT_A);
    expect(meta).toEqual(vectorHex('commit A').file);
    expect(Buffer.from(signaturesFromMetadata(meta)[0]!)).toEqual(readEd('commit-A.sig'));
  });

  it('appends a second key, keeps the first, and never stores a signature twice', async () => {
    await signCommitInRepo(repo, COMMIT_B, [SECRET]);
    const again = await signCommitInRepo(repo, COMMIT_B, [SECRET]);
    expect(again).toMatchObject({ added: 0, total: 1 });
    const other = await OTHER;
    const res = await signCommitInRepo(repo, COMMIT_B, [parseSecretKey(other.secretKey), SECRET]);
    expect(res).toMatchObject({ added: 1, total: 2 });
    const sigs = signaturesFromMetadata(await repo.readCommitmeta(COMMIT_B));
    expect(Buffer.from(sigs[0]!)).toEqual(readEd('commit-B.sig'));
    // Verifies with either key.
    await verifyCommitInRepo(repo, COMMIT_B, { keys: [other.publicKey] });
    await verifyCommitInRepo(repo, COMMIT_B, { keys: [PUBLIC] });
  });

  it('keeps other detached metadata keys', async () => {
    await repo.writeCommitmeta(COMMIT_A, Buffer.from(vectorHex('commit A').file));
    const other = await OTHER;
    await signCommitInRepo(repo, COMMIT_A, [other.secretKey]);
    expect(signaturesFromMetadata(await repo.readCommitmeta(COMMIT_A))).toHaveLength(2);
  });

  it('a missing commit is named', async () => {
    await expect(signCommitInRepo(repo, 'ab'.repeat(32), [SECRET])).rejects.toMatchObject({
      code: 'STORE_OBJECT_MISSING', message: expect.stringContaining(`${'ab'.repeat(32)}.commit`),
    });
  });

  it('waits for another writer holding the repository lock', async () => {
    const lock = await lockRepo(repo.path);
    let waited = false;
    let done = false;
    const p = signCommitInRepo(repo, COMMIT_A, [SECRET], { onLockWait: () => (waited = true) }).then(() => (done = true));
    await new Promise((r) => setTimeout(r, 300));
    expect(waited).toBe(true);
    expect(done).toBe(false);
    expect(await repo.readCommitmeta(COMMIT_A)).toBeNull();
    await lock.release();
    await p;
    expect(await repo.readCommitmeta(COMMIT_A)).toEqual(vectorHex('commit A').file);
  });
});

describe('verifyCommitInRepo', () => {
  beforeEach(async () => {
    await signCommitInRepo(repo, COMMIT_A, [SECRET]);
  });

  it('prints what ostree sign --verify prints', async () => {
    const res = await verifyCommitInRepo(repo, COMMIT_A, { keys: [PUBLIC] });
    expect(formatVerifySuccess(res)).toBe(`ed25519: Signature verified successfully with key '${Buffer.from(parsePublicKey(PUBLIC)).toString('hex')}'`);
  });

  it('fails naming the commit and the key tried', async () => {
    const wrong = (await OTHER).publicKey;
    await expect(verifyCommitInRepo(repo, COMMIT_A, { keys: [wrong] })).rejects.toMatchObject({
      code: 'SIGN_NO_VALID_SIGNATURE', message: expect.stringMatching(new RegExp(`commit ${COMMIT_A}.*key '${wrong.replace(/[+/]/g, '\\$&')}'`)),
    });
    await expect(verifyCommitInRepo(repo, COMMIT_B, { keys: [PUBLIC] })).rejects.toMatchObject({
      code: 'SIGN_NO_VALID_SIGNATURE', message: expect.stringContaining(`commit ${COMMIT_B}: no ed25519 signatures`),
    });
  });

  it('uses a keys file, and the trust store under --keys-dir with revocation', async () => {
    const file = join(tmp, 'pub.keys');
    await writeFile(file, `${(await OTHER).publicKey}\n\n${PUBLIC}\n`);
    await verifyCommitInRepo(repo, COMMIT_A, { keysFile: file });
    const dir = join(tmp, 'etc-ostree');
    mkdirSync(join(dir, 'trusted.ed25519.d'), { recursive: true });
    await expect(verifyCommitInRepo(repo, COMMIT_A, { keysDir: dir })).rejects.toMatchObject({ code: 'SIGN_NO_VALID_SIGNATURE' });
    await writeFile(join(dir, 'trusted.ed25519.d', 'vendor'), `not-a-key\n${PUBLIC}\n`);
    const ok = await verifyCommitInRepo(repo, COMMIT_A, { keysDir: dir });
    expect(ok.warnings).toEqual([expect.stringContaining('trusted.ed25519.d/vendor:1')]);
    await writeFile(join(dir, 'revoked.ed25519'), `${PUBLIC}\n`);
    await expect(verifyCommitInRepo(repo, COMMIT_A, { keysDir: dir })).rejects.toThrow(/revoked/);
  });
});

describe('key files', () => {
  it('generates key files in ostree formats that sign and verify', async () => {
    const s = join(tmp, 'k.secret');
    const p = join(tmp, 'k.public');
    const pair = await generateKeyFiles(s, p);
    expect(await readFile(s, 'utf8')).toBe(`${pair.secretKey}\n`);
    expect(await readFile(p, 'utf8')).toBe(`${pair.publicKey}\n`);
    expect((await stat(s)).mode & 0o777).toBe(0o600);
    expect(parseSecretKey(pair.secretKey)).toHaveLength(64);
    expect(parsePublicKey(pair.publicKey)).toHaveLength(32);
    await signCommitInRepo(repo, COMMIT_A, await loadKeysFile(s, 'secret'));
    await verifyCommitInRepo(repo, COMMIT_A, { keysFile: p });
    await expect(generateKeyFiles(s)).rejects.toMatchObject({ code: 'SIGN_KEY_FILE_EXISTS' });
  });

  it('reads the vector key files', async () => {
    expect(await loadKeysFile(join(import.meta.dirname, '../testdata/vectors/ed25519/ed25519.secret'), 'secret')).toHaveLength(1);
  });

  it('names the file and line of a bad key', async () => {
    const f = join(tmp, 'keys');
    await writeFile(f, `${SECRET}\n${PUBLIC}\n`);
    await expect(loadKeysFile(f, 'secret')).rejects.toMatchObject({ code: 'SIGN_BAD_KEY', message: expect.stringMatching(new RegExp(`${f}:2: .*32 bytes, expected 64`)) });
    await writeFile(f, 'bm90IGEga2V5\n');
    await expect(loadKeysFile(f, 'public')).rejects.toMatchObject({ code: 'SIGN_BAD_KEY', message: expect.stringContaining(`${f}:1:`) });
    await writeFile(f, '\n');
    await expect(loadKeysFile(f, 'public')).rejects.toMatchObject({ code: 'SIGN_NO_KEYS' });
    await expect(loadKeysFile(join(tmp, 'absent'), 'secret')).rejects.toMatchObject({ code: 'SIGN_KEYS_FILE_UNREADABLE', message: expect.stringContaining('absent: no such file') });
    await expect(loadKeysFile(tmp, 'secret')).rejects.toMatchObject({ code: 'SIGN_KEYS_FILE_UNREADABLE', message: expect.stringContaining('is a directory') });
    if (process.getuid?.() !== 0) {
      await chmod(f, 0);
      await expect(loadKeysFile(f, 'secret')).rejects.toMatchObject({ code: 'SIGN_KEYS_FILE_UNREADABLE' });
    }
  });
});
