// Fetching files of a remote repository: http(s) over keep-alive connections
// with retries, backoff, a stall timeout and Range resume of large downloads;
// file:// by reading the files. A 404 is "absent" for optional files (ostree-format.md §7).

import { createWriteStream } from 'node:fs';
import { open, readFile, rm, stat } from 'node:fs/promises';
import { Agent as HttpAgent, request as httpRequest, type IncomingMessage } from 'node:http';
import { Agent as HttpsAgent, request as httpsRequest } from 'node:https';
import { fileURLToPath } from 'node:url';
import { isErrno, UpdaterError } from '../../common/errors.ts';

/** A downloaded object: in memory, or in a file (a verified-later partial download or a local source file). */
export type Fetched = { bytes: Buffer } | { path: string; owned: boolean };

export interface TransportOptions {
  /** Abort a request when no bytes arrive for this long (default 30 s). */
  stallTimeoutMs?: number;
  /** Retries of a failed request on transient errors (ostree's --network-retries, default 5). */
  retries?: number;
  /** First backoff delay; doubles per retry with jitter (default 250 ms, capped at 8 s). */
  retryBaseMs?: number;
  /** Responses at least this large go to a resumable file in the repo's tmp dir (default 1 MiB). */
  partialMinBytes?: number;
  /** Counts every body byte received (progress, "transferred"). */
  onBytes?: (n: number) => void;
  /** Called on each transient failure that will be retried. */
  onRetry?: (what: string, err: Error, attempt: number) => void;
  /** Extra headers for every request (ostree's --http-header). */
  headers?: Record<string, string>;
}

/** Transport-level failure that a retry may cure (network error, stall, 5xx). */
export class TransientError extends UpdaterError {}

export interface ConditionalResult {
  status: 200 | 304 | 404;
  bytes: Buffer | null;
  etag: string | null;
  lastModified: string | null;
}

export interface Transport {
  readonly url: string;
  /** A whole file in memory; null on 404 when `optional`. */
  getBytes(rel: string, opts?: { optional?: boolean; maxSize?: number }): Promise<Buffer | null>;
  /** GET with If-None-Match / If-Modified-Since (summary.sig caching). */
  getConditional(rel: string, etag: string | null, lastModified: string | null): Promise<ConditionalResult>;
  /** An object; large ones are streamed to `partialPath` and resumed from there with Range. */
  getObject(rel: string, partialPath: string, opts?: { optional?: boolean; maybePartial?: boolean }): Promise<Fetched | null>;
  close(): void;
}

/** The stall error of a response whose request was destroyed for stalling (the body then just says "aborted"). */
const stalls = new WeakMap<IncomingMessage, Error>();

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

/** Opens a transport for `http://`, `https://` or `file://` URLs. */
export function openTransport(url: string, opts: TransportOptions = {}): Transport {
  if (/^https?:\/\//i.test(url)) return new HttpTransport(url, opts);
  if (/^file:\/\//i.test(url)) return new FileTransport(url, opts);
  throw new UpdaterError('PULL_UNSUPPORTED_URL', `unsupported remote URL '${url}'`, { hint: 'use an http://, https:// or file:// URL' });
}

// ---- http(s) ----

class HttpTransport implements Transport {
  readonly url: string;
  private readonly base: URL;
  private readonly agent: HttpAgent;
  private readonly stallMs: number;
  private readonly retries: number;
  private readonly retryBase: number;
  private readonly partialMin: number;
  private readonly opts: TransportOptions;

  constructor(url: string, opts: TransportOptions) {
    this.url = url;
    this.base = new URL(url.endsWith('/') ? url : `${url}/`);
    const AgentClass = this.base.protocol === 'https:' ? HttpsAgent : HttpAgent;
    this.agent = new AgentClass({ keepAlive: true, maxSockets: 64, maxFreeSockets: 64 });
    this.stallMs = opts.stallTimeoutMs ?? 30_000;
    this.retries = opts.retries ?? 5;
    this.retryBase = opts.retryBaseMs ?? 250;
    this.partialMin = opts.partialMinBytes ?? 1024 * 1024;
    this.opts = opts;
  }

  close(): void {
    this.agent.destroy();
  }

  private urlOf(rel: string): URL {
    return new URL(rel, this.base);
  }

  /** One request; resolves with the response once headers arrive. Stalls and socket errors reject. */
  private async send(rel: string, headers: Record<string, string>): Promise<IncomingMessage> {
    // Redirects (a CDN, a moved repo) are followed like libcurl does, up to 5 hops.
    let u = this.urlOf(rel);
    for (let hop = 0; ; hop++) {
      const res = await this.sendOnce(u, headers);
      const loc = res.headers.location;
      if (![301, 302, 303, 307, 308].includes(res.statusCode ?? 0) || !loc || hop >= 5) return res;
      res.resume();
      u = new URL(loc, u);
    }
  }

  private sendOnce(u: URL, headers: Record<string, string>): Promise<IncomingMessage> {
    const req = (u.protocol === 'https:' ? httpsRequest : httpRequest)(u, { agent: u.protocol === this.base.protocol ? this.agent : undefined, headers: { ...this.opts.headers, ...headers } });
    return new Promise((resolve, reject) => {
      let response: IncomingMessage | null = null;
      // The socket timeout is an idle timer: it fires when no bytes move for stallMs,
      // both while waiting for headers and while the body streams.
      req.setTimeout(this.stallMs, () => {
        const err = new TransientError('PULL_STALLED', `GET ${u.href}: no data received for ${this.stallMs / 1000} s`, {
          hint: 'the server or network stopped sending; check connectivity and pull again (finished objects are kept)',
        });
        if (response) stalls.set(response, err);
        req.destroy(err);
      });
      req.once('error', (err) => reject(toTransient(err, u.href)));
      req.once('response', (res) => {
        response = res;
        res.once('error', () => {}); // surfaced to the reader of the body
        resolve(res);
      });
      req.end();
    });
  }

  private statusError(res: IncomingMessage, href: string): UpdaterError {
    const code = res.statusCode ?? 0;
    res.resume();
    const msg = `GET ${href}: HTTP ${code} ${res.statusMessage ?? ''}`.trimEnd();
    if (code >= 500 || code === 408 || code === 429) return new TransientError('PULL_HTTP_ERROR', msg);
    if (code === 404) return new UpdaterError('PULL_NOT_FOUND', msg);
    return new UpdaterError('PULL_HTTP_ERROR', msg);
  }

  /** Runs `fn` with retries on transient errors, doubling the delay each time. */
  private async withRetries<T>(what: string, fn: () => Promise<T>): Promise<T> {
    for (let attempt = 0; ; attempt++) {
      try {
        return await fn();
      } catch (err) {
        if (!(err instanceof TransientError) || attempt >= this.retries) {
          if (err instanceof TransientError && this.retries > 0) {
            throw new UpdaterError(err.code, `${err.message} (gave up after ${attempt + 1} attempts)`, { hint: err.hint, cause: err });
          }
          throw err;
        }
        this.opts.onRetry?.(what, err, attempt + 1);
        const delay = Math.min(8000, this.retryBase * 2 ** attempt) * (0.75 + Math.random() * 0.5);
        await sleep(delay);
      }
    }
  }

  private async readBody(res: IncomingMessage, href: string, maxSize: number): Promise<Buffer> {
    const chunks: Buffer[] = [];
    let n = 0;
    try {
      for await (const chunk of res) {
        n += (chunk as Buffer).length;
        this.opts.onBytes?.((chunk as Buffer).length);
        if (n > maxSize) {
          res.destroy();
          throw new UpdaterError('PULL_TOO_LARGE', `GET ${href}: response exceeds ${maxSize} bytes`);
        }
        chunks.push(chunk as Buffer);
      }
    } catch (err) {
      if (err instanceof UpdaterError) throw err;
      throw stalls.get(res) ?? toTransient(err, href);
    }
    const expected = Number(res.headers['content-length'] ?? NaN);
    if (!Number.isNaN(expected) && n < expected) throw new TransientError('PULL_NETWORK', `GET ${href}: connection closed after ${n} of ${expected} bytes`);
    return Buffer.concat(chunks, n);
  }

  async getBytes(rel: string, opts: { optional?: boolean; maxSize?: number } = {}): Promise<Buffer | null> {
    const href = this.urlOf(rel).href;
    return this.withRetries(href, async () => {
      const res = await this.send(rel, {});
      if (res.statusCode === 404 && opts.optional) {
        res.resume();
        return null;
      }
      if (res.statusCode !== 200) throw this.statusError(res, href);
      return this.readBody(res, href, opts.maxSize ?? 128 * 1024 * 1024);
    });
  }

  async getConditional(rel: string, etag: string | null, lastModified: string | null): Promise<ConditionalResult> {
    const href = this.urlOf(rel).href;
    return this.withRetries(href, async () => {
      const h: Record<string, string> = {};
      if (etag) h['if-none-match'] = etag;
      if (lastModified) h['if-modified-since'] = lastModified;
      const res = await this.send(rel, h);
      const meta = { etag: (res.headers.etag as string | undefined) ?? null, lastModified: (res.headers['last-modified'] as string | undefined) ?? null };
      if (res.statusCode === 304 || res.statusCode === 404) {
        res.resume();
        return { status: res.statusCode, bytes: null, ...meta };
      }
      if (res.statusCode !== 200) throw this.statusError(res, href);
      return { status: 200 as const, bytes: await this.readBody(res, href, 128 * 1024 * 1024), ...meta };
    });
  }

  async getObject(rel: string, partialPath: string, opts: { optional?: boolean; maybePartial?: boolean } = {}): Promise<Fetched | null> {
    const href = this.urlOf(rel).href;
    let first = true;
    return this.withRetries(href, async () => {
      // Only a retry, or a caller that saw a partial file, needs the stat: most objects have none.
      const have = first && !opts.maybePartial ? -1 : await stat(partialPath).then((s) => s.size, () => -1);
      first = false;
      const res = await this.send(rel, have > 0 ? { range: `bytes=${have}-` } : {});
      const code = res.statusCode ?? 0;
      if (code === 404 && opts.optional) {
        res.resume();
        return null;
      }
      if (code === 416 && have > 0) {
        // The partial file already holds every byte; verification decides whether it is right.
        res.resume();
        return { path: partialPath, owned: true };
      }
      if (code === 206 && have > 0) {
        const cr = /^bytes (\d+)-/.exec(String(res.headers['content-range'] ?? ''));
        if (!cr || Number(cr[1]) !== have) {
          res.resume();
          await rm(partialPath, { force: true });
          throw new TransientError('PULL_NETWORK', `GET ${href}: server answered a Range request with an unexpected Content-Range`);
        }
        await this.streamToFile(res, href, partialPath, true);
        return { path: partialPath, owned: true };
      }
      if (code !== 200) throw this.statusError(res, href);
      const length = Number(res.headers['content-length'] ?? NaN);
      if (have > 0 || (!Number.isNaN(length) && length >= this.partialMin)) {
        await this.streamToFile(res, href, partialPath, false);
        return { path: partialPath, owned: true };
      }
      return { bytes: await this.readBody(res, href, 128 * 1024 * 1024) };
    });
  }

  /** Streams a body into the partial file; what arrived before a failure stays there for a Range retry. */
  private async streamToFile(res: IncomingMessage, href: string, path: string, append: boolean): Promise<void> {
    const out = createWriteStream(path, { flags: append ? 'a' : 'w', mode: 0o644 });
    const done = new Promise<void>((resolve, reject) => {
      out.once('error', reject);
      out.once('close', resolve);
    });
    let failure: unknown = null;
    try {
      for await (const chunk of res) {
        this.opts.onBytes?.((chunk as Buffer).length);
        if (!out.write(chunk)) await new Promise<void>((r) => out.once('drain', () => r()));
      }
    } catch (err) {
      failure = err;
    }
    out.end();
    await done;
    if (failure !== null) throw stalls.get(res) ?? toTransient(failure, href);
    if (!res.complete) throw new TransientError('PULL_NETWORK', `GET ${href}: connection closed before the end of the body`);
  }
}

function toTransient(err: unknown, href: string): Error {
  if (err instanceof UpdaterError) return err;
  const e = err as NodeJS.ErrnoException;
  const code = e?.code ?? '';
  const msg = e?.message ?? String(err);
  return new TransientError('PULL_NETWORK', `GET ${href}: ${msg}${code && !msg.includes(code) ? ` (${code})` : ''}`, {
    cause: err,
    hint: 'check the network and the remote URL; pull again to resume (finished objects are kept)',
  });
}

// ---- file:// ----

class FileTransport implements Transport {
  readonly url: string;
  private readonly root: string;
  private readonly onBytes: (n: number) => void;

  constructor(url: string, opts: TransportOptions) {
    this.url = url;
    this.root = fileURLToPath(url.endsWith('/') ? url : `${url}/`);
    this.onBytes = opts.onBytes ?? (() => {});
  }

  close(): void {}

  private path(rel: string): string {
    return this.root + rel;
  }

  async getBytes(rel: string, opts: { optional?: boolean } = {}): Promise<Buffer | null> {
    try {
      const b = await readFile(this.path(rel));
      this.onBytes(b.length);
      return b;
    } catch (err) {
      if (isErrno(err, 'ENOENT') || isErrno(err, 'ENOTDIR')) {
        if (opts.optional) return null;
        throw new UpdaterError('PULL_NOT_FOUND', `${this.path(rel)} does not exist`, { cause: err });
      }
      throw new UpdaterError('PULL_READ_FAILED', `reading ${this.path(rel)}: ${(err as Error).message}`, { cause: err });
    }
  }

  async getConditional(rel: string): Promise<ConditionalResult> {
    const bytes = await this.getBytes(rel, { optional: true });
    return { status: bytes === null ? 404 : 200, bytes, etag: null, lastModified: null };
  }

  async getObject(rel: string, _partialPath: string, opts: { optional?: boolean } = {}): Promise<Fetched | null> {
    const p = this.path(rel);
    const size = await stat(p).then((s) => s.size, (err) => {
      if (isErrno(err, 'ENOENT') || isErrno(err, 'ENOTDIR')) return -1;
      throw err;
    });
    if (size < 0) {
      if (opts.optional) return null;
      throw new UpdaterError('PULL_NOT_FOUND', `${p} does not exist`);
    }
    // Big local files are verified and copied from where they are, never loaded whole.
    this.onBytes(size);
    if (size >= 16 * 1024 * 1024) return { path: p, owned: false };
    const fh = await open(p, 'r');
    try {
      return { bytes: await fh.readFile() };
    } finally {
      await fh.close();
    }
  }
}
