// Content objects (regular files and symlinks). Their checksum covers a stream:
//   u32 BE header length ‖ 4 zero bytes ‖ header (uuuusa(ayay)) ‖ file bytes
// header = uid, gid, mode (big-endian), rdev (0), symlink target ("" for files), xattrs.
// Archive repos store `.filez` = u32 BE length ‖ 4 zero bytes ‖ (tuuuusa(ayay))
// (the same fields after a big-endian uncompressed size) ‖ raw deflate of the bytes.

import { UpdaterError } from '../../common/errors.ts';
import { bswap32, bswap64, deserialize, serialize } from '../gvariant/index.ts';
import { isLinkMode, isRegMode, S_IFMT } from './types.ts';
import { sortXattrs, xattrsFromGValue, xattrsToGValue, type Xattr } from './xattrs.ts';

export const FILE_HEADER_TYPE = '(uuuusa(ayay))';
export const ARCHIVE_HEADER_TYPE = '(tuuuusa(ayay))';

/** Metadata of a content object. */
export interface FileHeader {
  uid: number;
  gid: number;
  /** Full st_mode: S_IFREG or S_IFLNK plus permission bits. */
  mode: number;
  /** Symlink target; empty for regular files. */
  symlinkTarget: string;
  xattrs: Xattr[];
}

/** Serialises the hashed `(uuuusa(ayay))` header. */
export function encodeFileHeader(h: FileHeader): Uint8Array {
  return serialize(FILE_HEADER_TYPE, [bswap32(h.uid), bswap32(h.gid), bswap32(h.mode), 0, h.symlinkTarget, xattrsToGValue(sortXattrs(h.xattrs))]);
}

function withLengthPrefix(header: Uint8Array): Uint8Array {
  const out = new Uint8Array(8 + header.length);
  new DataView(out.buffer).setUint32(0, header.length, false);
  out.set(header, 8);
  return out;
}

/** The bytes hashed before the file content: length, padding, header. */
export function contentStreamPrefix(h: FileHeader): Uint8Array {
  return withLengthPrefix(encodeFileHeader(h));
}

/** The `.filez` prefix: length, padding, `(tuuuusa(ayay))` with the uncompressed size. */
export function encodeArchivePrefix(h: FileHeader, size: number): Uint8Array {
  const header = serialize(ARCHIVE_HEADER_TYPE, [
    bswap64(BigInt(size)), bswap32(h.uid), bswap32(h.gid), bswap32(h.mode), 0, h.symlinkTarget, xattrsToGValue(sortXattrs(h.xattrs)),
  ]);
  return withLengthPrefix(header);
}

/** Validates a header read from an object: a regular file or symlink, rdev 0, sane bits. */
export function validateFileHeader(h: FileHeader, what: string, rdev = 0): void {
  if (!isRegMode(h.mode) && !isLinkMode(h.mode)) {
    throw new UpdaterError('STORE_OBJECT_INVALID', `${what}: mode 0${h.mode.toString(8)} is neither a regular file nor a symlink`);
  }
  if ((h.mode & ~(S_IFMT | 0o7777)) !== 0) throw new UpdaterError('STORE_OBJECT_INVALID', `${what}: invalid mode bits 0${h.mode.toString(8)}`);
  if (rdev !== 0) throw new UpdaterError('STORE_OBJECT_INVALID', `${what}: rdev must be 0`);
  if (isLinkMode(h.mode) && h.symlinkTarget === '') throw new UpdaterError('STORE_OBJECT_INVALID', `${what}: symlink with an empty target`);
  if (isRegMode(h.mode) && h.symlinkTarget !== '') throw new UpdaterError('STORE_OBJECT_INVALID', `${what}: regular file with a symlink target`);
}

/** Parses the header of a `.filez` object; returns it, the uncompressed size and where the deflate stream starts. */
export function decodeArchivePrefix(bytes: Uint8Array, what = 'archive content object'): { header: FileHeader; size: number; dataOffset: number } {
  if (bytes.length < 8) throw new UpdaterError('STORE_OBJECT_CORRUPT', `${what}: truncated (${bytes.length} bytes)`);
  const dv = new DataView(bytes.buffer, bytes.byteOffset, bytes.length);
  const len = dv.getUint32(0, false);
  if (dv.getUint32(4) !== 0) throw new UpdaterError('STORE_OBJECT_CORRUPT', `${what}: header padding is not zero`);
  if (8 + len > bytes.length || len > 10 * 1024 * 1024) throw new UpdaterError('STORE_OBJECT_CORRUPT', `${what}: header length ${len} exceeds the object`);
  const [size, uid, gid, mode, rdev, target, xattrs] = deserialize(ARCHIVE_HEADER_TYPE, bytes.subarray(8, 8 + len), { what: `${what} header` }) as [
    bigint, number, number, number, number, string, unknown,
  ];
  const header: FileHeader = { uid: bswap32(uid), gid: bswap32(gid), mode: bswap32(mode), symlinkTarget: target, xattrs: xattrsFromGValue(xattrs as never) };
  validateFileHeader(header, what, rdev);
  const usize = bswap64(size);
  if (usize > BigInt(Number.MAX_SAFE_INTEGER)) throw new UpdaterError('STORE_OBJECT_CORRUPT', `${what}: size ${usize} out of range`);
  return { header, size: Number(usize), dataOffset: 8 + len };
}

/** Parses the hashed content-stream header (used by static deltas and tests). */
export function decodeFileHeader(bytes: Uint8Array, what = 'file header'): FileHeader {
  const [uid, gid, mode, rdev, target, xattrs] = deserialize(FILE_HEADER_TYPE, bytes, { what }) as [number, number, number, number, string, unknown];
  const header: FileHeader = { uid: bswap32(uid), gid: bswap32(gid), mode: bswap32(mode), symlinkTarget: target, xattrs: xattrsFromGValue(xattrs as never) };
  validateFileHeader(header, what, rdev);
  return header;
}
