// The repository lock: an OFD lock on `.lock`, the file ostree locks. Writers
// (transactions, prune) hold it exclusively, so a second writer waits; readers
// need none because objects are immutable and refs change by rename.

import { open, type FileHandle } from 'node:fs/promises';
import { join } from 'node:path';
import { UpdaterError } from '../../common/errors.ts';
import { tryLockFd } from '../../common/libc.ts';

export interface RepoLock {
  release(): Promise<void>;
}

export interface LockOptions {
  /** Give up after this many seconds (ostree's lock-timeout-secs, default 300). */
  timeoutSeconds?: number;
  /** Called once when the lock is busy and we start waiting. */
  onWait?: () => void;
}

/** Takes the exclusive repository lock, polling while another process holds it. */
export async function lockRepo(repoPath: string, opts: LockOptions = {}): Promise<RepoLock> {
  const path = join(repoPath, '.lock');
  const fh: FileHandle = await open(path, 'a+', 0o600);
  const deadline = Date.now() + (opts.timeoutSeconds ?? 300) * 1000;
  let waited = false;
  try {
    while (!tryLockFd(fh.fd, 'exclusive', path)) {
      if (!waited) opts.onWait?.();
      waited = true;
      if (Date.now() > deadline) {
        throw new UpdaterError('STORE_LOCK_TIMEOUT', `timed out waiting for the repository lock ${path}`, { hint: 'another process is writing to this repository' });
      }
      await new Promise((r) => setTimeout(r, 50));
    }
  } catch (err) {
    await fh.close();
    throw err;
  }
  return {
    async release() {
      // Closing the file description drops the OFD lock.
      await fh.close();
    },
  };
}
