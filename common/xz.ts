// xz and legacy .lzma compression through the system's liblzma (koffi): Node's
// zlib does gzip, deflate, brotli and zstd, but not xz, which RPM payloads and
// OSTree static-delta parts use. One-shot helpers and Transform streams share a
// small coder that drives lzma_code() over native buffers.

import koffi from 'koffi';
import { Transform, type TransformCallback } from 'node:stream';
import { UpdaterError } from './errors.ts';

// lzma_stream is 136 bytes on LP64: next_in, avail_in, total_in, next_out,
// avail_out, total_out, allocator, internal, 4 reserved pointers, 2 uint64,
// 2 size_t, 2 enums (+4 padding).
const STREAM_SIZE = 136;
const OFF_NEXT_IN = 0;
const OFF_AVAIL_IN = 8;
const OFF_NEXT_OUT = 24;
const OFF_AVAIL_OUT = 32;
const CHUNK = 1 << 20;

const LZMA_OK = 0;
const LZMA_STREAM_END = 1;
const LZMA_RUN = 0;
const LZMA_FINISH = 3;
const LZMA_CONCATENATED = 0x08;
const LZMA_PRESET_EXTREME = 0x80000000;
const CHECKS = { none: 0, crc32: 1, crc64: 4, sha256: 10 } as const;
const MESSAGES: Record<number, string> = {
  2: 'input has no integrity check',
  3: 'unsupported integrity check',
  5: 'out of memory',
  6: 'memory limit reached',
  7: 'not in xz/lzma format',
  8: 'invalid or unsupported options',
  9: 'compressed data is corrupt',
  10: 'compressed data is truncated',
  11: 'programming error in the caller',
};

interface Lzma {
  streamDecoder: (strm: unknown, memlimit: bigint, flags: number) => number;
  aloneDecoder: (strm: unknown, memlimit: bigint) => number;
  easyEncoder: (strm: unknown, preset: number, check: number) => number;
  code: (strm: unknown, action: number) => number;
  end: (strm: unknown) => void;
}

let lib: Lzma | undefined;
function lzma(): Lzma {
  if (lib) return lib;
  let so: koffi.IKoffiLib;
  try {
    so = koffi.load('liblzma.so.5');
  } catch (cause) {
    throw new UpdaterError('XZ_UNAVAILABLE', 'cannot load liblzma.so.5', { hint: 'apt-get install liblzma5', cause });
  }
  lib = {
    streamDecoder: so.func('int lzma_stream_decoder(void *strm, uint64_t memlimit, uint32_t flags)'),
    aloneDecoder: so.func('int lzma_alone_decoder(void *strm, uint64_t memlimit)'),
    easyEncoder: so.func('int lzma_easy_encoder(void *strm, uint32_t preset, int check)'),
    code: so.func('int lzma_code(void *strm, int action)'),
    end: so.func('void lzma_end(void *strm)'),
  };
  return lib;
}

export type XzFormat = 'xz' | 'lzma' | 'auto';

export interface XzDecodeOptions {
  /** 'xz' (.xz container), 'lzma' (legacy .lzma "alone" format) or 'auto' (sniffed). */
  format?: XzFormat;
  /** What the data is, for error messages (a file name, an object). */
  what?: string;
}

export interface XzEncodeOptions {
  /** 0–9, as `xz -N`; default 6. */
  preset?: number;
  extreme?: boolean;
  check?: keyof typeof CHECKS;
}

const XZ_MAGIC = [0xfd, 0x37, 0x7a, 0x58, 0x5a, 0x00];

/** True when `data` starts with the .xz magic. */
export function isXz(data: Uint8Array): boolean {
  return data.length >= 6 && XZ_MAGIC.every((b, i) => data[i] === b);
}

/** A liblzma coder over native buffers; feed it with push(), end with finish(). */
class Coder {
  private strm: unknown;
  private inBuf: unknown;
  private outBuf: unknown;
  private sv: DataView;
  private inView: Uint8Array;
  private outView: Uint8Array;
  private done = false;
  private readonly what: string;

  constructor(init: (strm: unknown) => number, what: string) {
    this.what = what;
    this.strm = koffi.alloc('uint8_t', STREAM_SIZE);
    this.inBuf = koffi.alloc('uint8_t', CHUNK);
    this.outBuf = koffi.alloc('uint8_t', CHUNK);
    this.sv = new DataView(koffi.view(this.strm, STREAM_SIZE));
    new Uint8Array(this.sv.buffer, this.sv.byteOffset, STREAM_SIZE).fill(0);
    this.inView = new Uint8Array(koffi.view(this.inBuf, CHUNK));
    this.outView = new Uint8Array(koffi.view(this.outBuf, CHUNK));
    const ret = init(this.strm);
    if (ret !== LZMA_OK) {
      this.release();
      throw this.error(ret);
    }
  }

  private error(ret: number): UpdaterError {
    return new UpdaterError('XZ_CORRUPT', `${this.what}: ${MESSAGES[ret] ?? `liblzma error ${ret}`}`);
  }

  /** Runs lzma_code over `input` (all of it), returning the output produced. */
  private run(input: Uint8Array, action: number, out: Buffer[]): void {
    const l = lzma();
    let pos = 0;
    for (;;) {
      const availIn = Number(this.sv.getBigUint64(OFF_AVAIL_IN, true));
      if (availIn === 0 && pos < input.length) {
        const n = Math.min(CHUNK, input.length - pos);
        this.inView.set(input.subarray(pos, pos + n), 0);
        pos += n;
        this.sv.setBigUint64(OFF_NEXT_IN, koffi.address(this.inBuf), true);
        this.sv.setBigUint64(OFF_AVAIL_IN, BigInt(n), true);
      }
      const lastInput = pos >= input.length;
      this.sv.setBigUint64(OFF_NEXT_OUT, koffi.address(this.outBuf), true);
      this.sv.setBigUint64(OFF_AVAIL_OUT, BigInt(CHUNK), true);
      const ret = l.code(this.strm, lastInput ? action : LZMA_RUN);
      const produced = CHUNK - Number(this.sv.getBigUint64(OFF_AVAIL_OUT, true));
      if (produced > 0) out.push(Buffer.from(this.outView.subarray(0, produced)));
      if (ret === LZMA_STREAM_END) {
        this.done = true;
        return;
      }
      if (ret !== LZMA_OK) throw this.error(ret);
      const stillIn = Number(this.sv.getBigUint64(OFF_AVAIL_IN, true));
      // With LZMA_RUN, stop once all input is consumed and the output buffer was not filled.
      if (lastInput && stillIn === 0 && produced < CHUNK && action === LZMA_RUN) return;
    }
  }

  push(chunk: Uint8Array): Buffer[] {
    const out: Buffer[] = [];
    if (chunk.length === 0) return out;
    if (this.done) {
      if (chunk.length > 0) throw new UpdaterError('XZ_CORRUPT', `${this.what}: trailing data after the end of the compressed stream`);
      return out;
    }
    this.run(chunk, LZMA_RUN, out);
    return out;
  }

  finish(): Buffer[] {
    const out: Buffer[] = [];
    if (!this.done) this.run(new Uint8Array(0), LZMA_FINISH, out);
    if (!this.done) throw this.error(10);
    return out;
  }

  release(): void {
    if (this.strm) {
      lzma().end(this.strm);
      koffi.free(this.strm);
      koffi.free(this.inBuf);
      koffi.free(this.outBuf);
      this.strm = this.inBuf = this.outBuf = null;
    }
  }
}

function decoder(format: 'xz' | 'lzma', what: string): Coder {
  const l = lzma();
  const unlimited = 0xffffffffffffffffn;
  return new Coder((s) => (format === 'xz' ? l.streamDecoder(s, unlimited, LZMA_CONCATENATED) : l.aloneDecoder(s, unlimited)), what);
}

function encoder(opts: XzEncodeOptions, what: string): Coder {
  const l = lzma();
  const preset = ((opts.preset ?? 6) | (opts.extreme ? LZMA_PRESET_EXTREME : 0)) >>> 0;
  return new Coder((s) => l.easyEncoder(s, preset, CHECKS[opts.check ?? 'crc64']), what);
}

function resolveFormat(format: XzFormat | undefined, head: Uint8Array): 'xz' | 'lzma' {
  if (format === 'xz' || format === 'lzma') return format;
  return isXz(head) ? 'xz' : 'lzma';
}

function oneShot(c: Coder, data: Uint8Array): Buffer {
  try {
    return Buffer.concat([...c.push(data), ...c.finish()]);
  } finally {
    c.release();
  }
}

/** Decompresses a whole .xz (or .lzma) buffer. */
export function xzDecompress(data: Uint8Array, opts: XzDecodeOptions = {}): Buffer {
  return oneShot(decoder(resolveFormat(opts.format, data), opts.what ?? 'xz data'), data);
}

/** Compresses a buffer into the .xz format. */
export function xzCompress(data: Uint8Array, opts: XzEncodeOptions = {}): Buffer {
  return oneShot(encoder(opts, 'xz compression'), data);
}

class CoderStream extends Transform {
  private coder: Coder | null = null;
  private readonly make: (head: Uint8Array) => Coder;

  constructor(make: (head: Uint8Array) => Coder) {
    super();
    this.make = make;
  }

  override _transform(chunk: Buffer, _enc: BufferEncoding, cb: TransformCallback): void {
    try {
      this.coder ??= this.make(chunk);
      for (const b of this.coder.push(chunk)) this.push(b);
      cb();
    } catch (err) {
      this.coder?.release();
      cb(err as Error);
    }
  }

  override _flush(cb: TransformCallback): void {
    try {
      this.coder ??= this.make(new Uint8Array(0));
      for (const b of this.coder.finish()) this.push(b);
      cb();
    } catch (err) {
      cb(err as Error);
    } finally {
      this.coder?.release();
    }
  }

  override _destroy(err: Error | null, cb: (error: Error | null) => void): void {
    this.coder?.release();
    cb(err);
  }
}

/** A Transform that decompresses .xz (or .lzma) data as it flows. */
export function createXzDecompress(opts: XzDecodeOptions = {}): Transform {
  return new CoderStream((head) => decoder(resolveFormat(opts.format, head), opts.what ?? 'xz data'));
}

/** A Transform that compresses into the .xz format as data flows. */
export function createXzCompress(opts: XzEncodeOptions = {}): Transform {
  return new CoderStream(() => encoder(opts, 'xz compression'));
}
