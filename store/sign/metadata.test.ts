// Detached metadata (`.commitmeta`, `summary.sig`) against the ostree 2022.7 vector:
// byte-exact re-creation, verification, appending signatures, and failure cases.

import { describe, expect, it } from 'vitest';
import { hashOrderedDict, variant } from '../gvariant/index.ts';
import { decodeVarDict, encodeVarDict } from '../objects/index.ts';
import { keyPairFromSeed, signBytes } from './ed25519.ts';
import {
  ED25519_METADATA_KEY, addSignatureToCommitmeta, encodeSummarySig, hasSignature, signCommit, signSummary, signaturesFromMetadata,
  verifyCommit, verifySummary,
} from './metadata.ts';
import {
  COMMIT_A, COMMIT_B, PUBLIC, SECRET, SUMMARY, SUMMARY_SIG, commitBytes, commitmetaBytes, readEd, vectorHex,
} from './test-vectors.ts';
import { rejectionOf } from '../../test-support/index.ts';

const hex = (b: Uint8Array): string => Buffer.from(b).toString('hex');
const SIG_A = readEd('commit-A.sig');
const SIG_B = readEd('commit-B.sig');
const SIG_SUMMARY = readEd('summary.sig.raw');
const A = commitBytes(COMMIT_A);
const B = commitBytes(COMMIT_B);
const META_A = commitmetaBytes(COMMIT_A);
const META_B = commitmetaBytes(COMMIT_B);
const OTHER = await keyPairFromSeed(new Uint8Array(32).fill(7));

describe('vector files', () => {
  it('reads the signatures out of both .commitmeta files and summary.sig', () => {
    expect(signaturesFromMetadata(META_A).map(hex)).toEqual([hex(SIG_A)]);
    expect(signaturesFromMetadata(META_B).map(hex)).toEqual([hex(SIG_B)]);
    expect(signaturesFromMetadata(SUMMARY_SIG).map(hex)).toEqual([hex(SIG_SUMMARY)]);
  });

  it('re-creates the .commitmeta and summary.sig files byte for byte from the signatures', () => {
    const a = vectorHex('commit A');
    const b = vectorHex('commit B');
    const s = vectorHex('summary');
    expect(hex(a.signature)).toBe(hex(SIG_A));
    expect(hex(addSignatureToCommitmeta(null, a.signature))).toBe(hex(a.file));
    expect(hex(addSignatureToCommitmeta(null, SIG_A))).toBe(hex(META_A));
    expect(hex(addSignatureToCommitmeta(new Uint8Array(0), SIG_B))).toBe(hex(META_B));
    expect(hex(addSignatureToCommitmeta(null, b.signature))).toBe(hex(b.file));
    expect(hex(encodeSummarySig([s.signature]))).toBe(hex(s.file));
    expect(hex(encodeSummarySig([SIG_SUMMARY]))).toBe(hex(SUMMARY_SIG));
  });

  it('signCommit / signSummary reproduce the files ostree wrote', async () => {
    expect(hex(await signCommit(A, null, SECRET))).toBe(hex(META_A));
    expect(hex(await signCommit(B, new Uint8Array(0), SECRET))).toBe(hex(META_B));
    expect(hex(await signSummary(SUMMARY, null, SECRET))).toBe(hex(SUMMARY_SIG));
  });

  it('verifies both commits and the summary with the vector public key', async () => {
    expect(await verifyCommit(COMMIT_A, A, META_A, [PUBLIC], [])).toMatchObject({ publicKeyBase64: PUBLIC, signatureIndex: 0 });
    expect(await verifyCommit(COMMIT_B, B, META_B, [PUBLIC], [])).toMatchObject({ publicKeyBase64: PUBLIC });
    expect(await verifySummary(SUMMARY, SUMMARY_SIG, [PUBLIC], [])).toMatchObject({ publicKeyBase64: PUBLIC });
  });
});

describe('verification failures', () => {
  it('wrong key names the commit and the key', async () => {
    const e = await rejectionOf(verifyCommit(COMMIT_A, A, META_A, [OTHER.publicKey], []));
    expect(e.code).toBe('SIGN_NO_VALID_SIGNATURE');
    expect(e.message).toContain(`commit ${COMMIT_A}`);
    expect(e.message).toContain(OTHER.publicKey);
    const s = await rejectionOf(verifySummary(SUMMARY, SUMMARY_SIG, [OTHER.publicKey], []));
    expect(s.code).toBe('SIGN_NO_VALID_SIGNATURE');
    expect(s.message).toContain('summary');
  });

  it('revoked key', async () => {
    expect((await rejectionOf(verifyCommit(COMMIT_A, A, META_A, [PUBLIC], [PUBLIC]))).code).toBe('SIGN_NO_VALID_SIGNATURE');
    expect((await rejectionOf(verifySummary(SUMMARY, SUMMARY_SIG, [PUBLIC], [PUBLIC]))).code).toBe('SIGN_NO_VALID_SIGNATURE');
  });

  it('another commit\'s signatures do not verify this commit', async () => {
    expect((await rejectionOf(verifyCommit(COMMIT_A, A, META_B, [PUBLIC], []))).code).toBe('SIGN_NO_VALID_SIGNATURE');
  });

  it('tampered summary', async () => {
    const tampered = Buffer.from(SUMMARY);
    tampered[0]! ^= 1;
    expect((await rejectionOf(verifySummary(tampered, SUMMARY_SIG, [PUBLIC], []))).code).toBe('SIGN_NO_VALID_SIGNATURE');
  });

  it('commit bytes that do not hash to the checksum', async () => {
    const e = await rejectionOf(verifyCommit(COMMIT_B, A, META_A, [PUBLIC], []));
    expect(e.code).toBe('STORE_OBJECT_CORRUPT');
    expect((await rejectionOf(verifyCommit('E8B3', A, META_A, [PUBLIC], []))).code).toBe('STORE_BAD_CHECKSUM');
  });

  it('absent or empty metadata has no signatures', async () => {
    expect(signaturesFromMetadata(null)).toEqual([]);
    expect(signaturesFromMetadata(new Uint8Array(0))).toEqual([]);
    expect(signaturesFromMetadata(encodeVarDict([]))).toEqual([]);
    for (const meta of [null, new Uint8Array(0), encodeVarDict([['other', variant('s', 'x')]])]) {
      const e = await rejectionOf(verifyCommit(COMMIT_A, A, meta, [PUBLIC], []));
      expect(e.code).toBe('SIGN_NO_VALID_SIGNATURE');
      expect(e.message).toContain(`commit ${COMMIT_A}: no ed25519 signatures`);
    }
    expect((await rejectionOf(verifySummary(SUMMARY, null, [PUBLIC], []))).code).toBe('SIGN_NO_VALID_SIGNATURE');
  });

  it('a stored signature of 63 bytes is SIGN_BAD_SIGNATURE', async () => {
    const meta = encodeVarDict([[ED25519_METADATA_KEY, variant('aay', [SIG_A.subarray(0, 63)])]]);
    expect(signaturesFromMetadata(meta)[0]!.length).toBe(63);
    const e = await rejectionOf(verifyCommit(COMMIT_A, A, meta, [PUBLIC], []));
    expect(e.code).toBe('SIGN_BAD_SIGNATURE');
    expect(e.message).toContain(`commit ${COMMIT_A}`);
  });

  it('an entry of the wrong type counts as no signatures (ostree\'s typed lookup)', () => {
    const meta = encodeVarDict([[ED25519_METADATA_KEY, variant('ay', SIG_A)]]);
    expect(signaturesFromMetadata(meta)).toEqual([]);
  });

  it('malformed metadata bytes are a GVariant error naming the file', async () => {
    const bad = Buffer.from(META_A);
    bad[bad.length - 1] = 0xff;
    const e = await rejectionOf(verifyCommit(COMMIT_A, A, bad, [PUBLIC], []));
    expect(e.code).toMatch(/^GVARIANT_/);
    expect(e.message).toContain(`commitmeta of ${COMMIT_A}`);
  });
});

describe('adding signatures', () => {
  it('appends to the existing list, keeping earlier signatures; either key then verifies', async () => {
    const both = await signCommit(A, META_A, OTHER.secretKey);
    const sigs = signaturesFromMetadata(both);
    expect(sigs.map(hex)).toEqual([hex(SIG_A), hex(await signBytes(OTHER.secretKey, A))]);
    expect((await verifyCommit(COMMIT_A, A, both, [OTHER.publicKey], [])).signatureIndex).toBe(1);
    expect((await verifyCommit(COMMIT_A, A, both, [PUBLIC], [])).signatureIndex).toBe(0);
    // Revoking one signer leaves the other.
    expect((await verifyCommit(COMMIT_A, A, both, [PUBLIC, OTHER.publicKey], [PUBLIC])).publicKeyBase64).toBe(OTHER.publicKey);
  });

  it('does not de-duplicate, like ostree', async () => {
    const twice = await signCommit(A, META_A, SECRET);
    expect(signaturesFromMetadata(twice).map(hex)).toEqual([hex(SIG_A), hex(SIG_A)]);
  });

  it('keeps other keys, in the GVariantDict order ostree writes', () => {
    const existing = encodeVarDict([
      ['ostree.gpgsigs', variant('aay', [Uint8Array.of(1, 2, 3)])],
      [ED25519_METADATA_KEY, variant('aay', [SIG_A])],
      ['custom', variant('s', 'kept')],
    ]);
    const out = decodeVarDict(addSignatureToCommitmeta(existing, SIG_B));
    const order = hashOrderedDict([['ostree.gpgsigs', 0], [ED25519_METADATA_KEY, 0], ['custom', 0]]).map(([k]) => k);
    expect(out.map(([k]) => k)).toEqual(order);
    const get = (k: string) => out.find(([key]) => key === k)![1];
    expect(get('ostree.gpgsigs')).toEqual(variant('aay', [Uint8Array.of(1, 2, 3)]));
    expect((get(ED25519_METADATA_KEY).value as Uint8Array[]).map(hex)).toEqual([hex(SIG_A), hex(SIG_B)]);
    expect(get('custom')).toEqual(variant('s', 'kept'));

    const added = decodeVarDict(addSignatureToCommitmeta(encodeVarDict([['custom', variant('s', 'kept')]]), SIG_B));
    expect(added.map(([k]) => k)).toEqual(hashOrderedDict([['custom', 0], [ED25519_METADATA_KEY, 0]]).map(([k]) => k));
  });

  it('hasSignature finds a stored signature', () => {
    expect(hasSignature(META_A, SIG_A)).toBe(true);
    expect(hasSignature(META_A, SIG_B)).toBe(false);
    expect(hasSignature(null, SIG_A)).toBe(false);
  });

  it('replaces a wrongly typed entry, as ostree\'s GVariantDict insert does', () => {
    const existing = encodeVarDict([[ED25519_METADATA_KEY, variant('s', 'junk')]]);
    expect(hex(addSignatureToCommitmeta(existing, SIG_A))).toBe(hex(META_A));
  });

  it('signSummary appends to an existing summary.sig', async () => {
    const two = await signSummary(SUMMARY, SUMMARY_SIG, OTHER.secretKey);
    expect(signaturesFromMetadata(two)[0]).toEqual(new Uint8Array(SIG_SUMMARY));
    expect(hex(two)).toBe(hex(encodeSummarySig([SIG_SUMMARY, await signBytes(OTHER.secretKey, SUMMARY)])));
    await verifySummary(SUMMARY, two, [OTHER.publicKey], []);
  });

  it('refuses signatures that are not 64 bytes, and inputs of the wrong kind', async () => {
    expect(() => addSignatureToCommitmeta(null, SIG_A.subarray(0, 63))).toThrow(expect.objectContaining({ code: 'SIGN_BAD_SIGNATURE' }));
    expect(() => encodeSummarySig([SIG_A, new Uint8Array(65)])).toThrow(expect.objectContaining({ code: 'SIGN_BAD_SIGNATURE' }));
    expect((await rejectionOf(signCommit(SUMMARY, null, SECRET))).code).toMatch(/^(GVARIANT_|STORE_)/);
    expect((await rejectionOf(signSummary(A, null, SECRET))).code).toMatch(/^(GVARIANT_|STORE_)/);
    expect((await rejectionOf(signCommit(A, null, 'bogus'))).code).toBe('SIGN_BAD_KEY');
  });
});
