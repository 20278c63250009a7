// Unsigned LEB128 varints, as the static-delta opcode stream encodes its
// operands (ostree-varint.c: 7 bits per byte, low group first, high bit = more).

import { UpdaterError } from '../../common/errors.ts';

/** Appends the varint encoding of `v` (a non-negative safe integer) to `out`. */
export function writeVarint(out: number[], v: number): void {
  if (!Number.isSafeInteger(v) || v < 0) throw new UpdaterError('INTERNAL', `varint out of range: ${v}`);
  let x = v;
  while (x >= 0x80) {
    out.push((x % 0x80) | 0x80);
    x = Math.floor(x / 0x80);
  }
  out.push(x);
}

/** Reads a varint at `at`; returns the value and the offset after it. `what` names the stream for errors. */
export function readVarint(bytes: Uint8Array, at: number, what: string): [number, number] {
  let value = 0;
  let mult = 1;
  for (let i = at; i < bytes.length; i++) {
    const b = bytes[i]!;
    value += (b & 0x7f) * mult;
    if ((b & 0x80) === 0) {
      if (!Number.isSafeInteger(value)) throw new UpdaterError('DELTA_CORRUPT', `${what}: varint at offset ${at} is too large`);
      return [value, i + 1];
    }
    mult *= 0x80;
    if (i - at >= 9) break;
  }
  throw new UpdaterError('DELTA_CORRUPT', `${what}: unexpected end of data reading a varint at offset ${at}`);
}
