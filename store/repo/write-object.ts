// Writing one object file: the I/O half of staging a content object, given
// exactly what to write and which metadata to set (Transaction decides that per
// repo mode). Shared by the transaction's own thread and the writer threads of
// ./object-writer.ts, so it imports nothing but node:fs, node:path, node:zlib, node:crypto,
// the libc calls and the error type.

import { createHash } from 'node:crypto';
import { deflateRawSync, inflateRawSync } from 'node:zlib';
import { closeSync, fchmodSync, fchownSync, futimesSync, lchownSync, lutimesSync, openSync, renameSync, rmSync, symlinkSync, writeFileSync, writeSync } from 'node:fs';
import { dirname } from 'node:path';
import { UpdaterError } from '../../common/errors.ts';
import { fsetXattr, linkUnnamed, openUnnamed, setXattr } from '../../common/libc.ts';

/** Metadata of an object file: ownership, permissions, xattrs, mtime 0. */
export interface ObjectMeta {
  owner: [number, number] | null;
  chmod: number | null;
  xattrs: Array<{ name: string; value: Uint8Array }>;
  zeroMtime: boolean;
}

/** One object to write at `tmp` and rename to `dest`. */
export interface ObjectWrite extends ObjectMeta {
  tmp: string;
  dest: string;
  /** A real symlink to this target (bare and bare-user-only repos); otherwise a regular file holding `bytes`. */
  symlink: string | null;
  bytes: Uint8Array;
  /** An archive object: the file is this prefix, then `bytes` raw-deflated (level 6, as ostree). */
  deflateAfter?: Uint8Array;
  /**
   * `bytes` is a fetched `.filez` object: the data to write is what follows `offset`,
   * raw-inflated, and must be `size` bytes that, after `hashPrefix` (the content stream's
   * header), hash to `csum`; otherwise nothing is written and STORE_OBJECT_CORRUPT is thrown.
   */
  inflate?: { offset: number; size: number; hashPrefix: Uint8Array; csum: string };
}

/** The verified data of a `.filez` job (see ObjectWrite.inflate). */
function inflateVerified(bytes: Uint8Array, f: NonNullable<ObjectWrite['inflate']>): Uint8Array {
  let data: Uint8Array;
  try {
    data = inflateRawSync(bytes.subarray(f.offset), { maxOutputLength: Math.max(f.size, 1) });
  } catch (err) {
    throw new UpdaterError('STORE_OBJECT_CORRUPT', `compressed data is corrupt (${(err as Error).message})`);
  }
  if (data.length !== f.size) throw new UpdaterError('STORE_OBJECT_CORRUPT', `inflates to ${data.length} bytes, header says ${f.size}`);
  const got = createHash('sha256').update(f.hashPrefix).update(data).digest('hex');
  if (got !== f.csum) throw new UpdaterError('STORE_OBJECT_CORRUPT', `computed checksum ${got}`);
  return data;
}

/** Sets ownership, permissions, xattrs and mtime through an open file. */
export function applyMetaFd(fd: number, m: ObjectMeta, what: string): void {
  // chown before chmod: chown clears setuid/setgid bits.
  if (m.owner) fchownSync(fd, m.owner[0], m.owner[1]);
  if (m.chmod !== null) fchmodSync(fd, m.chmod);
  for (const x of m.xattrs) fsetXattr(fd, x.name, x.value, what);
  if (m.zeroMtime) futimesSync(fd, 0, 0);
}

/**
 * Writes the object and puts it at `dest` whole: an unnamed file (O_TMPFILE) linked to
 * `dest` once written, or where that is not possible a file at `tmp` renamed to `dest`. On
 * failure nothing is left behind and the error is rethrown.
 */
export function writeObjectFile(w: ObjectWrite): void {
  // Verified before anything is created.
  if (w.inflate !== undefined) w = { ...w, bytes: inflateVerified(w.bytes, w.inflate), inflate: undefined };
  if (w.symlink === null) {
    const fd = openUnnamed(dirname(w.dest), 0o600);
    if (fd !== null) {
      try {
        writeContents(fd, w, w.dest);
        linkUnnamed(fd, w.dest);
      } finally {
        closeSync(fd);
      }
      return;
    }
  }
  try {
    if (w.symlink !== null) {
      symlinkSync(w.symlink, w.tmp);
      if (w.owner) lchownSync(w.tmp, w.owner[0], w.owner[1]);
      for (const x of w.xattrs) setXattr(w.tmp, x.name, x.value);
      if (w.zeroMtime) lutimesSync(w.tmp, 0, 0);
    } else {
      const fd = openSync(w.tmp, 'wx', 0o600);
      try {
        writeContents(fd, w, w.tmp);
      } finally {
        closeSync(fd);
      }
    }
    renameSync(w.tmp, w.dest);
  } catch (err) {
    rmSync(w.tmp, { force: true });
    throw err;
  }
}

/** Writes all of `b` at the descriptor's offset. */
export function writeAll(fd: number, b: Uint8Array): void {
  let off = 0;
  while (off < b.length) off += writeSync(fd, b, off, b.length - off);
}

/** The bytes (deflated after a prefix for an archive object) and the metadata of a regular object file. */
function writeContents(fd: number, w: ObjectWrite, what: string): void {
  if (w.deflateAfter !== undefined) {
    writeAll(fd, w.deflateAfter);
    writeAll(fd, deflateRawSync(w.bytes, { level: 6 }));
  } else {
    writeAll(fd, w.bytes);
  }
  applyMetaFd(fd, w, what);
}

/** Writes a whole small file (a metadata object) at `dest` the same way: unnamed then linked, or `tmp` then renamed. */
export function writeWholeFile(tmp: string, dest: string, bytes: Uint8Array, mode: number): void {
  const fd = openUnnamed(dirname(dest), mode);
  if (fd === null) {
    try {
      writeFileSync(tmp, bytes, { mode });
      renameSync(tmp, dest);
    } catch (err) {
      rmSync(tmp, { force: true });
      throw err;
    }
    return;
  }
  try {
    writeAll(fd, bytes);
    linkUnnamed(fd, dest);
  } finally {
    closeSync(fd);
  }
}
