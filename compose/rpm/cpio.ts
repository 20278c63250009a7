// cpio "newc" (070701) and "crc" (070702) headers as RPM payloads use them, plus
// rpm's stripped header (07070X + file index, rpm ≥ 4.12, used for packages with
// LONGFILESIZES, where all metadata comes from the RPM header). Pure: reads from
// any async iterable of byte chunks through ByteReader.

import { UpdaterError } from '../../common/errors.ts';

export const CPIO_TRAILER = 'TRAILER!!!';
const NEWC_HEADER_SIZE = 110;
const STRIPPED_HEADER_SIZE = 14; // "07070X" + 8 hex digits of the file index
const MAX_NAME = 4096 + 256;

/** One cpio header. `stripped` headers carry only the index of the file in the RPM header. */
export type CpioHeader =
  | {
      stripped: false;
      magic: '070701' | '070702';
      ino: number;
      mode: number;
      uid: number;
      gid: number;
      nlink: number;
      mtime: number;
      size: number;
      devMajor: number;
      devMinor: number;
      rdevMajor: number;
      rdevMinor: number;
      check: number;
      name: string;
      /** Offset of the header in the uncompressed payload. */
      offset: number;
    }
  | { stripped: true; fileIndex: number; offset: number };

/** Pulls exact byte counts from an async iterable of chunks, counting the offset. */
export class ByteReader {
  private readonly it: AsyncIterator<Uint8Array>;
  private buf: Buffer = Buffer.alloc(0);
  private pos = 0;
  private ended = false;
  /** Bytes consumed so far. */
  offset = 0;

  constructor(source: AsyncIterable<Uint8Array>) {
    this.it = source[Symbol.asyncIterator]();
  }

  private async fill(): Promise<boolean> {
    while (this.pos >= this.buf.length) {
      if (this.ended) return false;
      const r = await this.it.next();
      if (r.done) {
        this.ended = true;
        return false;
      }
      this.buf = Buffer.isBuffer(r.value) ? r.value : Buffer.from(r.value.buffer, r.value.byteOffset, r.value.length);
      this.pos = 0;
    }
    return true;
  }

  /** Up to `max` bytes (at least 1), or null at the end of the input. */
  async chunk(max: number): Promise<Buffer | null> {
    if (!(await this.fill())) return null;
    const n = Math.min(max, this.buf.length - this.pos);
    const out = this.buf.subarray(this.pos, this.pos + n);
    this.pos += n;
    this.offset += n;
    return out;
  }

  /** Exactly `n` bytes, or null if the input ends first (`got` tells how many were there). */
  async exact(n: number): Promise<Buffer | null> {
    if (this.buf.length - this.pos >= n) {
      const out = this.buf.subarray(this.pos, this.pos + n);
      this.pos += n;
      this.offset += n;
      return out;
    }
    const parts: Buffer[] = [];
    let need = n;
    while (need > 0) {
      const c = await this.chunk(need);
      if (!c) return null;
      parts.push(c);
      need -= c.length;
    }
    return Buffer.concat(parts);
  }

  /** Skips `n` bytes; false if the input ends first. */
  async skip(n: number): Promise<boolean> {
    while (n > 0) {
      const c = await this.chunk(n);
      if (!c) return false;
      n -= c.length;
    }
    return true;
  }

  /** Reads and discards everything left; returns the byte count. */
  async drain(): Promise<number> {
    let n = 0;
    for (let c = await this.chunk(1 << 20); c; c = await this.chunk(1 << 20)) n += c.length;
    return n;
  }
}

function hex(buf: Buffer, off: number, what: string, field: string, at: number): number {
  const s = buf.toString('latin1', off, off + 8);
  if (!/^[0-9a-fA-F]{8}$/.test(s)) throw new UpdaterError('RPM_PAYLOAD_CORRUPT', `${what}: cpio header field ${field} "${s}" is not hex (payload offset ${at})`);
  return parseInt(s, 16);
}

/**
 * Reads the next cpio header (after the 4-byte alignment padding). `what` names
 * the payload for errors. A truncated stream is RPM_TRUNCATED.
 */
export async function readCpioHeader(r: ByteReader, what: string): Promise<CpioHeader> {
  const pad = (4 - (r.offset % 4)) % 4;
  if (pad && !(await r.skip(pad))) throw truncated(what, r.offset);
  const offset = r.offset;
  const magic = await r.exact(6);
  if (!magic) throw truncated(what, r.offset);
  const m = magic.toString('latin1');
  if (m === '07070X') {
    const rest = await r.exact(STRIPPED_HEADER_SIZE - 6);
    if (!rest) throw truncated(what, r.offset);
    const fileIndex = hex(rest, 0, what, 'file index', offset);
    const pad2 = (4 - (r.offset % 4)) % 4;
    if (pad2 && !(await r.skip(pad2))) throw truncated(what, r.offset);
    return { stripped: true, fileIndex, offset };
  }
  if (m !== '070701' && m !== '070702') {
    throw new UpdaterError('RPM_PAYLOAD_CORRUPT', `${what}: bad cpio magic "${magic.toString('hex')}" at payload offset ${offset} (expected 070701)`);
  }
  const rest = await r.exact(NEWC_HEADER_SIZE - 6);
  if (!rest) throw truncated(what, r.offset);
  const f = (i: number, name: string): number => hex(rest, i * 8, what, name, offset);
  const namesize = f(11, 'namesize');
  if (namesize < 2 || namesize > MAX_NAME) throw new UpdaterError('RPM_PAYLOAD_CORRUPT', `${what}: implausible cpio name size ${namesize} at payload offset ${offset}`);
  const nameBytes = await r.exact(namesize);
  if (!nameBytes) throw truncated(what, r.offset);
  if (nameBytes[namesize - 1] !== 0 || nameBytes.indexOf(0) !== namesize - 1) {
    throw new UpdaterError('RPM_PAYLOAD_CORRUPT', `${what}: cpio name at payload offset ${offset} is not one NUL-terminated string`);
  }
  const pad2 = (4 - (r.offset % 4)) % 4;
  if (pad2 && !(await r.skip(pad2))) throw truncated(what, r.offset);
  return {
    stripped: false,
    magic: m,
    ino: f(0, 'ino'),
    mode: f(1, 'mode'),
    uid: f(2, 'uid'),
    gid: f(3, 'gid'),
    nlink: f(4, 'nlink'),
    mtime: f(5, 'mtime'),
    size: f(6, 'filesize'),
    devMajor: f(7, 'devmajor'),
    devMinor: f(8, 'devminor'),
    rdevMajor: f(9, 'rdevmajor'),
    rdevMinor: f(10, 'rdevminor'),
    check: f(12, 'check'),
    name: nameBytes.toString('utf8', 0, namesize - 1),
    offset,
  };
}

function truncated(what: string, at: number): UpdaterError {
  return new UpdaterError('RPM_TRUNCATED', `${what}: payload ends inside the cpio archive (uncompressed offset ${at})`);
}

/** Encodes one newc header + name + padding (for synthesised payloads). */
export function encodeCpioHeader(h: { name: string; mode: number; size: number; ino?: number; nlink?: number; mtime?: number; uid?: number; gid?: number }, offset = 0): Buffer {
  const hx = (n: number): string => n.toString(16).padStart(8, '0');
  const name = Buffer.from(`${h.name}\0`, 'utf8');
  const fields = [h.ino ?? 0, h.mode, h.uid ?? 0, h.gid ?? 0, h.nlink ?? 1, h.mtime ?? 0, h.size, 0, 0, 0, 0, name.length, 0];
  const head = Buffer.from(`070701${fields.map(hx).join('')}`, 'latin1');
  const len = head.length + name.length;
  return Buffer.concat([head, name, Buffer.alloc((4 - ((offset + len) % 4)) % 4)]);
}

/** Encodes rpm's stripped header for file `fileIndex`, padding included. */
export function encodeStrippedHeader(fileIndex: number): Buffer {
  return Buffer.concat([Buffer.from(`07070X${fileIndex.toString(16).padStart(8, '0')}`, 'latin1'), Buffer.alloc(2)]);
}

/** Padding after `size` bytes of data that started at a 4-aligned offset. */
export function cpioPad(size: number): Buffer {
  return Buffer.alloc((4 - (size % 4)) % 4);
}

/**
 * Normalises a payload path to an absolute path: `./usr/bin/x`, `usr/bin/x` and
 * `/usr/bin/x` all give `/usr/bin/x`. Returns null for paths with `..`, empty or
 * NUL, which could escape the root.
 */
export function normalizePayloadPath(name: string): string | null {
  if (name.includes('\0')) return null;
  const parts = name.split('/').filter((c) => c !== '' && c !== '.');
  if (parts.length === 0 || parts.some((c) => c === '..')) return null;
  return `/${parts.join('/')}`;
}
