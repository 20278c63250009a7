// ed25519 signatures inside detached metadata: `.commitmeta` and `summary.sig` are both
// an a{sv} whose `ostree.sign.ed25519` entry is an aay of 64-byte signatures
// (ostree-format.md §4.5, §6.2, §6.3; libostree 2022.7 ostree-sign.c).

import { UpdaterError } from '../../common/errors.ts';
import { dictGet, hashOrderedDict, variant, type VarDict, type Variant } from '../gvariant/index.ts';
import { assertChecksum, decodeCommit, decodeSummary, decodeVarDict, encodeVarDict, sha256Hex } from '../objects/index.ts';
import { ED25519_SIGNATURE_BYTES, signBytes, verifyBytes, type KeyInput, type VerifyResult } from './ed25519.ts';

/** The detached-metadata key holding ed25519 signatures. */
export const ED25519_METADATA_KEY = 'ostree.sign.ed25519';
/** Its GVariant type: one `ay` per signature. */
export const ED25519_METADATA_TYPE = 'aay';

function checkSignature(sig: Uint8Array, what: string): void {
  if (sig.length !== ED25519_SIGNATURE_BYTES) {
    throw new UpdaterError('SIGN_BAD_SIGNATURE', `${what}: ed25519 signature has ${sig.length} bytes, expected ${ED25519_SIGNATURE_BYTES}`);
  }
}

/**
 * The ed25519 signatures in detached metadata bytes (`.commitmeta` or `summary.sig`).
 * Absent (null) or empty metadata has none. Like ostree's typed lookup, an entry of
 * another type than `aay` counts as no signatures. Lengths are not checked here:
 * {@link verifyBytes} reports a bad one when it reaches it, as ostree does.
 * Throws GVARIANT_* when the bytes are not a normal-form a{sv}.
 */
export function signaturesFromMetadata(bytes: Uint8Array | null, what = 'detached metadata'): Uint8Array[] {
  if (bytes === null || bytes.length === 0) return [];
  const sigs = dictGet(decodeVarDict(bytes, what), ED25519_METADATA_KEY, ED25519_METADATA_TYPE);
  return sigs === undefined ? [] : (sigs as Uint8Array[]);
}

/**
 * Returns new detached metadata with `sig` appended to the `ostree.sign.ed25519` list,
 * keeping every other key and every previous signature, byte for byte as ostree's
 * `_sign_detached_metadata_append` builds it: the existing entries go into a
 * GVariantDict in file order, the list is replaced (a wrongly typed entry counts as
 * none), and g_variant_dict_end() emits GLib's hash-table order. Like ostree it does not
 * de-duplicate; callers that want to skip a repeat check {@link signaturesFromMetadata}.
 * Used for `.commitmeta` and `summary.sig`.
 */
export function addSignatureToCommitmeta(existingBytes: Uint8Array | null, sig: Uint8Array, what = 'detached metadata'): Uint8Array {
  checkSignature(sig, what);
  const dict: VarDict = existingBytes === null || existingBytes.length === 0 ? [] : decodeVarDict(existingBytes, what);
  const entries: [string, Variant][] = [];
  let previous: Uint8Array[] = [];
  for (const [key, value] of dict) {
    // A GVariantDict keeps the last value of a repeated key.
    if (key === ED25519_METADATA_KEY) previous = value.type === ED25519_METADATA_TYPE ? (value.value as Uint8Array[]) : [];
    entries.push([key, value]);
  }
  entries.push([ED25519_METADATA_KEY, variant(ED25519_METADATA_TYPE, [...previous, sig])]);
  return encodeVarDict(hashOrderedDict(entries));
}

/** True when `sig` is already among the ed25519 signatures of `bytes`. */
export function hasSignature(bytes: Uint8Array | null, sig: Uint8Array, what = 'detached metadata'): boolean {
  const hex = Buffer.from(sig).toString('hex');
  return signaturesFromMetadata(bytes, what).some((s) => Buffer.from(s).toString('hex') === hex);
}

/** Encodes a fresh `summary.sig` (or `.commitmeta`) holding exactly these ed25519 signatures. */
export function encodeSummarySig(sigs: readonly Uint8Array[]): Uint8Array {
  for (const s of sigs) checkSignature(s, 'summary.sig');
  return encodeVarDict([[ED25519_METADATA_KEY, variant(ED25519_METADATA_TYPE, [...sigs])]]);
}

/**
 * Signs the exact bytes of a `.commit` object and returns the new `.commitmeta` bytes
 * (`ostree sign COMMIT KEY`): the signature is appended to `existingCommitmeta`
 * (null or empty when the commit has none). Throws STORE_OBJECT_INVALID / GVARIANT_*
 * when `commitBytes` is not a commit, SIGN_BAD_KEY for a bad key.
 */
export async function signCommit(commitBytes: Uint8Array, existingCommitmeta: Uint8Array | null, secretKey: KeyInput): Promise<Uint8Array> {
  const checksum = sha256Hex(commitBytes);
  decodeCommit(commitBytes, `commit ${checksum}`);
  const sig = await signBytes(secretKey, commitBytes);
  return addSignatureToCommitmeta(existingCommitmeta, sig, `commitmeta of ${checksum}`);
}

/**
 * Verifies a commit's detached signatures (pull with `sign-verify`, `ostree sign --verify`).
 * `commitBytes` must hash to `commitChecksum` (STORE_OBJECT_CORRUPT otherwise), since the
 * signature covers those exact bytes. Errors as {@link verifyBytes}, naming the commit.
 */
export async function verifyCommit(
  commitChecksum: string,
  commitBytes: Uint8Array,
  commitmetaBytes: Uint8Array | null,
  trusted: readonly KeyInput[],
  revoked: readonly KeyInput[],
): Promise<VerifyResult> {
  assertChecksum(commitChecksum, 'commit checksum');
  const actual = sha256Hex(commitBytes);
  if (actual !== commitChecksum) {
    throw new UpdaterError('STORE_OBJECT_CORRUPT', `commit ${commitChecksum}: content hashes to ${actual}`);
  }
  const sigs = signaturesFromMetadata(commitmetaBytes, `commitmeta of ${commitChecksum}`);
  return verifyBytes(trusted, revoked, sigs, commitBytes, `commit ${commitChecksum}`);
}

/**
 * Signs the exact bytes of a `summary` file and returns the new `summary.sig` bytes
 * (`ostree summary --sign`). Like ostree, the signature is appended to an existing
 * `summary.sig`; pass null after regenerating the summary (ostree deletes the old
 * `summary.sig` then, since its signatures no longer match).
 */
export async function signSummary(summaryBytes: Uint8Array, existingSummarySig: Uint8Array | null, secretKey: KeyInput): Promise<Uint8Array> {
  decodeSummary(summaryBytes);
  const sig = await signBytes(secretKey, summaryBytes);
  return addSignatureToCommitmeta(existingSummarySig, sig, 'summary.sig');
}

/**
 * Verifies `summary.sig` over the exact `summary` bytes (`sign-verify-summary`).
 * A missing (null) or empty `summary.sig` fails with SIGN_NO_VALID_SIGNATURE.
 */
export async function verifySummary(
  summaryBytes: Uint8Array,
  summarySigBytes: Uint8Array | null,
  trusted: readonly KeyInput[],
  revoked: readonly KeyInput[],
): Promise<VerifyResult> {
  const sigs = signaturesFromMetadata(summarySigBytes, 'summary.sig');
  return verifyBytes(trusted, revoked, sigs, summaryBytes, 'summary');
}
