// The flush before the commit point of a boot-config swap (format §9.4 step 6, ostree's
// full_system_sync): syncfs(sysroot); FIFREEZE+FITHAW of /boot, which forces the
// journal out because GRUB cannot replay it (syncfs where freezing is unsupported);
// then a global sync(). A watchdog thaws /boot if we die while it is frozen.

import { spawn } from 'node:child_process';
import { closeSync, openSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { UpdaterError } from '../common/errors.ts';
import { syncfsPath } from '../common/fs.ts';
import { freezeThaw, syncfs } from '../common/libc.ts';
import { syncAll } from './sys.ts';

export { syncfsPath };

/** What the flush did, for tests and debugging. */
export interface FlushResult {
  /** True when /boot was frozen and thawed; false when the filesystem or the caller cannot (syncfs used instead). */
  froze: boolean;
}


/**
 * Starts the watchdog: a detached bash that ignores SIGINT/SIGTERM and waits up to 30 s
 * for "thawed" on its stdin. EOF (we were killed) or the timeout thaws `dir` with
 * fsfreeze -u (harmless when it is not frozen). Resolves once the traps are set.
 */
async function startWatchdog(dir: string): Promise<(ok: boolean) => void> {
  const script = 'trap "" INT TERM HUP; echo ready; IFS= read -r -t 30 msg; [ "$msg" = thawed ] || fsfreeze -u "$0" 2>/dev/null; exit 0';
  const child = spawn('bash', ['-c', script, dir], { detached: true, stdio: ['pipe', 'pipe', 'ignore'] });
  await new Promise<void>((resolve, reject) => {
    child.once('error', (err) => reject(new UpdaterError('BOOT_FLUSH_FAILED', `starting the /boot thaw watchdog: ${err.message}`, { cause: err })));
    child.stdout.once('data', () => resolve());
  });
  child.unref();
  return (ok: boolean) => {
    child.stdin.end(ok ? 'thawed\n' : '');
    child.stdout.destroy();
  };
}

/**
 * Freeze /boot only where it matters and is safe: the running host's own /boot
 * (sysroot `/`), or a /boot that is its own filesystem (an image being prepared on
 * its real partitions). A sysroot in a plain directory shares its filesystem with
 * the machine doing the work; freezing that would stall every writer on it, and no
 * bootloader reads it.
 */
function shouldFreeze(sysroot: string, boot: string): boolean {
  if (process.env.ATOMIC_FREEZE_BOOT === '1') return true;
  if (process.env.ATOMIC_FREEZE_BOOT === '0') return false;
  if (sysroot === '/' || sysroot === '') return true;
  return statSync(boot).dev !== statSync(sysroot).dev;
}

/** The full flush; call it right before the rename that commits a new boot configuration. */
export async function flushForSwap(sysroot: string): Promise<FlushResult> {
  syncfsPath(sysroot);
  const boot = join(sysroot, 'boot');
  if (!shouldFreeze(sysroot, boot)) {
    syncfsPath(boot);
    syncAll();
    return { froze: false };
  }
  const done = await startWatchdog(boot);
  let froze = false;
  const fd = openSync(boot, 'r');
  try {
    froze = freezeThaw(fd, boot);
    if (!froze) syncfs(fd, boot);
    done(true);
  } catch (err) {
    done(false);
    throw err;
  } finally {
    closeSync(fd);
  }
  syncAll();
  return { froze };
}
