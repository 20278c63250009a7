// kill -9 of `atomic host upgrade` at every named step (ATOMIC_TEST_CRASH_AT): the
// sysroot must still have a complete /boot/loader whose entries name existing kernels
// and complete deployments, ostree must agree, and a rerun must finish the upgrade
// and leave no temporary files.

import { spawnSync } from 'node:child_process';
import { existsSync, readdirSync, readFileSync, realpathSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ATOMIC, have, makeTmp, removeTmp, runOk } from '../test-support/index.ts';
import { getKarg, parseKargs } from '../bootloader/index.ts';
import { CRASH_POINTS, deploy, deploymentDir, loadSysroot, upgrade } from './index.ts';
import { commitOsTree, makeSysroot } from './test-os.ts';

let tmp: string;
let base: string;
const c: string[] = [];

beforeAll(async () => {
  tmp = await makeTmp('atomic-host-crash-');
  base = await makeSysroot(tmp);
  const repo = join(base, 'ostree/repo');
  const opts = { sysroot: base, osname: 'testos', procCmdline: '/nonexistent' };
  c.push(await commitOsTree(repo, 'testos/main', join(tmp, 't1'), { version: '1', timestamp: 1700000001 }));
  await deploy({ ...opts, revision: 'testos/main', karg: ['root=LABEL=root'] });
  c.push(await commitOsTree(repo, 'testos/main', join(tmp, 't2'), { version: '2', kernel: 'KERNEL B\n', timestamp: 1700000002 }));
  await upgrade({ ...opts, cacheOnly: true });
  c.push(await commitOsTree(repo, 'testos/main', join(tmp, 't3'), { version: '3', kernel: 'KERNEL C\n', timestamp: 1700000003 }));
}, 60_000);
afterAll(async () => {
  await removeTmp(tmp);
});

function atomicSync(args: string[], env: Record<string, string> = {}): { status: number | null; signal: string | null; stdout: string; stderr: string } {
  const r = spawnSync(ATOMIC, args, { env: { ...process.env, ATOMIC_PROC_CMDLINE: '/nonexistent', ...env }, encoding: 'utf8' });
  return { status: r.status, signal: r.signal, stdout: r.stdout, stderr: r.stderr };
}

/** Everything the bootloader would read exists and is complete. */
async function assertBootable(sysroot: string): Promise<string[]> {
  const s = await loadSysroot(sysroot, { procCmdline: '/nonexistent' });
  const loader = join(sysroot, 'boot/loader');
  const entryFiles = readdirSync(join(loader, 'entries'));
  expect(entryFiles).toHaveLength(s.deployments.length);
  for (const d of s.deployments) {
    const e = d.entry!;
    expect(readFileSync(join(sysroot, 'boot', e.linux), 'utf8')).toMatch(/^KERNEL [ABC]\n$/);
    expect(readFileSync(join(sysroot, 'boot', e.initrd!), 'utf8')).toBe('INITRAMFS A\n');
    const target = realpathSync(join(sysroot, getKarg(parseKargs(e.options), 'ostree') as string));
    expect(target).toBe(realpathSync(deploymentDir(sysroot, d)));
    expect(readFileSync(join(target, 'usr/bin/hello'), 'utf8')).toContain('echo hello');
    expect(existsSync(join(target, 'etc/os.conf'))).toBe(true);
    expect(existsSync(`${target}.origin`)).toBe(true);
  }
  return s.deployments.map((d) => d.csum);
}

function leftovers(sysroot: string): string[] {
  const out: string[] = [];
  const walk = (dir: string, depth: number): void => {
    for (const e of readdirSync(dir, { withFileTypes: true })) {
      const p = join(dir, e.name);
      if (/\.tmp(-|$)|etc-tmp/.test(e.name)) out.push(p);
      if (e.isDirectory() && depth > 0 && !p.endsWith('ostree/repo/objects')) walk(p, depth - 1);
    }
  };
  walk(join(sysroot, 'boot'), 3);
  walk(join(sysroot, 'ostree'), 6);
  return out;
}

describe.skipIf(!have('ostree'))('kill -9 during upgrade', () => {
  for (const point of CRASH_POINTS) {
    it(`at ${point}: old or new configuration, complete; ostree agrees; a rerun completes`, async () => {
      const sysroot = join(tmp, `s-${point}`);
      await runOk('cp', ['-a', base, sysroot]);
      const killed = atomicSync(['host', 'upgrade', '-C', '--sysroot', sysroot], { ATOMIC_TEST_CRASH_AT: point });
      expect(killed.signal).toBe('SIGKILL');
      const after = await assertBootable(sysroot);
      expect([[c[1], c[0]], [c[2], c[1]]]).toContainEqual(after);
      const st = await runOk('ostree', ['admin', 'status', `--sysroot=${sysroot}`]);
      expect(st).toContain(`${after[0]}.0`);
      const rerun = atomicSync(['host', 'upgrade', '-C', '--sysroot', sysroot]);
      expect(rerun.status, rerun.stderr).toBe(0);
      expect(await assertBootable(sysroot)).toEqual([c[2], c[1]]);
      expect(leftovers(sysroot)).toEqual([]);
      const s = await loadSysroot(sysroot, { procCmdline: '/nonexistent' });
      expect(readdirSync(join(sysroot, 'ostree/deploy/testos/deploy')).sort())
        .toEqual(s.deployments.flatMap((d) => [`${d.csum}.${d.deployserial}`, `${d.csum}.${d.deployserial}.origin`]).sort());
      await runOk('ostree', ['fsck', `--repo=${join(sysroot, 'ostree/repo')}`]);
      const status = atomicSync(['host', 'status', '--sysroot', sysroot]);
      expect(status.status).toBe(0);
    }, 60_000);
  }
});
