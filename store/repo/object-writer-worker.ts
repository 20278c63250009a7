// The writer thread of ./object-writer.ts: writes each object file it is sent
// and answers, per batch, which succeeded and why any failed.

import { parentPort } from 'node:worker_threads';
import { UpdaterError } from '../../common/errors.ts';
import type { WorkerFailure } from './object-writer.ts';
import { writeObjectFile, type ObjectWrite } from './write-object.ts';

parentPort!.on('message', (batch: Array<{ id: number; w: ObjectWrite }>) => {
  const done: Array<{ id: number; error?: WorkerFailure }> = [];
  for (const { id, w } of batch) {
    try {
      writeObjectFile(w);
      done.push({ id });
    } catch (err) {
      const e = err as NodeJS.ErrnoException;
      done.push({ id, error: { message: e.message ?? String(err), code: e.code, errno: e.errno, syscall: e.syscall, path: e.path, updater: err instanceof UpdaterError } });
    }
  }
  parentPort!.postMessage(done);
});
