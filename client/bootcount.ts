// Boot counting on the host side (protocol in bootloader/grub.ts): reading what GRUB
// left in /boot/grub/grubenv for `status`, and `atomic host boot-complete`, which
// confirms a good boot, or after a fallback makes the booted deployment the default.

import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { UpdaterError } from '../common/errors.ts';
import { writeFileAtomic } from '../common/fs-atomic.ts';
import { bootCountingEntryId, markBootSuccessful, parseGrubEnv, readBootCounting, renderGrubEnv, type BootCountingState } from '../bootloader/index.ts';
import { writeGrubenvInPlace } from './swap.ts';
import { getBootloader, loadSysroot, sameDeployment, type Sysroot } from './sysroot.ts';
import { rollback, type HostOptions } from './upgrade.ts';

export const GRUBENV_SUBPATH = 'boot/grub/grubenv';

async function readGrubenv(sysroot: string): Promise<{ bytes: Buffer; vars: Record<string, string> } | null> {
  const path = join(sysroot, GRUBENV_SUBPATH);
  const bytes = await readFile(path).catch(() => null);
  if (bytes === null) return null;
  return { bytes, vars: parseGrubEnv(bytes, path) };
}

/** What the counter says about the current menu (inactive without grub2 or a grubenv). */
export async function bootCountingState(s: Sysroot): Promise<BootCountingState> {
  if (getBootloader(s.repo) !== 'grub2' || s.deployments.length === 0) return { kind: 'inactive' };
  const env = await readGrubenv(s.path);
  const entry0 = s.deployments[0]!.entry;
  if (env === null || entry0 === null) return { kind: 'inactive' };
  return readBootCounting(env.vars, bootCountingEntryId(entry0));
}

export interface BootCompleteResult {
  /** The bootloader had fallen back: the booted deployment was made the default again. */
  fellBack: boolean;
  /** grubenv was rewritten (boot_success=1, counter cleared). */
  marked: boolean;
  /** Boot counting is not in use (bootloader is not grub2). */
  inactive: boolean;
}

/**
 * `atomic host boot-complete`, run once the booted system is healthy. After a fallback
 * (attempts of the new default ran out and GRUB booted entry 1), the booted deployment is
 * made the default first, so that a crash in between still boots it; then the counter is
 * cleared. A boot of entry 1 picked by hand while entry 0 is still on probation leaves
 * grubenv alone.
 */
export async function bootComplete(o: HostOptions): Promise<BootCompleteResult> {
  let s = await loadSysroot(o.sysroot, o);
  if (getBootloader(s.repo) !== 'grub2') return { fellBack: false, marked: false, inactive: true };
  if (s.booted === null) {
    throw new UpdaterError('DEPLOY_NOT_BOOTED', `${o.sysroot} is not the booted sysroot: no deployment matches the running system`, {
      hint: 'run boot-complete on the booted host (or give the kernel command line with ATOMIC_PROC_CMDLINE)',
    });
  }
  const state = await bootCountingState(s);
  const bootedIsDefault = sameDeployment(s.booted, s.deployments[0]);
  let fellBack = false;
  if (state.kind === 'fell-back' && !bootedIsDefault) {
    await rollback(o);
    fellBack = true;
    s = await loadSysroot(o.sysroot, o);
  } else if (state.kind === 'trying' && !bootedIsDefault) {
    return { fellBack: false, marked: false, inactive: false };
  }
  const env = await readGrubenv(s.path);
  const path = join(s.path, GRUBENV_SUBPATH);
  const next = markBootSuccessful(env?.vars ?? {});
  if (env !== null && JSON.stringify(next) === JSON.stringify(env.vars)) return { fellBack, marked: false, inactive: false };
  if (env === null) await writeFileAtomic(path, renderGrubEnv(next));
  else await writeGrubenvInPlace(path, renderGrubEnv(next, env.bytes.length));
  return { fellBack, marked: true, inactive: false };
}
