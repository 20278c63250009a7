// dirtree objects: `(a(say)a(sayay))` — files as (name, content checksum) and
// subdirectories as (name, dirtree checksum, dirmeta checksum), each sorted by
// name bytes (strcmp). Checksum = sha256(bytes).

import { UpdaterError } from '../../common/errors.ts';
import { deserialize, offsetWidthFor, serialize } from '../gvariant/index.ts';
import { checksumFromBytes, checksumToBytes } from './checksum.ts';

export const DIRTREE_TYPE = '(a(say)a(sayay))';

export interface DirTreeFile {
  name: string;
  checksum: string;
}
export interface DirTreeDir {
  name: string;
  treeChecksum: string;
  metaChecksum: string;
}
export interface DirTree {
  files: DirTreeFile[];
  dirs: DirTreeDir[];
}

/**
 * Byte-wise (strcmp) order of UTF-8 names. UTF-16 code-unit order agrees with it
 * except where a surrogate (a character above U+FFFF) meets U+E000–U+FFFF, so the
 * names are compared as UTF-8 bytes only when the first difference is a surrogate.
 */
export function compareNames(a: string, b: string): number {
  const n = Math.min(a.length, b.length);
  for (let i = 0; i < n; i++) {
    const x = a.charCodeAt(i);
    const y = b.charCodeAt(i);
    if (x === y) continue;
    if ((x >= 0xd800 && x <= 0xdfff) || (y >= 0xd800 && y <= 0xdfff)) return Buffer.compare(Buffer.from(a, 'utf8'), Buffer.from(b, 'utf8'));
    return x < y ? -1 : 1;
  }
  return a.length === b.length ? 0 : a.length < b.length ? -1 : 1;
}

/** Throws STORE_OBJECT_INVALID unless `name` is a legal dirtree entry name. */
export function validateName(name: string, what: string): void {
  if (name === '' || name === '.' || name === '..' || name.includes('/') || name.includes('\0')) {
    throw new UpdaterError('STORE_OBJECT_INVALID', `${what}: invalid file name ${JSON.stringify(name)}`);
  }
}

/**
 * Encodes a dirtree; entries are sorted and names validated. Written directly: every
 * element type has alignment 1, so the normal form is each `(say)` as name, NUL, 32
 * bytes and the name's end offset, each `(sayay)` as name, NUL, 64 bytes and two end
 * offsets (last first), each array its elements back to back then their end offsets,
 * and the tuple the two arrays then the end of the first. Offsets take the smallest
 * width that fits their container. Property-tested against the generic serializer.
 */
export function encodeDirtree(t: DirTree): Uint8Array {
  const files = [...t.files].sort((a, b) => compareNames(a.name, b.name));
  const dirs = [...t.dirs].sort((a, b) => compareNames(a.name, b.name));
  for (const f of files) validateName(f.name, 'dirtree');
  for (const d of dirs) validateName(d.name, 'dirtree');

  // Sizes first: each element's, each array's, the whole tuple's.
  const fileLen = new Array<number>(files.length);
  const dirLen = new Array<number>(dirs.length);
  let filesBody = 0;
  for (let i = 0; i < files.length; i++) {
    const body = Buffer.byteLength(files[i]!.name) + 1 + 32;
    fileLen[i] = body + offsetWidthFor(body, 1);
    filesBody += fileLen[i]!;
  }
  let dirsBody = 0;
  for (let i = 0; i < dirs.length; i++) {
    const body = Buffer.byteLength(dirs[i]!.name) + 1 + 64;
    dirLen[i] = body + 2 * offsetWidthFor(body, 2);
    dirsBody += dirLen[i]!;
  }
  const filesW = offsetWidthFor(filesBody, files.length);
  const dirsW = offsetWidthFor(dirsBody, dirs.length);
  const filesSize = filesBody + filesW * files.length;
  const body = filesSize + dirsBody + dirsW * dirs.length;
  const tupleW = offsetWidthFor(body, 1);
  const out = Buffer.alloc(body + tupleW);

  const offset = (at: number, value: number, w: number): void => {
    for (let i = 0; i < w; i++, value = Math.floor(value / 256)) out[at + i] = value & 0xff;
  };
  const checksum = (at: number, hex: string, what: string): void => {
    if (hex.length !== 64 || out.write(hex, at, 32, 'hex') !== 32) {
      throw new UpdaterError('STORE_BAD_CHECKSUM', `invalid checksum '${hex}' of ${JSON.stringify(what)}: expected 64 hex characters`);
    }
  };
  let at = 0;
  for (let i = 0; i < files.length; i++) {
    const f = files[i]!;
    const start = at;
    const nameEnd = start + out.write(f.name, at, 'utf8') + 1;
    checksum(nameEnd, f.checksum, f.name);
    at = start + fileLen[i]!;
    const w = at - nameEnd - 32;
    offset(nameEnd + 32, nameEnd - start, w);
  }
  for (let i = 0, end = 0; i < files.length; i++) offset(filesBody + i * filesW, (end += fileLen[i]!), filesW);
  at = filesSize;
  for (let i = 0; i < dirs.length; i++) {
    const d = dirs[i]!;
    const start = at;
    const nameEnd = start + out.write(d.name, at, 'utf8') + 1;
    checksum(nameEnd, d.treeChecksum, d.name);
    checksum(nameEnd + 32, d.metaChecksum, d.name);
    at = start + dirLen[i]!;
    const w = (at - nameEnd - 64) / 2;
    offset(nameEnd + 64, nameEnd + 32 - start, w);
    offset(nameEnd + 64 + w, nameEnd - start, w);
  }
  for (let i = 0, end = 0; i < dirs.length; i++) offset(filesSize + dirsBody + i * dirsW, (end += dirLen[i]!), dirsW);
  offset(body, filesSize, tupleW);
  return out;
}

/** encodeDirtree through the generic serializer: the reference for tests. */
export function encodeDirtreeGeneric(t: DirTree): Uint8Array {
  const files = [...t.files].sort((a, b) => compareNames(a.name, b.name));
  const dirs = [...t.dirs].sort((a, b) => compareNames(a.name, b.name));
  return serialize(DIRTREE_TYPE, [
    files.map((f) => [f.name, checksumToBytes(f.checksum)]),
    dirs.map((d) => [d.name, checksumToBytes(d.treeChecksum), checksumToBytes(d.metaChecksum)]),
  ]);
}

/**
 * Decodes and validates a dirtree: names legal (not empty, `.`, `..`, no `/`),
 * sorted without duplicates, no name both a file and a directory, 32-byte checksums.
 * Bytes not in GVariant normal form are rejected. This is the hot path of checkout,
 * fsck and pull, so the one type is parsed directly (see parseDirtree) rather than
 * through the generic deserializer and its re-serialize-and-compare check.
 */
export function decodeDirtree(bytes: Uint8Array, what = 'dirtree'): DirTree {
  const { files, dirs } = parseDirtree(bytes, what);
  checkSorted(files.map((f) => f.name), what);
  checkSorted(dirs.map((d) => d.name), what);
  const fileNames = new Set(files.map((f) => f.name));
  for (const d of dirs) {
    if (fileNames.has(d.name)) throw new UpdaterError('STORE_OBJECT_INVALID', `${what}: ${JSON.stringify(d.name)} is both a file and a directory`);
  }
  return { files, dirs };
}

/** The generic path: deserialize (normal form checked by re-serializing), then map. Kept as the reference for tests. */
export function decodeDirtreeGeneric(bytes: Uint8Array, what = 'dirtree'): DirTree {
  const [rawFiles, rawDirs] = deserialize(DIRTREE_TYPE, bytes, { what }) as [[string, Uint8Array][], [string, Uint8Array, Uint8Array][]];
  return {
    files: rawFiles.map(([name, c]) => ({ name, checksum: checksumFromBytes(c, `${what}: checksum of file ${JSON.stringify(name)}`) })),
    dirs: rawDirs.map(([name, tc, mc]) => ({
      name,
      treeChecksum: checksumFromBytes(tc, `${what}: tree checksum of ${JSON.stringify(name)}`),
      metaChecksum: checksumFromBytes(mc, `${what}: meta checksum of ${JSON.stringify(name)}`),
    })),
  };
}

const utf8 = new TextDecoder('utf-8', { fatal: true });

/** Width of framing offsets in a container of `size` bytes (GVariant). */
function offsetWidth(size: number): number {
  return size === 0 ? 0 : size <= 0xff ? 1 : size <= 0xffff ? 2 : size <= 0xffffffff ? 4 : 8;
}

/**
 * Parses `(a(say)a(sayay))` in normal form. Every element type has alignment 1,
 * so normal form means: offsets of the minimal width for their container's size,
 * elements back to back with no gaps, each framing table exactly where the last
 * element ends, strings with one NUL at their end, and no zero-sized element.
 * Anything else is GVARIANT_NOT_NORMAL or GVARIANT_MALFORMED, as the generic
 * deserializer reports it (property-tested against it).
 */
function parseDirtree(b: Uint8Array, what: string): DirTree {
  const bad = (code: 'GVARIANT_MALFORMED' | 'GVARIANT_NOT_NORMAL', at: number, msg: string): never => {
    throw new UpdaterError(code, `${what}: ${msg} at byte offset ${at}`);
  };
  const off = (at: number, w: number): number => {
    let v = 0;
    for (let i = w - 1; i >= 0; i--) v = v * 256 + b[at + i]!;
    return v;
  };
  const str = (s: number, e: number): string => {
    if (e <= s || b[e - 1] !== 0) bad('GVARIANT_NOT_NORMAL', s, 'string not NUL-terminated');
    for (let i = s; i < e - 1; i++) if (b[i] === 0) bad('GVARIANT_NOT_NORMAL', i, 'string with an embedded NUL');
    try {
      return utf8.decode(b.subarray(s, e - 1));
    } catch {
      return bad('GVARIANT_MALFORMED', s, 'string is not valid UTF-8');
    }
  };
  const csum = (s: number, e: number, label: string): string => {
    if (e - s !== 32) throw new UpdaterError('STORE_BAD_CHECKSUM', `${what}: ${label} has ${e - s} bytes, expected 32`);
    return Buffer.from(b.buffer, b.byteOffset + s, 32).toString('hex');
  };
  // Ends of the elements of an array of variable-size elements in [start, end).
  const arrayEnds = (start: number, end: number): number[] => {
    const size = end - start;
    if (size === 0) return [];
    const w = offsetWidth(size);
    const last = off(end - w, w);
    if (last > size - w) bad('GVARIANT_MALFORMED', end - w, 'array framing offset out of range');
    const table = size - last;
    if (table % w !== 0) bad('GVARIANT_NOT_NORMAL', start + last, 'array framing table of the wrong size');
    const n = table / w;
    const ends: number[] = [];
    let prev = 0;
    for (let i = 0; i < n; i++) {
      const o = off(start + last + i * w, w);
      if (o < prev) bad('GVARIANT_MALFORMED', start + last + i * w, 'array framing offsets decrease');
      if (o === prev) bad('GVARIANT_NOT_NORMAL', start + last + i * w, 'empty array element');
      ends.push(start + o);
      prev = o;
    }
    if (prev !== last) bad('GVARIANT_NOT_NORMAL', start + last, 'array elements do not end at the framing table');
    return ends;
  };

  const n = b.length;
  if (n === 0) bad('GVARIANT_NOT_NORMAL', 0, 'empty dirtree');
  const w = offsetWidth(n);
  const a1 = off(n - w, w);
  if (a1 > n - w) bad('GVARIANT_MALFORMED', n - w, 'tuple framing offset out of range');

  const files: DirTreeFile[] = [];
  let s = 0;
  for (const e of arrayEnds(0, a1)) {
    const ew = offsetWidth(e - s);
    const nameEnd = s + off(e - ew, ew);
    if (nameEnd > e - ew || e - s < ew + 1) bad('GVARIANT_MALFORMED', e - ew, 'file entry framing out of range');
    const name = str(s, nameEnd);
    files.push({ name, checksum: csum(nameEnd, e - ew, `checksum of file ${JSON.stringify(name)}`) });
    s = e;
  }
  const dirs: DirTreeDir[] = [];
  s = a1;
  for (const e of arrayEnds(a1, n - w)) {
    const ew = offsetWidth(e - s);
    if (e - s < 2 * ew + 1) bad('GVARIANT_MALFORMED', s, 'directory entry too small');
    const nameEnd = s + off(e - ew, ew);
    const treeEnd = s + off(e - 2 * ew, ew);
    if (nameEnd > treeEnd || treeEnd > e - 2 * ew) bad('GVARIANT_MALFORMED', e - 2 * ew, 'directory entry framing out of range');
    const name = str(s, nameEnd);
    dirs.push({
      name,
      treeChecksum: csum(nameEnd, treeEnd, `tree checksum of ${JSON.stringify(name)}`),
      metaChecksum: csum(treeEnd, e - 2 * ew, `meta checksum of ${JSON.stringify(name)}`),
    });
    s = e;
  }
  return { files, dirs };
}

function checkSorted(names: string[], what: string): void {
  for (let i = 0; i < names.length; i++) {
    validateName(names[i]!, what);
    if (i > 0 && compareNames(names[i - 1]!, names[i]!) >= 0) {
      throw new UpdaterError('STORE_OBJECT_INVALID', `${what}: entries not sorted or duplicated at ${JSON.stringify(names[i])}`);
    }
  }
}

/** The dirtree of an empty directory (a single 0x00 byte). */
export const EMPTY_DIRTREE_CHECKSUM = '6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d';
