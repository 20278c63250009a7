// The second thread of a large checkout (./checkout.ts): opens the same repository and
// checks out the files of each directory it is sent, answering with its counts or why
// it failed.

import { parentPort, workerData } from 'node:worker_threads';
import { isUpdaterError } from '../common/errors.ts';
import { Limiter } from '../common/limit.ts';
import { checkoutFiles, type CheckoutThreadInit, type FileCtx } from './checkout.ts';
import type { DirTreeFile } from './objects/index.ts';
import { Repo } from './repo/repo.ts';

const init = workerData as CheckoutThreadInit;
const ready = Repo.open(init.repoPath).then((repo): FileCtx => ({
  repo,
  opts: init.opts,
  limiter: new Limiter(16),
  stats: { files: 0, hardlinked: 0, copied: 0, dirs: 0, byThread: 0 },
  canLink: init.canLink,
  linkObjects: init.linkObjects,
}));

// One directory at a time, in the order sent.
let queue: Promise<void> = Promise.resolve();
parentPort!.on('message', (job: { id: number; dest: string; files: DirTreeFile[] }) => {
  queue = queue.then(async () => {
    try {
      const ctx = await ready;
      const stats = { files: 0, hardlinked: 0, copied: 0, dirs: 0, byThread: 0 };
      await checkoutFiles({ ...ctx, stats }, job.dest, job.files);
      parentPort!.postMessage({ id: job.id, stats });
    } catch (err) {
      const e = err as Error;
      parentPort!.postMessage({ id: job.id, error: { message: e.message ?? String(err), code: isUpdaterError(err) ? err.code : undefined, hint: isUpdaterError(err) ? err.hint : undefined } });
    }
  });
});
