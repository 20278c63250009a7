// The object half of a pull: fetch, verify and stage commits, dirtrees, dirmeta
// and content, skipping whatever is already in the repo or staged (a resumed
// pull re-fetches nothing finished), copying from local cache repos when they
// have an object, and walking trees with requests in parallel under an adaptive limit.

import { createReadStream, createWriteStream, readFileSync } from 'node:fs';
import { open, readFile, rm, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { pipeline } from 'node:stream/promises';
import { createInflateRaw } from 'node:zlib';
import { isUpdaterError, UpdaterError } from '../../common/errors.ts';
import { decodeArchivePrefix, decodeCommit, decodeVarDict, diffDirtree, isLinkMode, sha256Hex, type Commit, type ObjectKind } from '../objects/index.ts';
import type { Repo } from '../repo/repo.ts';
import { IN_MEMORY_LIMIT, type Transaction } from '../repo/transaction.ts';
import type { AdaptiveLimiter } from './adaptive-limit.ts';
import type { PullProgress } from './progress.ts';
import type { SpaceGuard } from './space.ts';
import { partialDir, readLocalMetadata, remoteObjectPath, stageArchiveObject } from './stage.ts';
import type { Fetched, Transport } from './transport.ts';
import { checkDeclaredSize, corrupt, verifyArchiveBytes, verifyArchiveFile, verifyMetadata, type MetaKind, type VerifiedContent } from './verify.ts';

/**
 * A content object received into a partial file (large ones, tmp/pull-partial) is read back
 * into memory for the writer threads up to this size; larger ones are verified by streaming.
 * Several downloads finish at once, so this bounds what a pull holds in memory.
 */
const PARTIAL_IN_MEMORY = 4 * 1024 * 1024;

export interface ObjectFetcherDeps {
  tx: Transaction;
  transport: Transport;
  limiter: AdaptiveLimiter;
  progress: PullProgress;
  /** Local repos consulted before the network (--localcache-repo, a non-archive file:// source). */
  caches: Repo[];
  space: SpaceGuard;
  sourceIsArchive: boolean;
  sourceRepo: Repo | null;
  /** Names of the files in tmp/pull-partial when the pull started (downloads to resume). */
  partials: Set<string>;
}

/** A directory of a commit: its dirtree and dirmeta checksums. */
export interface TreeRef {
  tree: string;
  meta: string;
}

export class ObjectFetcher {
  private readonly d: ObjectFetcherDeps;
  private failed: unknown = null;
  private readonly inflight = new Set<Promise<unknown>>();
  private readonly pending = new Map<string, Promise<void>>();
  private readonly treesWalked = new Set<string>();

  constructor(deps: ObjectFetcherDeps) {
    this.d = deps;
  }

  /** Throws the first failure of any parallel task. */
  throwIfFailed(): void {
    if (this.failed !== null) throw this.failed;
  }

  /** Waits for every request still running (after a failure, before the transaction is dropped). */
  async settle(): Promise<void> {
    while (this.inflight.size > 0) await Promise.allSettled([...this.inflight]);
  }

  private fail(err: unknown): never {
    if (this.failed === null) this.failed = err;
    throw err;
  }

  /** Runs a request in a limiter slot; failures stop new requests from starting. */
  private limited<T>(fn: () => Promise<T>): Promise<T> {
    this.throwIfFailed();
    const p = this.d.limiter.run(async () => {
      this.throwIfFailed();
      const r = await fn();
      this.d.limiter.success();
      return r;
    });
    return this.track(p);
  }

  /** Registers work that settle() must wait for (a request plus the verify and stage after it). */
  private track<T>(p: Promise<T>): Promise<T> {
    this.inflight.add(p);
    p.then(() => this.inflight.delete(p), () => this.inflight.delete(p));
    return p;
  }

  private from(csum: string, kind: ObjectKind): string {
    return `${this.d.transport.url.replace(/\/?$/, '/')}${remoteObjectPath(csum, kind)}`;
  }

  // ---- commits ----

  /** The commit's detached metadata from the remote (null when it has none); checked to be an a{sv}. */
  async fetchCommitmeta(csum: string): Promise<Buffer | null> {
    const bytes = await this.limited(() => this.d.transport.getBytes(remoteObjectPath(csum, 'commitmeta'), { optional: true }));
    if (bytes === null || bytes.length === 0) return null;
    try {
      decodeVarDict(bytes, `object ${csum}.commitmeta`);
    } catch (err) {
      throw new UpdaterError('PULL_OBJECT_CORRUPT', `object ${csum}.commitmeta from ${this.from(csum, 'commitmeta')}: ${(err as Error).message}`, { cause: err });
    }
    this.d.progress.metadataFetched++;
    return bytes;
  }

  /** A commit, local (repo or staging) or fetched and verified (not yet staged); null for a 404 when `optional`. */
  async fetchCommit(csum: string, optional: boolean): Promise<{ commit: Commit; bytes: Buffer; wasLocal: boolean } | null> {
    const local = await readLocalMetadata(this.d.tx, csum, 'commit');
    if (local !== null) return { commit: decodeCommit(local, `object ${csum}.commit`), bytes: local, wasLocal: true };
    const got = await this.downloadMetadata(csum, 'commit', optional);
    if (got === null) return null;
    return { commit: verifyMetadata(csum, 'commit', got, this.from(csum, 'commit')), bytes: got, wasLocal: false };
  }

  async stageCommit(csum: string, bytes: Buffer): Promise<void> {
    await this.d.space.reserve(bytes.length, `commit ${csum}`);
    await this.d.tx.writeMetadata('commit', bytes, csum);
  }

  // ---- trees ----

  /**
   * Fetches every missing object under a dirtree, in parallel. `base` is the directory at
   * the same path in a complete local commit (every object it reaches is present): a
   * subtree equal to it is skipped whole, and a file or dirmeta it has is not looked up.
   * An upgrade thus reads only the directories that changed.
   */
  async walkTree(tree: string, meta: string, base: TreeRef | null = null): Promise<void> {
    const tasks: Promise<void>[] = [];
    if (base?.meta !== meta) tasks.push(this.once(`${meta}.dirmeta`, () => this.ensureMetadata(meta, 'dirmeta').then(() => {})));
    if (base?.tree !== tree && !this.treesWalked.has(tree)) {
      this.treesWalked.add(tree);
      tasks.push(this.track((async () => {
        const { bytes, from } = await this.ensureDirtree(tree);
        let old: Buffer | null = null;
        if (base !== null) {
          try {
            old = readFileSync(this.d.tx.repo.objectPath(base.tree, 'dirtree'));
          } catch {
            old = null; // compared with no base: every entry is looked up
          }
        }
        let changes;
        try {
          changes = diffDirtree(bytes, old, `object ${tree}.dirtree`);
        } catch (err) {
          if (from === null) throw new UpdaterError('PULL_OBJECT_CORRUPT', `object ${tree}.dirtree: ${(err as Error).message}`, { cause: err });
          throw corrupt(tree, 'dirtree', from, (err as Error).message, err);
        }
        // A fetched tree is staged once it is known to be well-formed.
        if (from !== null) {
          await this.d.space.reserve(bytes.length, `object ${tree}.dirtree`);
          await this.d.tx.writeMetadata('dirtree', bytes, tree);
        }
        const sub: Promise<void>[] = [];
        for (const f of changes.files) sub.push(this.once(`${f}.file`, () => this.ensureContent(f)));
        for (const d of changes.dirs) {
          sub.push(this.walkTree(d.treeChecksum, d.metaChecksum, d.base === null ? null : { tree: d.base.treeChecksum, meta: d.base.metaChecksum }));
        }
        await Promise.all(sub);
      })()));
    }
    try {
      await Promise.all(tasks);
    } catch (err) {
      this.fail(err);
    }
  }

  private once(key: string, fn: () => Promise<void>): Promise<void> {
    let p = this.pending.get(key);
    if (!p) {
      p = this.track(fn());
      this.pending.set(key, p);
    }
    return p;
  }

  /** A dirmeta: present (in the repo or staged), or fetched, verified and staged. */
  private async ensureMetadata(csum: string, kind: 'dirmeta'): Promise<void> {
    if (this.d.tx.hasSync(csum, kind)) {
      this.d.progress.objectsSkipped++;
      return;
    }
    await this.fetchMetadata(csum, kind);
  }

  /**
   * A dirtree's bytes: local (`from` null), or fetched and checked against its checksum
   * (`from` its URL), not yet staged: the walk stages it after checking its structure
   * (diffDirtree), so a malformed tree never enters the repository.
   */
  private async ensureDirtree(csum: string): Promise<{ bytes: Buffer; from: string | null }> {
    if (this.d.tx.hasSync(csum, 'dirtree')) {
      const local = await readLocalMetadata(this.d.tx, csum, 'dirtree');
      if (local !== null) {
        this.d.progress.objectsSkipped++;
        return { bytes: local, from: null };
      }
    }
    this.d.progress.objectsRequested++;
    const bytes = (await this.downloadMetadata(csum, 'dirtree', false))!;
    const from = this.from(csum, 'dirtree');
    const got = sha256Hex(bytes);
    if (got !== csum) throw corrupt(csum, 'dirtree', from, `computed checksum ${got} (${bytes.length} bytes)`);
    return { bytes, from };
  }

  private async fetchMetadata(csum: string, kind: 'dirmeta'): Promise<void> {
    this.d.progress.objectsRequested++;
    const bytes = (await this.downloadMetadata(csum, kind, false))!;
    verifyMetadata(csum, kind, bytes, this.from(csum, kind));
    await this.d.space.reserve(bytes.length, `object ${csum}.${kind}`);
    await this.d.tx.writeMetadata(kind, bytes, csum);
  }

  /** Metadata bytes from a cache repo (hash-checked there) or the remote; counted as fetched. */
  private async downloadMetadata(csum: string, kind: MetaKind, optional: boolean): Promise<Buffer | null> {
    for (const c of this.d.caches) {
      if (await c.hasObject(csum, kind)) {
        const b = await c.readMetadata(csum, kind);
        if (c === this.d.sourceRepo) this.d.progress.metadataFetched++;
        else this.d.progress.localFetched++;
        return b;
      }
    }
    const bytes = await this.limited(() => this.d.transport.getBytes(remoteObjectPath(csum, kind), { optional }));
    if (bytes !== null) this.d.progress.metadataFetched++;
    return bytes;
  }

  // ---- content ----

  private async ensureContent(csum: string): Promise<void> {
    if (await this.d.tx.has(csum, 'file')) {
      this.d.progress.objectsSkipped++;
      return;
    }
    this.d.progress.objectsRequested++;
    for (const c of this.d.caches) {
      if (await c.hasObject(csum, 'file')) {
        await this.copyContentFrom(c, csum);
        if (c === this.d.sourceRepo) this.d.progress.contentFetched++;
        else this.d.progress.localFetched++;
        return;
      }
    }
    await this.downloadContent(csum);
    this.d.progress.contentFetched++;
  }

  /**
   * Downloads a `.filez`, verifies it, stages it. A large one lands in
   * tmp/pull-partial/CSUM.filez.part, where an interrupted download resumes with
   * Range; if a resumed file fails verification it is dropped and fetched once more from zero.
   */
  private async downloadContent(csum: string): Promise<void> {
    const rel = remoteObjectPath(csum, 'file');
    const from = this.from(csum, 'file');
    const partial = join(partialDir(this.d.tx.repo.path), `${csum}.filez.part`);
    for (let attempt = 0; ; attempt++) {
      const resumed = attempt === 0 && this.d.partials.has(`${csum}.filez.part`);
      // The slot is held until the writer thread has room, so downloads do not outrun the disk.
      const got = (await this.limited(async () => {
        const g = await this.d.transport.getObject(rel, partial, { maybePartial: resumed });
        await this.d.tx.writeRoom();
        return g;
      }))!;
      if (this.d.tx.threadedWrites && this.d.tx.repo.mode !== 'archive') {
        // Past the first objects of a pull: inflated, hashed and written on a writer
        // thread, a large object too when it fits in memory (it was received into a file).
        const bytes = 'bytes' in got ? got.bytes : (await stat(got.path)).size <= PARTIAL_IN_MEMORY ? await readFile(got.path) : null;
        if (bytes !== null) {
          let done: boolean;
          try {
            done = await this.writeFilezThreaded(csum, bytes, from);
          } catch (err) {
            if ('path' in got && got.owned) await rm(got.path, { force: true });
            if (resumed && attempt === 0 && isUpdaterError(err, 'PULL_OBJECT_CORRUPT')) continue;
            throw err;
          }
          if (done) {
            if ('path' in got && got.owned) await rm(got.path, { force: true });
            return;
          }
        }
      }
      let v: VerifiedContent;
      try {
        if ('path' in got && this.d.tx.repo.mode !== 'archive' && await this.stageFilezFile(csum, got.path, from)) {
          if (got.owned) await rm(got.path, { force: true });
          return;
        }
        v = 'bytes' in got ? verifyArchiveBytes(csum, got.bytes, from) : await verifyArchiveFile(csum, got.path, from);
      } catch (err) {
        if ('path' in got && got.owned) await rm(got.path, { force: true });
        if (resumed && attempt === 0 && isUpdaterError(err, 'PULL_OBJECT_CORRUPT')) continue;
        throw err;
      }
      await this.writeVerified(csum, v, got);
      return;
    }
  }

  /**
   * Stages an in-memory `.filez` into a bare-mode repo with its verification done by the
   * writer thread. Returns false, doing nothing, for a symlink or data over IN_MEMORY_LIMIT
   * (verified and written by the caller).
   */
  private async writeFilezThreaded(csum: string, bytes: Uint8Array, from: string): Promise<boolean> {
    const { tx, space, progress } = this.d;
    let parsed;
    try {
      parsed = decodeArchivePrefix(bytes, `object ${csum}.filez`);
    } catch (err) {
      throw corrupt(csum, 'filez', from, (err as Error).message, err);
    }
    const { header, size, dataOffset } = parsed;
    if (isLinkMode(header.mode) || size > IN_MEMORY_LIMIT) return false;
    checkDeclaredSize(csum, size, bytes.length - dataOffset, from);
    await space.reserve(size, `object ${csum}.file`);
    try {
      await tx.writeContentFromFilez(csum, bytes, header, size, dataOffset);
    } catch (err) {
      if (isUpdaterError(err, 'STORE_OBJECT_CORRUPT')) {
        throw corrupt(csum, 'filez', from, err.message, err);
      }
      throw err;
    }
    progress.contentBytesWritten += size;
    return true;
  }

  /**
   * Stages a `.filez` held in a file into a bare-mode repo in one pass (inflated, hashed and
   * written together; see Transaction.writeContentFromFilezFile). Returns false, doing
   * nothing, for a symlink (verified and written by the caller).
   */
  private async stageFilezFile(csum: string, path: string, from: string): Promise<boolean> {
    let parsed;
    try {
      parsed = decodeArchivePrefix(await readHead(path), `object ${csum}.filez`);
    } catch (err) {
      throw corrupt(csum, 'filez', from, (err as Error).message, err);
    }
    const { header, size, dataOffset } = parsed;
    if (isLinkMode(header.mode)) return false;
    checkDeclaredSize(csum, size, (await stat(path)).size - dataOffset, from);
    await this.d.space.reserve(size, `object ${csum}.file`);
    try {
      await this.d.tx.writeContentFromFilezFile(csum, path, header, size, dataOffset);
    } catch (err) {
      if (isUpdaterError(err, 'STORE_OBJECT_CORRUPT')) throw corrupt(csum, 'filez', from, err.message, err);
      throw err;
    }
    this.d.progress.contentBytesWritten += size;
    return true;
  }

  /** Stages verified content: verbatim into an archive repo, unpacked into a bare one. */
  private async writeVerified(csum: string, v: VerifiedContent, got: Fetched): Promise<void> {
    const { tx, space, progress } = this.d;
    if (tx.repo.mode === 'archive') {
      const size = 'bytes' in got ? got.bytes.length : (await stat(got.path)).size;
      await space.reserve(size, `object ${csum}.filez`);
      await stageArchiveObject(tx, csum, got);
    } else {
      await space.reserve(v.size, `object ${csum}.file`);
      if (v.data !== null) {
        await tx.writeVerifiedContent(csum, v.header, isLinkMode(v.header.mode) ? null : v.data);
      } else {
        const path = (got as { path: string }).path;
        const raw = join(partialDir(tx.repo.path), `${csum}.data`);
        try {
          const { dataOffset } = decodeArchivePrefix(await readHead(path), `object ${csum}.filez`);
          await pipeline(createReadStream(path, { start: dataOffset }), createInflateRaw(), createWriteStream(raw));
          await tx.writeContent(v.header, { path: raw }, csum);
        } finally {
          await rm(raw, { force: true });
        }
        if ((got as { owned: boolean }).owned) await rm(path, { force: true });
      }
    }
    progress.contentBytesWritten += v.size;
  }

  /** Copies a content object from a local repo in any mode, checksum-verified on the way in. */
  private async copyContentFrom(c: Repo, csum: string): Promise<void> {
    const { tx, space, progress } = this.d;
    const where = `${c.path}`;
    if (c.mode === 'archive') {
      const path = c.objectPath(csum, 'file');
      const size = (await stat(path)).size;
      const got: Fetched = size >= 16 * 1024 * 1024 ? { path, owned: false } : { bytes: await readFile(path) };
      const v = 'bytes' in got ? verifyArchiveBytes(csum, got.bytes, where) : await verifyArchiveFile(csum, path, where);
      await this.writeVerified(csum, v, got);
      return;
    }
    const info = await c.readContentInfo(csum);
    await space.reserve(info.size, `object ${csum}.file`);
    // writeContent re-hashes and checks `expected`, so a corrupt cache object never lands.
    await tx.writeContent(info.header, info.header.symlinkTarget ? { data: Buffer.alloc(0) } : { path: info.path }, csum).catch((err) => {
      if (isUpdaterError(err, 'STORE_OBJECT_CORRUPT')) throw new UpdaterError('PULL_OBJECT_CORRUPT', `object ${csum}.file in ${where}: ${err.message}`, { cause: err });
      throw err;
    });
    progress.contentBytesWritten += info.size;
  }
}

/** The start of a `.filez` file: its length word and header (capped, so a hostile length cannot exhaust memory). */
async function readHead(path: string): Promise<Buffer> {
  const fh = await open(path, 'r');
  try {
    const b = Buffer.alloc(8);
    const { bytesRead } = await fh.read(b, 0, 8, 0);
    const want = bytesRead < 4 ? bytesRead : 8 + Math.min(b.readUInt32BE(0), 10 * 1024 * 1024);
    const h = Buffer.alloc(want);
    const got = await fh.read(h, 0, want, 0);
    return h.subarray(0, got.bytesRead);
  } finally {
    await fh.close();
  }
}
