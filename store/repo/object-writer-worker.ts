// A writer thread of ./object-writer.ts: writes each object file it is sent (its bytes in
// the shared ring, or sent along) and answers, per batch, which succeeded and why any failed.

import { mkdirSync, renameSync } from 'node:fs';
import { dirname } from 'node:path';
import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';
import { parentPort, workerData } from 'node:worker_threads';
import { UpdaterError } from '../../common/errors.ts';
import type { WorkerFailure, WriteBatch } from './object-writer.ts';
import { writeObjectFile, type ObjectWrite } from './write-object.ts';

const ring = (workerData as { ring: SharedArrayBuffer }).ring;

// Inflating and deflating allocate a buffer per object outside the JavaScript heap, which
// this thread barely uses: V8 would let tens of MiB of them pile up before collecting.
// A young-generation collection after every few MiB keeps them few.
setFlagsFromString('--expose-gc');
const gc = runInNewContext('gc') as (o?: { type: 'minor' | 'major' }) => void;
const COLLECT_EVERY = 8 * 1024 * 1024;
let allocated = 0;

parentPort!.on('message', (batch: WriteBatch) => {
  const done: Array<{ id: number; error?: WorkerFailure }> = [];
  const flat = batch.flat;
  for (let i = 0; i < flat.length;) {
    const id = flat[i] as number;
    const start = flat[i + 1] as number;
    const size = flat[i + 2] as number;
    const chmod = flat[i + 5] as number;
    const uid = flat[i + 6] as number;
    const nx = flat[i + 9] as number;
    const xattrs: ObjectWrite['xattrs'] = [];
    for (let k = 0; k < nx; k++) xattrs.push({ name: flat[i + 10 + 2 * k] as string, value: flat[i + 11 + 2 * k] as Uint8Array });
    const w: ObjectWrite = {
      tmp: flat[i + 3] as string,
      dest: flat[i + 4] as string,
      symlink: null,
      bytes: new Uint8Array(ring, start, size),
      chmod: chmod < 0 ? null : chmod,
      owner: uid < 0 ? null : [uid, flat[i + 7] as number],
      zeroMtime: flat[i + 8] === 1,
      xattrs,
    };
    i += 10 + 2 * nx;
    write(id, w, done);
  }
  for (const job of batch.jobs) {
    if ('renames' in job) {
      renameAll(job.renames);
      done.push({ id: job.id });
      continue;
    }
    const { id, w, ring: at } = job;
    if (write(id, at === null ? w : { ...w, bytes: new Uint8Array(ring, at[0], at[1]) }, done)) {
      if (w.inflate !== undefined) allocated += w.inflate.size;
      else if (w.deflateAfter !== undefined || at === null) allocated += at === null ? w.bytes.byteLength : at[1];
    }
  }
  parentPort!.postMessage(done);
  if (allocated >= COLLECT_EVERY) {
    allocated = 0;
    gc({ type: 'minor' });
  }
});

/** Writes one object, recording its outcome in `done`; true when it was written. */
function write(id: number, w: ObjectWrite, done: Array<{ id: number; error?: WorkerFailure }>): boolean {
  try {
    writeObjectFile(w);
    done.push({ id });
    return true;
  } catch (err) {
    const e = err as NodeJS.ErrnoException;
    done.push({ id, error: { message: e.message ?? String(err), code: e.code, errno: e.errno, syscall: e.syscall, path: e.path, updater: err instanceof UpdaterError } });
    return false;
  }
}

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
