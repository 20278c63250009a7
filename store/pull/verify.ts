// Verification of fetched objects before anything is staged (ostree-format.md §7.2):
// metadata must hash to its name and decode in normal form with valid structure;
// `.filez` content is parsed, inflated, and its content stream re-hashed.

import { createHash } from 'node:crypto';
import { open } from 'node:fs/promises';
import { inflateRawSync } from 'node:zlib';
import { UpdaterError } from '../../common/errors.ts';
import { inflateFile } from '../../common/inflate-file.ts';
import {
  contentStreamPrefix, decodeArchivePrefix, decodeCommit, decodeDirmeta, decodeDirtree, sha256Hex,
  type Commit, type DirMeta, type DirTree, type FileHeader,
} from '../objects/index.ts';

export type MetaKind = 'commit' | 'dirtree' | 'dirmeta';

/** PULL_OBJECT_CORRUPT for object `csum.kind` fetched from `from`. */
export function corrupt(csum: string, kind: string, from: string, why: string, cause?: unknown): UpdaterError {
  return new UpdaterError('PULL_OBJECT_CORRUPT', `object ${csum}.${kind} from ${from}: ${why}`, {
    cause,
    hint: 'the remote served bad data; nothing of it was written. Pull again, or ask the publisher to fsck the remote repository',
  });
}

/** Checks a metadata object's checksum and structure; returns it decoded. */
export function verifyMetadata(csum: string, kind: 'commit', bytes: Uint8Array, from: string): Commit;
export function verifyMetadata(csum: string, kind: 'dirtree', bytes: Uint8Array, from: string): DirTree;
export function verifyMetadata(csum: string, kind: 'dirmeta', bytes: Uint8Array, from: string): DirMeta;
export function verifyMetadata(csum: string, kind: MetaKind, bytes: Uint8Array, from: string): Commit | DirTree | DirMeta;
export function verifyMetadata(csum: string, kind: MetaKind, bytes: Uint8Array, from: string): Commit | DirTree | DirMeta {
  const got = sha256Hex(bytes);
  if (got !== csum) throw corrupt(csum, kind, from, `computed checksum ${got} (${bytes.length} bytes)`);
  const what = `object ${csum}.${kind}`;
  try {
    if (kind === 'commit') return decodeCommit(bytes, what);
    if (kind === 'dirtree') return decodeDirtree(bytes, what);
    return decodeDirmeta(bytes, what);
  } catch (err) {
    throw corrupt(csum, kind, from, (err as Error).message, err);
  }
}

/** A verified content object held in memory: header plus uncompressed data. */
export interface VerifiedContent {
  header: FileHeader;
  size: number;
  /** The file data, or null when it was verified from a file (large objects). */
  data: Buffer | null;
}

/** Verifies an in-memory `.filez` object; returns its header and inflated data. */
export function verifyArchiveBytes(csum: string, bytes: Uint8Array, from: string): VerifiedContent {
  let parsed;
  try {
    parsed = decodeArchivePrefix(bytes, `object ${csum}.filez`);
  } catch (err) {
    throw corrupt(csum, 'filez', from, (err as Error).message, err);
  }
  const { header, size, dataOffset } = parsed;
  let data: Buffer;
  if (header.symlinkTarget) {
    data = Buffer.alloc(0);
  } else {
    try {
      data = inflateRawSync(bytes.subarray(dataOffset), { maxOutputLength: Math.max(size, 1) });
    } catch (err) {
      throw corrupt(csum, 'filez', from, `compressed data is corrupt (${(err as Error).message})`, err);
    }
  }
  if (data.length !== size) throw corrupt(csum, 'filez', from, `inflates to ${data.length} bytes, header says ${size}`);
  const got = sha256Hex(contentStreamPrefix(header), data);
  if (got !== csum) throw corrupt(csum, 'filez', from, `computed checksum ${got}`);
  return { header, size, data };
}

/** Verifies a `.filez` object stored in a file, streaming the inflate. */
export async function verifyArchiveFile(csum: string, path: string, from: string): Promise<VerifiedContent> {
  const fh = await open(path, 'r');
  let head: Buffer;
  try {
    const st = await fh.stat();
    const probe = Buffer.alloc(Math.min(st.size, 8));
    await fh.read(probe, 0, probe.length, 0);
    const hlen = probe.length >= 4 ? probe.readUInt32BE(0) : 0;
    head = Buffer.alloc(Math.min(st.size, 8 + Math.min(hlen, 10 * 1024 * 1024)));
    await fh.read(head, 0, head.length, 0);
  } finally {
    await fh.close();
  }
  let parsed;
  try {
    parsed = decodeArchivePrefix(head, `object ${csum}.filez`);
  } catch (err) {
    throw corrupt(csum, 'filez', from, (err as Error).message, err);
  }
  const { header, size, dataOffset } = parsed;
  const h = createHash('sha256').update(contentStreamPrefix(header));
  let n = 0;
  let seen = 0;
  if (!header.symlinkTarget) {
    try {
      n = await inflateFile(path, dataOffset, (chunk) => {
        h.update(chunk);
        return (seen += chunk.length) <= size;
      });
    } catch (err) {
      throw corrupt(csum, 'filez', from, `compressed data is corrupt (${(err as Error).message})`, err);
    }
  }
  if (n !== size) throw corrupt(csum, 'filez', from, `inflates to ${n} bytes, header says ${size}`);
  const got = h.digest('hex');
  if (got !== csum) throw corrupt(csum, 'filez', from, `computed checksum ${got}`);
  return { header, size, data: null };
}

/**
 * Refuses a `.filez` whose header claims more data than its `compressed` bytes can inflate
 * to (deflate expands at most ~1032:1), before any room is reserved for that size: such an
 * object is corrupt, not too large for the disk.
 */
export function checkDeclaredSize(csum: string, size: number, compressed: number, from: string): void {
  if (size > Math.max(compressed, 0) * 1032 + 1024) throw corrupt(csum, 'filez', from, `header says ${size} bytes, more than ${compressed} compressed bytes can hold`);
}
