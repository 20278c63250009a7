// The bubblewrap sandbox and the scriptlet runner on a tiny busybox root: isolation (no
// network, own pid namespace, nothing of the host outside the tree), writes landing in the
// tree, failures naming the package and scriptlet, timeouts killing the whole sandbox.

import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { mkdir, readFile, rename, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { have, isRoot, makeTmp, removeTmp } from '../../test-support/index.ts';
import { isUpdaterError } from '../../common/errors.ts';
import { runSandboxed, runScriptlet, runScriptletPhases, type ScriptletPackage } from './index.ts';
import { HOST_BUSYBOX, makeBusyboxRoot } from './testing.ts';

async function errorOfAsync(p: Promise<unknown>): Promise<{ code: string; message: string }> {
  try {
    await p;
  } catch (err) {
    if (isUpdaterError(err)) return { code: err.code, message: err.message };
    throw err;
  }
  throw new Error('expected an error');
}

describe.skipIf(!have('bwrap') || !isRoot || !existsSync(HOST_BUSYBOX))('sandbox (bwrap)', () => {
  let tmp: string;
  let root: string;
  beforeEach(async () => {
    tmp = await makeTmp('atomic-sandbox-');
    root = join(tmp, 'root');
    await makeBusyboxRoot(root);
  });
  afterEach(async () => {
    await removeTmp(tmp);
  });

  const sh = (script: string, extra: Partial<Parameters<typeof runSandboxed>[1]> = {}) =>
    runSandboxed(root, { argv: ['/bin/sh', '/proc/self/fd/5'], label: 'test.script', script, ...extra });

  it('writes land in the tree; /etc, /usr and /tmp are there', async () => {
    const r = await sh('echo hello > /usr/share/greeting\necho conf > /etc/foo.conf\necho scratch > /tmp/x\necho done\n');
    expect(r.output).toBe('done\n');
    expect(readFileSync(join(root, 'usr/share/greeting'), 'utf8')).toBe('hello\n');
    expect(readFileSync(join(root, 'etc/foo.conf'), 'utf8')).toBe('conf\n');
    expect(existsSync(join(root, 'tmp'))).toBe(false);
  });

  it('shows usr/etc as /etc once the tree has been converted', async () => {
    await rename(join(root, 'etc'), join(root, 'usr/etc'));
    await sh('echo x > /etc/converted\n');
    expect(readFileSync(join(root, 'usr/etc/converted'), 'utf8')).toBe('x\n');
  });

  it('has no network: only a loopback device, and a host server is unreachable', async () => {
    const server = createServer((_req, res) => res.end('reachable')).listen(0, '127.0.0.1');
    await new Promise((r) => server.once('listening', r));
    const port = (server.address() as AddressInfo).port;
    try {
      const r = await sh(`cat /proc/net/dev | tail -n +3 | cut -d: -f1 | tr -d ' '\nif wget -q -T 2 -O - http://127.0.0.1:${port}/ 2>/dev/null; then echo NET-OK; else echo NET-FAIL; fi\n`);
      expect(r.output.trim().split('\n')).toEqual(['lo', 'NET-FAIL']);
    } finally {
      server.close();
    }
  });

  it('sees neither host files outside the tree nor host processes', async () => {
    const marker = join(tmp, 'host-secret');
    await writeFile(marker, 'secret');
    const r = await sh(`test -e ${marker} && echo SEE-HOST || echo no-host\ntest -e /root && echo SEE-ROOT || echo no-root\nls /proc | grep -c '^[0-9]'\nid -u\n`);
    const [host, rootDir, procs, uid] = r.output.trim().split('\n');
    expect(host).toBe('no-host');
    expect(rootDir).toBe('no-root');
    expect(Number(procs)).toBeLessThanOrEqual(4);
    expect(uid).toBe('0');
  });

  it('sets only the sandbox environment', async () => {
    const r = await sh('env | sort\n', { env: { SYSTEMD_OFFLINE: '1' } });
    const vars = Object.fromEntries(r.output.trim().split('\n').map((l) => l.split('=', 2) as [string, string]));
    expect(vars.PATH).toBe('/usr/sbin:/usr/bin');
    expect(vars.SYSTEMD_OFFLINE).toBe('1');
    expect(vars.HOME).toBeUndefined();
  });

  it('read-only /usr and /etc in immutable mode', async () => {
    const e = await errorOfAsync(sh('echo x > /usr/share/nope\n', { mutability: 'immutable' }));
    expect(e.code).toBe('SCRIPT_FAILED');
    expect(e.message).toMatch(/Read-only file system/);
    expect(existsSync(join(root, 'usr/share/nope'))).toBe(false);
  });

  it('a failing script is named, with the tail of its output', async () => {
    const e = await errorOfAsync(sh('i=0; while [ $i -lt 30 ]; do echo line $i; i=$((i+1)); done\necho oops >&2\nexit 3\n'));
    expect(e.code).toBe('SCRIPT_FAILED');
    expect(e.message).toContain('test.script exited with status 3');
    expect(e.message).toContain('test.script: oops');
    expect(e.message).toContain('test.script: line 29');
    expect(e.message).not.toContain('test.script: line 5\n');
  });

  it('a script past its timeout is killed with everything it started', async () => {
    const t0 = Date.now();
    const e = await errorOfAsync(sh('echo started\nsleep 37 &\nsleep 38\n', { timeoutMs: 700 }));
    expect(e.code).toBe('SCRIPT_TIMEOUT');
    expect(e.message).toContain('test.script: started');
    expect(Date.now() - t0).toBeLessThan(10_000);
    await new Promise((r) => setTimeout(r, 200));
    const sleepers = readdirSync('/proc').filter((p) => /^\d+$/.test(p)).filter((p) => {
      try {
        return /^sleep\x0037|^sleep\x0038/.test(readFileSync(`/proc/${p}/cmdline`, 'latin1'));
      } catch {
        return false;
      }
    });
    expect(sleepers).toEqual([]);
  });

  describe('scriptlets', () => {
    const pkg = { packageName: 'foo', packageNevra: 'foo-1.0-1.x86_64' };

    it('run with $1 = 1, SYSTEMD_OFFLINE, /run/ostree-booted, read-only /var and a writable /var/tmp', async () => {
      await mkdir(join(root, 'var/lib/foo'), { recursive: true });
      const body = 'echo "arg=$1"\necho "offline=$SYSTEMD_OFFLINE"\ntest -f /run/ostree-booted && echo booted\n'
        + 'if touch /var/lib/foo/x 2>/dev/null; then echo var-rw; else echo var-ro; fi\necho t > /var/tmp/t && echo vartmp-rw\necho installed > /usr/share/foo-post\n';
      const r = await runScriptlet(root, { ...pkg, kind: 'postin', interpreter: ['/bin/sh'], body });
      expect(r.ran).toBe(true);
      expect(r.output.trim().split('\n')).toEqual(['arg=1', 'offline=1', 'booted', 'var-ro', 'vartmp-rw']);
      expect(readFileSync(join(root, 'usr/share/foo-post'), 'utf8')).toBe('installed\n');
      expect(existsSync(join(root, 'var/tmp/t'))).toBe(false);
    });

    it('a failing %post names the package and the scriptlet', async () => {
      const e = await errorOfAsync(runScriptlet(root, { ...pkg, kind: 'postin', interpreter: ['/bin/sh'], body: 'echo cannot configure\nexit 1\n' }));
      expect(e.code).toBe('SCRIPT_FAILED');
      expect(e.message).toBe('Running %post for foo (foo-1.0-1.x86_64): foo.post exited with status 1; last output:\nfoo.post: cannot configure');
    });

    it('an interpreter missing from the tree is an error; skipped and Lua scriptlets are handled before running', async () => {
      const e = await errorOfAsync(runScriptlet(root, { ...pkg, kind: 'prein', interpreter: ['/usr/bin/python3'], body: 'print(1)' }));
      expect(e.code).toBe('SCRIPT_NO_INTERPRETER');
      expect(e.message).toContain('interpreter /usr/bin/python3 is not in the tree');
      const lua = await errorOfAsync(runScriptlet(root, { ...pkg, kind: 'postin', interpreter: ['<lua>'], body: 'print(1)' }));
      expect(lua.code).toBe('SCRIPT_UNSUPPORTED');
      expect(lua.message).toContain("Package 'foo' has (currently) unsupported <lua> script in '%post'");
      const skipped = await runScriptlet(root, { packageName: 'glibc', packageNevra: 'glibc-2.39-1.x86_64', kind: 'prein', interpreter: ['/bin/sh'], body: 'exit 1' });
      expect(skipped.ran).toBe(false);
    });

    it('phases run all %pre, then all %post, then all %posttrans, then file triggers with matched paths', async () => {
      const log = (tag: string) => `echo ${tag} >> /usr/share/order\n`;
      const packages: ScriptletPackage[] = [
        { name: 'a', nevra: 'a-1-1.noarch', scripts: [{ kind: 'prein', interpreter: ['/bin/sh'], body: log('a.pre') }, { kind: 'postin', interpreter: ['/bin/sh'], body: log('a.post') }, { kind: 'posttrans', interpreter: ['/bin/sh'], body: log('a.posttrans') }] },
        {
          name: 'b', nevra: 'b-1-1.noarch',
          scripts: [{ kind: 'prein', interpreter: ['/bin/sh'], body: log('b.pre') + 'echo state > /var/lib/rpm-state/b\n' }, { kind: 'postin', interpreter: ['/bin/sh'], body: log('b.post') + 'cat /var/lib/rpm-state/b >> /usr/share/order\n' }, { kind: 'preun', interpreter: ['/bin/sh'], body: log('b.preun') }],
          fileTriggers: [{ kind: 'transfiletriggerin', interpreter: ['/bin/sh'], body: 'while read f; do echo "trigger $f" >> /usr/share/order; done\n', prefixes: ['/usr/lib/b-plugins/'] }],
        },
      ];
      await mkdir(join(root, 'usr/lib/b-plugins'), { recursive: true });
      await writeFile(join(root, 'usr/lib/b-plugins/one.so'), '');
      const phases: string[] = [];
      const counts = await runScriptletPhases(root, packages, {
        afterPre: async () => { await writeFile(join(root, 'usr/share/order'), 'ownership\n', { flag: 'a' }); },
        onPhase: (p, n) => phases.push(`${p}:${n}`),
      });
      expect(await readFile(join(root, 'usr/share/order'), 'utf8')).toBe('a.pre\nb.pre\nownership\na.post\nb.post\nstate\na.posttrans\ntrigger /usr/lib/b-plugins/one.so\n');
      expect(counts).toEqual({ pre: 2, post: 2, posttrans: 1, transfiletriggerin: 1 });
      expect(phases).toEqual(['pre:2', 'post:2', 'posttrans:1', 'transfiletriggerin:1']);
    });

    it('phases refuse an unsupported scriptlet before running anything', async () => {
      const packages: ScriptletPackage[] = [
        { name: 'a', nevra: 'a-1-1.noarch', scripts: [{ kind: 'prein', interpreter: ['/bin/sh'], body: 'touch /usr/share/ran\n' }] },
        { name: 'b', nevra: 'b-1-1.noarch', scripts: [{ kind: 'triggerin', interpreter: ['/bin/sh'], body: 'true' }] },
      ];
      const e = await errorOfAsync(runScriptletPhases(root, packages));
      expect(e.code).toBe('SCRIPT_UNSUPPORTED');
      expect(e.message).toContain("b-1-1.noarch: Package 'b' has (currently) unsupported script of type '%triggerin'");
      expect(existsSync(join(root, 'usr/share/ran'))).toBe(false);
    });
  });
});
