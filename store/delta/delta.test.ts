// Static-delta codecs: varints, bsdiff/bspatch, part and op codecs, pairing,
// and the real ostree 2022.7 vector deltas (decode, re-encode byte for byte, show).

import { randomBytes } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { errorOf } from '../../test-support/index.ts';
import { sha256Hex } from '../objects/index.ts';
import {
  bsdiff, bspatch, copySpans, decodeDeltaIndex, decodeOps, decodePartFile, decodeSuperblock, deltaIndexRelPath, deltaRelDir, encodeDeltaIndex,
  encodeOps, encodePartFile, encodePartPayload, encodeSuperblock, formatDeltaShow, pairModifiedFiles, parseDeltaName, readVarint,
  suffixArray, versionShape, writeVarint, type DeltaOp,
} from './index.ts';

const VEC = join(import.meta.dirname, '..', 'testdata', 'vectors');
const REPO = join(VEC, 'archive-repo');
const A = 'e8b3d61cfb465874b60adedb4e00026d8b725fde8421e096c54f1593b2f4c595';
const B = 'd68075cbe364e62205ab62f376e890a76cc6ac4a1bc18ff21d070a875df198b8';

describe('varints', () => {
  it('round-trips LEB128 values and rejects truncation', () => {
    for (const v of [0, 1, 127, 128, 196, 300, 78000, 2 ** 32 + 5, Number.MAX_SAFE_INTEGER]) {
      const out: number[] = [];
      writeVarint(out, v);
      expect(readVarint(Uint8Array.from(out), 0, 't')).toEqual([v, out.length]);
    }
    expect(Array.from((() => { const o: number[] = []; writeVarint(o, 196); return o; })())).toEqual([0xc4, 0x01]);
    expect(errorOf(() => readVarint(Uint8Array.of(0x80, 0x80), 0, 'ops')).code).toBe('DELTA_CORRUPT');
  });
});

describe('bsdiff / bspatch', () => {
  it('builds the same suffix array as a naive sort', () => {
    for (let t = 0; t < 100; t++) {
      const a = Uint8Array.from(randomBytes(Math.floor(Math.random() * 60)).map((x) => x % 3));
      const naive = [...a.keys()].sort((x, y) => Buffer.compare(Buffer.from(a.subarray(x)), Buffer.from(a.subarray(y))));
      expect(Array.from(suffixArray(a))).toEqual(naive);
    }
  });

  it('round-trips edits, insertions, deletions, empty inputs and long runs', () => {
    const old = randomBytes(200_000);
    const cases: Array<[Uint8Array, Uint8Array]> = [
      [old, Buffer.concat([old.subarray(0, 50_000), Buffer.from('inserted text'), old.subarray(50_000, 150_000), randomBytes(3000), old.subarray(160_000)])],
      [old, old.subarray(1000)],
      [new Uint8Array(0), Buffer.from('abc')],
      [Buffer.from('abc'), new Uint8Array(0)],
      [new Uint8Array(300_000), (() => { const z = new Uint8Array(300_000); z[100] = 1; z[299_999] = 7; return z; })()],
    ];
    for (const [a, b] of cases) {
      const patch = bsdiff(a, b);
      expect(Buffer.from(bspatch(a, patch, b.length)).equals(Buffer.from(b))).toBe(true);
    }
    // A small edit of a big file gives a patch that compresses to almost nothing.
    const edited = Buffer.from(old);
    edited[1234] ^= 0xff;
    const p = bsdiff(old, edited);
    expect(p.filter((x) => x !== 0).length).toBeLessThan(100);
  });

  it('rewrites a patch as copies and literals that rebuild the new file', () => {
    const old = randomBytes(200_000);
    const sparse = Buffer.concat([old.subarray(0, 40_000), Buffer.from('a new function body'), old.subarray(40_000)]);
    for (let i = 1000; i < sparse.length; i += 9000) sparse[i]! ^= 0x5a;
    const dense = Buffer.from(old);
    for (let i = 0; i < dense.length; i += 16) dense[i] = (dense[i]! + 1) & 0xff;
    const cases: Array<[Uint8Array, Uint8Array]> = [
      [old, sparse],
      [old, dense],
      [old, Buffer.concat([old, Buffer.from('\nupdated\n')])],
      [old, old.subarray(5000, 150_000)],
      [new Uint8Array(0), Buffer.from('abc')],
      [Buffer.from('abc'), new Uint8Array(0)],
    ];
    for (const [a, b] of cases) {
      const spans = copySpans(bsdiff(a, b), a.length, b);
      const rebuilt = Buffer.concat(spans.map((s) => (s.from < 0 ? b.subarray(s.at, s.at + s.len) : a.subarray(s.from, s.from + s.len))));
      expect(rebuilt.equals(Buffer.from(b))).toBe(true);
      // Back to back, and copies only from inside the old file.
      spans.forEach((s, i) => expect(s.at).toBe(i === 0 ? 0 : spans[i - 1]!.at + spans[i - 1]!.len));
      for (const s of spans) if (s.from >= 0) expect(s.from + s.len).toBeLessThanOrEqual(a.length);
    }
    const literal = (b: Uint8Array): number => copySpans(bsdiff(old, b), old.length, b).reduce((n, s) => n + (s.from < 0 ? s.len : 0), 0);
    expect(literal(sparse)).toBeLessThan(100);
    expect(literal(dense)).toBeGreaterThan(dense.length / 2);
  });

  it('applies hand-made patches exactly as a byte-by-byte reference does', () => {
    // Reads outside `old` (negative or past the end) count as 0; diff bytes wrap mod 256;
    // diff words equal to -0.0 (only the top bit of their last byte set) are not zero.
    const le64 = (n: number): Buffer => {
      const b = Buffer.alloc(8);
      b.writeBigUInt64LE(BigInt(Math.abs(n)));
      if (n < 0) b[7]! |= 0x80;
      return b;
    };
    const reference = (old: Uint8Array, patch: Uint8Array, newsize: number): Uint8Array => {
      const out = new Uint8Array(newsize);
      let p = 0;
      let o = 0;
      let n = 0;
      while (n < newsize) {
        const [diff, extra, seek] = [0, 8, 16].map((x) => { const v = Number(Buffer.from(patch.subarray(p + x, p + x + 8)).readBigUInt64LE() & 0x7fffffffffffffffn); return patch[p + x + 7]! & 0x80 ? -v : v; }) as [number, number, number];
        p += 24;
        for (let i = 0; i < diff; i++, n++, o++) out[n] = (patch[p + i]! + (o >= 0 && o < old.length ? old[o]! : 0)) & 0xff;
        p += diff;
        out.set(patch.subarray(p, p + extra), n);
        p += extra;
        n += extra;
        o += seek;
      }
      return out;
    };
    for (let t = 0; t < 200; t++) {
      const old = randomBytes(Math.floor(Math.random() * 300));
      const parts: Buffer[] = [];
      let newsize = 0;
      for (let c = Math.floor(Math.random() * 6); c >= 0; c--) {
        const diff = Math.floor(Math.random() * 90);
        const extra = Math.floor(Math.random() * 20);
        const seek = Math.floor(Math.random() * 400) - 250;
        const d = Buffer.alloc(diff);
        for (let i = 0; i < diff; i++) {
          const r = Math.random();
          d[i] = r < 0.6 ? 0 : r < 0.7 ? 0x80 : Math.floor(Math.random() * 256);
        }
        parts.push(le64(diff), le64(extra), le64(seek), d, randomBytes(extra));
        newsize += diff + extra;
      }
      // At every alignment of the patch within its buffer.
      const shift = t % 8;
      const patch = new Uint8Array(Buffer.concat([Buffer.alloc(shift), ...parts])).subarray(shift);
      expect(Buffer.from(bspatch(old, patch, newsize)).equals(Buffer.from(reference(old, patch, newsize)))).toBe(true);
    }
  });

  it('rejects truncated or overrunning patches', () => {
    const a = Buffer.from('hello world');
    const patch = bsdiff(a, Buffer.from('hello there world'));
    expect(errorOf(() => bspatch(a, patch.subarray(0, 10), 17)).code).toBe('DELTA_CORRUPT');
    expect(errorOf(() => bspatch(a, patch, 5)).code).toBe('DELTA_CORRUPT');
  });
});

describe('parts and opcodes', () => {
  it('round-trips every opcode and the part file in both compressions', () => {
    const ops: DeltaOp[] = [
      { code: 'S', meta: true, len: 196, off: 0 },
      { code: 'r', off: 196 }, { code: 'o', mode: 0, xattr: 0, size: 1000 }, { code: 'w', len: 10, off: 5 }, { code: 'B', off: 228, len: 50 },
      { code: 'c' }, { code: 'R' },
      { code: 'S', meta: false, mode: 1, xattr: 0, len: 23, off: 78354 },
    ];
    const bytes = encodeOps(ops);
    expect(decodeOps(bytes, (i) => i === 0, 'test')).toEqual(ops);
    const payload = { modes: [{ uid: 1000, gid: 1001, mode: 0o100644 }], xattrs: [[{ name: 'user.a', value: Buffer.from('v') }], []], blob: randomBytes(500), ops: bytes };
    for (const c of ['none', 'xz'] as const) {
      const file = encodePartFile(encodePartPayload(payload), c);
      expect(file[0]).toBe(c === 'xz' ? 0x78 : 0);
      const back = decodePartFile(file, 'part');
      expect(back.modes).toEqual(payload.modes);
      expect(Buffer.from(back.blob).equals(payload.blob)).toBe(true);
      expect(back.xattrs[0]![0]!.name).toBe('user.a');
    }
    expect(errorOf(() => decodeOps(Uint8Array.of(0x99), () => false, 'part 3')).message).toMatch(/part 3: unknown opcode 0x99 at op offset 0/);
    expect(errorOf(() => decodePartFile(Uint8Array.of(0x7a, 1, 2), 'part 0 of delta X')).message).toMatch(/part 0 of delta X: unknown compression type 0x7a/);
  });
});

describe('ostree 2022.7 vector deltas', () => {
  const decoded = readFileSync(join(VEC, 'deltas.decoded.txt'), 'utf8');
  const cases = [
    { from: A as string | null, to: B, part: 'ae6d53d97966e023efd63ed95e49e8fd0a182e23c257401c93e5a1444497ac34', digest: 'f387cd72d945f01a8fcf31060cb751bbb52b2cc58dd57a4f35f5b4bd7721e523', opsHex: '53c40100539e01c401530000b0e104e2025300001792e404' },
    { from: null, to: A, part: '1af3112712f369ef066928cc4ee0811f5a9f38d438a837b9d9c81f60437068fa', digest: 'e9dd51cbf4d22d6cdde76cec6afe3b2ff9b50b49e58df109122a4d9115cb875a', opsHex: '532e00530c2e53743a53ec01ae015300000b9a0353010100a5035301010ca50353010107b10353020112b80353030109ca03' },
  ];
  for (const c of cases) {
    const name = c.from ? `${c.from}-${c.to}` : c.to;
    it(`decodes and re-encodes ${c.from ? 'A→B' : 'the from-scratch delta to A'} byte for byte, and shows it like ostree`, () => {
      const dir = join(REPO, deltaRelDir(c.from, c.to));
      const raw = readFileSync(join(dir, 'superblock'));
      expect(sha256Hex(raw)).toBe(c.digest);
      const sb = decodeSuperblock(raw);
      expect([sb.from, sb.to, sb.endianness, sb.signed, sb.fallbacks.length, sb.parts.length]).toEqual([c.from, c.to, 'little', false, 0, 1]);
      expect(sha256Hex(sb.commit)).toBe(c.to);
      expect(sb.metadata.map(([k]) => k)).toEqual(['ostree.endianness', `${deltaRelDir(c.from, c.to)}/commitmeta`]);
      expect(Buffer.from(encodeSuperblock(sb)).equals(raw)).toBe(true);
      const partFile = readFileSync(join(dir, '0'));
      expect(sha256Hex(partFile)).toBe(c.part);
      expect(sb.parts[0]!.checksum).toBe(c.part);
      const part = decodePartFile(partFile, 'part 0');
      expect(Buffer.from(part.ops).toString('hex')).toBe(c.opsHex);
      expect(Buffer.from(encodePartPayload(part)).equals(Buffer.from(part.blob.length ? encodePartPayload(part) : []))).toBe(true);
      const shown = formatDeltaShow(name, sb, [part]);
      const start = decoded.indexOf(`static-delta show ${name}\n`);
      expect(start).toBeGreaterThan(0);
      const body = decoded.slice(decoded.indexOf('\n', start) + 1);
      const expected = body.slice(0, body.indexOf('\n\n') + 1);
      expect(shown).toBe(expected);
    });
  }

  it('decodes and re-encodes the delta indexes', () => {
    for (const [to, entry] of [[B, `${A}-${B}`], [A, A]] as const) {
      const p = join(REPO, deltaIndexRelPath(to));
      const raw = readFileSync(p);
      const idx = decodeDeltaIndex(raw);
      expect(idx.map((e) => e.name)).toEqual([entry]);
      expect(Buffer.from(encodeDeltaIndex(idx)).equals(raw)).toBe(true);
    }
  });

  it('rejects a corrupt superblock and bad names with clear errors', () => {
    const raw = readFileSync(join(REPO, deltaRelDir(A, B), 'superblock'));
    expect(errorOf(() => decodeSuperblock(raw.subarray(0, 100), 'deltas/x/superblock'))).toMatchObject({ code: 'DELTA_CORRUPT' });
    const flipped = Buffer.from(raw);
    flipped[300] ^= 0xff; // inside the embedded commit
    expect(errorOf(() => decodeSuperblock(flipped, 'sb')).code).toBe('DELTA_CORRUPT');
    expect(errorOf(() => parseDeltaName('abc-def')).code).toBe('DELTA_BAD_NAME');
  });
});

describe('pairing modified files', () => {
  const f = (path: string, checksum: string, size: number) => ({ path, checksum, size });
  it('pairs by path, then by version shape, then by basename within 30%', () => {
    expect(versionShape('usr/lib/modules/5.10.0-1/kernel/a.ko')).toBe('usr/lib/modules/#.#.#-#/kernel/a.ko');
    const old = [
      f('usr/bin/tool', 'a'.repeat(64), 1000),
      f('usr/lib/libfoo.so.1.2', 'b'.repeat(64), 5000),
      f('usr/lib/modules/5.10.0-1/kernel/drv.ko', 'c'.repeat(64), 8000),
      f('usr/lib/modules/5.10.0-1/kernel/other.ko', 'd'.repeat(64), 100),
      f('opt/data.bin', 'e'.repeat(64), 10_000),
    ];
    const neu = [
      f('usr/bin/tool', '1'.repeat(64), 1100),
      f('usr/lib/libfoo.so.1.3', '2'.repeat(64), 5100),
      f('usr/lib/modules/5.10.0-2/kernel/drv.ko', '3'.repeat(64), 8100),
      f('srv/data.bin', '4'.repeat(64), 11_000),
      f('srv2/data.bin', '5'.repeat(64), 50_000),
    ];
    const p = pairModifiedFiles(old, neu);
    expect(p.get('1'.repeat(64))).toMatchObject({ reason: 'path', from: { checksum: 'a'.repeat(64) } });
    expect(p.get('2'.repeat(64))).toMatchObject({ reason: 'version', from: { checksum: 'b'.repeat(64) } });
    expect(p.get('3'.repeat(64))).toMatchObject({ reason: 'version', from: { checksum: 'c'.repeat(64) } });
    expect(p.get('4'.repeat(64))).toMatchObject({ reason: 'basename', from: { checksum: 'e'.repeat(64) } });
    expect(p.has('5'.repeat(64))).toBe(false); // sizes too far apart for the basename rule
  });
});
