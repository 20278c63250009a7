// Writer threads for object files. A pull's or a commit's main thread reads, inflates and
// hashes objects; creating the files (open, write, chmod, xattr, utimes, rename: mostly
// kernel time, plus the compression of an archive repo's objects) goes to these threads,
// so the work overlaps on other cores as ostree's worker threads do. Jobs posted in the
// same tick travel in one message.
//
// The bytes travel through one shared ring buffer: the main thread copies an object in,
// the thread writes it from there, and the space is reused once it is written. Nothing is
// allocated per object, so memory stays flat however many objects pass (an object that
// does not fit the ring's free space goes over as a transferred buffer of its own).

import { availableParallelism } from 'node:os';
import { Worker } from 'node:worker_threads';
import { UpdaterError } from '../../common/errors.ts';
import type { ObjectWrite } from './write-object.ts';

/** Unwritten bytes the threads may hold before writeRoom() makes callers wait. */
const MAX_PENDING_BYTES = 8 * 1024 * 1024;
/** The shared ring: twice the pending limit, so an object below the limit nearly always fits. */
const RING_BYTES = 2 * MAX_PENDING_BYTES;
/** A thread with more than this unwritten makes the next batch start another thread (up to maxThreads). */
const BUSY_BYTES = 2 * 1024 * 1024;

/**
 * What a thread receives per object: the write, and where its bytes are in the ring (or in
 * `w.bytes`); or a list of files to rename (from, to), each creating its target's directory
 * when missing.
 */
export type WriteJob = { id: number; w: ObjectWrite; ring: [number, number] | null } | { id: number; renames: Array<[string, string]> };

/**
 * A batch as posted to a thread. The common write (a plain file whose bytes are in the
 * ring) travels in `flat` as a run of values instead of an object: cloning a few numbers
 * and strings costs less than cloning an object with its keys, for each of tens of
 * thousands of objects. Per write: id, ring start, size, tmp, dest, chmod (-1: none),
 * owner uid and gid (-1: none), zeroMtime (0/1), the number of xattrs, then each xattr's
 * name and value.
 */
export interface WriteBatch {
  jobs: WriteJob[];
  flat: Array<number | string | Uint8Array>;
}

interface Pending {
  done: (err: Error | null) => void;
  size: number;
  thread: Thread;
  region: Region | null;
}

interface Region {
  start: number;
  end: number;
  done: boolean;
}

interface Thread {
  worker: Worker;
  pendingBytes: number;
  batch: WriteJob[];
  flat: WriteBatch['flat'];
  transfer: ArrayBuffer[];
}

export interface WorkerFailure {
  message: string;
  code?: string;
  errno?: number;
  syscall?: string;
  path?: string;
  /** It was an UpdaterError (its code is one of ours, not an errno name). */
  updater?: boolean;
}

export class ObjectWriter {
  private readonly threads: Thread[] = [];
  private readonly maxThreads: number;
  private readonly pending = new Map<number, Pending>();
  private readonly ring = new SharedArrayBuffer(RING_BYTES);
  private readonly ringView = new Uint8Array(this.ring);
  /** Regions of the ring in use, oldest first; space is reclaimed from the front. */
  private regions: Region[] = [];
  private head = 0;
  private nextId = 0;
  private pendingBytes = 0;
  private flushQueued = false;
  private roomWaiters: Array<() => void> = [];
  private drainWaiters: Array<() => void> = [];
  private broken: Error | null = null;

  /** `maxThreads`: at most this many threads (default: two where the machine has two cores or more). */
  constructor(maxThreads = Math.min(2, availableParallelism())) {
    this.maxThreads = Math.max(1, maxThreads);
  }

  /** Writes the object file; resolves once it is renamed into place. */
  write(w: ObjectWrite): Promise<void> {
    return new Promise((resolve, reject) => this.send(w, (err) => (err === null ? resolve() : reject(err))));
  }

  /** Writes the object file; `done` is called once, with null when it is renamed into place. */
  send(w: ObjectWrite, done: (err: Error | null) => void): void {
    if (this.broken) {
      const err = this.broken;
      queueMicrotask(() => done(err));
      return;
    }
    const id = this.nextId++;
    const thread = this.pickThread();
    const size = w.bytes.byteLength;
    const region = size > 0 ? this.alloc(size) : null;
    if (region !== null && w.symlink === null && w.deflateAfter === undefined && w.inflate === undefined) {
      this.ringView.set(w.bytes, region.start);
      const f = thread.flat;
      f.push(id, region.start, size, w.tmp, w.dest, w.chmod ?? -1, w.owner?.[0] ?? -1, w.owner?.[1] ?? -1, w.zeroMtime ? 1 : 0, w.xattrs.length);
      for (const x of w.xattrs) f.push(x.name, x.value);
    } else if (region !== null) {
      this.ringView.set(w.bytes, region.start);
      thread.batch.push({ id, w: { ...w, bytes: new Uint8Array(0) }, ring: [region.start, size] });
    } else {
      // Over by transfer: a buffer that shares memory with others is copied first.
      let bytes = w.bytes;
      if (bytes.byteOffset !== 0 || bytes.byteLength !== bytes.buffer.byteLength || !(bytes.buffer instanceof ArrayBuffer)) bytes = new Uint8Array(bytes);
      if (bytes.byteLength > 0) thread.transfer.push(bytes.buffer as ArrayBuffer);
      thread.batch.push({ id, w: { ...w, bytes }, ring: null });
    }
    thread.pendingBytes += size;
    this.pendingBytes += size;
    if (!this.flushQueued) {
      this.flushQueued = true;
      setImmediate(() => this.flush());
    }
    this.pending.set(id, { done, size, thread, region });
  }

  /**
   * Renames files on a thread (staged objects into objects/); `done` is called once they
   * were all tried. One that fails stays where it was, for the caller to deal with.
   */
  renameAll(renames: Array<[string, string]>, done: () => void): void {
    if (this.broken) {
      queueMicrotask(done);
      return;
    }
    const id = this.nextId++;
    const thread = this.pickThread();
    thread.batch.push({ id, renames });
    if (!this.flushQueued) {
      this.flushQueued = true;
      setImmediate(() => this.flush());
    }
    this.pending.set(id, { done: () => done(), size: 0, thread, region: null });
  }

  /** Resolves when the unwritten data is below the limit. */
  room(): Promise<void> {
    if (this.pendingBytes < MAX_PENDING_BYTES || this.broken) return Promise.resolve();
    return new Promise((r) => this.roomWaiters.push(r));
  }

  /** Waits until every write so far has finished (or failed). */
  drain(): Promise<void> {
    this.flush();
    if (this.pending.size === 0) return Promise.resolve();
    return new Promise((r) => this.drainWaiters.push(r));
  }

  async close(): Promise<void> {
    await this.drain();
    this.broken ??= new Error('object writer closed');
    await Promise.all(this.threads.map((t) => t.worker.terminate()));
  }

  /** The least loaded thread; another one is started while every thread is busy. */
  private pickThread(): Thread {
    let best: Thread | null = null;
    for (const t of this.threads) if (best === null || t.pendingBytes < best.pendingBytes) best = t;
    if (best !== null && (best.pendingBytes <= BUSY_BYTES || this.threads.length >= this.maxThreads)) return best;
    return this.startThread();
  }

  private startThread(): Thread {
    // Beside this module: the .ts source, or the bundled .js build (scripts/build.ts).
    const ext = import.meta.url.endsWith('.ts') ? 'ts' : 'js';
    const worker = new Worker(new URL(`./object-writer-worker.${ext}`, import.meta.url), { workerData: { ring: this.ring }, resourceLimits: { maxYoungGenerationSizeMb: 4 } });
    worker.unref();
    worker.on('message', (done: Array<{ id: number; error?: WorkerFailure }>) => {
      for (const d of done) this.settle(d.id, d.error);
    });
    worker.on('error', (err) => this.breakAll(err));
    worker.on('exit', (code) => this.breakAll(new Error(`object writer thread exited (code ${code})`)));
    const t: Thread = { worker, pendingBytes: 0, batch: [], flat: [], transfer: [] };
    this.threads.push(t);
    return t;
  }

  /** A region of `size` bytes of the ring, or null when it has no such contiguous space free. */
  private alloc(size: number): Region | null {
    if (size > RING_BYTES / 2) return null;
    if (this.regions.length === 0) this.head = 0;
    const tail = this.regions.length === 0 ? 0 : this.regions[0]!.start;
    let start: number;
    if (this.regions.length === 0 || this.head > tail) {
      // Free: [head, end) and [0, tail).
      if (RING_BYTES - this.head >= size) start = this.head;
      else if (tail > size) start = 0;
      else return null;
    } else {
      // Free: [head, tail).
      if (tail - this.head > size) start = this.head;
      else return null;
    }
    const r: Region = { start, end: start + size, done: false };
    this.regions.push(r);
    this.head = r.end;
    return r;
  }

  private flush(): void {
    this.flushQueued = false;
    if (this.broken) return;
    for (const t of this.threads) {
      if (t.batch.length === 0 && t.flat.length === 0) continue;
      const batch: WriteBatch = { jobs: t.batch, flat: t.flat };
      t.worker.postMessage(batch, t.transfer);
      t.batch = [];
      t.flat = [];
      t.transfer = [];
    }
  }

  private settle(id: number, error: WorkerFailure | undefined): void {
    const p = this.pending.get(id);
    if (!p) return;
    this.pending.delete(id);
    this.pendingBytes -= p.size;
    p.thread.pendingBytes -= p.size;
    if (p.region !== null) {
      p.region.done = true;
      while (this.regions.length > 0 && this.regions[0]!.done) this.regions.shift();
    }
    p.done(error ? rebuild(error) : null);
    if (this.pendingBytes < MAX_PENDING_BYTES) for (const r of this.roomWaiters.splice(0)) r();
    if (this.pending.size === 0) for (const r of this.drainWaiters.splice(0)) r();
  }

  private breakAll(err: Error): void {
    if (this.broken) return;
    this.broken = err;
    for (const [id, p] of this.pending) {
      this.pending.delete(id);
      p.done(err);
    }
    this.pendingBytes = 0;
    for (const r of this.roomWaiters.splice(0)) r();
    for (const r of this.drainWaiters.splice(0)) r();
  }
}

function rebuild(f: WorkerFailure): Error {
  if (f.updater && f.code) return Object.assign(new UpdaterError(f.code as never, f.message), { errno: f.errno });
  return Object.assign(new Error(f.message), { code: f.code, errno: f.errno, syscall: f.syscall, path: f.path });
}
