// kill -9 of `atomic host upgrade` at every named step (ATOMIC_TEST_CRASH_AT): the
// sysroot must still have a complete /boot/loader whose entries name existing kernels
// and complete deployments, ostree must agree, and a rerun must finish the upgrade
// and leave no temporary files.

import { spawnSync } from 'node:child_process';
import { readdirSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ATOMIC, have, makeTmp, removeTmp, runOk } from '../test-support/index.ts';
import { CRASH_POINTS, deploy, loadSysroot, upgrade } from './index.ts';
import { assertBootable, commitOsTree, leftovers, makeSysroot } from './test-os.ts';

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

describe.skipIf(!have('ostree'))('kill -9 during upgrade', () => {
  for (const point of CRASH_POINTS) {
    it(`at ${point}: old or new configuration, complete; ostree agrees; a rerun completes`, async () => {
      const sysroot = join(tmp, `s-${point}`);
      await runOk('cp', ['-a', base, sysroot]);
      const killed = atomicSync(['host', 'upgrade', '-C', '--sysroot', sysroot], { ATOMIC_TEST_CRASH_AT: point });
      expect(killed.signal, killed.stderr).toBe('SIGKILL');
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
