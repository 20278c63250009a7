// Static-delta part files (ostree-format.md §8): one compression byte (0 = none,
// 'x' = xz) then the serialised `(a(uuu)aa(ayay)ayay)` = mode table (BE
// uid/gid/mode), xattr table, payload blob, opcode stream. The opcodes and
// their varint operands are listed once here, with a comment per operation.

import { UpdaterError } from '../../common/errors.ts';
import { xzCompress, xzDecompress } from '../../common/xz.ts';
import { bswap32, deserialize, serialize, type GValue } from '../gvariant/index.ts';
import { xattrsFromGValue, xattrsToGValue, type Xattr } from '../objects/index.ts';
import { readVarint, writeVarint } from './varint.ts';

export const PART_PAYLOAD_TYPE = '(a(uuu)aa(ayay)ayay)';

/** Opcode bytes (ostree-repo-static-delta-private.h OstreeStaticDeltaOpCode). */
export const OP = {
  /** `S`: write a whole object from the blob, then close it. Meta: len, off. Content: mode, xattr, len, off. */
  OPEN_SPLICE_AND_CLOSE: 0x53,
  /** `o`: open a content object: mode index, xattr index, size. */
  OPEN: 0x6f,
  /** `w`: append len bytes from off (of the blob, or of the read source when one is set). */
  WRITE: 0x77,
  /** `r`: set the read source to the local content object whose checksum is at blob[off:off+32]. */
  SET_READ_SOURCE: 0x72,
  /** `R`: unset the read source. */
  UNSET_READ_SOURCE: 0x52,
  /** `c`: close the open object (verify and store it) and advance to the next object. */
  CLOSE: 0x63,
  /** `B`: apply the bsdiff patch at blob[off:off+len] to the read source; output = the open object's size. */
  BSPATCH: 0x42,
} as const;

export type DeltaOp =
  | { code: 'S'; meta: true; len: number; off: number }
  | { code: 'S'; meta: false; mode: number; xattr: number; len: number; off: number }
  | { code: 'o'; mode: number; xattr: number; size: number }
  | { code: 'w'; len: number; off: number }
  | { code: 'r'; off: number }
  | { code: 'R' }
  | { code: 'c' }
  | { code: 'B'; off: number; len: number };

/** uid/gid/mode of a content object, in host order (stored big-endian). */
export interface PartMode {
  uid: number;
  gid: number;
  mode: number;
}

/** A decoded part payload. */
export interface PartPayload {
  modes: PartMode[];
  xattrs: Xattr[][];
  blob: Uint8Array;
  ops: Uint8Array;
}

export type PartCompression = 'none' | 'xz';

export function encodePartPayload(p: PartPayload): Uint8Array {
  return serialize(PART_PAYLOAD_TYPE, [
    p.modes.map((m) => [bswap32(m.uid), bswap32(m.gid), bswap32(m.mode)]),
    p.xattrs.map((x) => xattrsToGValue(x)),
    p.blob,
    p.ops,
  ] as GValue);
}

export function decodePartPayload(bytes: Uint8Array, what: string): PartPayload {
  const [modes, xattrs, blob, ops] = deserialize(PART_PAYLOAD_TYPE, bytes, { what, normal: false }) as [
    [number, number, number][], GValue[], Uint8Array, Uint8Array,
  ];
  return {
    modes: modes.map(([u, g, m]) => ({ uid: bswap32(u), gid: bswap32(g), mode: bswap32(m) })),
    xattrs: xattrs.map((x) => xattrsFromGValue(x)),
    blob,
    ops,
  };
}

/** xz presets 6–8 differ only in dictionary size; pick the smallest that covers the input (same output as ostree's preset 8, far less memory). */
function presetFor(size: number): number {
  if (size <= 8 << 20) return 6;
  if (size <= 16 << 20) return 7;
  return 8;
}

/** The bytes of a part file: compression byte ‖ (compressed) payload. */
export function encodePartFile(payload: Uint8Array, compression: PartCompression): Uint8Array {
  const body = compression === 'xz' ? xzCompress(payload, { preset: presetFor(payload.length), check: 'crc64' }) : payload;
  const out = new Uint8Array(1 + body.length);
  out[0] = compression === 'xz' ? 0x78 : 0;
  out.set(body, 1);
  return out;
}

/** Decompresses a part file (whose sha256 the caller has verified) and decodes its payload. */
export function decodePartFile(bytes: Uint8Array, what: string): PartPayload {
  if (bytes.length < 1) throw new UpdaterError('DELTA_CORRUPT', `${what}: empty part file`);
  const body = bytes.subarray(1);
  let raw: Uint8Array;
  if (bytes[0] === 0) raw = body;
  else if (bytes[0] === 0x78) {
    try {
      raw = xzDecompress(body, { format: 'xz', what });
    } catch (err) {
      throw new UpdaterError('DELTA_CORRUPT', `${what}: xz data is corrupt`, { cause: err });
    }
  } else throw new UpdaterError('DELTA_CORRUPT', `${what}: unknown compression type 0x${bytes[0]!.toString(16)}`);
  return decodePartPayload(raw, what);
}

/** Encodes an opcode list into the op stream. */
export function encodeOps(ops: DeltaOp[]): Uint8Array {
  const out: number[] = [];
  for (const o of ops) {
    out.push(o.code.charCodeAt(0));
    switch (o.code) {
      case 'S':
        if (!o.meta) {
          writeVarint(out, o.mode);
          writeVarint(out, o.xattr);
        }
        writeVarint(out, o.len);
        writeVarint(out, o.off);
        break;
      case 'o':
        writeVarint(out, o.mode);
        writeVarint(out, o.xattr);
        writeVarint(out, o.size);
        break;
      case 'w':
        writeVarint(out, o.len);
        writeVarint(out, o.off);
        break;
      case 'r':
        writeVarint(out, o.off);
        break;
      case 'B':
        writeVarint(out, o.off);
        writeVarint(out, o.len);
        break;
      case 'R':
      case 'c':
        break;
    }
  }
  return Uint8Array.from(out);
}

/**
 * Decodes an op stream. `isMeta(i)` tells whether the part's i-th object is a
 * metadata object (its `S` op then has no mode/xattr operands); `S` and `c`
 * advance to the next object, as ostree's executor does.
 */
export function decodeOps(ops: Uint8Array, isMeta: (index: number) => boolean, what: string): DeltaOp[] {
  const out: DeltaOp[] = [];
  let at = 0;
  let obj = 0;
  const v = (): number => {
    const [n, next] = readVarint(ops, at, `${what} op stream`);
    at = next;
    return n;
  };
  while (at < ops.length) {
    const start = at;
    const code = ops[at++]!;
    switch (code) {
      case OP.OPEN_SPLICE_AND_CLOSE:
        if (isMeta(obj)) out.push({ code: 'S', meta: true, len: v(), off: v() });
        else out.push({ code: 'S', meta: false, mode: v(), xattr: v(), len: v(), off: v() });
        obj++;
        break;
      case OP.OPEN:
        out.push({ code: 'o', mode: v(), xattr: v(), size: v() });
        break;
      case OP.WRITE:
        out.push({ code: 'w', len: v(), off: v() });
        break;
      case OP.SET_READ_SOURCE:
        out.push({ code: 'r', off: v() });
        break;
      case OP.UNSET_READ_SOURCE:
        out.push({ code: 'R' });
        break;
      case OP.CLOSE:
        out.push({ code: 'c' });
        obj++;
        break;
      case OP.BSPATCH:
        out.push({ code: 'B', off: v(), len: v() });
        break;
      default:
        throw new UpdaterError('DELTA_CORRUPT', `${what}: unknown opcode 0x${code.toString(16)} at op offset ${start}`);
    }
  }
  return out;
}

/** Per-opcode counts, in the order `ostree static-delta show` prints them. */
export interface OpStats {
  openspliceclose: number;
  open: number;
  write: number;
  setread: number;
  unsetread: number;
  close: number;
  bspatch: number;
}

export function countOps(ops: DeltaOp[]): OpStats {
  const s: OpStats = { openspliceclose: 0, open: 0, write: 0, setread: 0, unsetread: 0, close: 0, bspatch: 0 };
  for (const o of ops) {
    if (o.code === 'S') s.openspliceclose++;
    else if (o.code === 'o') s.open++;
    else if (o.code === 'w') s.write++;
    else if (o.code === 'r') s.setread++;
    else if (o.code === 'R') s.unsetread++;
    else if (o.code === 'c') s.close++;
    else s.bspatch++;
  }
  return s;
}
