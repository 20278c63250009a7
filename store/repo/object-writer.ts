// A writer thread for object files. A pull's main thread receives, inflates and
// hashes objects; creating the files (open, write, chmod, xattr, utimes, rename:
// mostly kernel time) goes to this thread, so the two overlap on a second core as
// ostree's worker threads do. Jobs posted in the same tick travel in one message.

import { Worker } from 'node:worker_threads';
import { UpdaterError } from '../../common/errors.ts';
import type { ObjectWrite } from './write-object.ts';

/** Unwritten bytes the thread may hold before writeRoom() makes callers wait. */
const MAX_PENDING_BYTES = 32 * 1024 * 1024;

interface Pending {
  resolve: () => void;
  reject: (e: Error) => void;
  size: number;
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
  private readonly worker: Worker;
  private readonly pending = new Map<number, Pending>();
  private batch: Array<{ id: number; w: ObjectWrite }> = [];
  private transfer: ArrayBuffer[] = [];
  private nextId = 0;
  private pendingBytes = 0;
  private roomWaiters: Array<() => void> = [];
  private drainWaiters: Array<() => void> = [];
  private broken: Error | null = null;

  constructor() {
    // Beside this module: the .ts source, or the bundled .js build (scripts/build.ts).
    const ext = import.meta.url.endsWith('.ts') ? 'ts' : 'js';
    this.worker = new Worker(new URL(`./object-writer-worker.${ext}`, import.meta.url));
    this.worker.unref();
    this.worker.on('message', (done: Array<{ id: number; error?: WorkerFailure }>) => {
      for (const d of done) this.settle(d.id, d.error);
    });
    this.worker.on('error', (err) => this.breakAll(err));
    this.worker.on('exit', (code) => this.breakAll(new Error(`object writer thread exited (code ${code})`)));
  }

  /** Writes the object file; resolves once it is renamed into place. */
  write(w: ObjectWrite): Promise<void> {
    if (this.broken) return Promise.reject(this.broken);
    const id = this.nextId++;
    // The bytes go over by transfer: a buffer that shares memory with others is copied first.
    let bytes = w.bytes;
    if (bytes.byteOffset !== 0 || bytes.byteLength !== bytes.buffer.byteLength || !(bytes.buffer instanceof ArrayBuffer)) bytes = new Uint8Array(bytes);
    if (bytes.byteLength > 0) this.transfer.push(bytes.buffer as ArrayBuffer);
    this.batch.push({ id, w: { ...w, bytes } });
    if (this.batch.length === 1) setImmediate(() => this.flush());
    this.pendingBytes += bytes.byteLength;
    return new Promise<void>((resolve, reject) => this.pending.set(id, { resolve, reject, size: bytes.byteLength }));
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
    await this.worker.terminate();
  }

  private flush(): void {
    if (this.batch.length === 0 || this.broken) return;
    this.worker.postMessage(this.batch, this.transfer);
    this.batch = [];
    this.transfer = [];
  }

  private settle(id: number, error: WorkerFailure | undefined): void {
    const p = this.pending.get(id);
    if (!p) return;
    this.pending.delete(id);
    this.pendingBytes -= p.size;
    if (error) p.reject(rebuild(error));
    else p.resolve();
    if (this.pendingBytes < MAX_PENDING_BYTES) for (const r of this.roomWaiters.splice(0)) r();
    if (this.pending.size === 0) for (const r of this.drainWaiters.splice(0)) r();
  }

  private breakAll(err: Error): void {
    if (this.broken) return;
    this.broken = err;
    for (const [id, p] of this.pending) {
      this.pending.delete(id);
      p.reject(err);
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
