// `atomic repo sign`: ed25519 signatures of commits kept in the repository, as
// `ostree sign` does (ostree-format.md §4.5, §6.3): the signature over the exact `.commit`
// bytes is appended to the commit's detached metadata under `ostree.sign.ed25519`, under
// the repository lock; verification uses the keys given or the system trust store.
// Also reads and writes key files in ostree's base64 formats.

import { readdir, readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { isErrno, UpdaterError } from '../../common/errors.ts';
import { lockRepo } from '../repo/lock.ts';
import type { Repo } from '../repo/repo.ts';
import {
  addSignatureToCommitmeta, DEFAULT_TRUST_BASE_DIRS, generateKeyPair, hasSignature, parsePublicKey, readKeysFile, signaturesFromMetadata, signBytes, trustStoreKeyring, trustStoreLocations,
  uniqueKeys, verifyCommit, type Ed25519KeyPair, type KeyFileText, type KeyInput, type VerifyResult,
} from '../sign/index.ts';

async function readKeyFileText(path: string, kind: 'public' | 'secret'): Promise<string> {
  try {
    return await readFile(path, 'utf8');
  } catch (err) {
    const why = isErrno(err, 'ENOENT') ? 'no such file' : isErrno(err, 'EISDIR') ? 'is a directory' : (err as Error).message;
    throw new UpdaterError('SIGN_KEYS_FILE_UNREADABLE', `cannot read ed25519 ${kind} keys file ${path}: ${why}`, { cause: err });
  }
}

/**
 * Reads a keys file: one base64 key per line (secret keys: 64 bytes, seed ‖ public key;
 * public keys: 32 bytes). Throws SIGN_KEYS_FILE_UNREADABLE when it cannot be read,
 * SIGN_BAD_KEY naming `path:line` for a malformed line, and SIGN_NO_KEYS when it holds
 * no key at all (ostree refuses such a file too).
 */
export async function loadKeysFile(path: string, kind: 'public' | 'secret'): Promise<Uint8Array[]> {
  const keys = readKeysFile(await readKeyFileText(path, kind), { kind, what: path });
  if (keys.length === 0) throw new UpdaterError('SIGN_NO_KEYS', `ed25519 ${kind} keys file ${path} holds no keys`);
  return keys;
}

export interface SignCommitResult {
  commit: string;
  /** Signatures added (a key whose signature is already stored adds none). */
  added: number;
  /** Signatures stored after signing. */
  total: number;
}

/**
 * Signs commit `checksum` with each secret key and stores the signatures in its
 * `.commitmeta`, keeping the existing ones. The read-modify-write happens under the
 * exclusive repository lock (waiting for another writer, as commits do), and the file is
 * replaced atomically. Throws STORE_OBJECT_MISSING when the commit is not in the repo.
 */
export async function signCommitInRepo(repo: Repo, checksum: string, secretKeys: readonly KeyInput[], opts: { onLockWait?: () => void } = {}): Promise<SignCommitResult> {
  if (secretKeys.length === 0) throw new UpdaterError('SIGN_NO_KEYS', `no ed25519 secret key given to sign commit ${checksum}`);
  const commitBytes = await repo.readMetadata(checksum, 'commit');
  const sigs: Uint8Array[] = [];
  for (const k of secretKeys) sigs.push(await signBytes(k, commitBytes));
  const lock = await lockRepo(repo.path, { onWait: opts.onLockWait });
  try {
    let meta: Uint8Array | null = await repo.readCommitmeta(checksum);
    let added = 0;
    for (const sig of sigs) {
      // ed25519 is deterministic: a repeat would only store the same signature twice.
      if (hasSignature(meta, sig, `commitmeta of ${checksum}`)) continue;
      meta = addSignatureToCommitmeta(meta, sig, `commitmeta of ${checksum}`);
      added++;
    }
    if (added > 0) await repo.writeCommitmeta(checksum, meta!);
    return { commit: checksum, added, total: signaturesFromMetadata(meta).length };
  } finally {
    await lock.release();
  }
}

/** Where verification keys come from, as `ostree sign --verify` chooses them. */
export interface VerifyKeySources {
  /** Public keys given on the command line (base64). */
  keys?: readonly string[];
  /** `--keys-file`: a file of public keys. */
  keysFile?: string;
  /** `--keys-dir`: a directory used instead of /etc/ostree and /usr/share/ostree for trusted.ed25519(.d) and revoked.ed25519(.d). */
  keysDir?: string;
}

async function readTrustFiles(kind: 'trusted' | 'revoked', baseDirs: readonly string[]): Promise<KeyFileText[]> {
  const out: KeyFileText[] = [];
  const tryRead = async (path: string): Promise<void> => {
    try {
      out.push({ path, text: await readFile(path, 'utf8') });
    } catch (err) {
      if (!isErrno(err, 'ENOENT') && !isErrno(err, 'EISDIR') && !isErrno(err, 'ENOTDIR')) throw err;
    }
  };
  for (const { file, dir } of trustStoreLocations(kind, baseDirs)) {
    await tryRead(file);
    const names = await readdir(dir).catch(() => [] as string[]);
    for (const n of names.sort()) await tryRead(join(dir, n));
  }
  return out;
}

/**
 * The trusted and revoked public keys for a verification: with no key and no keys file,
 * the default trust store (or `keysDir`); otherwise the keys file plus the keys given.
 * `warnings` lists trust-store lines that were skipped.
 */
export async function loadVerificationKeys(src: VerifyKeySources): Promise<{ trusted: Uint8Array[]; revoked: Uint8Array[]; warnings: string[] }> {
  const given = (src.keys ?? []).map((k, i) => parsePublicKey(k, `ed25519 public key #${i + 1} on the command line`));
  if (given.length > 0 || src.keysFile !== undefined) {
    const fromFile = src.keysFile === undefined ? [] : await loadKeysFile(src.keysFile, 'public');
    return { trusted: uniqueKeys([...fromFile, ...given]), revoked: [], warnings: [] };
  }
  const bases = src.keysDir === undefined ? DEFAULT_TRUST_BASE_DIRS : [src.keysDir];
  const ring = trustStoreKeyring(await readTrustFiles('trusted', bases), await readTrustFiles('revoked', bases));
  return ring;
}

/**
 * Verifies commit `checksum`'s ed25519 signatures (`ostree sign --verify`): succeeds when
 * one signature verifies with one trusted key that is not revoked. Throws
 * SIGN_NO_VALID_SIGNATURE naming the commit and the keys tried, STORE_OBJECT_MISSING when
 * the commit is absent.
 */
export async function verifyCommitInRepo(repo: Repo, checksum: string, src: VerifyKeySources): Promise<VerifyResult & { warnings: string[] }> {
  const commitBytes = await repo.readMetadata(checksum, 'commit');
  const keys = await loadVerificationKeys(src);
  const res = await verifyCommit(checksum, commitBytes, await repo.readCommitmeta(checksum), keys.trusted, keys.revoked);
  return { ...res, warnings: keys.warnings };
}

/** The line `ostree sign --verify` prints on success (the key in hex, as ostree prints it). */
export function formatVerifySuccess(res: VerifyResult): string {
  return `ed25519: Signature verified successfully with key '${Buffer.from(res.publicKey).toString('hex')}'`;
}

/**
 * Generates a key pair and writes it in ostree's formats: the secret file holds the
 * base64 of the 64-byte secret key (mode 0600), the public file the base64 of the
 * 32-byte public key, each on one line. Existing files are never overwritten
 * (SIGN_KEY_FILE_EXISTS).
 */
export async function generateKeyFiles(secretFile: string, publicFile?: string): Promise<Ed25519KeyPair> {
  const pair = await generateKeyPair();
  const write = async (path: string, text: string, mode: number): Promise<void> => {
    try {
      await writeFile(path, `${text}\n`, { flag: 'wx', mode });
    } catch (err) {
      if (isErrno(err, 'EEXIST')) throw new UpdaterError('SIGN_KEY_FILE_EXISTS', `${path} already exists; not overwriting a key file`);
      throw new UpdaterError('SIGN_KEYS_FILE_UNREADABLE', `cannot write ${path}: ${(err as Error).message}`, { cause: err });
    }
  };
  await write(secretFile, pair.secretKey, 0o600);
  if (publicFile !== undefined) await write(publicFile, pair.publicKey, 0o644);
  return pair;
}
