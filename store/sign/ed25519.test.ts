// ed25519 keys, signing and verification against the ostree 2022.7 + libsodium vector
// (store/testdata/vectors/ed25519), plus ostree's verification rule and failure cases.

import { describe, expect, it } from 'vitest';
import {
  generateKeyPair, keyPairFromSeed, keyToBase64, parsePublicKey, parseSecretKey, publicKeyFromSecretKey,
  readKeysFile, signBytes, verifyBytes,
} from './ed25519.ts';
import { COMMIT_A, COMMIT_B, PUBLIC, SECRET, SEED, SUMMARY, commitBytes, readEd } from './test-vectors.ts';
import { errorOf, rejectionOf } from '../../test-support/index.ts';

const SIG_A = readEd('commit-A.sig');
const SIG_B = readEd('commit-B.sig');
const SIG_SUMMARY = readEd('summary.sig.raw');
const A = commitBytes(COMMIT_A);
const B = commitBytes(COMMIT_B);
/** A second fixed key, for "wrong key" cases. */
const OTHER = await keyPairFromSeed(new Uint8Array(32).fill(7));

describe('key formats', () => {
  it('derives the vector key pair from its seed', async () => {
    const kp = await keyPairFromSeed(SEED);
    expect(kp).toEqual({ publicKey: PUBLIC, secretKey: SECRET });
    expect(Buffer.from(parsePublicKey(PUBLIC)).toString('hex')).toBe('5a436a373a47ac0f47b811ba18ad23026f7b385ec734d27044dbe68b05db67a7');
  });

  it('secret key = seed ‖ public key', () => {
    const sk = parseSecretKey(SECRET);
    expect(sk.length).toBe(64);
    expect(Buffer.from(sk.subarray(0, 32))).toEqual(SEED);
    expect(keyToBase64(sk.subarray(32))).toBe(PUBLIC);
    expect(publicKeyFromSecretKey(SECRET)).toBe(PUBLIC);
  });

  it('ignores surrounding whitespace', () => {
    expect(keyToBase64(parsePublicKey(`  ${PUBLIC}\n`))).toBe(PUBLIC);
    expect(parseSecretKey(`\t${SECRET} \n`).length).toBe(64);
  });

  it.each([
    ['not base64', 'not base64!'],
    ['empty', ''],
    ['missing padding', PUBLIC.replace(/=$/, '')],
    ['non-zero padding bits', PUBLIC.replace(/c=$/, 'd=')],
    ['embedded whitespace', `${PUBLIC.slice(0, 10)} ${PUBLIC.slice(10)}`],
    ['URL-safe alphabet', PUBLIC.replace('A', '_')],
    ['31 bytes', Buffer.alloc(31, 1).toString('base64')],
    ['33 bytes', Buffer.alloc(33, 1).toString('base64')],
  ])('rejects a malformed public key (%s)', (_name, text) => {
    const e = errorOf(() => parsePublicKey(text));
    expect(e.code).toBe('SIGN_BAD_KEY');
  });

  it('hints when a secret key is given where a public key belongs', () => {
    const e = errorOf(() => parsePublicKey(SECRET), { withHint: true });
    expect(e.code).toBe('SIGN_BAD_KEY');
    expect(e.message).toContain('64 bytes, expected 32');
    expect(e.hint).toContain('secret key');
  });

  it('rejects a malformed secret key without echoing it', () => {
    for (const bad of [PUBLIC, `${SECRET.slice(0, -4)}!!!=`, SECRET.slice(0, -2)]) {
      const e = errorOf(() => parseSecretKey(bad));
      expect(e.code).toBe('SIGN_BAD_KEY');
      expect(e.message).not.toContain(bad.slice(0, 20));
    }
  });

  it('readKeysFile: one key per line, blank lines and whitespace ignored, CRLF tolerated', () => {
    const text = `\n  ${PUBLIC}  \r\n\r\n${OTHER.publicKey}\n\n`;
    expect(readKeysFile(text).map(keyToBase64)).toEqual([PUBLIC, OTHER.publicKey]);
    expect(readKeysFile('')).toEqual([]);
    expect(readKeysFile(`${SECRET}\n${OTHER.secretKey}\n`, { kind: 'secret' }).map((k) => k.length)).toEqual([64, 64]);
  });

  it('readKeysFile names the file and line of a bad key', () => {
    const e = errorOf(() => readKeysFile(`${PUBLIC}\n\n# comment\n`, { what: '/etc/ostree/trusted.ed25519' }));
    expect(e.code).toBe('SIGN_BAD_KEY');
    expect(e.message).toContain('/etc/ostree/trusted.ed25519:3:');
    expect(errorOf(() => readKeysFile(PUBLIC, { kind: 'secret' })).code).toBe('SIGN_BAD_KEY');
  });

  it('rejects a seed that is not 32 bytes', async () => {
    expect((await rejectionOf(keyPairFromSeed(new Uint8Array(31)))).code).toBe('SIGN_BAD_KEY');
  });
});

describe('signing reproduces the ostree vector', () => {
  it('signs commit A, commit B and the summary byte for byte', async () => {
    expect(Buffer.from(await signBytes(SECRET, A))).toEqual(SIG_A);
    expect(Buffer.from(await signBytes(SECRET, B))).toEqual(SIG_B);
    expect(Buffer.from(await signBytes(parseSecretKey(SECRET), SUMMARY))).toEqual(SIG_SUMMARY);
  });

  it('refuses a secret key whose public half does not belong to its seed', async () => {
    const sk = parseSecretKey(SECRET);
    sk.set(parsePublicKey(OTHER.publicKey), 32);
    const e = await rejectionOf(signBytes(sk, A));
    expect(e.code).toBe('SIGN_BAD_KEY');
    expect(e.message).toContain('does not match');
    expect((await rejectionOf(signBytes(new Uint8Array(32), A))).code).toBe('SIGN_BAD_KEY');
  });
});

describe('verifyBytes (ostree rule: any signature with any trusted, non-revoked key)', () => {
  it('verifies the vector signatures and says which key', async () => {
    const r = await verifyBytes([PUBLIC], [], [SIG_A], A, `commit ${COMMIT_A}`);
    expect(r.publicKeyBase64).toBe(PUBLIC);
    expect(keyToBase64(r.publicKey)).toBe(PUBLIC);
    expect(r.signatureIndex).toBe(0);
    await verifyBytes([parsePublicKey(PUBLIC)], [], [SIG_SUMMARY], SUMMARY, 'summary');
  });

  it('any one signature with any one key is enough', async () => {
    const otherSig = await signBytes(OTHER.secretKey, A);
    const r = await verifyBytes([OTHER.publicKey, PUBLIC], [], [SIG_B, SIG_A], A, 'commit');
    expect(r).toMatchObject({ publicKeyBase64: PUBLIC, signatureIndex: 1 });
    const r2 = await verifyBytes([PUBLIC, OTHER.publicKey], [], [SIG_B, otherSig, SIG_A], A, 'commit');
    expect(r2).toMatchObject({ publicKeyBase64: OTHER.publicKey, signatureIndex: 1 });
  });

  it('fails with the wrong key, naming the object and the key tried', async () => {
    const e = await rejectionOf(verifyBytes([OTHER.publicKey], [], [SIG_A], A, `commit ${COMMIT_A}`));
    expect(e.code).toBe('SIGN_NO_VALID_SIGNATURE');
    expect(e.message).toContain(`commit ${COMMIT_A}`);
    expect(e.message).toBe(`Can't verify commit ${COMMIT_A}: the ed25519 signature could not be verified with key '${OTHER.publicKey}'`);
    expect(e.message).not.toContain(PUBLIC);
    expect(e.hint).toBeDefined();
    const s = await rejectionOf(verifyBytes([OTHER.publicKey], [], [SIG_SUMMARY], SUMMARY, 'summary'));
    expect(s.message).toMatch(/^Can't verify summary: /);
  });

  it('lists at most three keys', async () => {
    const keys = await Promise.all([1, 2, 3, 4, 5].map((n) => keyPairFromSeed(new Uint8Array(32).fill(n))));
    const e = await rejectionOf(verifyBytes(keys.map((k) => k.publicKey), [], [SIG_A, SIG_B], A, 'commit'));
    expect(e.code).toBe('SIGN_NO_VALID_SIGNATURE');
    expect(e.message).toContain('none of the 2 ed25519 signatures');
    expect(e.message).toContain(keys[2]!.publicKey);
    expect(e.message).not.toContain(keys[3]!.publicKey);
    expect(e.message).toContain('and 2 more');
  });

  it('a revoked key does not count, even if it is also trusted', async () => {
    const e = await rejectionOf(verifyBytes([PUBLIC], [PUBLIC], [SIG_A], A, 'commit'));
    expect(e.code).toBe('SIGN_NO_VALID_SIGNATURE');
    expect(e.message).toContain('revoked');
    const e2 = await rejectionOf(verifyBytes([PUBLIC, OTHER.publicKey], [parsePublicKey(PUBLIC)], [SIG_A], A, 'commit'));
    expect(e2.code).toBe('SIGN_NO_VALID_SIGNATURE');
    expect(e2.message).toContain(OTHER.publicKey);
    expect(e2.message).not.toContain(`key '${PUBLIC}'`);
    // Revoking another key leaves this one usable.
    await verifyBytes([PUBLIC], [OTHER.publicKey], [SIG_A], A, 'commit');
  });

  it('fails on a tampered message', async () => {
    const tampered = Buffer.from(A);
    tampered[tampered.length - 1]! ^= 1;
    expect((await rejectionOf(verifyBytes([PUBLIC], [], [SIG_A], tampered, 'commit'))).code).toBe('SIGN_NO_VALID_SIGNATURE');
    // A signature of another message does not carry over.
    expect((await rejectionOf(verifyBytes([PUBLIC], [], [SIG_B], A, 'commit'))).code).toBe('SIGN_NO_VALID_SIGNATURE');
    const flipped = Buffer.from(SIG_A);
    flipped[10]! ^= 0x80;
    expect((await rejectionOf(verifyBytes([PUBLIC], [], [flipped], A, 'commit'))).code).toBe('SIGN_NO_VALID_SIGNATURE');
  });

  it('a signature that is not 64 bytes is an error', async () => {
    for (const bad of [SIG_A.subarray(0, 63), Buffer.concat([SIG_A, Buffer.of(0)]), new Uint8Array(0)]) {
      const e = await rejectionOf(verifyBytes([PUBLIC], [], [bad], A, `commit ${COMMIT_A}`));
      expect(e.code).toBe('SIGN_BAD_SIGNATURE');
      expect(e.message).toContain(`commit ${COMMIT_A}`);
      expect(e.message).toContain(`${bad.length} bytes`);
    }
    // ostree checks signatures in order and stops at the first good one.
    expect((await rejectionOf(verifyBytes([PUBLIC], [], [SIG_B, SIG_A.subarray(0, 63), SIG_A], A, 'c'))).code).toBe('SIGN_BAD_SIGNATURE');
    expect((await verifyBytes([PUBLIC], [], [SIG_A, SIG_A.subarray(0, 63)], A, 'c')).signatureIndex).toBe(0);
  });

  it('no signatures, or no trusted keys, is SIGN_NO_VALID_SIGNATURE', async () => {
    const none = await rejectionOf(verifyBytes([PUBLIC], [], [], A, `commit ${COMMIT_A}`));
    expect(none.code).toBe('SIGN_NO_VALID_SIGNATURE');
    expect(none.message).toContain(`commit ${COMMIT_A}: no ed25519 signatures`);
    const noKeys = await rejectionOf(verifyBytes([], [], [SIG_A], SUMMARY, 'summary'));
    expect(noKeys.code).toBe('SIGN_NO_VALID_SIGNATURE');
    expect(noKeys.message).toContain('no trusted ed25519 public keys');
  });

  it('rejects malformed trusted or revoked keys', async () => {
    expect((await rejectionOf(verifyBytes(['bogus'], [], [SIG_A], A, 'c'))).code).toBe('SIGN_BAD_KEY');
    expect((await rejectionOf(verifyBytes([PUBLIC], ['bogus'], [SIG_A], A, 'c'))).code).toBe('SIGN_BAD_KEY');
    expect((await rejectionOf(verifyBytes([new Uint8Array(31)], [], [SIG_A], A, 'c'))).code).toBe('SIGN_BAD_KEY');
  });
});

describe('generated keys', () => {
  it('round-trip: sign with a fresh key, verify with its public key only', async () => {
    const kp = await generateKeyPair();
    expect(parsePublicKey(kp.publicKey).length).toBe(32);
    expect(publicKeyFromSecretKey(kp.secretKey)).toBe(kp.publicKey);
    const msg = new TextEncoder().encode('any message');
    const sig = await signBytes(kp.secretKey, msg);
    expect(sig.length).toBe(64);
    expect(Buffer.from(await signBytes(kp.secretKey, msg))).toEqual(Buffer.from(sig)); // deterministic
    expect((await verifyBytes([kp.publicKey], [], [sig], msg, 'm')).publicKeyBase64).toBe(kp.publicKey);
    expect((await rejectionOf(verifyBytes([PUBLIC], [], [sig], msg, 'm'))).code).toBe('SIGN_NO_VALID_SIGNATURE');
    expect((await generateKeyPair()).secretKey).not.toBe(kp.secretKey);
  });
});
