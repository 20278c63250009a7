// Small helpers for OSTree's use of GVariant: big-endian fields stored
// through little-endian integers, and ordered a{sv} dictionaries.

import type { GValue, Variant } from './serialize.ts';

/** An `a{sv}` as ordered [key, variant] pairs (OSTree keeps insertion order). */
export type VarDict = Array<[string, Variant]>;

/** Byte-swaps a u32: OSTree stores uid/gid/mode big-endian inside LE GVariant integers. */
export function bswap32(v: number): number {
  return (((v & 0xff) << 24) | ((v & 0xff00) << 8) | ((v >>> 8) & 0xff00) | (v >>> 24)) >>> 0;
}

/** Byte-swaps a u64 (commit and summary timestamps are stored big-endian). */
export function bswap64(v: bigint): bigint {
  let out = 0n;
  let x = BigInt.asUintN(64, v);
  for (let i = 0; i < 8; i++) {
    out = (out << 8n) | (x & 0xffn);
    x >>= 8n;
  }
  return out;
}

/** Makes a `v` value. */
export function variant(type: string, value: GValue): Variant {
  return { type, value };
}

/** Looks up `key` in an a{sv}; returns the value when its type matches `type` (if given). */
export function dictGet(dict: VarDict, key: string, type?: string): GValue | undefined {
  for (const [k, v] of dict) {
    if (k === key) return type === undefined || v.type === type ? v.value : undefined;
  }
  return undefined;
}
