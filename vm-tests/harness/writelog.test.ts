import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { makeTmp, removeTmp } from '../../test-support/index.ts';
import { flushPoints, LOG_DISCARD, LOG_FLUSH, readWriteLog, replay } from './writelog.ts';

// Builds a log byte for byte as QEMU's blklogwrites writes it (512-byte log sectors):
// super block, then per entry a header sector and, for writes, the data.
function buildLog(entries: { sector: number; data?: Buffer; nr?: number; flags?: number }[], counted = entries.length): Buffer {
  const parts: Buffer[] = [];
  const sup = Buffer.alloc(512);
  sup.writeBigUInt64LE(0x6a736677736872n, 0);
  sup.writeBigUInt64LE(1n, 8);
  sup.writeBigUInt64LE(BigInt(counted), 16);
  sup.writeUInt32LE(512, 24);
  parts.push(sup);
  for (const e of entries) {
    const h = Buffer.alloc(512);
    h.writeBigUInt64LE(BigInt(e.sector), 0);
    h.writeBigUInt64LE(BigInt(e.data ? e.data.length / 512 : (e.nr ?? 0)), 8);
    h.writeBigUInt64LE(BigInt(e.flags ?? 0), 16);
    parts.push(h);
    if (e.data) parts.push(e.data);
  }
  return Buffer.concat(parts);
}

describe('dm-log-writes reader and replay', () => {
  let dir: string;
  beforeEach(async () => {
    dir = await makeTmp();
  });
  afterEach(async () => {
    await removeTmp(dir);
  });

  it('replays writes and discards up to each flush point onto a copy of the base disk', () => {
    const a = Buffer.alloc(1024, 0x61);
    const b = Buffer.alloc(512, 0x62);
    const log = join(dir, 'w.log');
    writeFileSync(log, buildLog([
      { sector: 2, data: a },
      { sector: 0, flags: LOG_FLUSH },
      { sector: 3, data: b },
      { sector: 0, nr: 1, flags: LOG_DISCARD },
      { sector: 0, flags: LOG_FLUSH },
      // Written after the last flush: the super block does not count it.
      { sector: 5, data: b },
    ], 5));
    const parsed = readWriteLog(log);
    expect(parsed.entries.map((e) => [e.offset, e.length, e.flags])).toEqual([[1024, 1024, 0], [0, 0, 1], [1536, 512, 0], [0, 512, 4], [0, 0, 1]]);
    expect(flushPoints(parsed)).toEqual([1, 4]);

    const disk = join(dir, 'disk.img');
    writeFileSync(disk, Buffer.alloc(8 * 512, 0x7a));
    replay(parsed, disk, 0, 2);
    let img = readFileSync(disk);
    expect(img.subarray(1024, 2048).equals(a)).toBe(true);
    expect(img[0]).toBe(0x7a);
    replay(parsed, disk, 2, 5);
    img = readFileSync(disk);
    expect(img.subarray(0, 512).equals(Buffer.alloc(512))).toBe(true);
    expect(img.subarray(1024, 1536).equals(a.subarray(0, 512))).toBe(true);
    expect(img.subarray(1536, 2048).equals(b)).toBe(true);
    expect(img.subarray(2560, 3072).equals(Buffer.alloc(512, 0x7a))).toBe(true);
  });

  it('rejects a file that is not a write log, naming it', () => {
    const log = join(dir, 'bad.log');
    writeFileSync(log, Buffer.alloc(512));
    expect(() => readWriteLog(log)).toThrow(`${log}: not a dm-log-writes log (bad magic)`);
  });
});
