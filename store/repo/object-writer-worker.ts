// A writer thread of ./object-writer.ts: writes each object file it is sent (its bytes in
// the shared ring, or sent along) and answers, per batch, which succeeded and why any failed.

import { parentPort, workerData } from 'node:worker_threads';
import { UpdaterError } from '../../common/errors.ts';
import type { WorkerFailure, WriteJob } from './object-writer.ts';
import { writeObjectFile } from './write-object.ts';

const ring = (workerData as { ring: SharedArrayBuffer }).ring;

parentPort!.on('message', (batch: WriteJob[]) => {
  const done: Array<{ id: number; error?: WorkerFailure }> = [];
  for (const { id, w, ring: at } of batch) {
    try {
      writeObjectFile(at === null ? w : { ...w, bytes: new Uint8Array(ring, at[0], at[1]) });
      done.push({ id });
    } catch (err) {
      const e = err as NodeJS.ErrnoException;
      done.push({ id, error: { message: e.message ?? String(err), code: e.code, errno: e.errno, syscall: e.syscall, path: e.path, updater: err instanceof UpdaterError } });
    }
  }
  parentPort!.postMessage(done);
});
