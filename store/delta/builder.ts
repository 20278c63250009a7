// Accumulates one static-delta part (objects, mode/xattr tables, blob, ops)
// and serialises it; pure, so generation order and splitting stay testable.

import { sha256Hex, type FileHeader, type ObjectType, type Xattr } from '../objects/index.ts';
import { encodeOps, encodePartFile, encodePartPayload, type DeltaOp, type PartCompression, type PartMode } from './part.ts';
import type { CopySpan } from './bsdiff.ts';
import type { DeltaObject, DeltaPartHeader } from './superblock.ts';

export interface BuiltPart {
  header: DeltaPartHeader;
  /** The part file bytes (compression byte included). */
  file: Uint8Array;
}

export class PartBuilder {
  readonly objects: DeltaObject[] = [];
  private readonly chunks: Uint8Array[] = [];
  blobLength = 0;
  private readonly ops: DeltaOp[] = [];
  private readonly modes: PartMode[] = [];
  private readonly modeIndex = new Map<string, number>();
  private readonly xattrs: Xattr[][] = [];
  private readonly xattrIndex = new Map<string, number>();
  usize = 0;

  /** Appends bytes to the blob and returns their offset. */
  private append(bytes: Uint8Array): number {
    const off = this.blobLength;
    if (bytes.length > 0) this.chunks.push(bytes);
    this.blobLength += bytes.length;
    return off;
  }

  private modeAndXattrs(h: FileHeader): [number, number] {
    const mk = `${h.uid}:${h.gid}:${h.mode}`;
    let m = this.modeIndex.get(mk);
    if (m === undefined) {
      m = this.modes.push({ uid: h.uid, gid: h.gid, mode: h.mode }) - 1;
      this.modeIndex.set(mk, m);
    }
    const xk = h.xattrs.map((x) => `${x.name}=${Buffer.from(x.value).toString('hex')}`).join('\0');
    let x = this.xattrIndex.get(xk);
    if (x === undefined) {
      x = this.xattrs.push(h.xattrs) - 1;
      this.xattrIndex.set(xk, x);
    }
    return [m, x];
  }

  /** A metadata object (dirtree, dirmeta) spliced whole. */
  addMetadata(type: ObjectType, checksum: string, bytes: Uint8Array): void {
    this.objects.push({ type, checksum });
    const off = this.append(bytes);
    this.ops.push({ code: 'S', meta: true, len: bytes.length, off });
    this.usize += bytes.length;
  }

  /** A content object spliced whole: file bytes, or for a symlink its target. */
  addContent(checksum: string, header: FileHeader, data: Uint8Array): void {
    this.objects.push({ type: 1, checksum });
    const [mode, xattr] = this.modeAndXattrs(header);
    const isLink = header.symlinkTarget !== '';
    const bytes = isLink ? Buffer.from(header.symlinkTarget, 'utf8') : data;
    const off = this.append(bytes);
    this.ops.push({ code: 'S', meta: false, mode, xattr, len: bytes.length, off });
    // ostree counts a symlink as size 0 (its GFileInfo size) in usize.
    this.usize += isLink ? 0 : data.length;
  }

  /** A regular file rebuilt from a local object with a bsdiff patch: r, o, B, c, R as ostree emits them. */
  addBsdiff(checksum: string, header: FileHeader, size: number, sourceChecksum: string, patch: Uint8Array): void {
    this.objects.push({ type: 1, checksum });
    const [mode, xattr] = this.modeAndXattrs(header);
    const srcOff = this.append(Buffer.from(sourceChecksum, 'hex'));
    this.ops.push({ code: 'r', off: srcOff });
    this.ops.push({ code: 'o', mode, xattr, size });
    const off = this.append(patch);
    this.ops.push({ code: 'B', off, len: patch.length });
    this.ops.push({ code: 'c' });
    this.ops.push({ code: 'R' });
    this.usize += size;
  }

  /**
   * A regular file assembled from copies of a local object's bytes and literal bytes
   * (see copySpans): o, then per copy r w R and per literal w, then c, as ostree's
   * rollsum deltas do; a client reads only the literals from the blob.
   */
  addCopies(checksum: string, header: FileHeader, data: Uint8Array, sourceChecksum: string, spans: CopySpan[]): void {
    this.objects.push({ type: 1, checksum });
    const [mode, xattr] = this.modeAndXattrs(header);
    this.ops.push({ code: 'o', mode, xattr, size: data.length });
    let srcOff = -1;
    let reading = false;
    for (const s of spans) {
      if (s.from >= 0) {
        if (srcOff < 0) srcOff = this.append(Buffer.from(sourceChecksum, 'hex'));
        if (!reading) this.ops.push({ code: 'r', off: srcOff });
        reading = true;
        this.ops.push({ code: 'w', len: s.len, off: s.from });
      } else {
        if (reading) this.ops.push({ code: 'R' });
        reading = false;
        this.ops.push({ code: 'w', len: s.len, off: this.append(data.subarray(s.at, s.at + s.len)) });
      }
    }
    if (reading) this.ops.push({ code: 'R' });
    this.ops.push({ code: 'c' });
    this.usize += data.length;
  }

  get empty(): boolean {
    return this.objects.length === 0;
  }

  finish(compression: PartCompression): BuiltPart {
    const blob = Buffer.concat(this.chunks, this.blobLength);
    const payload = encodePartPayload({ modes: this.modes, xattrs: this.xattrs, blob, ops: encodeOps(this.ops) });
    const file = encodePartFile(payload, compression);
    return {
      header: { version: 0, checksum: sha256Hex(file), size: file.length, usize: this.usize, objects: this.objects },
      file,
    };
  }
}
