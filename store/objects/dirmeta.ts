// dirmeta objects: `(uuua(ayay))` — uid, gid, mode (big-endian, full st_mode
// with S_IFDIR), xattrs. The same layout is the bare-user `user.ostreemeta` xattr
// (there with a regular-file or symlink mode). Checksum = sha256(bytes).

import { UpdaterError } from '../../common/errors.ts';
import { bswap32, deserialize, serialize } from '../gvariant/index.ts';
import { isDirMode, S_IFMT } from './types.ts';
import { sortXattrs, xattrsFromGValue, xattrsToGValue, type Xattr } from './xattrs.ts';

export const DIRMETA_TYPE = '(uuua(ayay))';

/** Ownership, mode and xattrs of a directory (or, in user.ostreemeta, of a file). */
export interface DirMeta {
  uid: number;
  gid: number;
  /** Full st_mode including the type bits. */
  mode: number;
  xattrs: Xattr[];
}

/** Encodes the `(uuua(ayay))` bytes; xattrs are sorted by name. */
export function encodeDirmeta(m: DirMeta): Uint8Array {
  if (m.xattrs.length === 0) {
    // Three big-endian u32 and an empty array, which takes no bytes.
    const out = Buffer.alloc(12);
    out.writeUInt32BE(m.uid >>> 0, 0);
    out.writeUInt32BE(m.gid >>> 0, 4);
    out.writeUInt32BE(m.mode >>> 0, 8);
    return out;
  }
  return serialize(DIRMETA_TYPE, [bswap32(m.uid), bswap32(m.gid), bswap32(m.mode), xattrsToGValue(sortXattrs(m.xattrs))]);
}

/** Decodes without validating the mode (also used for user.ostreemeta). */
export function decodeMetaTuple(bytes: Uint8Array, what: string): DirMeta {
  // Without xattrs the tuple is exactly three big-endian uint32 (the empty array
  // takes no bytes): the common case of every file in a bare-user repo.
  if (bytes.length === 12) {
    const v = new DataView(bytes.buffer, bytes.byteOffset, 12);
    return { uid: v.getUint32(0), gid: v.getUint32(4), mode: v.getUint32(8), xattrs: [] };
  }
  const [uid, gid, mode, xattrs] = deserialize(DIRMETA_TYPE, bytes, { what }) as [number, number, number, unknown];
  return { uid: bswap32(uid), gid: bswap32(gid), mode: bswap32(mode), xattrs: xattrsFromGValue(xattrs as never) };
}

/** Decodes and validates a dirmeta object: the mode must be a directory with no stray bits. */
export function decodeDirmeta(bytes: Uint8Array, what = 'dirmeta'): DirMeta {
  const m = decodeMetaTuple(bytes, what);
  validateDirmeta(m, what);
  return m;
}

export function validateDirmeta(m: DirMeta, what: string): void {
  if (!isDirMode(m.mode) || (m.mode & ~(S_IFMT | 0o7777)) !== 0) {
    throw new UpdaterError('STORE_OBJECT_INVALID', `${what}: invalid directory mode 0${m.mode.toString(8)}`);
  }
}
