// A small HTTP/1.1 client for pulls: persistent connections with requests
// pipelined on each (RFC 9112 §9.3.2), so thousands of small object GETs cost a
// few socket writes and reads rather than a request/response object pair each.
// GET only (idempotent, so requests a connection never answered are re-sent on
// another one). Bodies framed by Content-Length, chunked transfer coding, or the
// end of the connection. Each response body goes where the caller says once the
// status line and headers are in: memory, a file descriptor, or nowhere.

import { writeSync } from 'node:fs';
import { connect as netConnect, type Socket } from 'node:net';
import { connect as tlsConnect } from 'node:tls';

export interface HttpHead {
  status: number;
  reason: string;
  /** Header names lower-cased; repeated headers joined with ", ". */
  headers: Map<string, string>;
}

/** Where a response body goes. `fd` bodies are written as they arrive, so a failure keeps what came. */
export type BodySink = { discard: true } | { maxSize: number } | { fd: number };

export interface HttpResult {
  head: HttpHead;
  /** The body, for a `maxSize` sink; null otherwise. */
  body: Buffer | null;
  /** Body bytes received. */
  received: number;
}

/** A network failure of one request: `code` is a Node errno-style code (ECONNRESET, ESTALLED, …). */
export class HttpError extends Error {
  readonly code: string;
  constructor(code: string, message: string) {
    super(message);
    this.code = code;
  }
}

/** A body larger than its sink's `maxSize`. */
export class HttpTooLarge extends Error {}

export interface Http1Options {
  /** Parallel connections (default 4). */
  connections?: number;
  /** Requests in flight on one connection (default 8; 1 turns pipelining off). */
  pipeline?: number;
  /** A connection with requests outstanding that receives nothing for this long fails (ESTALLED). */
  stallMs: number;
  /** Headers sent with every request. */
  headers?: Record<string, string>;
  /** Counts body bytes as they arrive. */
  onBytes?: (n: number) => void;
}

interface Request {
  path: string;
  headerText: string;
  onHead: (h: HttpHead) => BodySink;
  resolve: (r: HttpResult) => void;
  reject: (e: Error) => void;
  /** Times it was re-sent because its connection closed before answering. */
  requeues: number;
}

const MAX_HEAD = 64 * 1024;
const MAX_REQUEUES = 3;

/** One client per origin (scheme, host, port). */
export class Http1Client {
  private readonly url: URL;
  private readonly opts: Http1Options;
  private readonly maxConns: number;
  private depth: number;
  private readonly conns = new Set<Connection>();
  private readonly waiting: Request[] = [];
  private closed = false;
  readonly hostHeader: string;

  constructor(origin: URL, opts: Http1Options) {
    this.url = origin;
    this.opts = opts;
    this.maxConns = Math.max(1, opts.connections ?? 4);
    this.depth = Math.max(1, opts.pipeline ?? 8);
    this.hostHeader = origin.host;
  }

  /** GETs `path` (absolute path plus query). `onHead` picks the body's sink once the head is in. */
  get(path: string, headers: Record<string, string>, onHead: (h: HttpHead) => BodySink): Promise<HttpResult> {
    if (this.closed) return Promise.reject(new HttpError('ECLOSED', 'client closed'));
    let text = `GET ${path} HTTP/1.1\r\nHost: ${this.hostHeader}\r\n`;
    const all = { ...this.opts.headers, ...headers };
    for (const [k, v] of Object.entries(all)) {
      if (/[\r\n]/.test(k) || /[\r\n]/.test(v)) throw new HttpError('EINVAL', `header ${k} holds a line break`);
      text += `${k}: ${v}\r\n`;
    }
    return new Promise<HttpResult>((resolve, reject) => {
      this.dispatch({ path, headerText: `${text}\r\n`, onHead, resolve, reject, requeues: 0 });
    });
  }

  close(): void {
    this.closed = true;
    for (const c of this.conns) c.destroy(new HttpError('ECLOSED', 'client closed'), false);
    for (const r of this.waiting.splice(0)) r.reject(new HttpError('ECLOSED', 'client closed'));
  }

  private dispatch(r: Request): void {
    let best: Connection | null = null;
    for (const c of this.conns) {
      if (!c.accepting() || c.outstanding() >= this.depth) continue;
      if (best === null || c.outstanding() < best.outstanding()) best = c;
    }
    // A fresh connection beats queueing behind others' responses.
    if ((best === null || best.outstanding() > 0) && this.conns.size < this.maxConns) best = this.open();
    if (best === null) {
      this.waiting.push(r);
      return;
    }
    best.send(r);
  }

  private open(): Connection {
    const c = new Connection(this, this.url, this.opts);
    this.conns.add(c);
    return c;
  }

  /** A connection has room again (a response finished). */
  ready(): void {
    while (this.waiting.length > 0) {
      const before = this.waiting.length;
      const r = this.waiting.shift()!;
      this.dispatch(r);
      if (this.waiting.length >= before) break; // went back to the queue: nothing has room
    }
  }

  /** A connection is gone; requests it never answered go elsewhere. */
  gone(c: Connection, unanswered: Request[], err: Error, announced: boolean): void {
    this.conns.delete(c);
    // A server that closes with pipelined requests unanswered, without saying it would:
    // from now on one request at a time per connection.
    if (!announced && unanswered.length > 1 && c.connected) this.depth = 1;
    for (const r of unanswered) {
      if (this.closed || !c.connected || ++r.requeues > MAX_REQUEUES) r.reject(err);
      else this.dispatch(r);
    }
    this.ready();
  }
}

type BodyMode = 'none' | 'length' | 'chunked' | 'close';

class Connection {
  private readonly client: Http1Client;
  private readonly socket: Socket;
  private readonly opts: Http1Options;
  private readonly queue: Request[] = [];
  private buf: Buffer | null = null;
  private dead = false;
  private closing = false;
  private corked = false;
  connected = false;

  // Parser state of the response at the head of the queue.
  private head: HttpHead | null = null;
  private sink: BodySink | null = null;
  private mode: BodyMode = 'none';
  /** Bytes left in the body (length mode) or the current chunk (chunked mode). */
  private left = 0;
  /** Chunked: 'size' (expecting a size line), 'data', 'crlf' (after data), 'trailer'. */
  private chunkState: 'size' | 'data' | 'crlf' | 'trailer' = 'size';
  private chunks: Buffer[] = [];
  private received = 0;

  constructor(client: Http1Client, url: URL, opts: Http1Options) {
    this.client = client;
    this.opts = opts;
    const port = Number(url.port || (url.protocol === 'https:' ? 443 : 80));
    const host = url.hostname.replace(/^\[|\]$/g, '');
    this.socket = url.protocol === 'https:'
      ? tlsConnect({ host, port, servername: /^[\d.]+$|:/.test(host) ? undefined : host, ALPNProtocols: ['http/1.1'] })
      : netConnect({ host, port });
    this.socket.setNoDelay(true);
    this.socket.once(url.protocol === 'https:' ? 'secureConnect' : 'connect', () => {
      this.connected = true;
    });
    this.socket.on('data', (d: Buffer) => this.onData(d));
    // A reset before any byte of a response lets its request go again (as after a close);
    // a failure to connect fails them all (the caller retries with backoff).
    this.socket.on('error', (e: NodeJS.ErrnoException) => this.destroy(new HttpError(e.code ?? 'EIO', e.message), true, !this.connected || !this.untouched()));
    this.socket.on('end', () => this.onEnd());
    this.socket.on('close', () => this.destroy(new HttpError('ECONNRESET', 'connection closed'), true, !this.untouched()));
    this.socket.setTimeout(opts.stallMs, () => {
      if (this.queue.length > 0) this.destroy(new HttpError('ESTALLED', `no data received for ${opts.stallMs / 1000} s`), true);
    });
  }

  outstanding(): number {
    return this.queue.length;
  }

  accepting(): boolean {
    return !this.dead && !this.closing;
  }

  send(r: Request): void {
    this.queue.push(r);
    // Requests issued in the same tick leave in one write.
    if (!this.corked) {
      this.corked = true;
      this.socket.cork();
      process.nextTick(() => {
        this.corked = false;
        this.socket.uncork();
      });
    }
    this.socket.write(r.headerText);
  }

  /**
   * Ends the connection: the request at the head of the queue (the one being
   * answered or waited for) fails with `err`, unless `blameHead` is false (the
   * server announced the close); the others go back to the client.
   */
  destroy(err: Error, notify: boolean, blameHead = true): void {
    if (this.dead) return;
    this.dead = true;
    this.socket.destroy();
    const q = this.queue.splice(0);
    const current = blameHead ? q.shift() : undefined;
    if (current) current.reject(err);
    if (notify) this.client.gone(this, q, err, !blameHead && this.closing);
    else for (const r of q) r.reject(err);
  }

  /** Nothing of the response to the oldest request has arrived (a GET may then be sent again). */
  private untouched(): boolean {
    return this.head === null && this.buf === null;
  }

  private onEnd(): void {
    // A close-delimited body ends here; anything else outstanding was cut short.
    if (this.head !== null && this.mode === 'close') {
      this.finish(); // destroys the connection: close-delimited bodies set `closing`
      return;
    }
    if (this.head !== null && this.mode === 'length') {
      this.destroy(new HttpError('ECONNRESET', `connection closed after ${this.received} of ${this.received + this.left} bytes`), true);
      return;
    }
    // Closed between responses: requests sent and not yet answered are sent again elsewhere.
    this.destroy(new HttpError('ECONNRESET', 'connection closed by the server'), true, !this.untouched());
  }

  private onData(d: Buffer): void {
    if (this.dead) return;
    let data: Buffer = this.buf === null ? d : Buffer.concat([this.buf, d]);
    this.buf = null;
    try {
      while (data.length > 0 && !this.dead) {
        if (this.head === null) {
          if (this.queue.length === 0) throw new HttpError('EPROTO', 'the server sent data nobody asked for');
          const end = data.indexOf('\r\n\r\n');
          if (end < 0) {
            if (data.length > MAX_HEAD) throw new HttpError('EPROTO', 'response head too large');
            this.buf = data;
            return;
          }
          this.startResponse(data.subarray(0, end).toString('latin1'));
          data = data.subarray(end + 4);
          if (this.mode === 'none') this.finish();
          continue;
        }
        data = this.body(data);
      }
    } catch (err) {
      this.destroy(err instanceof Error ? err : new Error(String(err)), true);
    }
  }

  private startResponse(text: string): void {
    const lines = text.split('\r\n');
    const m = /^HTTP\/1\.([01]) (\d{3})(?: (.*))?$/.exec(lines[0] ?? '');
    if (!m) throw new HttpError('EPROTO', `malformed status line ${JSON.stringify((lines[0] ?? '').slice(0, 80))}`);
    const headers = new Map<string, string>();
    for (let i = 1; i < lines.length; i++) {
      const line = lines[i]!;
      const colon = line.indexOf(':');
      if (colon <= 0) throw new HttpError('EPROTO', `malformed header line ${JSON.stringify(line.slice(0, 80))}`);
      const k = line.slice(0, colon).trim().toLowerCase();
      const v = line.slice(colon + 1).trim();
      const prev = headers.get(k);
      headers.set(k, prev === undefined ? v : `${prev}, ${v}`);
    }
    const status = Number(m[2]);
    const conn = (headers.get('connection') ?? '').toLowerCase();
    if (conn.includes('close') || (m[1] === '0' && !conn.includes('keep-alive'))) this.closing = true;
    if (status >= 100 && status < 200) {
      // Interim response (100 Continue, 103 Early Hints): the real one follows.
      this.head = null;
      return;
    }
    this.head = { status, reason: m[3] ?? '', headers };
    this.received = 0;
    this.chunks = [];
    const te = headers.get('transfer-encoding');
    const cl = headers.get('content-length');
    if (status === 204 || status === 304) this.mode = 'none';
    else if (te !== undefined && /(^|,)\s*chunked\s*$/i.test(te)) {
      this.mode = 'chunked';
      this.chunkState = 'size';
    } else if (cl !== undefined) {
      if (!/^\d+$/.test(cl)) throw new HttpError('EPROTO', `malformed Content-Length ${JSON.stringify(cl)}`);
      this.left = Number(cl);
      this.mode = this.left === 0 ? 'none' : 'length';
    } else {
      this.mode = 'close';
      this.closing = true;
    }
    this.sink = this.queue[0]!.onHead(this.head);
  }

  /** Consumes body bytes from `data`; returns what follows the body. */
  private body(data: Buffer): Buffer {
    if (this.mode === 'close') {
      this.deliver(data);
      return data.subarray(data.length);
    }
    if (this.mode === 'length') {
      const n = Math.min(this.left, data.length);
      this.deliver(data.subarray(0, n));
      this.left -= n;
      if (this.left === 0) this.finish();
      return data.subarray(n);
    }
    // chunked
    for (;;) {
      if (this.chunkState === 'data') {
        const n = Math.min(this.left, data.length);
        if (n > 0) this.deliver(data.subarray(0, n));
        this.left -= n;
        data = data.subarray(n);
        if (this.left > 0) return data;
        this.chunkState = 'crlf';
      }
      const eol = data.indexOf('\r\n');
      if (eol < 0) {
        if (data.length > MAX_HEAD) throw new HttpError('EPROTO', 'malformed chunked body');
        this.buf = data.length > 0 ? Buffer.from(data) : null;
        return data.subarray(data.length);
      }
      const line = data.subarray(0, eol).toString('latin1');
      data = data.subarray(eol + 2);
      if (this.chunkState === 'crlf') {
        if (line !== '') throw new HttpError('EPROTO', 'malformed chunked body');
        this.chunkState = 'size';
      } else if (this.chunkState === 'size') {
        const m = /^([0-9a-fA-F]{1,12})(?:\s*;.*)?$/.exec(line);
        if (!m) throw new HttpError('EPROTO', `malformed chunk size ${JSON.stringify(line.slice(0, 40))}`);
        this.left = parseInt(m[1]!, 16);
        this.chunkState = this.left === 0 ? 'trailer' : 'data';
      } else if (line === '') {
        this.finish(); // end of trailers
        return data;
      }
    }
  }

  private deliver(b: Buffer): void {
    if (b.length === 0) return;
    this.received += b.length;
    this.opts.onBytes?.(b.length);
    const s = this.sink!;
    if ('fd' in s) {
      let off = 0;
      while (off < b.length) off += writeSync(s.fd, b, off, b.length - off);
    } else if ('maxSize' in s) {
      if (this.received > s.maxSize) throw new HttpTooLarge(`response exceeds ${s.maxSize} bytes`);
      this.chunks.push(b);
    }
  }

  private finish(): void {
    const r = this.queue.shift()!;
    const s = this.sink!;
    const body = 'maxSize' in s ? (this.chunks.length === 1 ? Buffer.from(this.chunks[0]!) : Buffer.concat(this.chunks, this.received)) : null;
    const result: HttpResult = { head: this.head!, body, received: this.received };
    this.head = null;
    this.sink = null;
    this.chunks = [];
    r.resolve(result);
    if (this.closing) {
      // The server ends the connection after this response: the rest go elsewhere.
      this.destroy(new HttpError('ECONNRESET', 'connection closed by the server'), true, false);
      return;
    }
    this.client.ready();
  }
}
