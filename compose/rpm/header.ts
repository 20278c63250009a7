// RPM lead and header structures (rpm's doc/manual/format.md): the 96-byte lead,
// then header blobs (signature header, main header) of an intro, an index of
// 16-byte entries and a data store. Every read is bounds-checked; errors name the
// file, the byte offset and the tag.

import { UpdaterError } from '../../common/errors.ts';
import { RPM_TYPE } from './tags.ts';

export const LEAD_SIZE = 96;
export const LEAD_MAGIC = [0xed, 0xab, 0xee, 0xdb];
export const HEADER_MAGIC = [0x8e, 0xad, 0xe8, 0x01];
/** Header intro: magic (4), reserved (4), index entry count (be32), data store size (be32). */
export const HEADER_INTRO_SIZE = 16;
/** One index entry: tag, type, offset into the store, count (all be32). */
const ENTRY_SIZE = 16;
// rpm's own sanity limits (lib/header_internal.h HEADER_TAGS_MAX, HEADER_DATA_MAX).
const MAX_ENTRIES = 0xffff;
const MAX_DATA = 0x0fffffff;
const MAX_COUNT = 0x00ffffff;

/** The lead: legacy, only the magic and a few fields still matter. */
export interface RpmLead {
  major: number;
  minor: number;
  /** 0 binary, 1 source. */
  type: number;
  archnum: number;
  /** The NEVR rpmbuild wrote (informative; the header is authoritative). */
  name: string;
  osnum: number;
  /** 5 = header-style signature (the only kind rpm ≥ 3 writes). */
  signatureType: number;
}

/** A decoded tag value; numbers for CHAR/INT*, strings for the string types, bytes for BIN. */
export type RpmTagValue =
  | { type: typeof RPM_TYPE.CHAR | typeof RPM_TYPE.INT8 | typeof RPM_TYPE.INT16 | typeof RPM_TYPE.INT32 | typeof RPM_TYPE.INT64; value: number[] }
  | { type: typeof RPM_TYPE.STRING | typeof RPM_TYPE.STRING_ARRAY | typeof RPM_TYPE.I18NSTRING; value: string[] }
  | { type: typeof RPM_TYPE.BIN | typeof RPM_TYPE.NULL; value: Uint8Array };

function fail(what: string, offset: number, msg: string, code = 'RPM_MALFORMED'): UpdaterError {
  return new UpdaterError(code, `${what}: ${msg} (at byte offset ${offset})`);
}

function magicAt(buf: Uint8Array, off: number, magic: number[]): boolean {
  return magic.every((b, i) => buf[off + i] === b);
}

/** Parses the lead from the first 96 bytes of a package. */
export function parseLead(buf: Uint8Array, what: string): RpmLead {
  if (buf.length < 4 || !magicAt(buf, 0, LEAD_MAGIC)) {
    throw new UpdaterError('RPM_NOT_RPM', `${what}: not an RPM package (no lead magic ed ab ee db at offset 0)`);
  }
  if (buf.length < LEAD_SIZE) throw new UpdaterError('RPM_TRUNCATED', `${what}: file ends in the lead (${buf.length} of ${LEAD_SIZE} bytes)`);
  const dv = new DataView(buf.buffer, buf.byteOffset, LEAD_SIZE);
  const nameBytes = buf.subarray(10, 76);
  const nul = nameBytes.indexOf(0);
  const lead: RpmLead = {
    major: buf[4]!,
    minor: buf[5]!,
    type: dv.getUint16(6),
    archnum: dv.getUint16(8),
    name: Buffer.from(nameBytes.subarray(0, nul < 0 ? nameBytes.length : nul)).toString('utf8'),
    osnum: dv.getUint16(76),
    signatureType: dv.getUint16(78),
  };
  if (lead.major < 3) throw fail(what, 4, `unsupported lead version ${lead.major}.${lead.minor}`, 'RPM_UNSUPPORTED');
  if (lead.signatureType !== 5) throw fail(what, 78, `unsupported signature type ${lead.signatureType} (expected 5, header-style)`, 'RPM_UNSUPPORTED');
  return lead;
}

/** Reads a header intro at `off` and returns the whole blob's length (intro + index + store). */
export function headerBlobLength(buf: Uint8Array, off: number, what: string): { entries: number; dataLength: number; length: number } {
  if (buf.length - off < HEADER_INTRO_SIZE) throw fail(what, off, 'truncated in the header intro', 'RPM_TRUNCATED');
  if (!magicAt(buf, off, HEADER_MAGIC)) throw fail(what, off, 'bad header magic (expected 8e ad e8 01)');
  const dv = new DataView(buf.buffer, buf.byteOffset + off, HEADER_INTRO_SIZE);
  const entries = dv.getUint32(8);
  const dataLength = dv.getUint32(12);
  if (entries < 1 || entries > MAX_ENTRIES) throw fail(what, off + 8, `implausible header index count ${entries}`);
  if (dataLength > MAX_DATA) throw fail(what, off + 12, `implausible header data size ${dataLength}`);
  return { entries, dataLength, length: HEADER_INTRO_SIZE + entries * ENTRY_SIZE + dataLength };
}

const SIZES: Record<number, number> = { [RPM_TYPE.CHAR]: 1, [RPM_TYPE.INT8]: 1, [RPM_TYPE.INT16]: 2, [RPM_TYPE.INT32]: 4, [RPM_TYPE.INT64]: 8, [RPM_TYPE.BIN]: 1 };

/** A parsed header: every entry decoded, with typed accessors. */
export class RpmHeader {
  /** The exact header bytes (intro + index + store), what the header digests cover. */
  readonly blob: Uint8Array;
  readonly what: string;
  private readonly values: Map<number, RpmTagValue>;

  constructor(blob: Uint8Array, what: string, values: Map<number, RpmTagValue>) {
    this.blob = blob;
    this.what = what;
    this.values = values;
  }

  has(tag: number): boolean {
    return this.values.has(tag);
  }

  /** Every tag present, in index order. */
  tags(): number[] {
    return [...this.values.keys()];
  }

  raw(tag: number): RpmTagValue | undefined {
    return this.values.get(tag);
  }

  private wrongType(tag: number, want: string): UpdaterError {
    return new UpdaterError('RPM_MALFORMED', `${this.what}: tag ${tag} has type ${this.values.get(tag)?.type}, expected ${want}`);
  }

  /** A STRING (or the first of an I18NSTRING/STRING_ARRAY). */
  string(tag: number): string | undefined {
    const v = this.values.get(tag);
    if (!v) return undefined;
    if (v.type === RPM_TYPE.STRING || v.type === RPM_TYPE.I18NSTRING || v.type === RPM_TYPE.STRING_ARRAY) return v.value[0];
    throw this.wrongType(tag, 'a string');
  }

  /** A STRING_ARRAY (a STRING or I18NSTRING gives its strings). */
  strings(tag: number): string[] | undefined {
    const v = this.values.get(tag);
    if (!v) return undefined;
    if (v.type === RPM_TYPE.STRING || v.type === RPM_TYPE.I18NSTRING || v.type === RPM_TYPE.STRING_ARRAY) return v.value;
    throw this.wrongType(tag, 'strings');
  }

  /** An integer array (CHAR, INT8/16/32/64). */
  numbers(tag: number): number[] | undefined {
    const v = this.values.get(tag);
    if (!v) return undefined;
    if (v.type >= RPM_TYPE.CHAR && v.type <= RPM_TYPE.INT64) return v.value as number[];
    throw this.wrongType(tag, 'integers');
  }

  number(tag: number): number | undefined {
    return this.numbers(tag)?.[0];
  }

  /** BIN data. */
  bytes(tag: number): Uint8Array | undefined {
    const v = this.values.get(tag);
    if (!v) return undefined;
    if (v.type === RPM_TYPE.BIN || v.type === RPM_TYPE.NULL) return v.value as Uint8Array;
    throw this.wrongType(tag, 'binary');
  }
}

/**
 * Parses the header blob at `off` in `buf` (`base` is the blob's offset in the
 * file, for messages). Returns the header and the blob length.
 */
export function parseHeader(buf: Uint8Array, off: number, what: string, base = off): { header: RpmHeader; length: number } {
  const { entries, dataLength, length } = headerBlobLength(buf, off, what);
  if (buf.length - off < length) throw fail(what, base + (buf.length - off), `truncated in the header (needs ${length} bytes from offset ${base})`, 'RPM_TRUNCATED');
  const blob = buf.subarray(off, off + length);
  const dv = new DataView(blob.buffer, blob.byteOffset, blob.length);
  const storeStart = HEADER_INTRO_SIZE + entries * ENTRY_SIZE;
  const store = blob.subarray(storeStart);
  const values = new Map<number, RpmTagValue>();
  for (let i = 0; i < entries; i++) {
    const e = HEADER_INTRO_SIZE + i * ENTRY_SIZE;
    const tag = dv.getUint32(e);
    const type = dv.getUint32(e + 4);
    const offset = dv.getUint32(e + 8);
    const count = dv.getUint32(e + 12);
    const at = (msg: string): UpdaterError => fail(what, base + e, `tag ${tag}: ${msg}`);
    if (count === 0 || count > MAX_COUNT) throw at(`implausible count ${count}`);
    if (offset >= dataLength) throw at(`data offset ${offset} outside the ${dataLength}-byte store`);
    if (values.has(tag)) throw at('appears twice');
    values.set(tag, decodeValue(store, type, offset, count, at));
  }
  return { header: new RpmHeader(blob, what, values), length };
}

function decodeValue(store: Uint8Array, type: number, offset: number, count: number, at: (msg: string) => UpdaterError): RpmTagValue {
  switch (type) {
    case RPM_TYPE.NULL:
    case RPM_TYPE.BIN: {
      if (offset + count > store.length) throw at(`${count} bytes at ${offset} run past the store`);
      return { type, value: store.subarray(offset, offset + count) };
    }
    case RPM_TYPE.CHAR:
    case RPM_TYPE.INT8:
    case RPM_TYPE.INT16:
    case RPM_TYPE.INT32:
    case RPM_TYPE.INT64: {
      const size = SIZES[type]!;
      if (offset % size !== 0) throw at(`misaligned ${size}-byte integers at ${offset}`);
      if (offset + count * size > store.length) throw at(`${count} integers at ${offset} run past the store`);
      const dv = new DataView(store.buffer, store.byteOffset + offset, count * size);
      const value: number[] = new Array(count);
      for (let i = 0; i < count; i++) {
        if (size === 1) value[i] = dv.getUint8(i);
        else if (size === 2) value[i] = dv.getUint16(i * 2);
        else if (size === 4) value[i] = dv.getUint32(i * 4);
        else {
          const v = dv.getBigUint64(i * 8);
          if (v > BigInt(Number.MAX_SAFE_INTEGER)) throw at(`64-bit value ${v} too large`);
          value[i] = Number(v);
        }
      }
      return { type, value };
    }
    case RPM_TYPE.STRING:
    case RPM_TYPE.STRING_ARRAY:
    case RPM_TYPE.I18NSTRING: {
      if (type === RPM_TYPE.STRING && count !== 1) throw at(`STRING with count ${count}`);
      const value: string[] = new Array(count);
      let pos = offset;
      for (let i = 0; i < count; i++) {
        const end = store.indexOf(0, pos);
        if (end < 0) throw at(`string ${i} at ${pos} is not NUL-terminated inside the store`);
        value[i] = Buffer.from(store.buffer, store.byteOffset + pos, end - pos).toString('utf8');
        pos = end + 1;
      }
      return { type, value };
    }
    default:
      throw at(`unknown data type ${type}`);
  }
}

/** An entry for encodeHeader. */
export interface RpmHeaderInput {
  tag: number;
  value: RpmTagValue;
}

/**
 * Encodes a header blob (intro + index + store) from entries, aligning integers
 * as rpm does. Entries keep the given order; no region tag is added.
 */
export function encodeHeader(entries: RpmHeaderInput[]): Uint8Array {
  const index = Buffer.alloc(entries.length * ENTRY_SIZE);
  const parts: Buffer[] = [];
  let size = 0;
  entries.forEach(({ tag, value }, i) => {
    const width = SIZES[value.type] ?? 1;
    if (value.type !== RPM_TYPE.BIN && width > 1 && size % width !== 0) {
      const pad = width - (size % width);
      parts.push(Buffer.alloc(pad));
      size += pad;
    }
    let data: Buffer;
    let count: number;
    if (value.type === RPM_TYPE.BIN || value.type === RPM_TYPE.NULL) {
      data = Buffer.from(value.value);
      count = data.length;
    } else if (value.type === RPM_TYPE.STRING || value.type === RPM_TYPE.STRING_ARRAY || value.type === RPM_TYPE.I18NSTRING) {
      data = Buffer.concat(value.value.map((s) => Buffer.from(`${s}\0`, 'utf8')));
      count = value.value.length;
    } else {
      count = value.value.length;
      data = Buffer.alloc(count * width);
      (value.value as number[]).forEach((n, j) => {
        if (width === 1) data.writeUInt8(n, j);
        else if (width === 2) data.writeUInt16BE(n, j * 2);
        else if (width === 4) data.writeUInt32BE(n, j * 4);
        else data.writeBigUInt64BE(BigInt(n), j * 8);
      });
    }
    index.writeUInt32BE(tag, i * ENTRY_SIZE);
    index.writeUInt32BE(value.type, i * ENTRY_SIZE + 4);
    index.writeUInt32BE(size, i * ENTRY_SIZE + 8);
    index.writeUInt32BE(count, i * ENTRY_SIZE + 12);
    parts.push(data);
    size += data.length;
  });
  const intro = Buffer.alloc(HEADER_INTRO_SIZE);
  intro.set(HEADER_MAGIC, 0);
  intro.writeUInt32BE(entries.length, 8);
  intro.writeUInt32BE(size, 12);
  return Buffer.concat([intro, index, ...parts]);
}

/** Encodes a lead (for synthesised packages in tests and tools). */
export function encodeLead(name: string, type = 0): Uint8Array {
  const b = Buffer.alloc(LEAD_SIZE);
  b.set(LEAD_MAGIC, 0);
  b[4] = 3;
  b[5] = 0;
  b.writeUInt16BE(type, 6);
  b.writeUInt16BE(1, 8);
  b.write(name.slice(0, 65), 10, 'utf8');
  b.writeUInt16BE(1, 76);
  b.writeUInt16BE(5, 78);
  return b;
}
