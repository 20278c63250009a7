// ed25519 keys, signing and verification as ostree's `ed25519` sign engine does them
// (ostree-format.md §6.3, libostree 2022.7 ostree-sign-ed25519.c): plain libsodium
// crypto_sign_detached over the exact message bytes; keys are base64 text.

import { UpdaterError } from '../../common/errors.ts';
import { loadSodium } from './sodium.ts';

/** Size of an ed25519 public key (crypto_sign_PUBLICKEYBYTES). */
export const ED25519_PUBLIC_KEY_BYTES = 32;
/** Size of a libsodium secret key, seed ‖ public key (crypto_sign_SECRETKEYBYTES). */
export const ED25519_SECRET_KEY_BYTES = 64;
/** Size of an ed25519 seed (crypto_sign_SEEDBYTES). */
export const ED25519_SEED_BYTES = 32;
/** Size of a detached signature (crypto_sign_BYTES). */
export const ED25519_SIGNATURE_BYTES = 64;

/** A key pair in ostree's text formats. */
export interface Ed25519KeyPair {
  /** base64 of the 32-byte public key: the format of `trusted.ed25519` and `verification-ed25519-key`. */
  publicKey: string;
  /** base64 of the 64-byte secret key (seed ‖ public key): the format `ostree sign` takes. */
  secretKey: string;
}

/** A key given either as its base64 text or as raw bytes. */
export type KeyInput = string | Uint8Array;

/** Which key verified which signature. */
export interface VerifyResult {
  /** The trusted public key that verified a signature. */
  publicKey: Uint8Array;
  /** The same key as base64 (as written in key files). */
  publicKeyBase64: string;
  /** Index of the verified signature in the list given. */
  signatureIndex: number;
}

const BASE64 = /^[A-Za-z0-9+/]*={0,2}$/;

/**
 * Strict, canonical standard base64 (padding required). GLib's g_base64_decode,
 * which ostree uses, silently skips characters outside the alphabet; we reject them
 * so that a mangled key is reported instead of turning into a different key.
 */
function decodeBase64(text: string): Uint8Array | null {
  if (text.length === 0 || text.length % 4 !== 0 || !BASE64.test(text)) return null;
  const bytes = Buffer.from(text, 'base64');
  // Re-encoding catches non-zero padding bits and '=' in the middle.
  if (bytes.toString('base64') !== text) return null;
  return new Uint8Array(bytes);
}

/** base64 of a key, as written in ostree key files and used in our messages. */
export function keyToBase64(key: Uint8Array): string {
  return Buffer.from(key.buffer, key.byteOffset, key.length).toString('base64');
}

/** Public keys are not secret, so messages may show them, shortened if absurdly long. */
function shown(text: string): string {
  return text.length > 60 ? `${text.slice(0, 57)}...` : text;
}

/**
 * Parses a public key: base64 of exactly 32 bytes, surrounding whitespace ignored.
 * Throws SIGN_BAD_KEY.
 */
export function parsePublicKey(text: string, what = 'ed25519 public key'): Uint8Array {
  const t = text.trim();
  const bytes = decodeBase64(t);
  if (bytes === null) throw new UpdaterError('SIGN_BAD_KEY', `invalid ${what} '${shown(t)}': not valid base64`);
  if (bytes.length !== ED25519_PUBLIC_KEY_BYTES) {
    throw new UpdaterError('SIGN_BAD_KEY', `invalid ${what} '${shown(t)}': decodes to ${bytes.length} bytes, expected ${ED25519_PUBLIC_KEY_BYTES}`, {
      hint: bytes.length === ED25519_SECRET_KEY_BYTES ? 'this looks like a secret key; public keys are 32 bytes' : undefined,
    });
  }
  return bytes;
}

/**
 * Parses a secret key: base64 of the 64-byte libsodium secret key (seed ‖ public key),
 * surrounding whitespace ignored. Throws SIGN_BAD_KEY; the message never repeats the key.
 */
export function parseSecretKey(text: string, what = 'ed25519 secret key'): Uint8Array {
  const bytes = decodeBase64(text.trim());
  if (bytes === null) throw new UpdaterError('SIGN_BAD_KEY', `invalid ${what}: not valid base64`);
  if (bytes.length !== ED25519_SECRET_KEY_BYTES) {
    throw new UpdaterError('SIGN_BAD_KEY', `invalid ${what}: decodes to ${bytes.length} bytes, expected ${ED25519_SECRET_KEY_BYTES} (seed followed by public key)`);
  }
  return bytes;
}

/** Options for {@link readKeysFile}. */
export interface ReadKeysFileOptions {
  /** `public` (trusted/revoked files, `verification-ed25519-file`) or `secret` (signing `--keys-file`). */
  kind?: 'public' | 'secret';
  /** Name for messages, usually the file path. */
  what?: string;
}

/**
 * Parses a key file: one base64 key per line; blank lines and surrounding whitespace
 * are ignored (ostree would fail on a blank line in the middle). Any other bad line
 * throws SIGN_BAD_KEY naming `what:line`.
 */
export function readKeysFile(text: string, options: ReadKeysFileOptions = {}): Uint8Array[] {
  const kind = options.kind ?? 'public';
  const what = options.what ?? 'keys file';
  const out: Uint8Array[] = [];
  const lines = text.split('\n');
  for (let i = 0; i < lines.length; i++) {
    const line = lines[i]!.trim();
    if (line === '') continue;
    const where = `${what}:${i + 1}: ed25519 ${kind} key`;
    out.push(kind === 'public' ? parsePublicKey(line, where) : parseSecretKey(line, where));
  }
  return out;
}

function toPublicKey(k: KeyInput, what: string): Uint8Array {
  if (typeof k === 'string') return parsePublicKey(k, what);
  if (k.length !== ED25519_PUBLIC_KEY_BYTES) throw new UpdaterError('SIGN_BAD_KEY', `invalid ${what}: ${k.length} bytes, expected ${ED25519_PUBLIC_KEY_BYTES}`);
  return k;
}

function toSecretKey(k: KeyInput): Uint8Array {
  if (typeof k === 'string') return parseSecretKey(k);
  if (k.length !== ED25519_SECRET_KEY_BYTES) throw new UpdaterError('SIGN_BAD_KEY', `invalid ed25519 secret key: ${k.length} bytes, expected ${ED25519_SECRET_KEY_BYTES}`);
  return k;
}

/** The public half of a secret key (its last 32 bytes), as base64. */
export function publicKeyFromSecretKey(secretKey: KeyInput): string {
  return keyToBase64(toSecretKey(secretKey).subarray(ED25519_SEED_BYTES));
}

/** Derives the key pair of a 32-byte seed (PyNaCl `SigningKey(seed)`, libsodium crypto_sign_seed_keypair). */
export async function keyPairFromSeed(seed: Uint8Array): Promise<Ed25519KeyPair> {
  if (seed.length !== ED25519_SEED_BYTES) throw new UpdaterError('SIGN_BAD_KEY', `invalid ed25519 seed: ${seed.length} bytes, expected ${ED25519_SEED_BYTES}`);
  const kp = (await loadSodium()).crypto_sign_seed_keypair(seed);
  return { publicKey: keyToBase64(kp.publicKey), secretKey: keyToBase64(kp.privateKey) };
}

/** Generates a fresh random key pair. */
export async function generateKeyPair(): Promise<Ed25519KeyPair> {
  const kp = (await loadSodium()).crypto_sign_keypair();
  return { publicKey: keyToBase64(kp.publicKey), secretKey: keyToBase64(kp.privateKey) };
}

/**
 * Signs `message` (the exact bytes of a `.commit` or `summary` file) and returns
 * the 64-byte detached signature. Deterministic: the same key and message always
 * give the same signature.
 */
export async function signBytes(secretKey: KeyInput, message: Uint8Array): Promise<Uint8Array> {
  const sk = toSecretKey(secretKey);
  const sodium = await loadSodium();
  // libsodium trusts the public half of the secret key when computing the signature;
  // if it does not belong to the seed the signature verifies under no key at all.
  // ostree does not check this, but a silently useless signature is worse than an error.
  const derived = sodium.crypto_sign_seed_keypair(sk.subarray(0, ED25519_SEED_BYTES)).publicKey;
  if (!Buffer.from(derived).equals(Buffer.from(sk.buffer, sk.byteOffset + ED25519_SEED_BYTES, ED25519_PUBLIC_KEY_BYTES))) {
    throw new UpdaterError('SIGN_BAD_KEY', 'invalid ed25519 secret key: its public half does not match its seed');
  }
  return new Uint8Array(sodium.crypto_sign_detached(message, sk));
}

/** How many rejected keys a message lists before summarising (ostree caps at 3 too). */
const MAX_KEYS_LISTED = 3;

/**
 * Verifies detached signatures over `message` with ostree's rule: success as soon as
 * any one signature verifies with any trusted key that is not revoked; returns which.
 *
 * Signatures are tried in order, like ostree; one that is not 64 bytes is an error
 * (SIGN_BAD_SIGNATURE) when it is reached, so a valid signature before it still wins.
 * Otherwise throws SIGN_NO_VALID_SIGNATURE naming `what` (e.g. `commit <checksum>` or
 * `summary`) and the keys tried, or SIGN_BAD_KEY for a malformed key.
 */
export async function verifyBytes(
  publicKeys: readonly KeyInput[],
  revokedKeys: readonly KeyInput[],
  signatures: readonly Uint8Array[],
  message: Uint8Array,
  what = 'data',
): Promise<VerifyResult> {
  const trusted = uniqueKeys(publicKeys.map((k) => toPublicKey(k, 'trusted ed25519 public key')));
  const revoked = new Set(revokedKeys.map((k) => keyToBase64(toPublicKey(k, 'revoked ed25519 public key'))));
  const usable = trusted.filter((k) => !revoked.has(keyToBase64(k)));
  const hint = 'check the remote\'s verification-ed25519-key / verification-ed25519-file, or the trusted.ed25519 and revoked.ed25519 key files';

  if (signatures.length === 0) {
    const signer = what.startsWith('commit') ? 'commit (ostree sign)' : what === 'summary' ? 'summary (ostree summary --sign)' : null;
    throw new UpdaterError('SIGN_NO_VALID_SIGNATURE', `Can't verify ${what}: no ed25519 signatures found`, {
      hint: signer === null ? undefined : `the publisher must sign the ${signer}`,
    });
  }
  if (usable.length === 0) {
    const why = trusted.length === 0 ? 'no trusted ed25519 public keys' : `all ${trusted.length} trusted ed25519 public key(s) are revoked`;
    throw new UpdaterError('SIGN_NO_VALID_SIGNATURE', `Can't verify ${what}: ${why}`, { hint });
  }

  const sodium = await loadSodium();
  for (let i = 0; i < signatures.length; i++) {
    const sig = signatures[i]!;
    if (sig.length !== ED25519_SIGNATURE_BYTES) {
      throw new UpdaterError('SIGN_BAD_SIGNATURE', `Can't verify ${what}: ed25519 signature #${i + 1} has ${sig.length} bytes, expected ${ED25519_SIGNATURE_BYTES}`);
    }
    for (const key of usable) {
      if (sodium.crypto_sign_verify_detached(sig, message, key)) {
        return { publicKey: key, publicKeyBase64: keyToBase64(key), signatureIndex: i };
      }
    }
  }

  const names = usable.map((k) => `key '${keyToBase64(k)}'`);
  const tried = names.length > MAX_KEYS_LISTED
    ? `${names.slice(0, MAX_KEYS_LISTED).join('; ')} and ${names.length - MAX_KEYS_LISTED} more`
    : names.join('; ');
  const failed = signatures.length === 1
    ? 'the ed25519 signature could not be verified'
    : `none of the ${signatures.length} ed25519 signatures could be verified`;
  throw new UpdaterError('SIGN_NO_VALID_SIGNATURE', `Can't verify ${what}: ${failed} with ${tried}`, { hint });
}

/** `keys` without repeats, first occurrence kept (ostree's key lists skip duplicates too). */
export function uniqueKeys(keys: readonly Uint8Array[]): Uint8Array[] {
  const seen = new Set<string>();
  return keys.filter((k) => {
    const b = keyToBase64(k);
    if (seen.has(b)) return false;
    seen.add(b);
    return true;
  });
}
