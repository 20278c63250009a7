// Reading .rpm files: the lead, signature header (padded to 8 bytes) and main
// header are read and the header digest checked up front; the payload is then
// streamed (never buffered whole) through its decompressor into the cpio walker,
// with the payload digest checked over the compressed bytes at the end.

import { createHash, type Hash } from 'node:crypto';
import { closeSync, createReadStream, fstatSync, openSync, readSync } from 'node:fs';
import { Transform } from 'node:stream';
import { finished, pipeline } from 'node:stream/promises';
import { isUpdaterError, UpdaterError } from '../../common/errors.ts';
import { readPayloadEntries, type RpmPayloadEntry } from './archive.ts';
import { createPayloadDecompressor, type PayloadCompressor, resolveCompressor } from './decompress.ts';
import { HEADER_INTRO_SIZE, headerBlobLength, LEAD_SIZE, parseHeader, parseLead, type RpmHeader, type RpmLead } from './header.ts';
import { decodePackage, type RpmPackage } from './package.ts';
import { DIGEST_ALGOS, SIGTAG, TAG } from './tags.ts';

/** An opened package: parsed headers and where the payload lies. */
export interface RpmArchive {
  path: string;
  lead: RpmLead;
  signature: RpmHeader;
  header: RpmHeader;
  pkg: RpmPackage;
  /** File offsets of the main header and of the compressed payload; payloadEnd is the file's end or the signed size. */
  headerOffset: number;
  payloadOffset: number;
  payloadEnd: number;
  compressor: PayloadCompressor;
  /** Which digest vouched for the header ('sha256', 'sha1'), or 'md5' (checked with the payload). */
  headerDigest: 'sha256' | 'sha1' | 'md5';
}

export interface ReadRpmOptions {
  /** Check the header digest (default true). Only for diagnostics; compose always verifies. */
  verify?: boolean;
}

// Headers are read synchronously: a few small reads per package, for which a thread-pool
// round trip each would cost more than the read (a compose reads hundreds of headers).
function readAt(fd: number, off: number, len: number): Buffer {
  const buf = Buffer.alloc(len);
  let got = 0;
  while (got < len) {
    const bytesRead = readSync(fd, buf, got, len - got, off + got);
    if (bytesRead === 0) break;
    got += bytesRead;
  }
  return buf.subarray(0, got);
}

/** Reads a header blob at file offset `off`, parsing it with its file offset in messages. */
function readHeaderAt(path: string, fd: number, off: number, label: string): { header: RpmHeader; length: number } {
  const what = `${path}: ${label}`;
  const intro = readAt(fd, off, HEADER_INTRO_SIZE);
  if (intro.length < HEADER_INTRO_SIZE) throw new UpdaterError('RPM_TRUNCATED', `${what}: file ends in the header intro (at byte offset ${off + intro.length})`);
  const { length } = headerBlobLength(intro, 0, what);
  const blob = readAt(fd, off, length);
  if (blob.length < length) throw new UpdaterError('RPM_TRUNCATED', `${what}: file ends inside the header (at byte offset ${off + blob.length}, header needs ${length} bytes from ${off})`);
  return parseHeader(blob, 0, what, off);
}

function hexOf(sig: RpmHeader, tag: number): string | undefined {
  return sig.string(tag)?.toLowerCase();
}

/** Reads and checks the headers of an .rpm file (no payload is read). */
export async function readRpm(path: string, opts: ReadRpmOptions = {}): Promise<RpmArchive> {
  let fd: number;
  try {
    fd = openSync(path, 'r');
  } catch (cause) {
    throw new UpdaterError('RPM_OPEN', `${path}: cannot open: ${(cause as Error).message}`, { cause });
  }
  try {
    const fileSize = fstatSync(fd).size;
    const lead = parseLead(readAt(fd, 0, LEAD_SIZE), path);
    const sig = readHeaderAt(path, fd, LEAD_SIZE, 'signature header');
    // The signature header is padded so the main header starts 8-aligned.
    const headerOffset = LEAD_SIZE + sig.length + ((8 - (sig.length % 8)) % 8);
    const main = readHeaderAt(path, fd, headerOffset, 'header');
    const payloadOffset = headerOffset + main.length;
    const signature = sig.header;
    const header = main.header;

    const signedSize = signature.number(SIGTAG.LONGSIZE) ?? signature.number(SIGTAG.SIZE);
    let payloadEnd = fileSize;
    if (signedSize !== undefined) {
      const end = headerOffset + signedSize;
      if (end > fileSize) throw new UpdaterError('RPM_TRUNCATED', `${path}: file has ${fileSize} bytes, its signature header says header and payload end at ${end}`);
      if (end < payloadOffset) throw new UpdaterError('RPM_MALFORMED', `${path}: signature size ${signedSize} is smaller than the header`);
      payloadEnd = end;
    }

    let headerDigest: RpmArchive['headerDigest'] = 'md5';
    const sha256 = hexOf(signature, SIGTAG.SHA256);
    const sha1 = hexOf(signature, SIGTAG.SHA1);
    if (sha256 !== undefined) headerDigest = 'sha256';
    else if (sha1 !== undefined) headerDigest = 'sha1';
    else if (!signature.has(SIGTAG.MD5) && opts.verify !== false) {
      throw new UpdaterError('RPM_NO_DIGEST', `${path}: the signature header has no SHA256, SHA1 or MD5 digest to check the package with`);
    }
    if (opts.verify !== false && headerDigest !== 'md5') {
      const want = headerDigest === 'sha256' ? sha256! : sha1!;
      const got = createHash(headerDigest).update(header.blob).digest('hex');
      if (got !== want) {
        throw new UpdaterError('RPM_HEADER_DIGEST_MISMATCH', `${path}: header ${headerDigest.toUpperCase()} digest ${got} does not match the signature's ${want}`, { hint: 'the package is corrupt or was tampered with; download it again' });
      }
    }

    if (payloadEnd <= payloadOffset) throw new UpdaterError('RPM_TRUNCATED', `${path}: file ends where the payload should start (byte offset ${payloadOffset})`);
    const pkg = decodePackage(header);
    if (pkg.payload.format !== 'cpio') throw new UpdaterError('RPM_UNSUPPORTED', `${path}: unsupported payload format "${pkg.payload.format}"`);
    const head = readAt(fd, payloadOffset, Math.min(8, payloadEnd - payloadOffset));
    const compressor = resolveCompressor(pkg.payload.compressor, head, path);
    return { path, lead, signature, header, pkg, headerOffset, payloadOffset, payloadEnd, compressor, headerDigest };
  } finally {
    closeSync(fd);
  }
}

export interface ReadPayloadOptions {
  /** Check the payload digest (default true). */
  verify?: boolean;
}

/**
 * Streams the payload entries of a package opened with readRpm (or a path).
 * The compressed bytes are hashed as they pass; the iterator throws
 * RPM_PAYLOAD_DIGEST_MISMATCH at the end if they do not match the header's
 * PAYLOADDIGEST (or, for older packages, the signature's MD5). Callers that
 * commit what they extracted must do so only once the iterator has finished.
 */
export async function* readRpmPayload(source: RpmArchive | string, opts: ReadPayloadOptions = {}): AsyncGenerator<RpmPayloadEntry> {
  const a = typeof source === 'string' ? await readRpm(source) : source;
  const verify = opts.verify !== false;

  // What digests the compressed payload must match.
  const checks: { hash: Hash; want: string; label: string; source: string }[] = [];
  const payloadDigests = a.header.strings(TAG.PAYLOADDIGEST);
  if (verify && payloadDigests?.[0]) {
    const algoId = a.header.number(TAG.PAYLOADDIGESTALGO) ?? 8;
    const algo = DIGEST_ALGOS[algoId];
    if (!algo) throw new UpdaterError('RPM_UNSUPPORTED', `${a.path}: unknown payload digest algorithm ${algoId} (tag ${TAG.PAYLOADDIGESTALGO})`);
    checks.push({ hash: createHash(algo), want: payloadDigests[0].toLowerCase(), label: `payload ${algo.toUpperCase()}`, source: `the header's PAYLOADDIGEST` });
  }
  const md5 = a.signature.bytes(SIGTAG.MD5);
  if (verify && md5 && (checks.length === 0 || a.headerDigest === 'md5')) {
    // MD5 over header + payload: the only check older packages carry.
    const hash = createHash('md5').update(a.header.blob);
    checks.push({ hash, want: Buffer.from(md5).toString('hex'), label: 'header+payload MD5', source: `the signature's MD5` });
  }
  if (verify && checks.length === 0) throw new UpdaterError('RPM_NO_DIGEST', `${a.path}: no payload digest (tag ${TAG.PAYLOADDIGEST}) nor signature MD5 to check the payload with`);

  let hashed = 0;
  const tap = new Transform({
    transform(chunk: Buffer, _enc, cb): void {
      for (const c of checks) c.hash.update(chunk);
      hashed += chunk.length;
      cb(null, chunk);
    },
  });
  const raw = createReadStream(a.path, { start: a.payloadOffset, end: a.payloadEnd - 1, highWaterMark: 1 << 20 });
  const decompressor = createPayloadDecompressor(a.compressor, a.path);
  const flow = pipeline(raw, tap, decompressor).catch(() => {
    // Errors reach the consumer through the decompressor's iterator below.
  });
  const what = `${a.path} (${a.pkg.nevra})`;
  try {
    yield* readPayloadEntries(a.pkg, decompressed(decompressor, a.compressor, what), what);
    await flow;
    await finished(tap).catch(() => {});
    const expected = a.payloadEnd - a.payloadOffset;
    if (hashed !== expected) throw new UpdaterError('RPM_PAYLOAD_CORRUPT', `${what}: the decompressor stopped after ${hashed} of ${expected} compressed payload bytes`);
    for (const c of checks) {
      const got = c.hash.digest('hex');
      if (got !== c.want) {
        throw new UpdaterError('RPM_PAYLOAD_DIGEST_MISMATCH', `${what}: ${c.label} digest ${got} does not match ${c.source} ${c.want}`, { hint: 'the package is corrupt or was tampered with; download it again' });
      }
    }
  } catch (err) {
    throw payloadError(err, a.compressor, what);
  } finally {
    raw.destroy();
    decompressor.destroy();
  }
}

function payloadError(err: unknown, compressor: PayloadCompressor, what: string): UpdaterError {
  if (isUpdaterError(err) && err.code.startsWith('RPM_')) return err;
  return new UpdaterError('RPM_PAYLOAD_CORRUPT', `${what}: cannot decompress the ${compressor} payload: ${(err as Error).message}`, { cause: err });
}

/** The decompressed chunks, with decompressor errors turned into RPM_PAYLOAD_CORRUPT (content streams see these too). */
async function* decompressed(src: AsyncIterable<Uint8Array>, compressor: PayloadCompressor, what: string): AsyncGenerator<Uint8Array> {
  try {
    yield* src;
  } catch (err) {
    throw payloadError(err, compressor, what);
  }
}
