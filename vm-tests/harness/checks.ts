// Assertions shared by the vm-tests scenario files: a boot that completed, a guest
// command that succeeded, and disk checks from the host.

import { expect } from 'vitest';
import type { Machine } from './machine.ts';
import type { VmResult } from './qemu.ts';
import { commandText, describeBoot } from './report.ts';

/** Fails with the boot's summary and where its log and disk are kept. */
export function expectCleanBoot(m: Machine, r: VmResult): void {
  const where = `serial log ${r.serialLog}, disk ${m.disk}`;
  expect(r.timedOut, `${r.name} timed out (${where}): ${describeBoot(r.report)}`).toBe(false);
  expect(r.report.initramfsFailure, `${r.name}: initramfs failed (${where})`).toBeNull();
  expect(r.report.panic, `${r.name}: kernel panic (${where})`).toBeNull();
  expect(r.report.done, `${r.name}: the guest did not finish its action (${where}): ${describeBoot(r.report)}`).not.toBeNull();
  expect(r.exitCode, `${r.name}: QEMU exit status (${where}); stderr: ${r.stderr}`).toBe(0);
}

/** The output of the guest's `vmtest_run NAME …`, which must have exited 0. */
export function expectCommandOk(m: Machine, r: VmResult, name: string): string {
  const text = commandText(r.report, name);
  expect(r.report.commands[name]!.rc, `${r.name}: \`${name}\` in the guest failed (serial log ${r.serialLog}):\n${text}`).toBe(0);
  return text;
}
