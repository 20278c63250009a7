// GVariant codec properties: decode(encode(x)) == x for random types and values,
// hand-checked framing cases, and malformed input always fails with a codec error.

import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { UpdaterError } from '../../common/errors.ts';
import { deserialize, offsetWidthFor, serialize, type GValue } from './index.ts';

const leaf = fc.constantFrom('y', 'b', 'n', 'q', 'i', 'u', 'x', 't', 'd', 's', 'ay', 'v');
const typeArb: fc.Arbitrary<string> = fc.letrec<{ t: string }>((tie) => ({
  t: fc.oneof(
    { depthSize: 'small', withCrossShrink: true },
    leaf,
    tie('t').map((t) => `a${t}`),
    tie('t').map((t) => `m${t}`),
    fc.array(tie('t'), { maxLength: 4 }).map((ms) => `(${ms.join('')})`),
    fc.tuple(fc.constantFrom('s', 'u', 'y', 't'), tie('t')).map(([k, v]) => `a{${k}${v}}`),
  ),
})).t;

function valueFor(t: string): fc.Arbitrary<GValue> {
  const [arb] = valueAt(t, 0);
  return arb;
}

function valueAt(t: string, i: number): [fc.Arbitrary<GValue>, number] {
  const c = t[i]!;
  switch (c) {
    case 'y': return [fc.integer({ min: 0, max: 255 }), i + 1];
    case 'b': return [fc.boolean(), i + 1];
    case 'n': return [fc.integer({ min: -32768, max: 32767 }), i + 1];
    case 'q': return [fc.integer({ min: 0, max: 65535 }), i + 1];
    case 'i': return [fc.integer(), i + 1];
    case 'u': return [fc.integer({ min: 0, max: 0xffffffff }), i + 1];
    case 'x': return [fc.bigInt({ min: -(2n ** 63n), max: 2n ** 63n - 1n }), i + 1];
    case 't': return [fc.bigInt({ min: 0n, max: 2n ** 64n - 1n }), i + 1];
    case 'd': return [fc.double({ noNaN: true }).filter((d) => !Object.is(d, -0)), i + 1];
    case 's': return [fc.string({ unit: 'grapheme', maxLength: 20 }).filter((s) => !s.includes('\0')), i + 1];
    case 'v': return [fc.constantFrom<GValue>({ type: 's', value: 'inner' }, { type: 'u', value: 7 }, { type: 'ay', value: new Uint8Array([1, 2, 3]) }, { type: 'as', value: [] }), i + 1];
    case 'a': {
      if (t[i + 1] === 'y') return [fc.uint8Array({ maxLength: 300 }), i + 2];
      if (t[i + 1] === '{') {
        const [k, ki] = valueAt(t, i + 2);
        const [v, vi] = valueAt(t, ki);
        return [fc.array(fc.tuple(k, v), { maxLength: 5 }) as fc.Arbitrary<GValue>, vi + 1];
      }
      const [e, end] = valueAt(t, i + 1);
      return [fc.array(e, { maxLength: 5 }), end];
    }
    case 'm': {
      const [e, end] = valueAt(t, i + 1);
      return [fc.option(e, { nil: null }), end];
    }
    case '(': {
      const members: fc.Arbitrary<GValue>[] = [];
      let j = i + 1;
      while (t[j] !== ')') {
        const [m, end] = valueAt(t, j);
        members.push(m);
        j = end;
      }
      return [fc.tuple(...members) as fc.Arbitrary<GValue>, j + 1];
    }
  }
  throw new Error(`type ${t} at ${i}`);
}

describe('GVariant codec', () => {
  it('round-trips random types and values', () => {
    fc.assert(
      fc.property(typeArb.chain((t) => fc.tuple(fc.constant(t), valueFor(t))), ([t, v]) => {
        const bytes = serialize(t, v);
        expect(deserialize(t, bytes)).toEqual(v);
      }),
      { numRuns: 400 },
    );
  });

  it('every truncation of a valid serialisation fails cleanly (never a crash)', () => {
    fc.assert(
      fc.property(typeArb.chain((t) => fc.tuple(fc.constant(t), valueFor(t))), ([t, v]) => {
        const bytes = serialize(t, v);
        for (let n = 0; n < bytes.length; n++) {
          try {
            deserialize(t, bytes.subarray(0, n));
          } catch (err) {
            expect(err).toBeInstanceOf(UpdaterError);
          }
        }
      }),
      { numRuns: 150 },
    );
  });

  it('random bytes are rejected with a codec error naming an offset', () => {
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 64 }), (b) => {
        for (const t of ['(a{sv}aya(say)sstayay)', '(a(say)a(sayay))', '(uuua(ayay))', '(a(s(taya{sv}))a{sv})']) {
          try {
            deserialize(t, b);
          } catch (err) {
            expect(err).toBeInstanceOf(UpdaterError);
            expect((err as UpdaterError).code).toMatch(/^GVARIANT_|^STORE_/);
          }
        }
      }),
      { numRuns: 500 },
    );
  });

  it('frames offsets with the smallest width for the total size', () => {
    expect(offsetWidthFor(0, 0)).toBe(0);
    expect(offsetWidthFor(254, 1)).toBe(1);
    expect(offsetWidthFor(255, 1)).toBe(2);
    expect(offsetWidthFor(0xffff - 2, 1)).toBe(2);
    expect(offsetWidthFor(0xffff - 1, 1)).toBe(4);
    // One 300-byte string in an array needs 2-byte offsets.
    const bytes = serialize('as', ['x'.repeat(300)]);
    expect(bytes.length).toBe(303);
    expect([...bytes.subarray(301)]).toEqual([0x2d, 0x01]);
  });

  it('matches GLib for hand-checked values', () => {
    expect(Buffer.from(serialize('(ss)', ['a', 'bc'])).toString('hex')).toBe('6100626300' + '02');
    expect(Buffer.from(serialize('v', { type: 'u', value: 1 })).toString('hex')).toBe('010000000075');
    expect(Buffer.from(serialize('()', [])).toString('hex')).toBe('00');
    expect(Buffer.from(serialize('(yu)', [1, 2])).toString('hex')).toBe('0100000002000000');
    expect(Buffer.from(serialize('mu', null)).length).toBe(0);
    expect(Buffer.from(serialize('ms', 'a')).toString('hex')).toBe('610000');
  });

  it('rejects non-normal encodings', () => {
    // A boolean of 2, and a string without its NUL.
    expect(() => deserialize('b', Uint8Array.of(2))).toThrow(UpdaterError);
    expect(() => deserialize('s', Uint8Array.of(0x61))).toThrow(/NUL/);
    // Non-zero padding between a byte and a u32.
    expect(() => deserialize('(yu)', Uint8Array.of(1, 9, 0, 0, 2, 0, 0, 0))).toThrow(/normal form/);
  });
});
