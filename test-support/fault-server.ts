// A static file server (node:http, 127.0.0.1) for pull tests that can inject
// faults per path: a status code, corrupted or truncated bodies, replaced bodies,
// a connection dropped mid-body, a server that stops sending, or a delay. It
// honours Range requests and logs every request with its Range header.

import { readFile, stat } from 'node:fs/promises';
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { Socket } from 'node:net';
import { join, normalize } from 'node:path';

export type Fault =
  | { kind: 'status'; status: number }
  /** Flip one byte of the body (same length). */
  | { kind: 'corrupt'; at?: number }
  /** Serve only the first `bytes` bytes, as a complete response. */
  | { kind: 'truncate'; bytes: number }
  /** Serve other bytes instead. */
  | { kind: 'replace'; body: Uint8Array }
  /** Announce the full length, send `bytes` bytes, then reset the connection. */
  | { kind: 'drop'; bytes: number }
  /** Announce the full length, send `bytes` bytes, then send nothing more (until stop()). */
  | { kind: 'stall'; bytes: number }
  /** Answer normally after `ms` milliseconds. */
  | { kind: 'delay'; ms: number }
  /** Redirect (302) to `location`. */
  | { kind: 'redirect'; location: string };

export interface FaultRule {
  /** Matches the request path (without the leading '/'): exact string, or a RegExp. */
  match: string | RegExp;
  fault: Fault;
  /** How many requests it applies to (default: all). */
  times?: number;
}

export interface FaultLogEntry {
  path: string;
  status: number;
  range: string;
  /** Body bytes sent. */
  bytes: number;
  fault: Fault['kind'] | null;
}

export interface FaultServer {
  url: string;
  port: number;
  log: FaultLogEntry[];
  /** Adds a rule; earlier rules win. */
  addFault(rule: FaultRule): void;
  clearFaults(): void;
  stop(): Promise<void>;
}

/** Serves `root` at http://127.0.0.1:PORT/. */
export async function startFaultServer(root: string, rules: FaultRule[] = []): Promise<FaultServer> {
  const active = rules.map((r) => ({ ...r, left: r.times ?? Infinity }));
  const log: FaultLogEntry[] = [];
  const sockets = new Set<Socket>();

  const pick = (path: string): Fault | null => {
    for (const r of active) {
      if (r.left <= 0) continue;
      if (typeof r.match === 'string' ? r.match === path : r.match.test(path)) {
        r.left--;
        return r.fault;
      }
    }
    return null;
  };

  const handle = async (req: IncomingMessage, res: ServerResponse): Promise<void> => {
    const path = decodeURIComponent(new URL(req.url ?? '/', 'http://x').pathname).replace(/^\/+/, '');
    const range = String(req.headers.range ?? '');
    const entry: FaultLogEntry = { path, status: 0, range, bytes: 0, fault: null };
    log.push(entry);
    const fault = pick(path);
    entry.fault = fault?.kind ?? null;
    if (fault?.kind === 'delay') await new Promise((r) => setTimeout(r, fault.ms));
    if (fault?.kind === 'redirect') {
      entry.status = 302;
      res.writeHead(302, { location: fault.location, 'content-length': 0 });
      res.end();
      return;
    }
    if (fault?.kind === 'status') {
      entry.status = fault.status;
      res.writeHead(fault.status, { 'content-length': 0 });
      res.end();
      return;
    }
    const file = normalize(join(root, path));
    let body: Buffer;
    try {
      if (!file.startsWith(normalize(root)) || !(await stat(file)).isFile()) throw new Error('not a file');
      body = await readFile(file);
    } catch {
      entry.status = 404;
      res.writeHead(404, { 'content-length': 0 });
      res.end();
      return;
    }
    if (fault?.kind === 'corrupt') {
      body = Buffer.from(body);
      const at = Math.min(fault.at ?? Math.floor(body.length / 2), body.length - 1);
      if (at >= 0) body[at] = body[at]! ^ 0xff;
    } else if (fault?.kind === 'truncate') {
      body = body.subarray(0, fault.bytes);
    } else if (fault?.kind === 'replace') {
      body = Buffer.from(fault.body);
    }
    let status = 200;
    const headers: Record<string, string | number> = { 'content-type': 'application/octet-stream', 'accept-ranges': 'bytes', etag: `"${body.length}"` };
    const m = /^bytes=(\d+)-$/.exec(range);
    if (m) {
      const start = Number(m[1]);
      if (start >= body.length) {
        entry.status = 416;
        res.writeHead(416, { 'content-range': `bytes */${body.length}`, 'content-length': 0 });
        res.end();
        return;
      }
      headers['content-range'] = `bytes ${start}-${body.length - 1}/${body.length}`;
      body = body.subarray(start);
      status = 206;
    }
    headers['content-length'] = body.length;
    entry.status = status;
    res.writeHead(status, headers);
    if (fault?.kind === 'drop' || fault?.kind === 'stall') {
      const part = body.subarray(0, Math.min(fault.bytes, body.length));
      entry.bytes = part.length;
      res.write(part, () => {
        if (fault.kind === 'drop') setTimeout(() => req.socket.destroy(), 20);
      });
      return; // a stalled response is never ended; stop() closes it
    }
    entry.bytes = body.length;
    res.end(req.method === 'HEAD' ? undefined : body);
  };

  const server = createServer((req, res) => {
    handle(req, res).catch(() => res.destroy());
  });
  server.on('connection', (s) => {
    sockets.add(s);
    s.on('close', () => sockets.delete(s));
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const addr = server.address();
  const port = typeof addr === 'object' && addr ? addr.port : 0;
  return {
    url: `http://127.0.0.1:${port}/`,
    port,
    log,
    addFault(rule) {
      active.push({ ...rule, left: rule.times ?? Infinity });
    },
    clearFaults() {
      active.length = 0;
    },
    async stop() {
      for (const s of sockets) s.destroy();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}
