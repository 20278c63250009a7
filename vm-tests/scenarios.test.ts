// End-to-end boots of the test OS in QEMU (OVMF + GRUB 2.06 + Debian's cloud kernel + our
// initramfs), with the client running inside the guest. Every assertion about what booted
// comes from the guest's own report on the serial console, or from the disk as GRUB sees
// it (debugfs). DESTRUCTIVE only to its private disk copies under WORK/runs.
//
// The machine's boots run in order and carry state from one to the next:
//   1  first boot                     v1 boots; `atomic host status` shows it booted
//   2  edit /etc, `atomic host upgrade`
//   3  reboot                         v2 boots, the /etc edit survived, v1 is the rollback
//   4  `atomic host rollback`
//   5  reboot                         v1 boots again, v2 is listed after it
// When a boot fails, later scenarios are skipped, and the serial logs and the disk stay
// in WORK/runs/<machine> (the failure message says where).

import { afterAll, describe, expect, it, type TestContext } from 'vitest';
import { loadArtifacts, Machine, type Artifacts } from './harness/machine.ts';
import { commandText, describeBoot } from './harness/report.ts';
import type { VmResult } from './harness/qemu.ts';

interface StatusJson {
  deployments: { checksum: string; version: string | null; booted: boolean; origin: string | null; osname: string; serial: number }[];
}

const art: Artifacts = loadArtifacts();
const deploymentPath = (v: string, serial = 0): string => `/ostree/deploy/testos/deploy/${art.commits[v]}.${serial}`;

/** Fails with the boot's summary and where its log and disk are kept. */
function expectCleanBoot(m: Machine, r: VmResult): void {
  const where = `serial log ${r.serialLog}, disk ${m.disk}`;
  expect(r.timedOut, `${r.name} timed out (${where}): ${describeBoot(r.report)}`).toBe(false);
  expect(r.report.initramfsFailure, `${r.name}: initramfs failed (${where})`).toBeNull();
  expect(r.report.panic, `${r.name}: kernel panic (${where})`).toBeNull();
  expect(r.report.done, `${r.name}: the guest did not finish its action (${where}): ${describeBoot(r.report)}`).not.toBeNull();
  expect(r.exitCode, `${r.name}: QEMU exit status (${where}); stderr: ${r.stderr}`).toBe(0);
}

function expectCommandOk(m: Machine, r: VmResult, name: string): string {
  const text = commandText(r.report, name);
  expect(r.report.commands[name]!.rc, `${r.name}: \`${name}\` in the guest failed (serial log ${r.serialLog}):\n${text}`).toBe(0);
  return text;
}

function statusOf(m: Machine, r: VmResult): StatusJson {
  return JSON.parse(expectCommandOk(m, r, 'status')) as StatusJson;
}

/** Both filesystems as GRUB and the next boot find them: no journal replay needed for a clean fsck. */
function expectDiskClean(m: Machine): void {
  for (const part of ['boot', 'root'] as const) expect(m.fsck(part), `e2fsck -fn ${part} of ${m.disk}`).toBeNull();
}

// Every `atomic` run costs a few seconds under TCG: the text status only on the first boot.
const STATUS = 'vmtest_run status atomic host status --json\n';

describe('vm: upgrade and rollback change what boots', () => {
  const m = new Machine('upgrade-rollback', art);
  let broken = false;
  const step = async (ctx: TestContext, fn: () => Promise<void>): Promise<void> => {
    if (broken) ctx.skip();
    try {
      await fn();
    } catch (err) {
      broken = true;
      throw new Error(`${(err as Error).message}\n(kept for inspection: ${m.runDir})`, { cause: err });
    }
  };

  it('1. first boot: v1 boots and `atomic host status` in the guest shows it booted', (ctx) => step(ctx, async () => {
    const r = await m.boot({ action: `${STATUS}vmtest_run status-text atomic host status\n` });
    expectCleanBoot(m, r);
    expect(r.report.facts.version).toBe('1');
    expect(r.report.facts.deployment).toBe(deploymentPath('1'));
    expect(r.report.facts['ostree-booted']).toBe('yes');
    expect(r.report.facts['usr-readonly']).toBe('yes');
    expect(r.report.facts['kernel-cmdline']).toMatch(/ ostree=\/ostree\/boot\.[01]\/testos\/[0-9a-f]{64}\/0( |$)/);
    expect(r.report.facts['boot-loader']).toBe(m.readLink('boot', '/loader'));
    const st = statusOf(m, r);
    expect(st.deployments.map((d) => [d.version, d.checksum, d.booted])).toEqual([['1', art.commits['1'], true]]);
    expect(st.deployments[0]!.origin).toBe('vmtest:testos/x86_64/stable');
    expect(expectCommandOk(m, r, 'status-text')).toMatch(/● vmtest:testos\/x86_64\/stable/);
  }));

  it('2. upgrade in the guest, reboot: v2 boots, the /etc edit survived, v1 is the rollback', (ctx) => step(ctx, async () => {
    const loaderBefore = m.readLink('boot', '/loader');
    const up = await m.boot({
      action: [
        'echo "edited on v1" > /etc/vmtest-marker',
        'echo "added on v1" > /etc/vmtest-added',
        'vmtest_run upgrade atomic host upgrade',
      ].join('\n'),
    });
    expectCleanBoot(m, up);
    expect(up.report.facts.version).toBe('1');
    const out = expectCommandOk(m, up, 'upgrade');
    expect(out).toMatch(/Copying \/etc changes: \d+ modified, \d+ removed, \d+ added/);
    expect(out).toContain('Run "systemctl reboot" to start a reboot');
    // The swap is on disk as GRUB reads it (no journal replay), and both filesystems are clean.
    expect(m.readLink('boot', '/loader')).not.toBe(loaderBefore);
    expectDiskClean(m);

    const r = await m.boot({ action: `${STATUS}vmtest_run added cat /etc/vmtest-added\nvmtest_run boot-complete atomic host boot-complete\n` });
    expectCleanBoot(m, r);
    expect(r.report.facts.version).toBe('2');
    expect(r.report.facts.deployment).toBe(deploymentPath('2'));
    expect(r.report.facts['etc-marker']).toBe('edited on v1');
    expect(expectCommandOk(m, r, 'added')).toBe('added on v1');
    const st = statusOf(m, r);
    expect(st.deployments.map((d) => [d.version, d.checksum, d.booted])).toEqual([
      ['2', art.commits['2'], true],
      ['1', art.commits['1'], false],
    ]);
    expectCommandOk(m, r, 'boot-complete');
  }));

  it('3. rollback in the guest, reboot: v1 boots again', (ctx) => step(ctx, async () => {
    const rb = await m.boot({ action: 'vmtest_run rollback atomic host rollback\n' });
    expectCleanBoot(m, rb);
    expect(rb.report.facts.version).toBe('2');
    expectCommandOk(m, rb, 'rollback');
    expectDiskClean(m);

    const r = await m.boot({ action: STATUS });
    expectCleanBoot(m, r);
    expect(r.report.facts.version).toBe('1');
    expect(r.report.facts.deployment).toBe(deploymentPath('1'));
    expect(r.report.facts['etc-marker']).toBe('edited on v1');
    const st = statusOf(m, r);
    expect(st.deployments.map((d) => [d.version, d.booted])).toEqual([['1', true], ['2', false]]);
  }));

  afterAll(() => {
    if (!broken) m.discardDisk();
  });
});
