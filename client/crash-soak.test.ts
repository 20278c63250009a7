// Soak: kill -9 `atomic host upgrade` at random moments (not only the named steps of
// crash.test.ts), over a chain of upgrades to ever newer commits. After every kill the
// sysroot must boot the complete old or the complete new set, `ostree admin status` must
// agree, a rerun must finish the upgrade without leftovers, and `ostree fsck` is clean.
// ATOMIC_SOAK_KILLS sets the number of kills (default 30); ATOMIC_SOAK_SEED the seed.

import { spawn, spawnSync } from 'node:child_process';
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ATOMIC, have, makeTmp, removeTmp, runOk } from '../test-support/index.ts';
import { deploy, deploymentDir, loadSysroot } from './index.ts';
import { assertBootable, commitOsTree, leftovers, makeSysroot } from './test-os.ts';

const KILLS = Number(process.env.ATOMIC_SOAK_KILLS ?? 30);
let seed = Number(process.env.ATOMIC_SOAK_SEED ?? Date.now() % 100000);

/** mulberry32: a small seeded generator, so a failing run can be replayed. */
function random(): number {
  seed = (seed + 0x6d2b79f5) | 0;
  let t = seed;
  t = Math.imul(t ^ (t >>> 15), t | 1);
  t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
  return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
}

const ENV = { ...process.env, ATOMIC_PROC_CMDLINE: '/nonexistent' };

/** Runs the upgrade and SIGKILLs it after `delayMs` (unless it finished first). */
function upgradeKilledAfter(sysroot: string, delayMs: number): Promise<{ killed: boolean; code: number | null }> {
  return new Promise((resolve, reject) => {
    const child = spawn(ATOMIC, ['host', 'upgrade', '-C', '--sysroot', sysroot], { env: ENV, stdio: ['ignore', 'ignore', 'pipe'] });
    let stderr = '';
    child.stderr.on('data', (d) => (stderr += String(d)));
    const timer = setTimeout(() => child.kill('SIGKILL'), delayMs);
    child.on('error', reject);
    child.on('exit', (code, signal) => {
      clearTimeout(timer);
      if (signal === null && code !== 0) reject(new Error(`upgrade failed by itself (exit ${code}): ${stderr}`));
      else resolve({ killed: signal === 'SIGKILL', code });
    });
  });
}

let tmp: string;
let sysroot: string;

beforeAll(async () => {
  tmp = await makeTmp('atomic-host-soak-');
  sysroot = await makeSysroot(tmp);
  await commitOsTree(join(sysroot, 'ostree/repo'), 'testos/main', join(tmp, 't0'), { version: '0', kernel: 'KERNEL 0\n', timestamp: 1700000000 });
  await deploy({ sysroot, osname: 'testos', revision: 'testos/main', karg: ['root=LABEL=root'], procCmdline: '/nonexistent' });
}, 60_000);
afterAll(async () => {
  await removeTmp(tmp);
});

describe.skipIf(!have('ostree'))('kill -9 at random moments during upgrades', () => {
  it(`${KILLS} kills: old or new configuration, complete; ostree agrees; the rerun completes; fsck is clean`, async () => {
    console.log(`soak seed ${seed} (replay with ATOMIC_SOAK_SEED=${seed})`);
    const repo = join(sysroot, 'ostree/repo');
    // One uninterrupted upgrade gives the length of a run, over which kill moments are spread.
    await commitOsTree(repo, 'testos/main', join(tmp, 't1'), { version: '1', kernel: 'KERNEL 1\n', timestamp: 1700000001 });
    const t0 = Date.now();
    const first = spawnSync(ATOMIC, ['host', 'upgrade', '-C', '--sysroot', sysroot], { env: ENV, encoding: 'utf8' });
    expect(first.status, first.stderr).toBe(0);
    // The length of a run, updated from every rerun: kill moments cover start-up to cleanup.
    let runMs = Date.now() - t0;
    let prev = (await assertBootable(sysroot))[0]!;
    let killedMidway = 0;
    const states = { old: 0, new: 0, killedAfterCommitPoint: 0 };
    for (let i = 0; i < KILLS; i++) {
      const v = i + 2;
      // A new kernel each time (Case A swap, kernel install) and sometimes an /etc edit to merge.
      const next = await commitOsTree(repo, 'testos/main', join(tmp, `t${v}`), { version: String(v), kernel: `KERNEL ${v}\n`, timestamp: 1700000000 + v });
      if (random() < 0.5) await writeFile(join(deploymentDir(sysroot, (await loadSysroot(sysroot, { procCmdline: '/nonexistent' })).deployments[0]!), 'etc/os.conf'), `edited ${v}\n`);
      // Half the kills anywhere in the run, half in its second half (swap, cleanup, prune).
      const delay = Math.floor(runMs * (random() < 0.5 ? 0.15 + 0.9 * random() : 0.6 + 0.45 * random()));
      const r = await upgradeKilledAfter(sysroot, delay);
      if (r.killed) killedMidway++;
      const after = await assertBootable(sysroot);
      if (after[0] === prev) states.old++;
      else {
        expect(after[0]).toBe(next);
        expect(after[1]).toBe(prev);
        states.new++;
        if (r.killed) states.killedAfterCommitPoint++;
      }
      const ours = (await loadSysroot(sysroot, { procCmdline: '/nonexistent' })).deployments.map((d) => `${d.csum}.${d.deployserial}`);
      const theirs = (await runOk('ostree', ['admin', 'status', `--sysroot=${sysroot}`])).split('\n').flatMap((l) => /^[* ] \S+ ([0-9a-f]{64}\.\d+)/.exec(l)?.slice(1, 2) ?? []);
      expect(theirs, `kill ${i} after ${delay} ms`).toEqual(ours);
      const t1 = Date.now();
      const rerun = spawnSync(ATOMIC, ['host', 'upgrade', '-C', '--sysroot', sysroot], { env: ENV, encoding: 'utf8' });
      if (states.new + states.old > 0 && after[0] === prev) runMs = Math.round(0.7 * runMs + 0.3 * (Date.now() - t1));
      expect(rerun.status, `rerun after kill ${i} at ${delay} ms: ${rerun.stderr}`).toBe(0);
      const done = await assertBootable(sysroot);
      expect(done).toEqual([next, prev]);
      expect(leftovers(sysroot)).toEqual([]);
      await runOk('ostree', ['fsck', '--quiet', `--repo=${repo}`]);
      prev = next;
    }
    console.log(`run ~${runMs} ms; ${killedMidway}/${KILLS} runs killed mid-way; after the kill: ${states.old} booted the old set, ${states.new} the new (${states.killedAfterCommitPoint} killed after the swap)`);
    // Kills landed both before the commit point (old set) and after it (new set, cleanup interrupted).
    expect(killedMidway).toBeGreaterThanOrEqual(KILLS / 3);
    expect(states.old).toBeGreaterThan(0);
    expect(states.new).toBeGreaterThan(0);
  }, 240_000);
});
