// GVariant deserialisation with GLib's framing rules and a strict normal-form
// check: OSTree rejects metadata that is not in normal form, and so do we.
// Normal form is canonical, so the check is "re-serialising gives the same bytes".

import { UpdaterError } from '../../common/errors.ts';
import { serialize, type GValue } from './serialize.ts';
import { alignUp, isValidType, parseType, type GType } from './type.ts';

const dec = new TextDecoder('utf-8', { fatal: true });

class Reader {
  readonly bytes: Uint8Array;
  readonly base: number;
  readonly what: string;
  constructor(bytes: Uint8Array, base: number, what: string) {
    this.bytes = bytes;
    this.base = base;
    this.what = what;
  }
  fail(at: number, msg: string): never {
    throw new UpdaterError('GVARIANT_MALFORMED', `${this.what}: ${msg} at byte offset ${this.base + at}`);
  }
}

/** Reads the offset width GLib derives from a container's total size. */
function offsetWidth(size: number): number {
  if (size === 0) return 0;
  if (size <= 0xff) return 1;
  if (size <= 0xffff) return 2;
  if (size <= 0xffffffff) return 4;
  return 8;
}

function readOffset(b: Uint8Array, at: number, w: number): number {
  let v = 0;
  for (let i = w - 1; i >= 0; i--) v = v * 256 + b[at + i]!;
  return v;
}

export interface DeserializeOptions {
  /** Name for error messages, e.g. `object 6a1e…537d.dirtree`. */
  what?: string;
  /** Reject input that is not in normal form (default true). */
  normal?: boolean;
}

/** Decodes `bytes` as type `type`; throws GVARIANT_MALFORMED / GVARIANT_NOT_NORMAL with the byte offset. */
export function deserialize(type: string | GType, bytes: Uint8Array, opts: DeserializeOptions = {}): GValue {
  const t = typeof type === 'string' ? parseType(type) : type;
  const what = opts.what ?? `GVariant ${t.str}`;
  const value = de(t, new Reader(bytes, 0, what), 0, bytes.length);
  if (opts.normal !== false) {
    const again = serialize(t, value);
    if (!Buffer.from(again.buffer, again.byteOffset, again.length).equals(bytes)) {
      let at = 0;
      while (at < again.length && at < bytes.length && again[at] === bytes[at]) at++;
      throw new UpdaterError('GVARIANT_NOT_NORMAL', `${what}: not in GVariant normal form (first difference at byte offset ${at})`);
    }
  }
  return value;
}

function de(t: GType, r: Reader, start: number, end: number): GValue {
  const b = r.bytes;
  const size = end - start;
  if (t.fixed !== null && size !== t.fixed) r.fail(start, `${t.str} needs ${t.fixed} bytes, has ${size}`);
  switch (t.kind) {
    case 'basic': {
      const view = Buffer.from(b.buffer, b.byteOffset + start, size);
      switch (t.code) {
        case 'y': return view[0]!;
        case 'b':
          if (view[0]! > 1) r.fail(start, 'boolean is not 0 or 1');
          return view[0] === 1;
        case 'n': return view.readInt16LE(0);
        case 'q': return view.readUInt16LE(0);
        case 'i': case 'h': return view.readInt32LE(0);
        case 'u': return view.readUInt32LE(0);
        case 'x': return view.readBigInt64LE(0);
        case 't': return view.readBigUInt64LE(0);
        case 'd': return view.readDoubleLE(0);
        default: {
          if (size === 0 || b[end - 1] !== 0) r.fail(start, 'string is not NUL-terminated');
          const body = b.subarray(start, end - 1);
          if (body.includes(0)) r.fail(start, 'string contains an embedded NUL');
          try {
            return dec.decode(body);
          } catch {
            return r.fail(start, 'string is not valid UTF-8');
          }
        }
      }
    }
    case 'variant': {
      let sep = end - 1;
      while (sep >= start && b[sep] !== 0) sep--;
      if (sep < start) r.fail(start, 'variant has no type separator');
      let ty: string;
      try {
        ty = dec.decode(b.subarray(sep + 1, end));
      } catch {
        return r.fail(sep + 1, 'variant type is not UTF-8');
      }
      if (!isValidType(ty)) r.fail(sep + 1, `variant has invalid type '${ty}'`);
      return { type: ty, value: de(parseType(ty), r, start, sep) };
    }
    case 'maybe': {
      if (size === 0) return null;
      if (t.elem.fixed !== null) return de(t.elem, r, start, end);
      if (b[end - 1] !== 0) r.fail(end - 1, 'maybe is missing its trailing NUL');
      return de(t.elem, r, start, end - 1);
    }
    case 'array': {
      if (t.elem.kind === 'basic' && t.elem.code === 'y') return b.slice(start, end);
      if (size === 0) return [];
      if (t.elem.fixed !== null) {
        const es = t.elem.fixed;
        if (size % es !== 0) r.fail(start, `array of ${t.elem.str} has size ${size}, not a multiple of ${es}`);
        const out: GValue[] = [];
        for (let p = start; p < end; p += es) out.push(de(t.elem, r, p, p + es));
        return out;
      }
      const w = offsetWidth(size);
      const lastEnd = readOffset(b, end - w, w);
      if (lastEnd > size) r.fail(end - w, 'array framing offset is out of range');
      const tableBytes = size - lastEnd;
      if (tableBytes % w !== 0 || tableBytes === 0) r.fail(start + lastEnd, 'array framing table is malformed');
      const n = tableBytes / w;
      const out: GValue[] = [];
      let pos = 0;
      for (let i = 0; i < n; i++) {
        const elemStart = alignUp(pos, t.elem.align);
        const elemEnd = readOffset(b, start + lastEnd + i * w, w);
        if (elemEnd < elemStart || elemEnd > lastEnd) r.fail(start + lastEnd + i * w, `array element ${i} has an out-of-range end offset`);
        out.push(de(t.elem, r, start + elemStart, start + elemEnd));
        pos = elemEnd;
      }
      return out;
    }
    case 'tuple':
    case 'dict-entry': {
      const members = t.members;
      const w = t.fixed !== null ? 0 : offsetWidth(size);
      let frameEnd = size; // start of the unread part of the offset table
      let pos = 0;
      const out: GValue[] = [];
      for (let i = 0; i < members.length; i++) {
        const m = members[i]!;
        const mStart = alignUp(pos, m.align);
        let mEnd: number;
        if (m.fixed !== null) {
          mEnd = mStart + m.fixed;
        } else if (i === members.length - 1) {
          mEnd = frameEnd;
        } else {
          frameEnd -= w;
          if (frameEnd < 0) r.fail(start, `tuple ${t.str} is too short for its framing offsets`);
          mEnd = readOffset(b, start + frameEnd, w);
        }
        if (mStart > mEnd || mEnd > frameEnd) r.fail(start + mStart, `member ${i} of ${t.str} is out of range`);
        out.push(de(m, r, start + mStart, start + mEnd));
        pos = mEnd;
      }
      return out;
    }
  }
}
