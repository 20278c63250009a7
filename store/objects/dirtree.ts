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
 * Where a dirtree's entries are, from a scan of its framing (see scanDirtree): per file
 * the start of its name and the offset of the name's NUL (the 32-byte checksum follows
 * it); per directory the same (tree checksum, then meta checksum, follow the NUL).
 */
interface DirtreeLayout {
  files: number[];
  dirs: number[];
}

type FormatCode = 'GVARIANT_MALFORMED' | 'GVARIANT_NOT_NORMAL';

function formatError(what: string, code: FormatCode, at: number, msg: string): never {
  throw new UpdaterError(code, `${what}: ${msg} at byte offset ${at}`);
}

function readOffset(b: Uint8Array, at: number, w: number): number {
  let v = 0;
  for (let i = w - 1; i >= 0; i--) v = v * 256 + b[at + i]!;
  return v;
}

/**
 * The size of a container in normal form whose elements take `body` bytes and which has
 * `count` framing offsets: the offsets are as narrow as the total allows (GVariant's rule).
 */
function normalSize(body: number, count: number): number {
  if (body + count <= 0xff) return body + count;
  if (body + 2 * count <= 0xffff) return body + 2 * count;
  if (body + 4 * count <= 0xffffffff) return body + 4 * count;
  return body + 8 * count;
}

/**
 * Checks the framing of `(a(say)a(sayay))` in normal form and returns where its entries
 * are. Every element type has alignment 1, so normal form means: offsets of the minimal
 * width for their container's size, elements back to back with no gaps, each framing
 * table exactly where the last element ends, strings ending in a NUL, checksums of 32
 * bytes, and no zero-sized element. Names are not decoded here (see entryName).
 */
function scanDirtree(b: Uint8Array, what: string): DirtreeLayout {
  const bad = (code: FormatCode, at: number, msg: string): never => formatError(what, code, at, msg);
  // Ends of the elements of an array of variable-size elements in [start, end).
  const arrayEnds = (start: number, end: number): number[] => {
    const size = end - start;
    if (size === 0) return [];
    const w = offsetWidth(size);
    const last = readOffset(b, end - w, w);
    if (last > size - w) bad('GVARIANT_MALFORMED', end - w, 'array framing offset out of range');
    const table = size - last;
    if (table % w !== 0) bad('GVARIANT_NOT_NORMAL', start + last, 'array framing table of the wrong size');
    const n = table / w;
    // Offsets wider than the container needs (a byte added to a 255-byte one, say) frame the same elements, but not in normal form.
    if (normalSize(last, n) !== size) bad('GVARIANT_NOT_NORMAL', start + last, 'array framing offsets wider than its size needs');
    const ends: number[] = [];
    let prev = 0;
    for (let i = 0; i < n; i++) {
      const o = readOffset(b, start + last + i * w, w);
      if (o < prev) bad('GVARIANT_MALFORMED', start + last + i * w, 'array framing offsets decrease');
      if (o === prev) bad('GVARIANT_NOT_NORMAL', start + last + i * w, 'empty array element');
      ends.push(start + o);
      prev = o;
    }
    if (prev !== last) bad('GVARIANT_NOT_NORMAL', start + last, 'array elements do not end at the framing table');
    return ends;
  };
  const nameEndAt = (s: number, e: number): number => {
    if (e <= s || b[e - 1] !== 0) bad('GVARIANT_NOT_NORMAL', s, 'string not NUL-terminated');
    return e - 1;
  };
  const checksumSize = (s: number, nul: number, size: number, label: string): void => {
    if (size !== 32) throw new UpdaterError('STORE_BAD_CHECKSUM', `${what}: ${label} ${JSON.stringify(entryName(b, s, nul, what))} has ${size} bytes, expected 32`);
  };

  const n = b.length;
  if (n === 0) bad('GVARIANT_NOT_NORMAL', 0, 'empty dirtree');
  const w = offsetWidth(n);
  const a1 = readOffset(b, n - w, w);
  if (a1 > n - w) bad('GVARIANT_MALFORMED', n - w, 'tuple framing offset out of range');
  if (normalSize(n - w, 1) !== n) bad('GVARIANT_NOT_NORMAL', n - w, 'tuple framing offset wider than its size needs');

  const files: number[] = [];
  let s = 0;
  for (const e of arrayEnds(0, a1)) {
    const ew = offsetWidth(e - s);
    const nameEnd = s + readOffset(b, e - ew, ew);
    if (nameEnd > e - ew || e - s < ew + 1) bad('GVARIANT_MALFORMED', e - ew, 'file entry framing out of range');
    if (normalSize(e - s - ew, 1) !== e - s) bad('GVARIANT_NOT_NORMAL', e - ew, 'file entry framing offset wider than its size needs');
    const nul = nameEndAt(s, nameEnd);
    checksumSize(s, nul, e - ew - nameEnd, 'checksum of file');
    files.push(s, nul);
    s = e;
  }
  const dirs: number[] = [];
  s = a1;
  for (const e of arrayEnds(a1, n - w)) {
    const ew = offsetWidth(e - s);
    if (e - s < 2 * ew + 1) bad('GVARIANT_MALFORMED', s, 'directory entry too small');
    if (normalSize(e - s - 2 * ew, 2) !== e - s) bad('GVARIANT_NOT_NORMAL', e - 2 * ew, 'directory entry framing offsets wider than its size needs');
    const nameEnd = s + readOffset(b, e - ew, ew);
    const treeEnd = s + readOffset(b, e - 2 * ew, ew);
    if (nameEnd > treeEnd || treeEnd > e - 2 * ew) bad('GVARIANT_MALFORMED', e - 2 * ew, 'directory entry framing out of range');
    const nul = nameEndAt(s, nameEnd);
    checksumSize(s, nul, treeEnd - nameEnd, 'tree checksum of');
    checksumSize(s, nul, e - 2 * ew - treeEnd, 'meta checksum of');
    dirs.push(s, nul);
    s = e;
  }
  return { files, dirs };
}

/** The name in b[s, nul): no embedded NUL, valid UTF-8. */
function entryName(b: Uint8Array, s: number, nul: number, what: string): string {
  for (let i = s; i < nul; i++) if (b[i] === 0) formatError(what, 'GVARIANT_NOT_NORMAL', i, 'string with an embedded NUL');
  try {
    return utf8.decode(b.subarray(s, nul));
  } catch {
    return formatError(what, 'GVARIANT_MALFORMED', s, 'string is not valid UTF-8');
  }
}

const hexAt = (b: Uint8Array, at: number): string => Buffer.from(b.buffer, b.byteOffset + at, 32).toString('hex');

/** Parses `(a(say)a(sayay))` in normal form (see scanDirtree); names and checksums decoded, not yet validated. */
function parseDirtree(b: Uint8Array, what: string): DirTree {
  const layout = scanDirtree(b, what);
  const files: DirTreeFile[] = [];
  for (let i = 0; i < layout.files.length; i += 2) {
    const nul = layout.files[i + 1]!;
    files.push({ name: entryName(b, layout.files[i]!, nul, what), checksum: hexAt(b, nul + 1) });
  }
  const dirs: DirTreeDir[] = [];
  for (let i = 0; i < layout.dirs.length; i += 2) {
    const nul = layout.dirs[i + 1]!;
    dirs.push({ name: entryName(b, layout.dirs[i]!, nul, what), treeChecksum: hexAt(b, nul + 1), metaChecksum: hexAt(b, nul + 33) });
  }
  return { files, dirs };
}

/** strcmp of a[as, ae) and b[bs, be). */
function compareBytes(a: Uint8Array, as: number, ae: number, b: Uint8Array, bs: number, be: number): number {
  const n = Math.min(ae - as, be - bs);
  for (let i = 0; i < n; i++) {
    const x = a[as + i]!;
    const y = b[bs + i]!;
    if (x !== y) return x < y ? -1 : 1;
  }
  return ae - as - (be - bs);
}

function sameBytes(a: Uint8Array, as: number, b: Uint8Array, bs: number, n: number): boolean {
  for (let i = 0; i < n; i++) if (a[as + i] !== b[bs + i]) return false;
  return true;
}

/** What a dirtree has that another (its base) does not; see diffDirtree. */
export interface DirtreeChanges {
  /** Content checksums of the files whose name and checksum are not both in the base. */
  files: string[];
  /** The subdirectories that are not in the base with the same tree and meta, each with the base's entry of that name (or null). */
  dirs: Array<{ name: string; treeChecksum: string; metaChecksum: string; base: { treeChecksum: string; metaChecksum: string } | null }>;
}

/**
 * Compares a dirtree with `base` (the directory at the same path in a complete commit,
 * already validated, or null) entry by entry on the raw bytes, decoding only the entries
 * that differ: an upgrade's walk reads thousands of unchanged entries per changed
 * directory. The whole framing is checked, and the order of every name; the names that
 * differ from the base are validated as decodeDirtree validates them, the others are the
 * base's own.
 */
export function diffDirtree(bytes: Uint8Array, base: Uint8Array | null, what = 'dirtree'): DirtreeChanges {
  const b = bytes;
  const nb = scanDirtree(b, what);
  const o = base ?? new Uint8Array([0]);
  const ob = base === null ? { files: [], dirs: [] } : scanDirtree(base, `${what} (base)`);
  const order = (list: number[], i: number): void => {
    if (i === 0 || compareBytes(b, list[i - 2]!, list[i - 1]!, b, list[i]!, list[i + 1]!) < 0) return;
    throw new UpdaterError('STORE_OBJECT_INVALID', `${what}: entries not sorted or duplicated at ${JSON.stringify(entryName(b, list[i]!, list[i + 1]!, what))}`);
  };
  const named = (s: number, nul: number): string => {
    const name = entryName(b, s, nul, what);
    validateName(name, what);
    return name;
  };
  /** Index in `olist` of the entry named like b[s, nul), searching from `j` (both lists are sorted); -1 when absent. */
  const seek = (olist: number[], j: number, s: number, nul: number): [number, number] => {
    while (j < olist.length) {
      const c = compareBytes(o, olist[j]!, olist[j + 1]!, b, s, nul);
      if (c === 0) return [j, j + 2];
      if (c > 0) return [-1, j];
      j += 2;
    }
    return [-1, j];
  };
  const files: string[] = [];
  for (let i = 0, j = 0; i < nb.files.length; i += 2) {
    order(nb.files, i);
    const s = nb.files[i]!;
    const nul = nb.files[i + 1]!;
    const [hit, next] = seek(ob.files, j, s, nul);
    j = next;
    if (hit >= 0 && sameBytes(b, nul + 1, o, ob.files[hit + 1]! + 1, 32)) continue;
    named(s, nul);
    files.push(hexAt(b, nul + 1));
  }
  const dirs: DirtreeChanges['dirs'] = [];
  for (let i = 0, j = 0, f = 0; i < nb.dirs.length; i += 2) {
    order(nb.dirs, i);
    const s = nb.dirs[i]!;
    const nul = nb.dirs[i + 1]!;
    // No name both a file and a directory: the file list is sorted too.
    while (f < nb.files.length && compareBytes(b, nb.files[f]!, nb.files[f + 1]!, b, s, nul) < 0) f += 2;
    if (f < nb.files.length && compareBytes(b, nb.files[f]!, nb.files[f + 1]!, b, s, nul) === 0) {
      throw new UpdaterError('STORE_OBJECT_INVALID', `${what}: ${JSON.stringify(entryName(b, s, nul, what))} is both a file and a directory`);
    }
    const [hit, next] = seek(ob.dirs, j, s, nul);
    j = next;
    const oldAt = hit >= 0 ? ob.dirs[hit + 1]! + 1 : -1;
    if (oldAt >= 0 && sameBytes(b, nul + 1, o, oldAt, 64)) continue;
    dirs.push({
      name: named(s, nul), treeChecksum: hexAt(b, nul + 1), metaChecksum: hexAt(b, nul + 33),
      base: oldAt < 0 ? null : { treeChecksum: hexAt(o, oldAt), metaChecksum: hexAt(o, oldAt + 32) },
    });
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
