// xz/lzma through liblzma, checked against the xz command line tool both ways.

import { execFileSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { Readable } from 'node:stream';
import { buffer } from 'node:stream/consumers';
import { describe, expect, it } from 'vitest';
import { errorOf, have } from '../test-support/index.ts';
import { createXzCompress, createXzDecompress, isXz, xzCompress, xzDecompress } from './xz.ts';

const sample = Buffer.concat([Buffer.from('hello xz '.repeat(50_000)), randomBytes(300_000), Buffer.alloc(2_500_000, 7)]);
const xzTool = (args: string[], input: Buffer): Buffer => execFileSync('xz', args, { input, maxBuffer: 64 << 20 });

describe.skipIf(!have('xz'))('xz against the xz tool', () => {
  it('our .xz decompresses with xz -d, and xz output decompresses with ours', () => {
    const ours = xzCompress(sample, { preset: 2 });
    expect(isXz(ours)).toBe(true);
    expect(xzTool(['-dc'], ours).equals(sample)).toBe(true);
    expect(xzDecompress(xzTool(['-c', '-1'], sample)).equals(sample)).toBe(true);
  });

  it('reads the legacy .lzma format, sniffed or named', () => {
    const lz = xzTool(['-c', '--format=lzma', '-1'], sample);
    expect(isXz(lz)).toBe(false);
    expect(xzDecompress(lz).equals(sample)).toBe(true);
    expect(xzDecompress(lz, { format: 'lzma' }).equals(sample)).toBe(true);
  });

  it('reads concatenated .xz streams', () => {
    const a = xzTool(['-c', '-0'], Buffer.from('first '));
    const b = xzTool(['-c', '-0'], Buffer.from('second'));
    expect(xzDecompress(Buffer.concat([a, b])).toString()).toBe('first second');
  });
});

describe('xz streams', () => {
  it('round trips through the Transform streams in odd-sized chunks', async () => {
    const chunks: Buffer[] = [];
    for (let i = 0; i < sample.length; i += 77_777) chunks.push(sample.subarray(i, i + 77_777));
    const packed = await buffer(Readable.from(chunks).pipe(createXzCompress({ preset: 1 })));
    const pieces: Buffer[] = [];
    for (let i = 0; i < packed.length; i += 4093) pieces.push(packed.subarray(i, i + 4093));
    const unpacked = await buffer(Readable.from(pieces).pipe(createXzDecompress()));
    expect(unpacked.equals(sample)).toBe(true);
  });

  it('empty input round trips', () => {
    expect(xzDecompress(xzCompress(Buffer.alloc(0))).length).toBe(0);
  });
});

describe('bad xz data', () => {
  const packed = xzCompress(sample, { preset: 0 });
  it('truncated data is an error naming what was read', () => {
    const e = errorOf(() => xzDecompress(packed.subarray(0, packed.length - 20), { what: 'payload of foo.rpm' }));
    expect(e.code).toBe('XZ_CORRUPT');
    expect(e.message).toContain('payload of foo.rpm');
    expect(e.message).toMatch(/truncated|corrupt/);
  });

  it('flipped bytes are detected', () => {
    const bad = Buffer.from(packed);
    bad[Math.floor(bad.length / 2)]! ^= 0xff;
    expect(errorOf(() => xzDecompress(bad)).code).toBe('XZ_CORRUPT');
  });

  it('not xz at all', () => {
    expect(errorOf(() => xzDecompress(Buffer.from('definitely not compressed'), { format: 'xz' })).message).toMatch(/not in xz/);
  });

  it('a broken stream errors the Transform', async () => {
    const bad = packed.subarray(0, 100);
    await expect(buffer(Readable.from([bad]).pipe(createXzDecompress()))).rejects.toThrow(/truncated|corrupt/);
  });
});
