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
  if (h.xattrs.length === 0) return encodeBareHeader(h, 0, 0);
  return serialize(FILE_HEADER_TYPE, [bswap32(h.uid), bswap32(h.gid), bswap32(h.mode), 0, h.symlinkTarget, xattrsToGValue(sortXattrs(h.xattrs))]);
}

/**
 * The header of a content object without xattrs (nearly all of them), written
 * directly: `lead` bytes (0, or 8 for the archive header's size), then uid, gid,
 * mode and rdev 0 as big-endian u32, the NUL-terminated target, no bytes for the
 * empty array, and one framing offset (the end of the string) sized for the
 * total, as GVariant's normal form has it. The result starts at `at` in a buffer
 * with room for `at` bytes before it (the 8-byte length prefix).
 */
function encodeBareHeader(h: FileHeader, lead: number, at: number, size = 0): Uint8Array {
  const target = h.symlinkTarget === '' ? null : Buffer.from(h.symlinkTarget, 'utf8');
  const strEnd = lead + 16 + (target?.length ?? 0) + 1;
  const osize = strEnd + 1 <= 0xff ? 1 : strEnd + 2 <= 0xffff ? 2 : 4;
  const out = Buffer.alloc(at + strEnd + osize);
  if (lead === 8) out.writeBigUInt64BE(BigInt(size), at);
  out.writeUInt32BE(h.uid >>> 0, at + lead);
  out.writeUInt32BE(h.gid >>> 0, at + lead + 4);
  out.writeUInt32BE(h.mode >>> 0, at + lead + 8);
  if (target) target.copy(out, at + lead + 16);
  out.writeUIntLE(strEnd, at + strEnd, osize);
  return out;
}

function withLengthPrefix(header: Uint8Array): Uint8Array {
  const out = new Uint8Array(8 + header.length);
  new DataView(out.buffer).setUint32(0, header.length, false);
  out.set(header, 8);
  return out;
}

/** Fills in the length of a header built after 8 bytes of room. */
function prefixed(out: Uint8Array): Uint8Array {
  new DataView(out.buffer, out.byteOffset, 8).setUint32(0, out.length - 8, false);
  return out;
}

/** The bytes hashed before the file content: length, padding, header. */
export function contentStreamPrefix(h: FileHeader): Uint8Array {
  if (h.xattrs.length === 0) return prefixed(encodeBareHeader(h, 0, 8));
  return withLengthPrefix(encodeFileHeader(h));
}

/** The `.filez` prefix: length, padding, `(tuuuusa(ayay))` with the uncompressed size. */
export function encodeArchivePrefix(h: FileHeader, size: number): Uint8Array {
  if (h.xattrs.length === 0) return prefixed(encodeBareHeader(h, 8, 8, size));
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
  const fast = decodeBareArchiveHeader(bytes, len, what);
  if (fast !== null) return fast;
  const [size, uid, gid, mode, rdev, target, xattrs] = deserialize(ARCHIVE_HEADER_TYPE, bytes.subarray(8, 8 + len), { what: `${what} header` }) as [
    bigint, number, number, number, number, string, unknown,
  ];
  const header: FileHeader = { uid: bswap32(uid), gid: bswap32(gid), mode: bswap32(mode), symlinkTarget: target, xattrs: xattrsFromGValue(xattrs as never) };
  validateFileHeader(header, what, rdev);
  const usize = bswap64(size);
  if (usize > BigInt(Number.MAX_SAFE_INTEGER)) throw new UpdaterError('STORE_OBJECT_CORRUPT', `${what}: size ${usize} out of range`);
  return { header, size: Number(usize), dataOffset: 8 + len };
}

/**
 * The common case of decodeArchivePrefix, read directly: a header without
 * xattrs. It is accepted only if writing the decoded fields back gives the very
 * same bytes (so only normal-form input passes); anything else returns null and
 * goes through the general GVariant decoder, which also names what is wrong.
 */
function decodeBareArchiveHeader(bytes: Uint8Array, len: number, what: string): { header: FileHeader; size: number; dataOffset: number } | null {
  if (len < 8 + 16 + 1 + 1) return null;
  const b = Buffer.from(bytes.buffer, bytes.byteOffset + 8, len);
  const osize = len <= 0xff ? 1 : len <= 0xffff ? 2 : 4;
  const strEnd = b.readUIntLE(len - osize, osize);
  // No xattrs: the string runs right up to the framing offset.
  if (strEnd !== len - osize || b.indexOf(0, 24) !== strEnd - 1) return null;
  const usize = b.readBigUInt64BE(0);
  if (usize > BigInt(Number.MAX_SAFE_INTEGER)) return null;
  if (b.readUInt32BE(20) !== 0) return null; // rdev
  const header: FileHeader = {
    uid: b.readUInt32BE(8),
    gid: b.readUInt32BE(12),
    mode: b.readUInt32BE(16),
    symlinkTarget: strEnd - 1 > 24 ? b.toString('utf8', 24, strEnd - 1) : '',
    xattrs: [],
  };
  const size = Number(usize);
  const again = encodeBareHeader(header, 8, 0, size);
  if (!b.equals(again)) return null;
  validateFileHeader(header, what);
  return { header, size, dataOffset: 8 + len };
}

/** Parses the hashed content-stream header (used by static deltas and tests). */
export function decodeFileHeader(bytes: Uint8Array, what = 'file header'): FileHeader {
  const [uid, gid, mode, rdev, target, xattrs] = deserialize(FILE_HEADER_TYPE, bytes, { what }) as [number, number, number, number, string, unknown];
  const header: FileHeader = { uid: bswap32(uid), gid: bswap32(gid), mode: bswap32(mode), symlinkTarget: target, xattrs: xattrsFromGValue(xattrs as never) };
  validateFileHeader(header, what, rdev);
  return header;
}
