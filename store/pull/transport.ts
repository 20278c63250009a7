// Fetching files of a remote repository: http(s) over persistent, pipelined
// connections (./http1.ts) with retries, backoff, a stall timeout and Range
// resume of large downloads;
// file:// by reading the files. A 404 is "absent" for optional files (ostree-format.md §7).

import { closeSync, openSync } from 'node:fs';
import { open, readFile, rm, stat } from 'node:fs/promises';
import { fileURLToPath } from 'node:url';
import { isErrno, UpdaterError } from '../../common/errors.ts';
import { Http1Client, HttpError, HttpTooLarge, type BodySink, type HttpHead, type HttpResult } from './http1.ts';

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
  /** Parallel connections per server (default 4). */
  connections?: number;
  /** Requests pipelined on one connection (default 8; 1 turns pipelining off). */
  pipelineDepth?: number;
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

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

/** Opens a transport for `http://`, `https://` or `file://` URLs. */
export function openTransport(url: string, opts: TransportOptions = {}): Transport {
  if (/^https?:\/\//i.test(url)) return new HttpTransport(url, opts);
  if (/^file:\/\//i.test(url)) return new FileTransport(url, opts);
  throw new UpdaterError('PULL_UNSUPPORTED_URL', `unsupported remote URL '${url}'`, { hint: 'use an http://, https:// or file:// URL' });
}

const REDIRECTS = new Set([301, 302, 303, 307, 308]);
const MAX_IN_MEMORY = 128 * 1024 * 1024;
const USER_AGENT = 'atomic-pull';

// ---- http(s) ----

class HttpTransport implements Transport {
  readonly url: string;
  private readonly base: URL;
  private readonly clients = new Map<string, Http1Client>();
  private readonly stallMs: number;
  private readonly retries: number;
  private readonly retryBase: number;
  private readonly partialMin: number;
  private readonly opts: TransportOptions;

  constructor(url: string, opts: TransportOptions) {
    this.url = url;
    this.base = new URL(url.endsWith('/') ? url : `${url}/`);
    this.stallMs = opts.stallTimeoutMs ?? 30_000;
    this.retries = opts.retries ?? 5;
    this.retryBase = opts.retryBaseMs ?? 250;
    this.partialMin = opts.partialMinBytes ?? 1024 * 1024;
    this.opts = opts;
  }

  close(): void {
    for (const c of this.clients.values()) c.close();
    this.clients.clear();
  }

  private urlOf(rel: string): URL {
    return new URL(rel, this.base);
  }

  /** The connection pool of `u`'s origin (a redirect may lead to another). */
  private client(u: URL): Http1Client {
    let c = this.clients.get(u.origin);
    if (!c) {
      c = new Http1Client(new URL(u.origin), {
        connections: this.opts.connections,
        pipeline: this.opts.pipelineDepth,
        stallMs: this.stallMs,
        headers: { 'user-agent': USER_AGENT, ...this.opts.headers },
        onBytes: this.opts.onBytes,
      });
      this.clients.set(u.origin, c);
    }
    return c;
  }

  /**
   * One GET, following redirects (a CDN, a moved repo) as libcurl does, up to 5 hops.
   * `onHead` chooses where the final response's body goes.
   */
  private async send(rel: string, headers: Record<string, string>, onHead: (h: HttpHead) => BodySink): Promise<{ href: string; res: HttpResult }> {
    let u = this.urlOf(rel);
    for (let hop = 0; ; hop++) {
      let next: string | null = null;
      const res = await this.client(u)
        .get(u.pathname + u.search, headers, (h) => {
          const loc = h.headers.get('location');
          if (REDIRECTS.has(h.status) && loc && hop < 5) {
            next = loc;
            return { discard: true };
          }
          return onHead(h);
        })
        .catch((err: unknown) => {
          throw this.networkError(err, u.href);
        });
      if (next === null) return { href: u.href, res };
      u = new URL(next, u);
    }
  }

  private networkError(err: unknown, href: string): Error {
    if (err instanceof HttpError && err.code === 'ESTALLED') {
      return new TransientError('PULL_STALLED', `GET ${href}: no data received for ${this.stallMs / 1000} s`, {
        hint: 'the server or network stopped sending; check connectivity and pull again (finished objects are kept)',
      });
    }
    if (err instanceof HttpTooLarge) return new UpdaterError('PULL_TOO_LARGE', `GET ${href}: ${err.message}`);
    return toTransient(err, href);
  }

  private statusError(head: HttpHead, href: string): UpdaterError {
    const code = head.status;
    const msg = `GET ${href}: HTTP ${code} ${head.reason}`.trimEnd();
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

  async getBytes(rel: string, opts: { optional?: boolean; maxSize?: number } = {}): Promise<Buffer | null> {
    const href = this.urlOf(rel).href;
    const maxSize = opts.maxSize ?? MAX_IN_MEMORY;
    return this.withRetries(href, async () => {
      const { href: at, res } = await this.send(rel, {}, (h) => (h.status === 200 ? { maxSize } : { discard: true }));
      if (res.head.status === 404 && opts.optional) return null;
      if (res.head.status !== 200) throw this.statusError(res.head, at);
      return res.body!;
    });
  }

  async getConditional(rel: string, etag: string | null, lastModified: string | null): Promise<ConditionalResult> {
    const href = this.urlOf(rel).href;
    return this.withRetries(href, async () => {
      const h: Record<string, string> = {};
      if (etag) h['if-none-match'] = etag;
      if (lastModified) h['if-modified-since'] = lastModified;
      const { href: at, res } = await this.send(rel, h, (hd) => (hd.status === 200 ? { maxSize: MAX_IN_MEMORY } : { discard: true }));
      const status = res.head.status;
      const meta = { etag: res.head.headers.get('etag') ?? null, lastModified: res.head.headers.get('last-modified') ?? null };
      if (status === 304 || status === 404) return { status, bytes: null, ...meta };
      if (status !== 200) throw this.statusError(res.head, at);
      return { status: 200 as const, bytes: res.body, ...meta };
    });
  }

  async getObject(rel: string, partialPath: string, opts: { optional?: boolean; maybePartial?: boolean } = {}): Promise<Fetched | null> {
    const href = this.urlOf(rel).href;
    let first = true;
    return this.withRetries(href, async () => {
      // Only a retry, or a caller that saw a partial file, needs the stat: most objects have none.
      const have = first && !opts.maybePartial ? -1 : await stat(partialPath).then((s) => s.size, () => -1);
      first = false;
      let fd: number | null = null;
      let badRange = false;
      // Large bodies, and the rest of a resumed one, go to the partial file as they arrive,
      // so what came before a failure is kept for the next Range request.
      const onHead = (h: HttpHead): BodySink => {
        if (h.status === 206 && have > 0) {
          const cr = /^bytes (\d+)-/.exec(h.headers.get('content-range') ?? '');
          if (!cr || Number(cr[1]) !== have) {
            badRange = true;
            return { discard: true };
          }
          fd = openSync(partialPath, 'a', 0o644);
          return { fd };
        }
        if (h.status !== 200) return { discard: true };
        const length = Number(h.headers.get('content-length') ?? NaN);
        if (have > 0 || (!Number.isNaN(length) && length >= this.partialMin)) {
          fd = openSync(partialPath, 'w', 0o644);
          return { fd };
        }
        return { maxSize: MAX_IN_MEMORY };
      };
      let got: { href: string; res: HttpResult };
      try {
        got = await this.send(rel, have > 0 ? { range: `bytes=${have}-` } : {}, onHead);
      } finally {
        if (fd !== null) closeSync(fd);
      }
      const { href: at, res } = got;
      const code = res.head.status;
      if (code === 404 && opts.optional) return null;
      // 416 on a resume: the partial file already holds every byte; verification decides whether it is right.
      if (code === 416 && have > 0) return { path: partialPath, owned: true };
      if (badRange) {
        await rm(partialPath, { force: true });
        throw new TransientError('PULL_NETWORK', `GET ${at}: server answered a Range request with an unexpected Content-Range`);
      }
      if (code !== 200 && !(code === 206 && have > 0)) throw this.statusError(res.head, at);
      if (fd !== null) return { path: partialPath, owned: true };
      return { bytes: res.body! };
    });
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
