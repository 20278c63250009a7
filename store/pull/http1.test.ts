// The pull's HTTP/1.1 client against servers that frame bodies every way HTTP/1.1
// allows and end connections in the middle of a pipeline: raw sockets, so each
// byte on the wire is the test's choice. (nginx and the fault server cover the rest
// in the pull tests.)

import { createServer, type Server, type Socket } from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import { Http1Client, HttpError, HttpTooLarge } from './http1.ts';

interface Raw {
  url: URL;
  server: Server;
  /** Request lines received, in order, over all connections. */
  requests: string[];
  connections: number;
}

/**
 * A server that calls `answer(path, n, socket)` for each request it parses (n counts
 * requests on that connection from 1); `answer` writes whatever bytes it likes.
 */
async function rawServer(answer: (path: string, n: number, s: Socket) => void): Promise<Raw> {
  const raw: Raw = { url: new URL('http://127.0.0.1/'), server: createServer(), requests: [], connections: 0 };
  raw.server.on('connection', (s) => {
    raw.connections++;
    let buf = '';
    let n = 0;
    s.on('error', () => {});
    s.on('data', (d) => {
      buf += d.toString('latin1');
      for (let end = buf.indexOf('\r\n\r\n'); end >= 0; end = buf.indexOf('\r\n\r\n')) {
        const head = buf.slice(0, end);
        buf = buf.slice(end + 4);
        const line = head.split('\r\n')[0]!;
        raw.requests.push(line);
        if (!s.destroyed) answer(line.split(' ')[1]!, ++n, s);
      }
    });
  });
  await new Promise<void>((r) => raw.server.listen(0, '127.0.0.1', r));
  const addr = raw.server.address();
  raw.url = new URL(`http://127.0.0.1:${typeof addr === 'object' && addr ? addr.port : 0}/`);
  return raw;
}

const ok = (body: string, extra = ''): string => `HTTP/1.1 200 OK\r\nContent-Length: ${Buffer.byteLength(body)}\r\n${extra}\r\n${body}`;

describe('HTTP/1.1 client', () => {
  let srv: Raw | null = null;
  let client: Http1Client | null = null;
  afterEach(async () => {
    client?.close();
    client = null;
    if (srv) await new Promise<void>((r) => srv!.server.close(() => r()));
    srv = null;
  });

  const get = (path: string, headers: Record<string, string> = {}) =>
    client!.get(path, headers, (h) => (h.status === 200 ? { maxSize: 1 << 20 } : { discard: true }));

  it('reads Content-Length, chunked (with extensions and trailers) and close-delimited bodies', async () => {
    srv = await rawServer((path, _n, s) => {
      if (path === '/length') s.write(ok('plain body'));
      else if (path === '/chunked') {
        // Split mid-chunk-size and mid-CRLF across writes.
        const parts = ['HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhel', 'lo\r\n', '1', '0;ext=1\r\n0123456789abcdef\r', '\n0\r\nX-Trailer: y\r\n\r\n'];
        parts.forEach((p, i) => setTimeout(() => s.write(p), i * 5));
      } else if (path === '/close') {
        s.end('HTTP/1.0 200 OK\r\n\r\nuntil the end');
      }
    });
    client = new Http1Client(srv.url, { stallMs: 5000, connections: 1, pipeline: 8 });
    const [a, b] = await Promise.all([get('/length'), get('/chunked')]);
    expect(a.body!.toString()).toBe('plain body');
    expect(b.body!.toString()).toBe('hello0123456789abcdef');
    expect(b.received).toBe(21);
    expect(srv.connections).toBe(1); // both on one connection, pipelined
    const c = await get('/close');
    expect(c.body!.toString()).toBe('until the end');
    expect(c.head.status).toBe(200);
  });

  it('re-sends requests a connection never answered when the server announces Connection: close', async () => {
    // Like nginx's keepalive_requests: the third response on a connection says close.
    srv = await rawServer((path, n, s) => {
      if (n < 3) s.write(ok(path));
      else s.end(ok(path, 'Connection: close\r\n'));
    });
    client = new Http1Client(srv.url, { stallMs: 5000, connections: 2, pipeline: 8 });
    const paths = Array.from({ length: 40 }, (_, i) => `/o${i}`);
    const got = await Promise.all(paths.map((p) => get(p)));
    expect(got.map((r) => r.body!.toString())).toEqual(paths);
    expect(srv.connections).toBeGreaterThanOrEqual(14); // 3 answers per connection
  });

  it('stops pipelining when a server closes without answering pipelined requests', async () => {
    // Answers the first request on a connection, then closes without a word.
    srv = await rawServer((path, n, s) => {
      if (n === 1) s.end(ok(path));
    });
    client = new Http1Client(srv.url, { stallMs: 5000, connections: 2, pipeline: 8 });
    const paths = Array.from({ length: 10 }, (_, i) => `/p${i}`);
    const got = await Promise.all(paths.map((p) => get(p)));
    expect(got.map((r) => r.body!.toString())).toEqual(paths);
  });

  it('fails the request being answered when the connection drops mid-body; fd sinks keep what arrived', async () => {
    srv = await rawServer((_path, _n, s) => {
      s.write('HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\n0123456789');
      setTimeout(() => s.destroy(), 20);
    });
    client = new Http1Client(srv.url, { stallMs: 5000, connections: 1 });
    const err = await get('/x').catch((e: unknown) => e);
    expect(err).toBeInstanceOf(HttpError);
    expect((err as HttpError).code).toBe('ECONNRESET');
    expect((err as HttpError).message).toMatch(/after 10 of 100 bytes/);
  });

  it('trips the stall timeout when bytes stop coming', async () => {
    srv = await rawServer((_path, _n, s) => s.write('HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\n01234'));
    client = new Http1Client(srv.url, { stallMs: 300, connections: 1 });
    const t0 = Date.now();
    const err = await get('/x').catch((e: unknown) => e);
    expect((err as HttpError).code).toBe('ESTALLED');
    expect(Date.now() - t0).toBeGreaterThanOrEqual(250);
  });

  it('refuses a body over its sink\'s limit, and malformed responses', async () => {
    srv = await rawServer((path, _n, s) => {
      if (path === '/big') s.write(ok('x'.repeat(5000)));
      else s.write('HTTP/1.1 200 OK\r\nContent-Length: ten\r\n\r\n');
    });
    client = new Http1Client(srv.url, { stallMs: 5000, connections: 1 });
    await expect(client.get('/big', {}, () => ({ maxSize: 1000 }))).rejects.toBeInstanceOf(HttpTooLarge);
    await expect(get('/bad')).rejects.toThrow(/malformed Content-Length/);
  });

  it('sends the given headers and refuses header values with line breaks', async () => {
    let seen = '';
    srv = await rawServer((path, _n, s) => s.write(ok(path)));
    srv.server.on('connection', (s) => s.on('data', (d) => (seen += d.toString())));
    client = new Http1Client(srv.url, { stallMs: 5000, headers: { 'user-agent': 'test-agent' } });
    await get('/h', { range: 'bytes=5-' });
    expect(seen).toMatch(/^GET \/h HTTP\/1\.1\r\nHost: 127\.0\.0\.1:\d+\r\nuser-agent: test-agent\r\nrange: bytes=5-\r\n\r\n$/);
    expect(() => client!.get('/h', { x: 'a\r\nb' }, () => ({ discard: true }))).toThrow(/line break/);
  });
});
