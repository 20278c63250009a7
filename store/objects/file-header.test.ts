// The direct encoders and decoder of xattr-less content headers must give exactly
// what the general GVariant code gives, across string lengths that change the
// framing-offset size, and must leave anything not in normal form to the general decoder.

import { describe, expect, it } from 'vitest';
import { bswap32, bswap64, serialize } from '../gvariant/index.ts';
import { encodeDirmeta } from './dirmeta.ts';
import { ARCHIVE_HEADER_TYPE, contentStreamPrefix, decodeArchivePrefix, encodeArchivePrefix, encodeFileHeader, FILE_HEADER_TYPE, type FileHeader } from './file-header.ts';

function general(h: FileHeader): Uint8Array {
  return serialize(FILE_HEADER_TYPE, [bswap32(h.uid), bswap32(h.gid), bswap32(h.mode), 0, h.symlinkTarget, []]);
}

function generalArchive(h: FileHeader, size: number): Buffer {
  const body = serialize(ARCHIVE_HEADER_TYPE, [bswap64(BigInt(size)), bswap32(h.uid), bswap32(h.gid), bswap32(h.mode), 0, h.symlinkTarget, []]);
  const out = Buffer.alloc(8 + body.length);
  out.writeUInt32BE(body.length, 0);
  out.set(body, 8);
  return out;
}

// Deterministic pseudo-random numbers, so a failure is reproducible.
let seed = 12345;
const rnd = (n: number): number => {
  seed = (seed * 1103515245 + 12345) & 0x7fffffff;
  return seed % n;
};

function headers(): Array<[FileHeader, number]> {
  const out: Array<[FileHeader, number]> = [];
  // Targets from empty to long enough for 2-byte framing offsets, and the edges around 255.
  const lengths = [0, 1, 7, 8, 9, 200, 213, 214, 215, 221, 222, 223, 229, 230, 231, 237, 238, 239, 250, 260, 1000, 70000];
  for (const len of lengths) {
    const target = len === 0 ? '' : Array.from({ length: len }, () => 'abcdefé/._-'[rnd(11)]).join('').slice(0, len);
    const link = target !== '';
    out.push([{ uid: rnd(70000), gid: rnd(70000), mode: link ? 0o120777 : 0o100000 | rnd(0o7777), symlinkTarget: target, xattrs: [] }, link ? target.length : rnd(1 << 30)]);
  }
  out.push([{ uid: 0xffffffff, gid: 0xfffffffe, mode: 0o104755, symlinkTarget: '', xattrs: [] }, Number.MAX_SAFE_INTEGER]);
  return out;
}

describe('xattr-less content headers', () => {
  it('encode byte for byte as the general serializer does', () => {
    for (const [h, size] of headers()) {
      expect(Buffer.from(encodeFileHeader(h))).toEqual(Buffer.from(general(h)));
      const prefix = Buffer.from(contentStreamPrefix(h));
      expect(prefix.readUInt32BE(0)).toBe(prefix.length - 8);
      expect(prefix.subarray(8)).toEqual(Buffer.from(general(h)));
      expect(Buffer.from(encodeArchivePrefix(h, size))).toEqual(generalArchive(h, size));
    }
  });

  it('decode what the general serializer wrote', () => {
    for (const [h, size] of headers()) {
      const bytes = Buffer.concat([generalArchive(h, size), Buffer.from([1, 2, 3])]);
      const got = decodeArchivePrefix(bytes);
      expect(got.header).toEqual(h);
      expect(got.size).toBe(size);
      expect(got.dataOffset).toBe(bytes.length - 3);
    }
  });

  it('leaves headers that are not in normal form to the general decoder, which refuses them', () => {
    const h: FileHeader = { uid: 0, gid: 0, mode: 0o120777, symlinkTarget: 'target', xattrs: [] };
    const good = generalArchive(h, 6);
    // A string with a NUL inside it.
    const nul = Buffer.from(good);
    nul[8 + 24 + 2] = 0;
    expect(() => decodeArchivePrefix(nul)).toThrow();
    // A framing offset that points elsewhere.
    const off = Buffer.from(good);
    off[off.length - 1] = off[off.length - 1]! - 1;
    expect(() => decodeArchivePrefix(off)).toThrow();
    // Invalid UTF-8 in the target.
    const utf = Buffer.from(good);
    utf[8 + 24] = 0xff;
    expect(() => decodeArchivePrefix(utf)).toThrow();
    // A non-zero rdev.
    const rdev = Buffer.from(good);
    rdev[8 + 23] = 1;
    expect(() => decodeArchivePrefix(rdev)).toThrow(/rdev/);
  });

  it('dirmeta without xattrs is three big-endian words', () => {
    const m = { uid: 1000, gid: 0xffffffff, mode: 0o40755, xattrs: [] };
    expect(Buffer.from(encodeDirmeta(m))).toEqual(Buffer.from(serialize('(uuua(ayay))', [bswap32(m.uid), bswap32(m.gid), bswap32(m.mode), []])));
  });
});
