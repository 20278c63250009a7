// The direct dirtree parser accepts exactly what the generic GVariant deserializer
// (normal form checked by re-serializing) accepts, and returns the same entries.

import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { isUpdaterError } from '../../common/errors.ts';
import { serialize } from '../gvariant/index.ts';
import { decodeDirtree, decodeDirtreeGeneric, diffDirtree, DIRTREE_TYPE, EMPTY_DIRTREE_CHECKSUM, encodeDirtree, encodeDirtreeGeneric, type DirTree } from './dirtree.ts';
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

  it('refuses framing offsets wider than the size needs (a 255-byte tree with a byte appended)', () => {
    const c = 'ab'.repeat(32);
    // One file: name + NUL + 32-byte checksum + entry offset, array offset, tuple offset.
    const t = { files: [{ name: 'x'.repeat(255 - 1 - 32 - 3), checksum: c }], dirs: [] };
    const good = Buffer.from(encodeDirtree(t));
    expect(good.length).toBe(255);
    const bad = Buffer.concat([good, Buffer.of(0)]);
    expect(() => decodeDirtreeGeneric(bad)).toThrow(/not in GVariant normal form/);
    expect(() => decodeDirtree(bad)).toThrow(/tuple framing offset wider than its size needs/);
    expect(() => diffDirtree(bad, null, 'object 12ab.dirtree')).toThrow(/^object 12ab\.dirtree: tuple framing offset wider/);
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

/** diffDirtree's answer computed from two decoded trees. */
function referenceDiff(t: DirTree, base: DirTree | null): ReturnType<typeof diffDirtree> {
  const oldFiles = new Map(base?.files.map((f) => [f.name, f.checksum]));
  const oldDirs = new Map(base?.dirs.map((d) => [d.name, d]));
  return {
    files: t.files.filter((f) => oldFiles.get(f.name) !== f.checksum).map((f) => f.checksum),
    dirs: t.dirs.filter((d) => {
      const o = oldDirs.get(d.name);
      return o === undefined || o.treeChecksum !== d.treeChecksum || o.metaChecksum !== d.metaChecksum;
    }).map((d) => {
      const o = oldDirs.get(d.name);
      return { name: d.name, treeChecksum: d.treeChecksum, metaChecksum: d.metaChecksum, base: o ? { treeChecksum: o.treeChecksum, metaChecksum: o.metaChecksum } : null };
    }),
  };
}

describe('dirtree diff against a base', () => {
  // A base, and a tree made from it by keeping, changing, dropping and adding entries.
  const pair = fc.tuple(dirtree, dirtree, fc.array(fc.integer({ min: 0, max: 3 }), { minLength: 50, maxLength: 50 })).map(([base, extra, picks]) => {
    const files = base.files.flatMap((f, i) => (picks[i % 50] === 0 ? [] : picks[i % 50] === 1 ? [{ ...f, checksum: extra.files[0]?.checksum ?? f.checksum }] : [f]));
    const dirs = base.dirs.flatMap((d, i) => (picks[(i + 7) % 50] === 0 ? [] : picks[(i + 7) % 50] === 1 ? [{ ...d, metaChecksum: extra.dirs[0]?.metaChecksum ?? d.metaChecksum }] : [d]));
    const t: DirTree = {
      files: [...files, ...extra.files.filter((f) => !files.some((x) => x.name === f.name) && !dirs.some((x) => x.name === f.name))],
      dirs: [...dirs, ...extra.dirs.filter((d) => !dirs.some((x) => x.name === d.name) && !files.some((x) => x.name === d.name))],
    };
    const fileNames = new Set(t.files.map((f) => f.name));
    t.dirs = t.dirs.filter((d) => !fileNames.has(d.name));
    return [t, base] as const;
  });

  it('finds exactly the entries a decoded comparison finds, with and without a base', () => {
    fc.assert(fc.property(pair, ([t, base]) => {
      const bytes = encodeDirtree(t);
      const got = diffDirtree(bytes, encodeDirtree(base));
      const want = referenceDiff(decodeDirtree(bytes), decodeDirtree(encodeDirtree(base)));
      expect(got.files).toEqual(want.files);
      expect(got.dirs).toEqual(want.dirs);
      expect(diffDirtree(bytes, null)).toEqual(referenceDiff(decodeDirtree(bytes), null));
    }), { numRuns: 300 });
  });

  it('refuses what decodeDirtree refuses, whatever the base', () => {
    const mutation = fc.tuple(dirtree, fc.nat(), fc.integer({ min: 0, max: 255 }));
    fc.assert(fc.property(mutation, ([t, pos, byte]) => {
      const good = encodeDirtree(t);
      const bad = Buffer.from(good);
      bad[pos % bad.length] = byte;
      // Without a base every entry is checked: exactly decodeDirtree's verdict.
      expect(outcome(() => diffDirtree(bad, null)).ok).toBe(outcome(() => decodeDirtree(bad)).ok);
      // Against the good tree as base, only a change that decodeDirtree accepts passes.
      if (!outcome(() => decodeDirtree(bad)).ok) expect(outcome(() => diffDirtree(bad, good)).ok).toBe(false);
    }), { numRuns: 2000 });
  });

  it('refuses unsorted entries, a name both file and directory, and an invalid new name', () => {
    const c = 'ab'.repeat(32);
    const raw = (files: string[], dirs: string[]): Uint8Array => serialize(DIRTREE_TYPE, [
      files.map((n) => [n, Buffer.from(c, 'hex')]), dirs.map((n) => [n, Buffer.from(c, 'hex'), Buffer.from(c, 'hex')]),
    ]);
    const base = encodeDirtree({ files: [{ name: 'a', checksum: c }, { name: 'b', checksum: c }], dirs: [] });
    const code = (bytes: Uint8Array): string | undefined => {
      try {
        diffDirtree(bytes, base, 'object 12ab.dirtree');
        return undefined;
      } catch (err) {
        return (err as { code?: string }).code;
      }
    };
    expect(code(raw(['b', 'a'], []))).toBe('STORE_OBJECT_INVALID');
    expect(code(raw(['a', 'a'], []))).toBe('STORE_OBJECT_INVALID');
    expect(code(raw(['a', 'x'], ['x']))).toBe('STORE_OBJECT_INVALID');
    expect(code(raw(['a', 'b', '..'].sort(), []))).toBe('STORE_OBJECT_INVALID');
    expect(code(raw(['a', 'b'], ['.']))).toBe('STORE_OBJECT_INVALID');
    expect(code(raw(['a', 'b', 'c'], []))).toBeUndefined();
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
