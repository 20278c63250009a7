// Crash injection for the kill -9 tests: with ATOMIC_TEST_CRASH_AT=<step> the process
// SIGKILLs itself when it reaches that named step, exactly like a power cut of the
// process (no exit handlers, no flushing). Steps are listed in CRASH_POINTS.
// With ATOMIC_TEST_PHASE_FD=<fd> the process also reports each phase of a transaction
// as it enters it (`PHASE MS\n`, MS its own clock), so a harness that kills it at a
// random moment knows what it interrupted (client/crash-soak.test.ts).

import { writeSync } from 'node:fs';

/** Named steps of deploy/upgrade/rollback/cleanup, in the order they are reached. */
export const CRASH_POINTS = [
  'after-preflight', // commit, /etc plan and space checked; nothing written yet
  'after-checkout', // deployment tree checked out, no /etc yet
  'after-etc-merge', // /etc merged, origin not yet written
  'after-origin', // deployment complete, not referenced by any boot config
  'after-kernel-install', // kernel/initramfs copied into /boot/ostree
  'after-loader-entries', // loader.N/entries written, no bootlinks
  'after-bootlinks', // ostree/boot.N.S farm written
  'before-swap', // everything synced, /boot/loader still old
  'after-swap', // /boot/loader renamed to the new set
  'before-cleanup', // swap done and durable, old files still present
  'during-cleanup', // some old deployments removed
] as const;

export type CrashPoint = (typeof CRASH_POINTS)[number];

/** Kills the process with SIGKILL if ATOMIC_TEST_CRASH_AT names this step. */
export function crashPoint(step: CrashPoint): void {
  if (process.env.ATOMIC_TEST_CRASH_AT === step) process.kill(process.pid, 'SIGKILL');
}

/**
 * Phases of a host transaction, in the order an upgrade enters them: `start` (lock,
 * load, origin), `pull`, `deploy` (preflight, checkout), `etc-merge` (and the origin),
 * `kernel-install`, `swap` (entries, farm, refs, flush, the rename), `cleanup`,
 * `prune` (the repo prune that ends a cleanup), `done` (the lock released).
 */
export const PHASES = ['start', 'pull', 'deploy', 'etc-merge', 'kernel-install', 'swap', 'cleanup', 'prune', 'done'] as const;

export type Phase = (typeof PHASES)[number];

/** Reports entering `p` on the ATOMIC_TEST_PHASE_FD descriptor, when that is set. */
export function phase(p: Phase): void {
  const fd = process.env.ATOMIC_TEST_PHASE_FD;
  if (fd === undefined) return;
  try {
    writeSync(Number(fd), `${p} ${performance.now().toFixed(3)}\n`);
  } catch {
    // A descriptor that is not open: nobody is listening.
  }
}
