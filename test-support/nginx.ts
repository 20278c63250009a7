// A real nginx (Debian's) serving a directory on 127.0.0.1 for tests, with an
// access log that records each request, its status, the bytes sent and the
// Range header, so tests can see what went over the wire.

import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdir, readFile, writeFile } from 'node:fs/promises';
import { createServer } from 'node:net';
import { join } from 'node:path';

export const NGINX_BIN = ['/usr/sbin/nginx', '/usr/bin/nginx'].find((p) => existsSync(p));

export interface AccessLogEntry {
  method: string;
  path: string;
  status: number;
  bytes: number;
  range: string;
}

export interface NginxServer {
  url: string;
  port: number;
  /** Requests served so far, oldest first (read from the access log). */
  accessLog(): Promise<AccessLogEntry[]>;
  stop(): Promise<void>;
}

async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = createServer();
    srv.once('error', reject);
    srv.listen(0, '127.0.0.1', () => {
      const addr = srv.address();
      srv.close(() => (typeof addr === 'object' && addr ? resolve(addr.port) : reject(new Error('no port'))));
    });
  });
}

/** Starts nginx serving `root` at http://127.0.0.1:PORT/; `work` holds its config and logs. */
export async function startNginx(root: string, work: string): Promise<NginxServer> {
  if (!NGINX_BIN) throw new Error('nginx is not installed');
  await mkdir(join(work, 'tmp'), { recursive: true });
  const port = await freePort();
  const log = join(work, 'access.log');
  const conf = join(work, 'nginx.conf');
  const user = process.getuid?.() === 0 ? 'user root;' : '';
  await writeFile(conf, `${user}
daemon off;
master_process off;
worker_processes 1;
pid ${join(work, 'nginx.pid')};
error_log ${join(work, 'error.log')} warn;
events { worker_connections 256; }
http {
  log_format t '$request_method $uri $status $body_bytes_sent "$http_range"';
  access_log ${log} t;
  client_body_temp_path ${join(work, 'tmp')};
  proxy_temp_path ${join(work, 'tmp')};
  fastcgi_temp_path ${join(work, 'tmp')};
  uwsgi_temp_path ${join(work, 'tmp')};
  scgi_temp_path ${join(work, 'tmp')};
  default_type application/octet-stream;
  sendfile on;
  server {
    listen 127.0.0.1:${port};
    root ${root};
    autoindex off;
  }
}
`);
  await writeFile(log, '');
  const child: ChildProcess = spawn(NGINX_BIN, ['-c', conf, '-p', work], { stdio: ['ignore', 'ignore', 'pipe'] });
  let stderr = '';
  child.stderr?.on('data', (d) => (stderr += d));
  // Wait until it accepts connections.
  const deadline = Date.now() + 10_000;
  for (;;) {
    if (child.exitCode !== null) throw new Error(`nginx exited ${child.exitCode}: ${stderr}`);
    try {
      const res = await fetch(`http://127.0.0.1:${port}/`, { signal: AbortSignal.timeout(500) });
      await res.arrayBuffer();
      break;
    } catch {
      if (Date.now() > deadline) {
        child.kill('SIGKILL');
        throw new Error(`nginx did not start: ${stderr}`);
      }
      await new Promise((r) => setTimeout(r, 50));
    }
  }
  await writeFile(log, ''); // forget the readiness probes
  return {
    url: `http://127.0.0.1:${port}`,
    port,
    async accessLog() {
      const text = await readFile(log, 'utf8');
      return text.split('\n').filter(Boolean).map((line) => {
        const m = /^(\S+) (\S+) (\d+) (\d+) "(.*)"$/.exec(line);
        if (!m) throw new Error(`unparsed nginx log line: ${line}`);
        return { method: m[1]!, path: m[2]!, status: Number(m[3]), bytes: Number(m[4]), range: m[5] === '-' ? '' : m[5]! };
      });
    },
    async stop() {
      if (child.exitCode !== null) return;
      const exited = new Promise((r) => child.once('exit', r));
      child.kill('SIGQUIT');
      await Promise.race([exited, new Promise((r) => setTimeout(r, 3000))]);
      if (child.exitCode === null) child.kill('SIGKILL');
    },
  };
}
