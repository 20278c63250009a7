// A writer thread of ./object-writer.ts: writes each object file it is sent (its bytes in
// the shared ring, or sent along) and answers, per batch, which succeeded and why any failed.

import { mkdirSync, renameSync } from 'node:fs';
import { dirname } from 'node:path';
import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';
import { parentPort, workerData } from 'node:worker_threads';
import { UpdaterError } from '../../common/errors.ts';
import type { WorkerFailure, WriteJob } from './object-writer.ts';
import { writeObjectFile } from './write-object.ts';

const ring = (workerData as { ring: SharedArrayBuffer }).ring;

// Inflating and deflating allocate a buffer per object outside the JavaScript heap, which
// this thread barely uses: V8 would let tens of MiB of them pile up before collecting.
// A young-generation collection after every few MiB keeps them few.
setFlagsFromString('--expose-gc');
const gc = runInNewContext('gc') as (o?: { type: 'minor' | 'major' }) => void;
const COLLECT_EVERY = 8 * 1024 * 1024;
let allocated = 0;

parentPort!.on('message', (batch: WriteJob[]) => {
  const done: Array<{ id: number; error?: WorkerFailure }> = [];
  for (const job of batch) {
    if ('renames' in job) {
      renameAll(job.renames);
      done.push({ id: job.id });
      continue;
    }
    const { id, w, ring: at } = job;
    try {
      writeObjectFile(at === null ? w : { ...w, bytes: new Uint8Array(ring, at[0], at[1]) });
      done.push({ id });
      if (w.inflate !== undefined) allocated += w.inflate.size;
      else if (w.deflateAfter !== undefined || at === null) allocated += at === null ? w.bytes.byteLength : at[1];
    } catch (err) {
      const e = err as NodeJS.ErrnoException;
      done.push({ id, error: { message: e.message ?? String(err), code: e.code, errno: e.errno, syscall: e.syscall, path: e.path, updater: err instanceof UpdaterError } });
    }
  }
  parentPort!.postMessage(done);
  if (allocated >= COLLECT_EVERY) {
    allocated = 0;
    gc({ type: 'minor' });
  }
});

/** Renames each file, creating a missing target directory; one that fails is left as it is. */
function renameAll(renames: Array<[string, string]>): void {
  for (const [from, to] of renames) {
    try {
      renameSync(from, to);
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'ENOENT') continue;
      try {
        mkdirSync(dirname(to), { recursive: true });
        renameSync(from, to);
      } catch {
        // Left in place.
      }
    }
  }
}
