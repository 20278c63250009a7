// Fetching repo files from file:// and http(s):// base URLs: whole small files (repomd.xml)
// and streamed downloads checked against the size and checksum repomd declares.

import { createHash } from 'node:crypto';
import { createReadStream, createWriteStream } from 'node:fs';
import { readFile, stat } from 'node:fs/promises';
import { Readable, Transform } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { fileURLToPath } from 'node:url';
import { UpdaterError } from '../../common/errors.ts';
import type { Checksum } from './repomd.ts';

/** `href` relative to a base URL that names a directory (with or without a trailing slash). */
export function resolveUrl(base: string, href: string): string {
  return new URL(href, base.endsWith('/') ? base : `${base}/`).toString();
}

export interface FetchOptions {
  /** Abort an http(s) request after this many milliseconds (default 5 minutes). */
  timeoutMs?: number;
}

function fetchFailed(url: string, why: string, cause?: unknown): UpdaterError {
  return new UpdaterError('REPOMD_FETCH_FAILED', `fetching ${url}: ${why}`, cause === undefined ? {} : { cause });
}

async function openHttp(url: string, opts: FetchOptions): Promise<Response> {
  let res: Response;
  try {
    res = await fetch(url, { signal: AbortSignal.timeout(opts.timeoutMs ?? 300_000), redirect: 'follow' });
  } catch (err) {
    const e = err as Error & { cause?: { code?: string; message?: string } };
    throw fetchFailed(url, e.cause?.code ?? e.cause?.message ?? e.message, err);
  }
  if (!res.ok) {
    await res.body?.cancel().catch(() => {});
    throw fetchFailed(url, `HTTP ${res.status} ${res.statusText}`);
  }
  return res;
}

/** Reads a whole (small) file; more than `maxBytes` is an error. */
export async function fetchBytes(url: string, maxBytes: number, opts: FetchOptions = {}): Promise<Buffer> {
  if (url.startsWith('file:')) {
    const path = fileURLToPath(url);
    try {
      const st = await stat(path);
      if (st.size > maxBytes) throw fetchFailed(url, `larger than ${maxBytes} bytes`);
      return await readFile(path);
    } catch (err) {
      if (err instanceof UpdaterError) throw err;
      throw fetchFailed(url, (err as NodeJS.ErrnoException).code ?? String(err), err);
    }
  }
  const res = await openHttp(url, opts);
  const chunks: Buffer[] = [];
  let n = 0;
  try {
    for await (const c of res.body as unknown as AsyncIterable<Uint8Array>) {
      n += c.length;
      if (n > maxBytes) throw fetchFailed(url, `larger than ${maxBytes} bytes`);
      chunks.push(Buffer.from(c));
    }
  } catch (err) {
    if (err instanceof UpdaterError) throw err;
    throw fetchFailed(url, (err as Error).message, err);
  }
  return Buffer.concat(chunks);
}

export interface Expected {
  checksum: Checksum;
  size?: number;
}

/**
 * Streams `url` into `dest`, hashing as it goes. Fails with REPOMD_SIZE_MISMATCH when the
 * size differs from the declared one (stopping as soon as it exceeds it) and with
 * REPOMD_CHECKSUM_MISMATCH when the digest differs; `dest` is then left for the caller to remove.
 */
export async function downloadVerified(url: string, dest: string, expected: Expected, opts: FetchOptions = {}): Promise<void> {
  const hash = createHash(expected.checksum.type);
  let size = 0;
  const limit = expected.size;
  const counter = new Transform({
    transform(chunk: Buffer, _enc, cb) {
      size += chunk.length;
      if (limit !== undefined && size > limit) {
        cb(new UpdaterError('REPOMD_SIZE_MISMATCH', `${url}: larger than the ${limit} bytes repomd.xml declares`));
        return;
      }
      hash.update(chunk);
      cb(null, chunk);
    },
  });
  let source: Readable;
  if (url.startsWith('file:')) {
    source = createReadStream(fileURLToPath(url));
  } else {
    const res = await openHttp(url, opts);
    source = Readable.fromWeb(res.body as never);
  }
  try {
    await pipeline(source, counter, createWriteStream(dest, { flags: 'wx', mode: 0o644 }));
  } catch (err) {
    if (err instanceof UpdaterError) throw err;
    const e = err as NodeJS.ErrnoException;
    throw fetchFailed(url, e.code ?? e.message, err);
  }
  if (limit !== undefined && size !== limit) {
    throw new UpdaterError('REPOMD_SIZE_MISMATCH', `${url}: ${size} bytes, but repomd.xml declares ${limit} (truncated or changed file)`);
  }
  const got = hash.digest('hex');
  if (got !== expected.checksum.value) {
    throw new UpdaterError('REPOMD_CHECKSUM_MISMATCH', `${url}: ${expected.checksum.type} checksum mismatch: repomd.xml declares ${expected.checksum.value}, the file has ${got}`);
  }
}

/** Size and digest of a local file (to check a cached copy against repomd). */
export async function digestFile(path: string, algo: string): Promise<{ size: number; digest: string }> {
  const hash = createHash(algo);
  let size = 0;
  for await (const c of createReadStream(path) as AsyncIterable<Buffer>) {
    size += c.length;
    hash.update(c);
  }
  return { size, digest: hash.digest('hex') };
}
