// Scenario 4: power cuts during `atomic host upgrade` (v1 -> v2) run by the guest.
// DESTRUCTIVE only to private disk overlays under WORK/runs.
//
//   reference   one uninterrupted upgrade from the built disk: measures the window from
//               "upgrade started" to "upgrade finished" (host clock, console lines) and
//               records every write and flush of the boot disk (QEMU blklogwrites)
//   step cuts   one per step of the upgrade, at the client's crash points (client/crash.ts;
//               ATOMIC_VM_STEPS=all for every point an upgrade reaches):
//               ATOMIC_TEST_CRASH_AT=<step> SIGKILLs the client there, and the guest
//               resets at once with sysrq 'b' (no sync, no unmount): a power cut right
//               after the step
//   at success  a SIGKILL of QEMU the moment the client's success line reaches the host
//   random cuts ATOMIC_VM_CUTS (default 4) SIGKILLs of QEMU at seeded random moments in
//               [0, 1.1 x window] after "upgrade started" (ATOMIC_VM_SEED to repeat a run)
//   replay      the reference write log replayed onto a copy of the built disk, flush
//               point by flush point
// After every cut, on a qcow2 overlay of the built disk (qemu-img, backing file disk.img):
//   - host: both filesystems pass e2fsck -fn once their journals are replayed (on a
//     scratch copy, as Linux replays them at mount); GRUB's view of /boot (no replay)
//     reaches a menu whose every entry has its kernel and initramfs, and whose ostree=
//     resolves to a complete deployment (inspectBoot);
//   - boot: the deployment GRUB's entry 0 names boots (v2 whenever the client had
//     printed success before the cut, else v1 or v2), never an initramfs failure or a
//     boot without a report; in that boot `atomic host upgrade` completes;
//   - host again: both filesystems clean, and the menu's entry 0 is a complete v2.

import { execFileSync } from 'node:child_process';
import { rmSync } from 'node:fs';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { afterAll, describe, expect, it } from 'vitest';
import { CRASH_POINTS } from '../client/crash.ts';
import { expectCleanBoot, expectCommandOk } from './harness/checks.ts';
import { DiskImage, inspectBoot, type BootView } from './harness/disk.ts';
import { loadArtifacts, Machine, type Artifacts } from './harness/machine.ts';
import type { VmResult } from './harness/qemu.ts';
import { describeBoot } from './harness/report.ts';
import { flushPoints, readWriteLog, replay } from './harness/writelog.ts';

const art: Artifacts = loadArtifacts();
const CUTS = Number(process.env.ATOMIC_VM_CUTS ?? 4);
const SEED = Number(process.env.ATOMIC_VM_SEED ?? Math.floor(Math.random() * 2 ** 31));
// 'during-cleanup' fires only when an old deployment is deleted; the first upgrade of a
// one-deployment host deletes none, so an upgrade never reaches it.
const REACHED = CRASH_POINTS.filter((s) => s !== 'during-cleanup');
// By default one cut per step of the upgrade: pull (and pre-flight), deploy (checkout),
// /etc merge, kernel install, swap (just before and just after), cleanup. The client's
// finer points between them (after-origin, after-loader-entries, after-bootlinks) are
// killed hundreds of times per CI run by client/crash-soak.test.ts, and every flush
// point of the upgrade is checked by the write-log replay below; ATOMIC_VM_STEPS=all
// cuts at each of them here too, or ATOMIC_VM_STEPS=a,b,… picks steps.
const DEFAULT_STEPS: readonly string[] = ['after-preflight', 'after-checkout', 'after-etc-merge', 'after-kernel-install', 'before-swap', 'after-swap', 'before-cleanup'];
const STEPS = ((): readonly string[] => {
  const env = process.env.ATOMIC_VM_STEPS;
  if (env === undefined || env === '') return DEFAULT_STEPS;
  if (env === 'all') return REACHED;
  const picked = env.split(',').map((s) => s.trim());
  const unknown = picked.filter((s) => !(REACHED as readonly string[]).includes(s));
  if (unknown.length > 0) throw new Error(`ATOMIC_VM_STEPS: unknown step(s) ${unknown.join(', ')}; the steps are ${REACHED.join(', ')}`);
  return picked;
})();

const UPGRADE = 'report upgrade-start "$(cut -d\' \' -f1 /proc/uptime)"\nvmtest_run upgrade atomic host upgrade\n';
const SUCCESS = /^ATOMIC-OUT upgrade: Run "systemctl reboot"|^ATOMIC-EXIT upgrade rc=0$/;

/** mulberry32: a small seeded PRNG, so a failing set of cut points can be repeated. */
function prng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/**
 * Host checks of a disk state: both filesystems clean after journal replay, and a boot menu
 * as GRUB sees it whose every entry is complete. Returns the menu and what failed.
 */
function diskProblems(img: DiskImage, scratch: string): { view: BootView; problems: string[] } {
  const replayed = img.replayJournals(scratch);
  try {
    const problems: string[] = [];
    for (const part of ['boot', 'root'] as const) {
      const out = replayed.fsck(part);
      if (out !== null) problems.push(`e2fsck -fn ${part} (journal replayed) is not clean: ${out}`);
    }
    const view = inspectBoot(img, replayed, art.bootFiles);
    problems.push(...view.problems.map((p) => `boot menu as GRUB sees it (/boot/loader -> ${view.loader}): ${p}`));
    return { view, problems };
  } finally {
    replayed.discard();
  }
}

/** diskProblems, failing the test on any. */
function checkDisk(img: DiskImage, scratch: string, what: string): BootView {
  const { view, problems } = diskProblems(img, scratch);
  expect(problems, what).toEqual([]);
  return view;
}

const versionOf = (deployment: string | null | undefined): string | null => {
  const csum = /\/([0-9a-f]{64})\.\d+$/.exec(deployment ?? '')?.[1];
  return Object.entries(art.commits).find(([, c]) => c === csum)?.[0] ?? null;
};

interface Outcome {
  cut: string;
  /** The cut came before the guest had finished and powered off by itself. */
  cutFirst: boolean;
  /** The client had printed success before the cut. */
  success: boolean;
  /** Version GRUB's entry 0 named after the cut, and the version that booted. */
  menu: string | null;
  booted: string | null;
  seconds: number;
}
const outcomes: Outcome[] = [];

/**
 * One cut on a fresh overlay: `cut(m)` runs the interrupted boot and says whether the
 * client had reported success; then the host checks, the verification boot with the next
 * upgrade, and the host checks again.
 */
async function cutAndVerify(name: string, cut: (m: Machine) => Promise<{ success: boolean; r: VmResult }>): Promise<void> {
  const t0 = performance.now();
  const m = new Machine(`powercut-${name}`, art, { overlay: true });
  try {
    const { success, r } = await cut(m);
    expect(r.report.facts.version, `${r.name}: v1 should have booted before the cut (${describeBoot(r.report)})`).toBe('1');
    // Problems of the disk after the cut are collected; the verification boot runs anyway
    // and shows what such a disk does, then they fail the test.
    const { view, problems } = diskProblems(m.image(), join(m.runDir, 'replayed'));
    const menu = versionOf(view.entries[0]?.deployment);
    if (success && menu !== '2') problems.push(`the client reported success, but GRUB's entry 0 is ${menu === null ? 'not a complete deployment' : `v${menu}`}`);

    const v = await m.boot({ action: 'vmtest_run upgrade atomic host upgrade\n' });
    if (problems.length > 0) {
      throw new Error(`after the cut (${name}), the disk is not safe to boot:\n  ${problems.join('\n  ')}\nthe next boot: ${describeBoot(v.report)}`);
    }
    expectCleanBoot(m, v);
    const booted = versionOf(v.report.facts.deployment);
    expect(['1', '2']).toContain(booted);
    if (success) expect(booted, `${v.name}: the client reported success before the cut`).toBe('2');
    // What GRUB's entry 0 named is what booted.
    expect(v.report.facts.deployment, `${v.name}: booted deployment vs GRUB's entry 0`).toBe(view.entries[0]?.deployment);
    expectCommandOk(m, v, 'upgrade');

    const after = checkDisk(m.image(), join(m.runDir, 'replayed'), `after the next upgrade (${name})`);
    expect(versionOf(after.entries[0]!.deployment), `${name}: entry 0 after the next upgrade`).toBe('2');
    outcomes.push({ cut: name, cutFirst: r.report.done === null, success, menu, booted, seconds: (performance.now() - t0) / 1000 });
    m.discardDisk();
  } catch (err) {
    throw new Error(`${(err as Error).message}\n(kept for inspection: ${m.runDir})`, { cause: err });
  }
}

describe('vm: power cuts during `atomic host upgrade` never leave an unbootable disk', () => {
  let windowMs = 0;
  let reference: Machine | null = null;
  let writeLog = '';

  it('reference: an uninterrupted upgrade (its window and its write log)', async () => {
    const m = new Machine('powercut-reference', art);
    reference = m;
    let started = 0;
    let finished = 0;
    const r = await m.boot({
      action: UPGRADE,
      writeLog: true,
      onLine: (l) => {
        if (l.startsWith('ATOMIC-REPORT upgrade-start=')) started = performance.now();
        if (/^ATOMIC-EXIT upgrade /.test(l)) finished = performance.now();
      },
    });
    expectCleanBoot(m, r);
    expectCommandOk(m, r, 'upgrade');
    expect(started > 0 && finished > started, 'upgrade start and end lines seen').toBe(true);
    windowMs = finished - started;
    writeLog = join(m.runDir, `writes-${m.boots}.log`);
    console.log(`vm-tests: upgrade window ${(windowMs / 1000).toFixed(1)} s; random cut seed ${SEED} (ATOMIC_VM_SEED), ${CUTS} cuts (ATOMIC_VM_CUTS)`);
    const view = checkDisk(m.image(), join(m.runDir, 'replayed'), 'after the reference upgrade');
    expect(versionOf(view.entries[0]!.deployment)).toBe('2');
  });

  for (const step of STEPS) {
    it(`cut right after the client's step ${step}`, async () => {
      await cutAndVerify(step, async (m) => {
        const r = await m.boot({
          action: [
            `vmtest_run upgrade env ATOMIC_TEST_CRASH_AT=${step} atomic host upgrade`,
            // The client killed itself at the step (137 = SIGKILL): the power goes now.
            `if [ "$(cat /tmp/.vmtest-rc)" = rc=137 ]; then report crashed-at ${step}; echo b > /proc/sysrq-trigger; sleep 30; fi`,
          ].join('\n'),
        });
        expect(r.report.facts['crashed-at'], `${r.name}: the client never reached ${step} (${describeBoot(r.report)})`).toBe(step);
        expect(r.report.done, `${r.name}: the guest went on after the cut`).toBeNull();
        return { success: r.report.commands.upgrade?.lines.some((l) => l.startsWith('Run "systemctl reboot"')) ?? false, r };
      });
    });
  }

  it('cut the moment the client reports success', async () => {
    await cutAndVerify('at-success', async (m) => {
      const vm = m.start({ action: UPGRADE });
      await vm.waitForLine(SUCCESS);
      vm.kill();
      const r = await vm.result;
      expect(r.killed && r.report.done === null, `${r.name}: the guest finished before the cut`).toBe(true);
      return { success: true, r };
    });
  });

  const random = prng(SEED);
  const fractions = Array.from({ length: CUTS }, () => random() * 1.1);
  fractions.forEach((f, i) => {
    it(`random cut ${i + 1}/${CUTS} (at ${(f * 100).toFixed(0)}% of the upgrade window)`, async () => {
      expect(windowMs, 'the reference run measured the upgrade window').toBeGreaterThan(0);
      await cutAndVerify(`random-${i + 1}`, async (m) => {
        let success = false;
        let started = 0;
        const vm = m.start({
          action: UPGRADE,
          onLine: (l) => {
            if (SUCCESS.test(l)) success = true;
            if (l.startsWith('ATOMIC-REPORT upgrade-start=')) started = performance.now();
            // An upgrade that finished before its cut: later cuts use the shorter window
            // (the reference ran with write logging, which slows it down).
            if (/^ATOMIC-EXIT upgrade /.test(l) && started > 0) windowMs = Math.min(windowMs, performance.now() - started);
          },
        });
        await vm.waitForLine(/^ATOMIC-REPORT upgrade-start=/);
        await sleep(f * windowMs);
        const reported = success;
        vm.kill();
        const r = await vm.result;
        return { success: reported, r };
      });
    });
  });

  it('replay of the reference write log: every flush point is bootable and clean', async () => {
    expect(writeLog, 'the reference run recorded a write log').not.toBe('');
    const m = reference!;
    const log = readWriteLog(writeLog);
    const points = flushPoints(log);
    const target = join(m.runDir, 'replay.img');
    execFileSync('cp', ['--sparse=always', art.disk, target]);
    const img = new DiskImage(target, art.partitions);
    let applied = 0;
    let lastChecked = -1;
    let checked = 0;
    const seen: string[] = [];
    // Every failing flush point is collected, so one run shows the whole bad window.
    const bad: { point: number; problem: string }[] = [];
    for (const p of points) {
      replay(log, target, applied, p + 1);
      // Consecutive flushes with no write between them are the same disk state.
      const wrote = log.entries.slice(lastChecked + 1, p + 1).some((e) => e.length > 0);
      applied = p + 1;
      if (!wrote) continue;
      lastChecked = p;
      checked++;
      const { view, problems } = diskProblems(img, join(m.runDir, 'replay-scratch'));
      if (problems.length > 0) bad.push({ point: p, problem: problems.join('; ') });
      else {
        const v = versionOf(view.entries[0]!.deployment) ?? '?';
        if (seen.at(-1) !== v) seen.push(v);
      }
    }
    console.log(`vm-tests: write log: ${log.entries.length} entries, ${points.length} flushes, ${checked} distinct states checked, ${bad.length} bad; entry 0 went ${seen.join(' -> ')}`);
    expect(bad.map((b) => `flush entry ${b.point}: ${b.problem}`), `flush points of ${writeLog} (of ${log.entries.length} entries) at which the disk would not boot; replayed image ${target}`).toEqual([]);
    // Entry 0 changes once, from v1 to v2: no flush point shows anything else.
    expect(seen).toEqual(['1', '2']);
    rmSync(target, { force: true });
    m.discardDisk();
  });

  afterAll(() => {
    if (outcomes.length === 0) return;
    console.log('vm-tests: power cuts (cut, whether the guest was still running, client reported success, GRUB entry 0 after the cut, booted, seconds):');
    for (const o of outcomes) {
      console.log(`  ${o.cut.padEnd(22)} ${o.cutFirst ? 'cut     ' : 'finished'} success=${o.success ? 'yes' : 'no '} menu=v${o.menu} booted=v${o.booted} ${o.seconds.toFixed(0)} s`);
    }
  });
});
