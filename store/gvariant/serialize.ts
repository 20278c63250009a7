// GVariant serialisation in normal form (GLib's gvariant-serialiser.c rules):
// members aligned from the container start with zero padding, framing offsets
// of the smallest width that fits the container's total size, tuple offsets
// last-first, array offsets first-first. Integers are little-endian; OSTree's
// big-endian fields are byte-swapped by the object codecs before they get here.

import { UpdaterError } from '../../common/errors.ts';
import { alignUp, parseType, type GType } from './type.ts';

/** A boxed `v` value: a type string and a value of that type. */
export interface Variant {
  type: string;
  value: GValue;
}

/**
 * JS representation of GVariant values:
 * y n q i u h d → number, x t → bigint, b → boolean, s o g → string,
 * ay → Uint8Array, other arrays → arrays, a{..} → array of [key, value] pairs
 * (order preserved), tuples → arrays, m → value or null, v → Variant.
 */
export type GValue = number | bigint | boolean | string | Uint8Array | null | Variant | GValue[];

const enc = new TextEncoder();

/** Serialises `value` as type `type` (a type string) into normal-form bytes. */
export function serialize(type: string | GType, value: GValue): Uint8Array {
  const t = typeof type === 'string' ? parseType(type) : type;
  return ser(t, value, t.str);
}

function fail(path: string, msg: string): never {
  throw new UpdaterError('GVARIANT_BAD_VALUE', `cannot serialise ${path}: ${msg}`);
}

/** Width in bytes of framing offsets for a container of `body` bytes plus `n` offsets. */
export function offsetWidthFor(body: number, n: number): number {
  if (n === 0) return 0;
  if (body + n <= 0xff) return 1;
  if (body + 2 * n <= 0xffff) return 2;
  if (body + 4 * n <= 0xffffffff) return 4;
  return 8;
}

function writeOffset(buf: Uint8Array, at: number, value: number, width: number): void {
  let v = value;
  for (let i = 0; i < width; i++) {
    buf[at + i] = v & 0xff;
    v = Math.floor(v / 256);
  }
}

/** Concatenates parts with per-part alignment, then appends framing offsets. */
function frame(parts: Uint8Array[], aligns: number[], ends: boolean[], reverse: boolean, padTo: number | null): Uint8Array {
  let size = 0;
  const offsets: number[] = [];
  const positions: number[] = [];
  for (let i = 0; i < parts.length; i++) {
    size = alignUp(size, aligns[i]!);
    positions.push(size);
    size += parts[i]!.length;
    if (ends[i]) offsets.push(size);
  }
  if (padTo !== null) size = padTo;
  if (reverse) offsets.reverse();
  const w = offsetWidthFor(size, offsets.length);
  const out = new Uint8Array(size + w * offsets.length);
  for (let i = 0; i < parts.length; i++) out.set(parts[i]!, positions[i]!);
  for (let i = 0; i < offsets.length; i++) writeOffset(out, size + i * w, offsets[i]!, w);
  return out;
}

function ser(t: GType, v: GValue, path: string): Uint8Array {
  switch (t.kind) {
    case 'basic':
      return serBasic(t.code, v, path);
    case 'variant': {
      if (v === null || typeof v !== 'object' || Array.isArray(v) || v instanceof Uint8Array) fail(path, 'expected a Variant');
      const child = serialize(v.type, v.value);
      const ty = enc.encode(v.type);
      const out = new Uint8Array(child.length + 1 + ty.length);
      out.set(child, 0);
      out.set(ty, child.length + 1);
      return out;
    }
    case 'maybe': {
      if (v === null) return new Uint8Array(0);
      const child = ser(t.elem, v, path);
      if (t.elem.fixed !== null) return child;
      const out = new Uint8Array(child.length + 1);
      out.set(child, 0);
      return out;
    }
    case 'array': {
      if (t.elem.kind === 'basic' && t.elem.code === 'y') {
        if (!(v instanceof Uint8Array)) fail(path, 'expected a Uint8Array for ay');
        return v;
      }
      if (!Array.isArray(v)) fail(path, `expected an array for ${t.str}`);
      const parts = v.map((e, i) => ser(t.elem, e, `${path}[${i}]`));
      if (t.elem.fixed !== null) {
        for (const p of parts) if (p.length !== t.elem.fixed) fail(path, 'fixed element has the wrong size');
        return frame(parts, parts.map(() => 1), parts.map(() => false), false, null);
      }
      return frame(parts, parts.map(() => t.elem.align), parts.map(() => true), false, null);
    }
    case 'tuple':
    case 'dict-entry': {
      const members = t.members;
      if (!Array.isArray(v) || v.length !== members.length) fail(path, `expected ${members.length} members for ${t.str}`);
      const parts = members.map((m, i) => ser(m, v[i]!, `${path}.${i}`));
      const ends = members.map((m, i) => m.fixed === null && i !== members.length - 1);
      if (t.fixed !== null) {
        if (members.length === 0) return new Uint8Array(1);
        return frame(parts, members.map((m) => m.align), ends, true, t.fixed);
      }
      return frame(parts, members.map((m) => m.align), ends, true, null);
    }
  }
}

function serBasic(code: string, v: GValue, path: string): Uint8Array {
  switch (code) {
    case 'y':
      return Uint8Array.of(checkInt(v, 0, 0xff, path));
    case 'b':
      if (typeof v !== 'boolean') fail(path, 'expected a boolean');
      return Uint8Array.of(v ? 1 : 0);
    case 'n':
    case 'q': {
      const b = Buffer.alloc(2);
      if (code === 'n') b.writeInt16LE(checkInt(v, -0x8000, 0x7fff, path));
      else b.writeUInt16LE(checkInt(v, 0, 0xffff, path));
      return b;
    }
    case 'i':
    case 'h':
    case 'u': {
      const b = Buffer.alloc(4);
      if (code === 'u') b.writeUInt32LE(checkInt(v, 0, 0xffffffff, path));
      else b.writeInt32LE(checkInt(v, -0x80000000, 0x7fffffff, path));
      return b;
    }
    case 'x':
    case 't': {
      const b = Buffer.alloc(8);
      const big = typeof v === 'bigint' ? v : typeof v === 'number' && Number.isInteger(v) ? BigInt(v) : fail(path, 'expected a bigint');
      if (code === 't') b.writeBigUInt64LE(BigInt.asUintN(64, big));
      else b.writeBigInt64LE(BigInt.asIntN(64, big));
      return b;
    }
    case 'd': {
      if (typeof v !== 'number') fail(path, 'expected a number');
      const b = Buffer.alloc(8);
      b.writeDoubleLE(v);
      return b;
    }
    case 's':
    case 'o':
    case 'g': {
      if (typeof v !== 'string') fail(path, 'expected a string');
      if (v.includes('\0')) fail(path, 'string contains NUL');
      const s = enc.encode(v);
      const out = new Uint8Array(s.length + 1);
      out.set(s, 0);
      return out;
    }
  }
  return fail(path, `unknown basic type ${code}`);
}

function checkInt(v: GValue, min: number, max: number, path: string): number {
  if (typeof v !== 'number' || !Number.isInteger(v) || v < min || v > max) fail(path, `expected an integer in [${min}, ${max}]`);
  return v;
}
