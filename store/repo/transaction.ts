// Write transactions (ostree-format.md §1 "Write transaction"): objects are
// staged in tmp/staging-BOOTID-RANDOM/ as CHECKSUM.EXT (flat: no 256 directories
// to create per transaction), each fully written then renamed into the staging dir; commit() makes them durable with syncfs, renames them into
// objects/ (content and trees before commits), syncs again, then writes refs.
// A crash before commit() leaves only staging files, reused by the next
// transaction of the same boot (they are in the page cache) and discarded after a reboot.

import { createHash, randomBytes } from 'node:crypto';
import {
  closeSync, createReadStream, createWriteStream, fchmodSync, fchownSync, futimesSync, lchownSync, lutimesSync, mkdirSync, openSync,
  readdirSync, readFileSync, renameSync, rmSync, statSync, symlinkSync, writeFileSync, writeSync,
} from 'node:fs';
import { copyFile, mkdir, open, readdir, readFile, rm } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { pipeline } from 'node:stream/promises';
import { createDeflateRaw } from 'node:zlib';
import { isErrno, isUpdaterError, UpdaterError } from '../../common/errors.ts';
import { inflateFile } from '../../common/inflate-file.ts';
import { fsetXattr, linkUnnamed, openUnnamed, setXattr, syncfs, syncfsAsync } from '../../common/libc.ts';
import {
  contentStreamPrefix, encodeArchivePrefix, encodeDirmeta, isLinkMode, sha256Hex, type FileHeader, type ObjectKind,
} from '../objects/index.ts';
import { lockRepo, type LockOptions, type RepoLock } from './lock.ts';
import { ObjectWriter } from './object-writer.ts';
import type { Repo } from './repo.ts';
import { applyMetaFd, writeAll, writeObjectFile, writeWholeFile, type ObjectMeta, type ObjectWrite } from './write-object.ts';

/** A staged object's name: CHECKSUM.EXT. */
const STAGED_NAME = /^[0-9a-f]{64}\.(file|filez|dirtree|dirmeta|commit|commitmeta)$/;

/**
 * Objects a transaction writes on its own thread before writeVerifiedContent() starts a
 * writer thread: starting one costs ~0.1 s of CPU (and the first writes wait for it),
 * more than a few hundred small objects take to write inline.
 */
const INLINE_WRITES = 1000;
/**
 * After this many bytes of content are staged, a syncfs starts on another thread (one at a
 * time): the disk writes them while the transaction goes on, instead of all of it waiting
 * for the sync in commit(). Durability is unchanged: commit() still syncs before renaming.
 */
const FLUSH_EVERY = 16 * 1024 * 1024;

/** Files up to this size are read into memory once and hashed/written from the buffer. */
export const IN_MEMORY_LIMIT = 16 * 1024 * 1024;

/** Where a content object's data comes from. */
export type ContentSource = { path: string } | { data: Uint8Array };

export interface TransactionStats {
  metadataWritten: number;
  contentWritten: number;
  contentBytesWritten: number;
  /** Of contentWritten, the objects the writer thread wrote. */
  contentWrittenByThread: number;
}

let bootIdCache: string | null = null;
async function bootId(): Promise<string> {
  if (bootIdCache === null) {
    const raw = await readFile('/proc/sys/kernel/random/boot_id', 'utf8').catch(() => 'unknown-boot');
    bootIdCache = raw.trim().replace(/-/g, '');
  }
  return bootIdCache;
}

export class Transaction {
  readonly repo: Repo;
  readonly staging: string;
  readonly stats: TransactionStats = { metadataWritten: 0, contentWritten: 0, contentBytesWritten: 0, contentWrittenByThread: 0 };
  private readonly lock: RepoLock;
  private readonly refUpdates: Array<[string | null, string, string | null]> = [];
  /** `csum.kind` of objects known to be staged, so repeats skip the stat. */
  private readonly staged = new Set<string>();
  /** `csum.kind` of objects found in neither objects/ nor staging. */
  private readonly absent = new Set<string>();
  /** Whether an object is in objects/, from a listing a caller took under this transaction's lock. */
  private listing: ((csum: string, kind: ObjectKind) => boolean) | null = null;
  private tmpCounter = 0;
  private inlineWrites = 0;
  /** How many objects writeVerifiedContent() writes inline before it starts the writer thread. */
  inlineWriteLimit = INLINE_WRITES;
  private writer: ObjectWriter | null = null;
  /** The first write of the writer thread that failed: the transaction cannot commit. */
  private writeFailure: unknown = null;
  private done = false;

  private constructor(repo: Repo, staging: string, lock: RepoLock) {
    this.repo = repo;
    this.staging = staging;
    this.lock = lock;
  }

  /** Takes the repository lock and opens (or reuses) a staging directory. */
  static async begin(repo: Repo, opts: LockOptions = {}): Promise<Transaction> {
    const lock = await lockRepo(repo.path, opts);
    try {
      const tmp = join(repo.path, 'tmp');
      await mkdir(tmp, { recursive: true });
      const boot = await bootId();
      let staging: string | null = null;
      const kept: string[] = [];
      for (const name of await readdir(tmp)) {
        if (!name.startsWith('staging-')) continue;
        // Same boot: its files are whole (renamed into place after writing) and in the page cache.
        if (staging === null && name.startsWith(`staging-${boot}-`)) staging = join(tmp, name);
        else await rm(join(tmp, name), { recursive: true, force: true });
      }
      if (staging === null) {
        staging = join(tmp, `staging-${boot}-${randomBytes(6).toString('hex')}`);
        await mkdir(staging);
      } else {
        // Keep whole staged objects (and XX/ directories of the older nested layout); drop temp files.
        for (const e of await readdir(staging)) {
          if (STAGED_NAME.test(e)) kept.push(e);
          else if (!/^[0-9a-f]{2}$/.test(e)) await rm(join(staging, e), { recursive: true, force: true });
        }
      }
      // A legacy `transaction` marker from old ostree makes every commit partial; 2022.7 deletes it.
      await rm(join(repo.path, 'transaction'), { force: true });
      const tx = new Transaction(repo, staging, lock);
      for (const e of kept) tx.staged.add(e.endsWith('.filez') ? e.slice(0, -1) : e);
      return tx;
    } catch (err) {
      await lock.release();
      throw err;
    }
  }

  /** Where an object of this transaction is staged until commit(). */
  stagedPath(csum: string, kind: ObjectKind): string {
    const ext = kind === 'file' && this.repo.mode === 'archive' ? 'filez' : kind;
    // The staging path is already normal and checksums and kinds hold no slash: no join() per object.
    return `${this.staging}/${csum}.${ext}`;
  }

  /** True when the object is in the repo or already staged. */
  async has(csum: string, kind: ObjectKind): Promise<boolean> {
    return this.hasSync(csum, kind);
  }

  /**
   * Synchronous existence check: per-object work is a few cheap syscalls, and
   * running them inline avoids a thread-pool round trip for each one.
   */
  hasSync(csum: string, kind: ObjectKind): boolean {
    const key = `${csum}.${kind}`;
    if (this.staged.has(key)) return true;
    // Whole objects staged by an earlier transaction are in `staged` since begin().
    if (this.listing !== null) return this.listing(csum, kind);
    // Only this transaction adds objects while it holds the lock, so an object
    // found missing stays missing until this transaction stages it; and what is in
    // its staging directory is in `staged`.
    if (this.absent.has(key)) return false;
    if (statSync(this.repo.objectPath(csum, kind), { throwIfNoEntry: false }) !== undefined) return true;
    this.absent.add(key);
    return false;
  }

  /**
   * Gives the transaction a lookup into a listing of objects/ taken after begin() (so under
   * the repository lock, which keeps other writers out): existence checks then need no stat.
   */
  useListing(has: (csum: string, kind: ObjectKind) => boolean): void {
    this.listing = has;
  }

  /** Records an object put whole at its stagedPath() by the caller (a pull staging a `.filez` verbatim). */
  markStaged(csum: string, kind: ObjectKind): void {
    this.noteStaged(csum, kind);
    this.noteComplete(csum, kind);
  }

  /** Counts an object as staged (its file may still be being written by a thread). */
  private noteStaged(csum: string, kind: ObjectKind): void {
    this.staged.add(`${csum}.${kind}`);
    this.absent.delete(`${csum}.${kind}`);
  }

  /** Records that an object's staged file is whole: the next background sync makes it durable (see noteWritten). */
  private noteComplete(csum: string, kind: ObjectKind): void {
    if (kind === 'commit') return;
    const p = this.stagedPath(csum, kind);
    this.complete.push(p.slice(this.staging.length + 1));
  }

  private newTmp(): string {
    return `${this.staging}/tmp-${process.pid}-${this.tmpCounter++}`;
  }

  private placeSync(tmp: string, csum: string, kind: ObjectKind): void {
    renameSync(tmp, this.stagedPath(csum, kind));
    this.markStaged(csum, kind);
  }

  /** Stages a metadata object; `expected` (from a pull) must match the computed checksum. */
  async writeMetadata(kind: 'commit' | 'dirtree' | 'dirmeta', bytes: Uint8Array, expected?: string): Promise<string> {
    return this.writeMetadataSync(kind, bytes, expected);
  }

  writeMetadataSync(kind: 'commit' | 'dirtree' | 'dirmeta', bytes: Uint8Array, expected?: string): string {
    const csum = sha256Hex(bytes);
    if (expected !== undefined && expected !== csum) {
      throw new UpdaterError('STORE_OBJECT_CORRUPT', `object ${expected}.${kind}: computed checksum ${csum}`);
    }
    if (this.hasSync(csum, kind)) return csum;
    writeWholeFile(this.newTmp(), this.stagedPath(csum, kind), bytes, 0o644);
    this.markStaged(csum, kind);
    this.stats.metadataWritten++;
    return csum;
  }

  /**
   * Stages a content object (regular file or symlink) in the repo's mode and
   * returns its checksum; `expected` must match when given (pulls, deltas).
   * Files up to IN_MEMORY_LIMIT are read once and handled synchronously; larger
   * ones are streamed.
   */
  async writeContent(header: FileHeader, source: ContentSource, expected?: string): Promise<string> {
    if (isLinkMode(header.mode)) return this.writeContentSync(header, null, expected);
    if ('data' in source) return this.writeContentSync(header, source.data, expected);
    const st = statSync(source.path);
    if (st.size <= IN_MEMORY_LIMIT) return this.writeContentSync(header, readFileSync(source.path), expected);

    const h = createHash('sha256').update(contentStreamPrefix(header));
    for await (const chunk of createReadStream(source.path, { highWaterMark: 1 << 20 })) h.update(chunk as Buffer);
    const csum = h.digest('hex');
    if (expected !== undefined && expected !== csum) {
      throw new UpdaterError('STORE_OBJECT_CORRUPT', `object ${expected}.file: computed checksum ${csum}`);
    }
    if (this.hasSync(csum, 'file')) return csum;
    const tmp = this.newTmp();
    try {
      if (this.repo.mode === 'archive') {
        writeFileSync(tmp, encodeArchivePrefix(header, st.size), { mode: 0o644 });
        await pipeline(createReadStream(source.path), createDeflateRaw({ level: 6 }), createWriteStream(tmp, { flags: 'a' }));
      } else {
        await copyFile(source.path, tmp);
        this.finishContentFile(tmp, header);
      }
    } catch (err) {
      this.failed(tmp, csum, err);
    }
    this.placeSync(tmp, csum, 'file');
    this.stats.contentWritten++;
    this.stats.contentBytesWritten += st.size;
    this.noteWritten(st.size);
    return csum;
  }

  /** Stages a content object from memory (`data` is null for a symlink). */
  writeContentSync(header: FileHeader, data: Uint8Array | null, expected?: string): string {
    const prefix = contentStreamPrefix(header);
    const isLink = isLinkMode(header.mode);
    const csum = isLink || data === null ? sha256Hex(prefix) : sha256Hex(prefix, data);
    if (expected !== undefined && expected !== csum) {
      throw new UpdaterError('STORE_OBJECT_CORRUPT', `object ${expected}.file: computed checksum ${csum}`);
    }
    return this.stageContentSync(csum, header, data);
  }

  /**
   * Stages a content object whose checksum the caller has just computed from these
   * very header and bytes (a pull verifies each object before staging it), so it is
   * not hashed a second time.
   */
  writeVerifiedContentSync(csum: string, header: FileHeader, data: Uint8Array | null): string {
    return this.stageContentSync(csum, header, data);
  }

  private flushFd: number | null = null;
  private flushing: Promise<void> | null = null;
  private unflushed = 0;
  /** Names in the staging directory of whole staged objects (no commits) that no background sync has covered yet. */
  private complete: string[] = [];

  /**
   * Counts staged bytes; every FLUSH_EVERY of them, starts a background syncfs. Once it
   * returns, the objects whose files were whole when it started are on disk, and a writer
   * thread renames them into objects/ while the transaction goes on, rather than all of
   * them at commit(). An object in objects/ before its commit is harmless: whole and
   * durable, found by later writes and pulls, unreferenced until a commit names it (prune
   * removes it if none ever does). Commit objects always wait for commit(), so no commit
   * is visible before its tree.
   */
  private noteWritten(bytes: number): void {
    this.unflushed += bytes;
    if (this.unflushed < FLUSH_EVERY || this.flushing !== null || !this.doSync) return;
    this.unflushed = 0;
    try {
      this.flushFd ??= openSync(this.staging, 'r');
    } catch {
      return;
    }
    const covered = this.complete;
    this.complete = [];
    // Best effort: commit()'s own sync reports any error, and places what is left.
    this.flushing = syncfsAsync(this.flushFd, this.staging).then(() => this.placeEarly(covered), () => {
      this.complete.push(...covered);
    }).finally(() => {
      this.flushing = null;
    });
  }

  /** Hands synced staged objects to a writer thread to rename into objects/ (see noteWritten). */
  private placeEarly(names: string[]): void {
    if (this.writer === null || this.done || names.length === 0) {
      this.complete.push(...names);
      return;
    }
    const objects = join(this.repo.path, 'objects');
    this.writer.renameAll(names.map((n) => [`${this.staging}/${n}`, `${objects}/${n.slice(0, 2)}/${n.slice(2)}`]), () => {});
  }

  private get doSync(): boolean {
    return this.repo.config.getBoolean('core', 'fsync', true);
  }

  /** Waits for a background syncfs and closes its descriptor. */
  private async endFlush(): Promise<void> {
    if (this.flushing) await this.flushing;
    if (this.flushFd !== null) closeSync(this.flushFd);
    this.flushFd = null;
  }

  private stageContentSync(csum: string, header: FileHeader, data: Uint8Array | null): string {
    if (this.hasSync(csum, 'file')) return csum;
    const w = this.planContentWrite(csum, header, data);
    try {
      writeObjectFile(w);
    } catch (err) {
      this.failed(w.tmp, csum, err);
    }
    this.markStaged(csum, 'file');
    this.stats.contentWritten++;
    this.stats.contentBytesWritten += data?.length ?? 0;
    this.noteWritten(data?.length ?? 0);
    return csum;
  }

  /**
   * Stages a verified content object like writeVerifiedContentSync, but the file is
   * written by a writer thread (./object-writer.ts) while this thread goes on
   * fetching and verifying: for pulls of many objects. The object counts as staged
   * at once; commit() waits for every write. Callers keep memory bounded with
   * writeRoom(). `data` must not be modified afterwards.
   */
  async writeVerifiedContent(csum: string, header: FileHeader, data: Uint8Array | null): Promise<void> {
    let failure: unknown = null;
    let settle: (() => void) | null = null;
    const done = new Promise<void>((r) => (settle = r));
    const posted = this.postContent(csum, header, data, (err) => {
      failure = err;
      settle!();
    }, () => settle!());
    if (!posted) return;
    await done;
    if (failure !== null) throw failure;
  }

  /**
   * Hashes a content object held in memory and stages it on the writer threads while the
   * caller goes on (a commit reads and hashes its next files meanwhile); returns its
   * checksum. A failed write is reported by commit(). The bytes are copied before this
   * returns, so `data` may be a reused buffer; but a view of a whole ArrayBuffer may be
   * taken over (detached) instead. Callers keep memory bounded with writeRoom().
   */
  writeContentDetached(header: FileHeader, data: Uint8Array, expected?: string): string {
    const csum = sha256Hex(contentStreamPrefix(header), data);
    if (expected !== undefined && expected !== csum) {
      throw new UpdaterError('STORE_OBJECT_CORRUPT', `object ${expected}.file: computed checksum ${csum}`);
    }
    this.postContent(csum, header, data, () => {});
    return csum;
  }

  /**
   * Stages a verified content object, the first INLINE_WRITES of a transaction on this
   * thread (a small pull or commit never starts a thread), the rest on the writer threads.
   * Returns false when there was nothing to post (already staged, or written inline); else
   * `onWritten` or `onFailed` is called once the thread is done. A failure is also kept for
   * commit() to report.
   */
  private postContent(csum: string, header: FileHeader, data: Uint8Array | null, onFailed: (err: unknown) => void, onWritten: () => void = () => {}): boolean {
    if (this.hasSync(csum, 'file')) return false;
    if (this.inlineWrites < this.inlineWriteLimit) {
      this.inlineWrites++;
      this.stageContentSync(csum, header, data);
      return false;
    }
    this.postWrite(csum, this.planContentWrite(csum, header, data), data?.length ?? 0, onFailed, onWritten);
    return true;
  }

  /** True once this transaction writes content on its writer threads (past the first INLINE_WRITES). */
  get threadedWrites(): boolean {
    return this.inlineWrites >= this.inlineWriteLimit;
  }

  /**
   * Stages a fetched `.filez` object into a bare-mode repository, its inflating, hashing
   * and writing all done on a writer thread (for pulls past the first INLINE_WRITES
   * objects; see threadedWrites). `header`, `size` and `dataOffset` are its decoded
   * prefix. Resolves once it is staged; rejects with STORE_OBJECT_CORRUPT, nothing
   * written and the transaction still usable, when the data does not verify.
   */
  async writeContentFromFilez(csum: string, filez: Uint8Array, header: FileHeader, size: number, dataOffset: number): Promise<void> {
    if (this.hasSync(csum, 'file')) return;
    if (this.repo.mode === 'archive' || isLinkMode(header.mode)) throw new UpdaterError('INTERNAL', `writeContentFromFilez: ${this.repo.mode} repository or symlink ${csum}`);
    const w: ObjectWrite = {
      ...this.planContentWrite(csum, header, null),
      bytes: filez,
      inflate: { offset: dataOffset, size, hashPrefix: contentStreamPrefix(header), csum },
    };
    let failure: unknown = null;
    await new Promise<void>((resolve) => this.postWrite(csum, w, size, (err) => {
      failure = err;
      resolve();
    }, resolve, true));
    if (failure !== null) throw failure;
  }

  /**
   * Stages a fetched `.filez` object that was received into a file (a large download) into
   * a bare-mode repo in one pass: inflated, hashed and written as it streams, and put in
   * staging only once its size and checksum are right. Rejects with STORE_OBJECT_CORRUPT,
   * nothing left behind and the transaction still usable, when the data does not verify.
   */
  async writeContentFromFilezFile(csum: string, path: string, header: FileHeader, size: number, dataOffset: number): Promise<void> {
    if (this.repo.mode === 'archive' || isLinkMode(header.mode)) throw new UpdaterError('INTERNAL', `writeContentFromFilezFile: ${this.repo.mode} repository or symlink ${csum}`);
    if (this.hasSync(csum, 'file')) return;
    const w = this.planContentWrite(csum, header, null);
    const unnamed = openUnnamed(dirname(w.dest), 0o600);
    const fd = unnamed ?? openSync(w.tmp, 'wx', 0o600);
    try {
      const h = createHash('sha256').update(contentStreamPrefix(header));
      let seen = 0;
      let writeErr: unknown = null;
      let n: number;
      try {
        n = await inflateFile(path, dataOffset, (chunk) => {
          seen += chunk.length;
          if (seen > size) return false;
          h.update(chunk);
          try {
            writeAll(fd, chunk);
          } catch (err) {
            writeErr = err;
            return false;
          }
          return true;
        });
      } catch (err) {
        if (typeof (err as NodeJS.ErrnoException).errno === 'number' && !String((err as NodeJS.ErrnoException).code).startsWith('Z_')) throw err;
        throw new UpdaterError('STORE_OBJECT_CORRUPT', `compressed data is corrupt (${(err as Error).message})`, { cause: err });
      }
      if (writeErr !== null) throw writeErr;
      if (seen !== size) throw new UpdaterError('STORE_OBJECT_CORRUPT', seen > size ? `inflates to more than the ${size} bytes its header says` : `inflates to ${n} bytes, header says ${size}`);
      const got = h.digest('hex');
      if (got !== csum) throw new UpdaterError('STORE_OBJECT_CORRUPT', `computed checksum ${got}`);
      applyMetaFd(fd, w, w.dest);
      if (unnamed !== null) linkUnnamed(fd, w.dest);
    } catch (err) {
      closeSync(fd);
      this.failed(w.tmp, csum, err);
    }
    closeSync(fd);
    if (unnamed === null) renameSync(w.tmp, w.dest);
    this.markStaged(csum, 'file');
    this.stats.contentWritten++;
    this.stats.contentBytesWritten += size;
    this.noteWritten(size);
  }

  /**
   * Hands a planned content write to the writer threads; the object counts as staged at
   * once. A failure is kept for commit() to report, except a verification failure of a
   * `.filez` job (`verifying`): nothing was written, so the transaction stays usable.
   */
  private postWrite(csum: string, w: ObjectWrite, size: number, onFailed: (err: unknown) => void, onWritten: () => void, verifying = false): void {
    this.writer ??= new ObjectWriter();
    this.noteStaged(csum, 'file');
    this.stats.contentWritten++;
    this.stats.contentWrittenByThread++;
    this.stats.contentBytesWritten += size;
    this.noteWritten(size);
    this.writer.send(w, (err) => {
      if (err === null) {
        this.noteComplete(csum, 'file');
        onWritten();
        return;
      }
      this.staged.delete(`${csum}.file`);
      if (verifying && isUpdaterError(err, 'STORE_OBJECT_CORRUPT')) {
        this.stats.contentWritten--;
        this.stats.contentWrittenByThread--;
        this.stats.contentBytesWritten -= size;
        onFailed(err);
        return;
      }
      let reported: unknown = err;
      try {
        this.failed(w.tmp, csum, err);
      } catch (e) {
        reported = e;
      }
      this.writeFailure ??= reported;
      onFailed(reported);
    });
  }

  /** Resolves when the writer threads hold little enough unwritten data to take more. */
  writeRoom(): Promise<void> {
    return this.writer?.room() ?? Promise.resolve();
  }

  private failed(tmp: string, csum: string, err: unknown): never {
    rmSync(tmp, { force: true });
    if (isErrno(err, 'EPERM') && this.repo.mode === 'bare') {
      throw new UpdaterError('STORE_PERMISSION', `writing object ${csum}.file: bare repositories need root to set ownership`, { cause: err, hint: 'use a bare-user repository for unprivileged use' });
    }
    throw err;
  }

  /** What to write for a content object (`data` null or ignored for a symlink) in this repo's mode. */
  private planContentWrite(csum: string, h: FileHeader, data: Uint8Array | null): ObjectWrite {
    const mode = this.repo.mode;
    const isLink = isLinkMode(h.mode);
    const base = { tmp: this.newTmp(), dest: this.stagedPath(csum, 'file') };
    if (isLink && (mode === 'bare' || mode === 'bare-user-only')) {
      this.checkBareUserOnly(h);
      const bare = mode === 'bare';
      return { ...base, symlink: h.symlinkTarget, bytes: new Uint8Array(0), owner: bare ? [h.uid, h.gid] : null, chmod: null, xattrs: bare ? h.xattrs : [], zeroMtime: true };
    }
    if (mode === 'archive') {
      const size = isLink ? 0 : (data?.length ?? 0);
      const prefix = encodeArchivePrefix(h, size);
      // The data is compressed by whichever thread writes the file (writeObjectFile).
      if (isLink) return { ...base, symlink: null, bytes: prefix, owner: null, chmod: 0o644, xattrs: [], zeroMtime: false };
      return { ...base, symlink: null, bytes: data ?? new Uint8Array(0), deflateAfter: prefix, owner: null, chmod: 0o644, xattrs: [], zeroMtime: false };
    }
    // bare-user stores a symlink as a file holding the target and a NUL.
    const bytes = isLink ? Buffer.from(`${h.symlinkTarget}\0`) : (data ?? new Uint8Array(0));
    return { ...base, symlink: null, bytes, ...this.metaFor(h, isLink) };
  }

  /** Sets a written content object's metadata by path (the streamed large-file case). */
  private finishContentFile(tmp: string, h: FileHeader): void {
    const fd = openSync(tmp, 'r+');
    try {
      applyMetaFd(fd, this.metaFor(h, false), tmp);
    } finally {
      closeSync(fd);
    }
  }

  /** Ownership, permissions, xattrs and mtime 0 of a content object file in a bare mode. */
  private metaFor(h: FileHeader, isLink: boolean): ObjectMeta {
    const perms = h.mode & 0o7777;
    switch (this.repo.mode) {
      case 'bare':
        return { owner: [h.uid, h.gid], chmod: perms, xattrs: h.xattrs, zeroMtime: true };
      case 'bare-user':
        // Real metadata goes into user.ostreemeta.
        return {
          owner: null,
          chmod: isLink ? 0o644 : (perms & 0o775) | 0o400,
          xattrs: [{ name: 'user.ostreemeta', value: encodeDirmeta({ uid: h.uid, gid: h.gid, mode: h.mode, xattrs: h.xattrs }) }],
          zeroMtime: true,
        };
      case 'bare-user-only':
        this.checkBareUserOnly(h);
        return { owner: null, chmod: perms, xattrs: [], zeroMtime: true };
      case 'archive':
        return { owner: null, chmod: null, xattrs: [], zeroMtime: true };
    }
  }

  private checkBareUserOnly(h: FileHeader): void {
    if (this.repo.mode !== 'bare-user-only') return;
    const perms = h.mode & 0o7777;
    if (h.uid !== 0 || h.gid !== 0 || h.xattrs.length > 0 || (!isLinkMode(h.mode) && (perms & ~0o775) !== 0)) {
      throw new UpdaterError('STORE_OBJECT_INVALID', `content object with uid ${h.uid}, gid ${h.gid}, mode 0${perms.toString(8)} or xattrs cannot be stored in a bare-user-only repository`);
    }
  }

  /** Queues a ref update, applied after the objects are durable. */
  setRef(remote: string | null, ref: string, csum: string | null): void {
    this.refUpdates.push([remote, ref, csum]);
  }

  /** Makes staged objects durable, moves them into objects/, then writes the refs. */
  async commit(): Promise<void> {
    if (this.done) throw new UpdaterError('INTERNAL', 'transaction already finished');
    try {
      // Every write done, then the background sync (which may hand renames to the writer), then the writer.
      await this.writer?.drain();
      await this.endFlush();
      await this.stopWriter();
      if (this.writeFailure !== null) throw this.writeFailure;
      const doSync = this.doSync;
      const sync = async (): Promise<void> => {
        if (!doSync) return;
        const fh = await open(this.staging, 'r');
        try {
          syncfs(fh.fd, this.staging);
        } finally {
          await fh.close();
        }
      };
      await sync();
      const commits: Array<[string, string]> = [];
      const made = new Set<string>();
      const place = (from: string, dir: string, name: string): void => {
        const target = join(this.repo.path, 'objects', dir);
        if (!made.has(target)) {
          mkdirSync(target, { recursive: true });
          made.add(target);
        }
        if (name.endsWith('.commit')) commits.push([from, `${target}/${name}`]);
        else renameSync(from, `${target}/${name}`);
      };
      for (const e of (await readdir(this.staging)).sort()) {
        if (STAGED_NAME.test(e)) place(`${this.staging}/${e}`, e.slice(0, 2), e.slice(2));
        else if (/^[0-9a-f]{2}$/.test(e)) for (const f of readdirSync(join(this.staging, e))) place(join(this.staging, e, f), e, f);
      }
      // Commits last: a commit object never becomes visible before the tree it names.
      if (commits.length > 0) {
        await sync();
        for (const [from, to] of commits) renameSync(from, to);
      }
      await sync();
      for (const [remote, ref, csum] of this.refUpdates) await this.repo.writeRef(remote, ref, csum);
      await rm(this.staging, { recursive: true, force: true });
    } finally {
      this.done = true;
      await this.lock.release();
    }
  }

  /** Drops the lock; staged objects stay for the next transaction of this boot to reuse. */
  async abort(): Promise<void> {
    if (this.done) return;
    this.done = true;
    try {
      await this.stopWriter();
      await this.endFlush();
    } finally {
      await this.lock.release();
    }
  }

  /** Lets the writer thread finish what it was given, then ends it. */
  private async stopWriter(): Promise<void> {
    const w = this.writer;
    this.writer = null;
    if (w) await w.close();
  }
}
