// Checksums as OSTree spells them: 64 lowercase hex characters in text, 32
// raw bytes inside GVariants, and the "modified base64" used by static deltas.

import { createHash } from 'node:crypto';
import { UpdaterError } from '../../common/errors.ts';

const HEX = /^[0-9a-f]{64}$/;

/** True for a 64-character lowercase hex SHA-256. */
export function isChecksum(s: string): boolean {
  return HEX.test(s);
}

/** Throws STORE_BAD_CHECKSUM unless `s` is a valid checksum string. */
export function assertChecksum(s: string, what = 'checksum'): string {
  if (!isChecksum(s)) throw new UpdaterError('STORE_BAD_CHECKSUM', `invalid ${what} '${s}': expected 64 lowercase hex characters`);
  return s;
}

export function checksumToBytes(hex: string): Uint8Array {
  assertChecksum(hex);
  return Buffer.from(hex, 'hex');
}

/** Converts a 32-byte `ay` to hex; `what` names the field for errors. */
export function checksumFromBytes(bytes: Uint8Array, what = 'checksum'): string {
  if (bytes.length !== 32) throw new UpdaterError('STORE_BAD_CHECKSUM', `${what} has ${bytes.length} bytes, expected 32`);
  return Buffer.from(bytes.buffer, bytes.byteOffset, 32).toString('hex');
}

export function sha256Hex(...parts: Uint8Array[]): string {
  const h = createHash('sha256');
  for (const p of parts) h.update(p);
  return h.digest('hex');
}

/** OSTree's modified base64: standard base64 without the trailing '=', '/' replaced by '_'. */
export function toModifiedBase64(hex: string): string {
  return Buffer.from(checksumToBytes(hex)).toString('base64').replace(/=+$/, '').replace(/\//g, '_');
}

export function fromModifiedBase64(s: string): string {
  if (!/^[A-Za-z0-9+_]{43}$/.test(s)) throw new UpdaterError('STORE_BAD_CHECKSUM', `invalid modified-base64 checksum '${s}'`);
  return Buffer.from(s.replace(/_/g, '/') + '=', 'base64').toString('hex');
}
