// Payload decompressors by PAYLOADCOMPRESSOR name (or sniffed magic): gzip and
// zstd from node:zlib, xz and legacy lzma from common/xz.ts (liblzma), bzip2 from
// the `bzip2` tool in a child process (there is no bzip2 decoder in Node).

import { spawn } from 'node:child_process';
import { Duplex, PassThrough } from 'node:stream';
import { createGunzip, createZstdDecompress } from 'node:zlib';
import { UpdaterError } from '../../common/errors.ts';
import { createXzDecompress } from '../../common/xz.ts';

export type PayloadCompressor = 'gzip' | 'xz' | 'lzma' | 'zstd' | 'bzip2' | 'none';

/** Recognises a compressor from the first bytes of the payload. */
export function sniffCompressor(head: Uint8Array): PayloadCompressor | null {
  const at = (bytes: number[]): boolean => bytes.every((b, i) => head[i] === b);
  if (at([0x1f, 0x8b])) return 'gzip';
  if (at([0xfd, 0x37, 0x7a, 0x58, 0x5a, 0x00])) return 'xz';
  if (at([0x28, 0xb5, 0x2f, 0xfd])) return 'zstd';
  if (at([0x42, 0x5a, 0x68])) return 'bzip2';
  if (at([0x30, 0x37, 0x30, 0x37, 0x30])) return 'none'; // "07070": cpio
  if (at([0x5d, 0x00, 0x00])) return 'lzma';
  return null;
}

/**
 * The compressor to use: the header's name when it is one rpm writes, else the
 * sniffed format (rpm 4.18 omits the tag for `w0.ufdio` payloads).
 */
export function resolveCompressor(tag: string, head: Uint8Array, what: string): PayloadCompressor {
  const known: Record<string, PayloadCompressor> = { gzip: 'gzip', xz: 'xz', lzma: 'lzma', zstd: 'zstd', bzip2: 'bzip2', identity: 'none', none: 'none' };
  if (tag !== '') {
    const c = known[tag];
    if (!c) throw new UpdaterError('RPM_UNSUPPORTED', `${what}: unsupported payload compressor "${tag}"`);
    return c;
  }
  const sniffed = sniffCompressor(head);
  if (!sniffed) throw new UpdaterError('RPM_UNSUPPORTED', `${what}: payload has no compressor tag and an unrecognised format (starts ${Buffer.from(head.subarray(0, 8)).toString('hex')})`);
  return sniffed;
}

function bunzip2(what: string): Duplex {
  const child = spawn('bzip2', ['-dc'], { stdio: ['pipe', 'pipe', 'pipe'] });
  const d = Duplex.from({ writable: child.stdin, readable: child.stdout });
  let stderr = '';
  child.stderr.on('data', (c: Buffer) => {
    stderr += c.toString();
  });
  child.on('error', (cause) => {
    d.destroy(new UpdaterError('RPM_UNSUPPORTED', `${what}: cannot run bzip2 to decompress the payload`, { hint: 'install bzip2', cause }));
  });
  child.on('close', (code) => {
    if (code !== 0 && code !== null) d.destroy(new UpdaterError('RPM_PAYLOAD_CORRUPT', `${what}: bzip2 payload: ${stderr.trim() || `bzip2 exited ${code}`}`));
  });
  // The consumer stopped early or the pipeline failed: don't leave bzip2 behind.
  d.on('close', () => {
    if (child.exitCode === null) child.kill();
  });
  return d;
}

/** A stream that decompresses a payload compressed with `c`. */
export function createPayloadDecompressor(c: PayloadCompressor, what: string): Duplex {
  switch (c) {
    case 'gzip':
      return createGunzip();
    case 'zstd':
      return createZstdDecompress();
    case 'xz':
      return createXzDecompress({ format: 'xz', what: 'xz stream' });
    case 'lzma':
      return createXzDecompress({ format: 'lzma', what: 'lzma stream' });
    case 'bzip2':
      return bunzip2(what);
    case 'none':
      return new PassThrough();
  }
}
