// dirtree objects: `(a(say)a(sayay))` — files as (name, content checksum) and
// subdirectories as (name, dirtree checksum, dirmeta checksum), each sorted by
// name bytes (strcmp). Checksum = sha256(bytes).

import { UpdaterError } from '../../common/errors.ts';
import { deserialize, serialize } from '../gvariant/index.ts';
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

/** Byte-wise (strcmp) order of UTF-8 names; JS string order differs above U+FFFF. */
export function compareNames(a: string, b: string): number {
  return Buffer.compare(Buffer.from(a, 'utf8'), Buffer.from(b, 'utf8'));
}

/** Throws STORE_OBJECT_INVALID unless `name` is a legal dirtree entry name. */
export function validateName(name: string, what: string): void {
  if (name === '' || name === '.' || name === '..' || name.includes('/') || name.includes('\0')) {
    throw new UpdaterError('STORE_OBJECT_INVALID', `${what}: invalid file name ${JSON.stringify(name)}`);
  }
}

/** Encodes a dirtree; entries are sorted and names validated. */
export function encodeDirtree(t: DirTree): Uint8Array {
  const files = [...t.files].sort((a, b) => compareNames(a.name, b.name));
  const dirs = [...t.dirs].sort((a, b) => compareNames(a.name, b.name));
  for (const f of files) validateName(f.name, 'dirtree');
  for (const d of dirs) validateName(d.name, 'dirtree');
  return serialize(DIRTREE_TYPE, [
    files.map((f) => [f.name, checksumToBytes(f.checksum)]),
    dirs.map((d) => [d.name, checksumToBytes(d.treeChecksum), checksumToBytes(d.metaChecksum)]),
  ]);
}

/**
 * Decodes and validates a dirtree: names legal (not empty, `.`, `..`, no `/`),
 * sorted without duplicates, no name both a file and a directory, 32-byte checksums.
 */
export function decodeDirtree(bytes: Uint8Array, what = 'dirtree'): DirTree {
  const [rawFiles, rawDirs] = deserialize(DIRTREE_TYPE, bytes, { what }) as [[string, Uint8Array][], [string, Uint8Array, Uint8Array][]];
  const files = rawFiles.map(([name, c]) => ({ name, checksum: checksumFromBytes(c, `${what}: checksum of file ${JSON.stringify(name)}`) }));
  const dirs = rawDirs.map(([name, tc, mc]) => ({
    name,
    treeChecksum: checksumFromBytes(tc, `${what}: tree checksum of ${JSON.stringify(name)}`),
    metaChecksum: checksumFromBytes(mc, `${what}: meta checksum of ${JSON.stringify(name)}`),
  }));
  checkSorted(files.map((f) => f.name), what);
  checkSorted(dirs.map((d) => d.name), what);
  const fileNames = new Set(files.map((f) => f.name));
  for (const d of dirs) {
    if (fileNames.has(d.name)) throw new UpdaterError('STORE_OBJECT_INVALID', `${what}: ${JSON.stringify(d.name)} is both a file and a directory`);
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
