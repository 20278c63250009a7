// End to end over HTTP, through the CLI only: an archive repo served by nginx, a remote in
// the sysroot repo, `host deploy REMOTE:REF`, a new commit on the server, `host upgrade`
// pulling it through store/pull, status with the new deployment pending, rollback. Then
// the same with ed25519 signatures: a signed commit is deployed (status shows the
// signature), an unsigned one is refused naming the commit, and nothing changes.

import { writeFileSync } from 'node:fs';
import { mkdir, readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { atomic, have, makeTmp, removeTmp, type RunResult } from '../test-support/index.ts';
import { NGINX_BIN, startNginx, type NginxServer } from '../test-support/nginx.ts';
import { Repo } from '../store/index.ts';
import { loadSysroot } from './index.ts';
import { bootDefault, commitOsTree } from './test-os.ts';

let tmp: string;
let server: string;
let sysroot: string;
let nginx: NginxServer;
let cmdline: string;
let n = 0;

async function ok(args: string[]): Promise<string> {
  const r = await host(args);
  if (r.code !== 0) throw new Error(`atomic ${args.join(' ')} exited ${r.code}: ${r.stderr}`);
  return r.stdout;
}

/** The CLI with the test's kernel command line (the "booted" deployment). */
async function host(args: string[]): Promise<RunResult> {
  process.env.ATOMIC_PROC_CMDLINE = cmdline;
  try {
    return await atomic(args);
  } finally {
    delete process.env.ATOMIC_PROC_CMDLINE;
  }
}

/** A commit on the server, then its summary, as a publisher does. */
async function publish(branch: string, version: string, extra: { sign?: string } = {}): Promise<string> {
  const csum = await commitOsTree(server, branch, join(tmp, `tree${n++}`), { version, kernel: `KERNEL ${version}\n`, timestamp: 1700000000 + n });
  if (extra.sign !== undefined) await ok(['repo', 'sign', '--repo', server, csum, '--keys-file', extra.sign]);
  await ok(['repo', 'summary', '-u', '--repo', server]);
  return csum;
}

const S = (): string[] => ['--sysroot', sysroot];

describe.skipIf(!NGINX_BIN || !have('ostree'))('host deploy / upgrade / rollback over HTTP', () => {
  beforeAll(async () => {
    tmp = await makeTmp('atomic-host-e2e-');
    server = join(tmp, 'www/repo');
    sysroot = join(tmp, 'sysroot');
    cmdline = join(tmp, 'cmdline');
    writeFileSync(cmdline, 'quiet\n');
    await mkdir(join(tmp, 'www'), { recursive: true });
    await Repo.init(server, 'archive');
    nginx = await startNginx(join(tmp, 'www'), join(tmp, 'nginx'));
    await ok(['host', 'init', ...S()]);
    await ok(['host', 'os-init', 'testos', ...S()]);
  }, 60_000);
  afterAll(async () => {
    await nginx?.stop();
    await removeTmp(tmp);
  });

  it('deploys REMOTE:REF, upgrades to a new commit over HTTP, shows it pending, rolls back', async () => {
    const v1 = await publish('testos/main', '1');
    await ok(['repo', 'remote', 'add', '--repo', join(sysroot, 'ostree/repo'), '--no-gpg-verify', 'origin', `${nginx.url}/repo`]);
    await ok(['host', 'deploy', ...S(), '--os', 'testos', 'origin:testos/main', '--karg', 'root=LABEL=root']);
    await bootDefault(sysroot, cmdline);
    expect(await ok(['host', 'status', '--pretty', ...S()])).toContain(`● origin:testos/main\n                  Version: 1 (`);
    expect((await host(['host', 'upgrade', '--check', ...S()])).code).toBe(77);

    const v2 = await publish('testos/main', '2');
    const before = (await nginx.accessLog()).length;
    const check = await host(['host', 'upgrade', '--check', ...S()]);
    expect(check.code).toBe(0);
    expect(check.stdout).toContain(`         Commit: ${v2}\n`);
    const up = await host(['host', 'upgrade', ...S()]);
    expect(up.code, up.stderr).toBe(0);
    expect(up.stdout).toContain('Run "systemctl reboot" to start a reboot');
    const fetched = (await nginx.accessLog()).slice(before);
    expect(fetched.some((e) => e.path === `/repo/objects/${v2.slice(0, 2)}/${v2.slice(2)}.commit` && e.status === 200)).toBe(true);
    expect(fetched.filter((e) => e.path.endsWith('.filez')).length).toBeGreaterThan(0);

    // Pending: the new default, not booted; the booted v1 follows it.
    const status = await ok(['host', 'status', '--pretty', ...S()]);
    expect(status).toMatch(new RegExp(`^State: idle\\nDeployments:\\n  origin:testos/main\\n {18}Version: 2 \\(.*\\)\\n {19}Commit: ${v2}\\n\\n● origin:testos/main\\n {18}Version: 1 \\(.*\\)\\n {19}Commit: ${v1}\\n$`));
    const json = JSON.parse(await ok(['host', 'status', '--json', ...S()])) as { deployments: Array<{ checksum: string; booted: boolean }> };
    expect(json.deployments.map((d) => [d.checksum, d.booted])).toEqual([[v2, false], [v1, true]]);

    const rb = await host(['host', 'rollback', ...S()]);
    expect(rb.code, rb.stderr).toBe(0);
    expect(rb.stdout).toContain(`Moving '${v1}.0' to be first deployment`);
    const s = await loadSysroot(sysroot, { procCmdline: cmdline });
    expect(s.deployments.map((d) => d.csum)).toEqual([v1, v2]);
    const ostreeStatus = await import('../test-support/index.ts').then((m) => m.runOk('ostree', ['admin', 'status', `--sysroot=${sysroot}`]));
    expect(ostreeStatus).toMatch(new RegExp(`[* ] testos ${v1}\\.0[\\s\\S]*testos ${v2}\\.0`));
  }, 120_000);

  it('with --sign-verify: deploys a signed commit, refuses an unsigned one naming the commit', async () => {
    const secret = join(tmp, 'key.secret');
    const pub = join(tmp, 'key.public');
    const publicKey = (await ok(['repo', 'sign', '--generate-key', '--secret-file', secret, '--public-file', pub])).trim();
    expect((await readFile(pub, 'utf8')).trim()).toBe(publicKey);
    const s1 = await publish('testos/signed', 's1', { sign: secret });
    const repo = join(sysroot, 'ostree/repo');
    await ok(['repo', 'remote', 'add', '--repo', repo, '--no-gpg-verify', '--sign-verify', `ed25519=file:${pub}`, 'signed', `${nginx.url}/repo`]);
    const rebase = await host(['host', 'rebase', 'signed:testos/signed', ...S()]);
    expect(rebase.code, rebase.stderr).toBe(0);
    expect(rebase.stdout).toContain('Rebased from origin:testos/main to signed:testos/signed');
    const status = await ok(['host', 'status', '--pretty', ...S()]);
    expect(status).toContain(`  signed:testos/signed\n                  Version: s1 (`);
    expect(status).toContain(`                   Commit: ${s1}\n                Signature: Valid ed25519 signature by ${publicKey}\n`);

    const s2 = await publish('testos/signed', 's2');
    const list = (await loadSysroot(sysroot, { procCmdline: cmdline })).deployments.map((d) => d.csum);
    const check = await host(['host', 'upgrade', '--check', ...S()]);
    expect(check.code, check.stdout).toBe(1);
    const up = await host(['host', 'upgrade', ...S()]);
    expect(up.code).toBe(1);
    expect(up.stderr).toContain(`error: remote "signed": Can't verify commit ${s2}: no ed25519 signatures found`);
    expect((await loadSysroot(sysroot, { procCmdline: cmdline })).deployments.map((d) => d.csum)).toEqual(list);
    expect(await (await Repo.open(repo)).readRef('signed:testos/signed')).toBe(s1);

    // Signed with another key: refused naming the key that was tried.
    const other = join(tmp, 'other.secret');
    await ok(['repo', 'sign', '--generate-key', '--secret-file', other]);
    await ok(['repo', 'sign', '--repo', server, s2, '--keys-file', other]);
    const wrong = await host(['host', 'upgrade', ...S()]);
    expect(wrong.code).toBe(1);
    expect(wrong.stderr).toContain(`commit ${s2}`);
    expect(wrong.stderr).toContain(publicKey);
    // Signed with the trusted key: accepted.
    await ok(['repo', 'sign', '--repo', server, s2, '--keys-file', secret]);
    const good = await host(['host', 'upgrade', ...S()]);
    expect(good.code, good.stderr).toBe(0);
    expect((await loadSysroot(sysroot, { procCmdline: cmdline })).deployments[0]!.csum).toBe(s2);
  }, 120_000);
});
