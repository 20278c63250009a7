// Reads and replays a write log in the Linux dm-log-writes format, as QEMU's blklogwrites
// driver records it (block/blklogwrites.c): every write, write-zeroes, discard and flush
// the guest sent to one disk, in the order QEMU completed them.
//
// Layout (all integers little-endian; one "sector" is the log sector size, 512 here):
//   sector 0      super: u64 magic 0x6a736677736872, u64 version 1, u64 nr_entries,
//                 u32 sectorsize; nr_entries is only rewritten at flushes
//   sector 1..    entries: a header sector (u64 sector, u64 nr_sectors, u64 flags,
//                 u64 data_len, zero padding), then for writes and write-zeroes the data
//                 (nr_sectors sectors; QEMU leaves data_len 0); discards and flushes carry none.
//   flags: 1 flush, 2 FUA, 4 discard, 8 mark.
// Replaying entries 0..k onto a copy of the disk the guest started from gives the disk as
// it was at that moment; at a flush, everything before it had reached stable storage.

import { closeSync, openSync, readSync, writeSync } from 'node:fs';

export const LOG_FLUSH = 1;
export const LOG_FUA = 2;
export const LOG_DISCARD = 4;
export const LOG_MARK = 8;
const MAGIC = 0x6a736677736872n;

export interface LogEntry {
  /** Index in the log. */
  index: number;
  /** Byte offset and length on the logged disk. */
  offset: number;
  length: number;
  flags: number;
  /** Where the data starts in the log file (writes only), else -1. */
  dataAt: number;
}

export interface WriteLog {
  path: string;
  sectorSize: number;
  entries: LogEntry[];
}

/**
 * Parses the log's super block and the entries it counts (entries after the last flush
 * are not counted by the super block and are ignored, as a replay tool does).
 */
export function readWriteLog(path: string): WriteLog {
  const fd = openSync(path, 'r');
  try {
    const head = Buffer.alloc(28);
    if (readSync(fd, head, 0, 28, 0) !== 28) throw new Error(`${path}: too short for a dm-log-writes super block`);
    if (head.readBigUInt64LE(0) !== MAGIC) throw new Error(`${path}: not a dm-log-writes log (bad magic)`);
    if (head.readBigUInt64LE(8) !== 1n) throw new Error(`${path}: unsupported log version ${head.readBigUInt64LE(8)}`);
    const count = Number(head.readBigUInt64LE(16));
    const sectorSize = head.readUInt32LE(24);
    if (sectorSize < 512 || (sectorSize & (sectorSize - 1)) !== 0) throw new Error(`${path}: bad sector size ${sectorSize}`);
    const entries: LogEntry[] = [];
    const hdr = Buffer.alloc(32);
    let pos = sectorSize;
    for (let i = 0; i < count; i++) {
      if (readSync(fd, hdr, 0, 32, pos) !== 32) throw new Error(`${path}: entry ${i} of ${count} is cut off at byte ${pos}`);
      const sector = Number(hdr.readBigUInt64LE(0));
      const nr = Number(hdr.readBigUInt64LE(8));
      const flags = Number(hdr.readBigUInt64LE(16));
      pos += sectorSize;
      const hasData = (flags & (LOG_FLUSH | LOG_DISCARD | LOG_MARK)) === 0 && nr > 0;
      entries.push({ index: i, offset: sector * sectorSize, length: nr * sectorSize, flags, dataAt: hasData ? pos : -1 });
      if (hasData) pos += nr * sectorSize;
    }
    return { path, sectorSize, entries };
  } finally {
    closeSync(fd);
  }
}

/** Indexes of the flush entries: the points at which the disk's contents were durable. */
export function flushPoints(log: WriteLog): number[] {
  return log.entries.filter((e) => (e.flags & LOG_FLUSH) !== 0).map((e) => e.index);
}

/**
 * Applies log entries [from, to) to the disk image `target` (a copy of the disk the logged
 * run started from, with everything before `from` already applied). Discards are written
 * as zeroes, which is what a raw file reads after a hole is punched.
 */
export function replay(log: WriteLog, target: string, from: number, to: number): void {
  const src = openSync(log.path, 'r');
  const dst = openSync(target, 'r+');
  try {
    for (const e of log.entries.slice(from, to)) {
      if (e.length === 0) continue;
      const buf = e.dataAt >= 0 ? Buffer.alloc(e.length) : (e.flags & LOG_DISCARD) !== 0 ? Buffer.alloc(e.length) : null;
      if (buf === null) continue;
      if (e.dataAt >= 0 && readSync(src, buf, 0, e.length, e.dataAt) !== e.length) throw new Error(`${log.path}: data of entry ${e.index} is cut off`);
      writeSync(dst, buf, 0, e.length, e.offset);
    }
  } finally {
    closeSync(src);
    closeSync(dst);
  }
}
