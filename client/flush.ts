// The flush before the commit point of a boot-config swap (format §9.4 step 6, ostree's
// full_system_sync): syncfs(sysroot); FIFREEZE+FITHAW of /boot, which forces the
// journal out because GRUB cannot replay it (syncfs where freezing is unsupported);
// then a global sync(). A watchdog thaws /boot if we die while it is frozen.

import { spawn } from 'node:child_process';
import { closeSync, openSync } from 'node:fs';
import { join } from 'node:path';
import { UpdaterError } from '../common/errors.ts';
import { syncfs } from '../common/libc.ts';
import { freezeThawFs, syncAll } from './sys.ts';

/** What the flush did, for tests and debugging. */
export interface FlushResult {
  /** True when /boot was frozen and thawed; false when the filesystem or the caller cannot (syncfs used instead). */
  froze: boolean;
}

/** syncfs on the filesystem holding `path`. */
export function syncfsPath(path: string): void {
  const fd = openSync(path, 'r');
  try {
    syncfs(fd, path);
  } finally {
    closeSync(fd);
  }
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

/** The full flush; call it right before the rename that commits a new boot configuration. */
export async function flushForSwap(sysroot: string): Promise<FlushResult> {
  syncfsPath(sysroot);
  const boot = join(sysroot, 'boot');
  const done = await startWatchdog(boot);
  let froze = false;
  const fd = openSync(boot, 'r');
  try {
    froze = freezeThawFs(fd, boot);
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
