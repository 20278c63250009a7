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
//   6  `atomic host deploy vmtest:testos/x86_64/next` (v3); boot counting is armed
//   7-9  v3 boots three times and never runs `atomic host boot-complete`
//   10 GRUB's counter has run out: v1 boots on its own; status says the bootloader fell
//      back; `boot-complete` makes v1 the default again
//   11 reboot                         v1 boots as the default, no counting
// When a boot fails, later scenarios are skipped, and the serial logs and the disk stay
// in WORK/runs/<machine> (the failure message says where).

import { afterAll, describe, expect, it, type TestContext } from 'vitest';
import { loadArtifacts, Machine, type Artifacts } from './harness/machine.ts';
import { expectCleanBoot, expectCommandOk } from './harness/checks.ts';
import { stripTerminalCodes } from './harness/report.ts';
import type { VmResult } from './harness/qemu.ts';

interface StatusJson {
  deployments: { checksum: string; version: string | null; booted: boolean; origin: string | null; osname: string; serial: number }[];
  'boot-counting': { kind: string; remaining?: number };
}

const art: Artifacts = loadArtifacts();
const deploymentPath = (v: string, serial = 0): string => `/ostree/deploy/testos/deploy/${art.commits[v]}.${serial}`;

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
    // The status table: * on the booted row, which follows vmtest:testos/x86_64/stable.
    expect(expectCommandOk(m, r, 'status-text')).toMatch(/^\* \d{4}-\d\d-\d\d \d\d:\d\d:\d\d\s+1\s+[0-9a-f]{10}\s+\S+\s+vmtest:testos\/x86_64\/stable$/m);
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

  // GRUB's boot-counting variables as GRUB left them on disk (it writes grubenv in place).
  const grubenv = (): Record<string, string> => {
    const text = m.image().readFile('boot', '/grub/grubenv') ?? '';
    return Object.fromEntries([...text.matchAll(/^(boot_[a-z_]+)=(.*)$/gm)].map((x) => [x[1]!, x[2]!]));
  };

  it('5. boot counting: a v3 that never confirms its boot runs out of attempts and v1 boots again on its own', (ctx) => step(ctx, async () => {
    // From v1 (booted, default), deploy v3 from the other branch: the new menu is v3, v1.
    const dep = await m.boot({ action: 'vmtest_run deploy atomic host deploy vmtest:testos/x86_64/next\nvmtest_run status atomic host status\n' });
    expectCleanBoot(m, dep);
    expect(dep.report.facts.version).toBe('1');
    expectCommandOk(m, dep, 'deploy');
    // Armed before the swap: 3 attempts for v3's entry (BootAttempts in status).
    expect(expectCommandOk(m, dep, 'status')).toMatch(/BootAttempts: 3 left until boot-complete/);
    const armed = grubenv();
    expect(armed.boot_counter, JSON.stringify(armed)).toBe('3');
    expect(armed.boot_success).toBe('0');
    expectDiskClean(m);

    // Three boots of v3, none of which runs boot-complete: GRUB counts each one down.
    for (const left of ['2', '1', '0']) {
      const r = await m.boot({ action: '' });
      expectCleanBoot(m, r);
      expect(r.report.facts.version, `${r.name}: v3 should boot while attempts are left`).toBe('3');
      expect(stripTerminalCodes(r.serial)).toContain(`atomic: boot_counter=${left} default=0`);
      expect(grubenv().boot_counter).toBe(left);
    }

    // Attempts used up: GRUB boots entry 1 (v1) by itself and records boot_counter=-1.
    const fb = await m.boot({
      action: [
        'vmtest_run status-text atomic host status',
        'vmtest_run status-json atomic host status --json',
        'vmtest_run boot-complete atomic host boot-complete',
        'vmtest_run status atomic host status --json',
      ].join('\n'),
    });
    expectCleanBoot(m, fb);
    expect(stripTerminalCodes(fb.serial)).toContain('atomic: boot_counter=-1 default=1');
    expect(fb.report.facts.version).toBe('1');
    expect(fb.report.facts.deployment).toMatch(new RegExp(`^/ostree/deploy/testos/deploy/${art.commits['1']}\\.\\d+$`));
    const text = expectCommandOk(m, fb, 'status-text');
    expect(text).toContain('Warning: the default deployment ran out of boot attempts; the bootloader booted the previous one');
    const before = JSON.parse(expectCommandOk(m, fb, 'status-json')) as StatusJson;
    expect(before['boot-counting'].kind).toBe('fell-back');
    expect(before.deployments.map((d) => [d.version, d.booted])).toEqual([['3', false], ['1', true]]);
    expect(expectCommandOk(m, fb, 'boot-complete')).toContain('the bootloader fell back to this deployment, which is the default again');
    const after = statusOf(m, fb);
    expect(after.deployments.map((d) => [d.version, d.booted])).toEqual([['1', true], ['3', false]]);
    expect(after['boot-counting'].kind).toBe('inactive');
    expectDiskClean(m);

    // v1 is the default again; GRUB counts nothing.
    const r = await m.boot({ action: '' });
    expectCleanBoot(m, r);
    expect(r.report.facts.version).toBe('1');
    expect(stripTerminalCodes(r.serial)).not.toContain('atomic: boot_counter=');
  }));

  afterAll(() => {
    if (!broken) m.discardDisk();
  });
});
