// The direct dirtree parser accepts exactly what the generic GVariant deserializer
// (normal form checked by re-serializing) accepts, and returns the same entries.

import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { isUpdaterError } from '../../common/errors.ts';
import { serialize } from '../gvariant/index.ts';
import { decodeDirtree, decodeDirtreeGeneric, DIRTREE_TYPE, EMPTY_DIRTREE_CHECKSUM, encodeDirtree, encodeDirtreeGeneric } from './dirtree.ts';
import { sha256Hex } from './checksum.ts';

const hex32 = fc.uint8Array({ minLength: 32, maxLength: 32 }).map((b) => Buffer.from(b).toString('hex'));
const name = fc.string({ unit: 'grapheme', minLength: 1, maxLength: 40 }).filter((n) => n !== '.' && n !== '..' && !n.includes('/') && !n.includes('\0'));
const dirtree = fc.record({
  files: fc.uniqueArray(fc.record({ name, checksum: hex32 }), { selector: (f) => f.name, maxLength: 30 }),
  dirs: fc.uniqueArray(fc.record({ name, treeChecksum: hex32, metaChecksum: hex32 }), { selector: (d) => d.name, maxLength: 12 }),
}).filter((t) => !t.dirs.some((d) => t.files.some((f) => f.name === d.name)));

type Outcome = { ok: true; value: unknown } | { ok: false };
function outcome(fn: () => unknown): Outcome {
  try {
    return { ok: true, value: fn() };
  } catch (err) {
    if (!isUpdaterError(err)) throw err; // only our errors, never a RangeError from a bad offset
    return { ok: false };
  }
}

describe('dirtree encoding', () => {
  it('writes the bytes the generic serializer writes', () => {
    fc.assert(fc.property(dirtree, (t) => {
      expect(Buffer.from(encodeDirtree(t))).toEqual(Buffer.from(encodeDirtreeGeneric(t)));
    }), { numRuns: 300 });
  });

  it('with names long enough for 2-byte offsets in entries and 4-byte offsets in arrays', () => {
    const long = fc.string({ unit: 'grapheme', minLength: 200, maxLength: 300 }).filter((n) => !n.includes('/') && !n.includes('\0'));
    const big = fc.record({
      files: fc.uniqueArray(fc.record({ name: long, checksum: hex32 }), { selector: (f) => f.name, minLength: 0, maxLength: 400 }),
      dirs: fc.uniqueArray(fc.record({ name: fc.oneof(name, long), treeChecksum: hex32, metaChecksum: hex32 }), { selector: (d) => d.name, maxLength: 300 }),
    }).filter((t) => !t.dirs.some((d) => t.files.some((f) => f.name === d.name)));
    fc.assert(fc.property(big, (t) => {
      expect(Buffer.from(encodeDirtree(t))).toEqual(Buffer.from(encodeDirtreeGeneric(t)));
    }), { numRuns: 25 });
  });

  it('refuses a checksum that is not 64 hex characters, naming the entry', () => {
    const c = 'ab'.repeat(32);
    expect(() => encodeDirtree({ files: [{ name: 'f', checksum: c.slice(2) }], dirs: [] })).toThrow(/invalid checksum .* of "f"/);
    expect(() => encodeDirtree({ files: [], dirs: [{ name: 'd', treeChecksum: c, metaChecksum: `${c.slice(2)}zz` }] })).toThrow(/of "d"/);
  });
});

describe('dirtree decoding', () => {
  it('round trips, equal to the generic decoder', () => {
    fc.assert(fc.property(dirtree, (t) => {
      const bytes = encodeDirtree(t);
      const fast = decodeDirtree(bytes);
      expect(fast).toEqual(decodeDirtreeGeneric(bytes));
      expect(new Set(fast.files.map((f) => f.name))).toEqual(new Set(t.files.map((f) => f.name)));
    }), { numRuns: 300 });
  });

  it('the empty dirtree is one zero byte', () => {
    expect(sha256Hex(encodeDirtree({ files: [], dirs: [] }))).toBe(EMPTY_DIRTREE_CHECKSUM);
    expect(decodeDirtree(Uint8Array.of(0))).toEqual({ files: [], dirs: [] });
  });

  it('mutated bytes: accepted by one decoder exactly when accepted by the other', () => {
    const mutation = fc.tuple(dirtree, fc.nat(), fc.integer({ min: 0, max: 255 }), fc.constantFrom('set', 'truncate', 'append', 'delete'));
    fc.assert(fc.property(mutation, ([t, pos, byte, kind]) => {
      const good = Buffer.from(encodeDirtree(t));
      const at = pos % Math.max(good.length, 1);
      let bad: Buffer;
      if (kind === 'set') { bad = Buffer.from(good); bad[at] = byte; }
      else if (kind === 'truncate') bad = good.subarray(0, at);
      else if (kind === 'append') bad = Buffer.concat([good, Buffer.of(byte)]);
      else bad = Buffer.concat([good.subarray(0, at), good.subarray(at + 1)]);
      const fast = outcome(() => decodeDirtree(bad));
      const generic = outcome(() => {
        const d = decodeDirtreeGeneric(bad);
        return decodeDirtree(serialize(DIRTREE_TYPE, [d.files.map((f) => [f.name, Buffer.from(f.checksum, 'hex')]), d.dirs.map((x) => [x.name, Buffer.from(x.treeChecksum, 'hex'), Buffer.from(x.metaChecksum, 'hex')])]));
      });
      expect(fast.ok).toBe(generic.ok);
      if (fast.ok && generic.ok) expect(fast.value).toEqual(generic.value);
    }), { numRuns: 3000 });
  });

  it('names the object and the byte offset', () => {
    const good = Buffer.from(encodeDirtree({ files: [{ name: 'a', checksum: 'ab'.repeat(32) }], dirs: [] }));
    const bad = Buffer.from(good);
    bad[bad.length - 1] = 0xff;
    try {
      decodeDirtree(bad, 'object 12ab.dirtree');
      expect.unreachable();
    } catch (err) {
      expect((err as Error).message).toMatch(/^object 12ab\.dirtree: .* at byte offset \d+$/);
    }
  });
});

describe('compareNames', () => {
  it('orders as the UTF-8 bytes do (strcmp), astral characters included', async () => {
    const { compareNames } = await import('./dirtree.ts');
    const sign = (n: number): number => Math.sign(n);
    fc.assert(fc.property(fc.string({ unit: 'binary' }), fc.string({ unit: 'binary' }), (a, b) => {
      expect(sign(compareNames(a, b))).toBe(sign(Buffer.compare(Buffer.from(a, 'utf8'), Buffer.from(b, 'utf8'))));
    }), { numRuns: 3000 });
    expect(compareNames('\u{1F600}', '\uE000')).toBe(1);
  });
});
