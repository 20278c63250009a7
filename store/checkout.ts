// Checks a commit (or a subpath of it) out into a directory, as `ostree checkout`:
// hardlinks into the object store where the repo mode allows (bare, bare-user
// in user mode, bare-user-only), copies otherwise. Zero-sized files are always
// copied: hardlinking every empty file to one inode would make them share writes.
// A large checkout hands the files of some directories to a second thread
// (./checkout-worker.ts): linking is kernel work that runs in parallel.

import { chmodSync, chownSync, lchownSync, linkSync, lstatSync, mkdirSync, rmSync, symlinkSync, unlinkSync } from 'node:fs';
import { chmod, chown, copyFile, lstat, writeFile } from 'node:fs/promises';
import { availableParallelism } from 'node:os';
import { join } from 'node:path';
import { Worker } from 'node:worker_threads';
import { isErrno, UpdaterError } from '../common/errors.ts';
import { setXattr } from '../common/libc.ts';
import { Limiter } from '../common/limit.ts';
import { isDirMode, type DirMeta, type DirTreeFile } from './objects/index.ts';
import type { ContentInfo, Repo } from './repo/repo.ts';
import { resolvePath } from './inspect.ts';

export interface CheckoutOptions {
  /** Require hardlinks: fail instead of copying when a link is impossible (`-H`). */
  requireHardlinks?: boolean;
  /** Always copy (`-C`). */
  forceCopy?: boolean;
  /** Write into an existing destination, replacing files (`--union`). */
  union?: boolean;
  /** Check out only this path of the tree (`--subpath`). */
  subpath?: string;
  /** Do not apply ownership or xattrs (`-U`); setuid/setgid bits are dropped. */
  userMode?: boolean;
}

export interface CheckoutStats {
  files: number;
  hardlinked: number;
  copied: number;
  dirs: number;
  /** Of `files`, those the second thread checked out. */
  byThread: number;
}

interface Ctx {
  repo: Repo;
  opts: CheckoutOptions;
  limiter: Limiter;
  stats: CheckoutStats;
  canLink: boolean;
  /**
   * A bare repo checked out with full metadata: each object file (symlinks included) is
   * exactly what the checkout needs, so it is hardlinked after one lstat, without reading
   * its header and xattrs (as ostree does).
   */
  linkObjects: boolean;
  /** The second thread, once the checkout is large enough (null: none, or not yet). */
  thread: CheckoutThread | null;
  /** Files checked out on this thread, for when to start the second one. */
  inline: number;
  /** Directories whose metadata waits until every file is in (a read-only directory can still be filled). */
  dirMetas: Array<[string, DirMeta]>;
}

/** Files checked out on the calling thread before a second one starts: small checkouts stay on one. */
const THREAD_AFTER = 2000;
/** Files handed to the second thread and not yet done, at most: beyond, the calling thread does them. */
const THREAD_BACKLOG = 1024;
/** The calling thread lets the second one's answers in every this many files. */
const YIELD_EVERY = 256;

/** Checks out `commit` (a checksum) into `dest`. */
export async function checkoutCommit(repo: Repo, commit: string, dest: string, opts: CheckoutOptions = {}): Promise<CheckoutStats> {
  const c = await repo.loadCommit(commit);
  const userMode = opts.userMode ?? process.getuid?.() !== 0;
  const ctx: Ctx = {
    repo,
    opts: { ...opts, userMode },
    limiter: new Limiter(16),
    stats: { files: 0, hardlinked: 0, copied: 0, dirs: 0, byThread: 0 },
    // Objects carry the right metadata on disk only in these cases.
    canLink: !opts.forceCopy && (repo.mode === 'bare' || repo.mode === 'bare-user-only' || (repo.mode === 'bare-user' && userMode)),
    linkObjects: !opts.forceCopy && repo.mode === 'bare' && !userMode,
    thread: null,
    inline: 0,
    dirMetas: [],
  };
  if (opts.requireHardlinks && !ctx.canLink) {
    throw new UpdaterError('STORE_CHECKOUT_NO_HARDLINK', `cannot hardlink from a ${repo.mode} repository${repo.mode === 'bare-user' ? ' without --user-mode' : ''}`, { hint: 'drop -H to copy' });
  }

  let tree = c.rootTree;
  let meta = c.rootMeta;
  if (opts.subpath !== undefined) {
    const at = await resolvePath(repo, c, opts.subpath);
    if ('file' in at) {
      await checkoutFile(ctx, at.file, dest);
      return ctx.stats;
    }
    ({ tree, meta } = at);
  }

  const existing = await lstat(dest).catch(() => null);
  if (existing && !opts.union) {
    throw new UpdaterError('STORE_CHECKOUT_EXISTS', `destination ${dest} already exists`, { hint: 'use --union to write into it' });
  }
  try {
    await checkoutDir(ctx, tree, meta, dest);
    if (ctx.thread) {
      const s = await ctx.thread.finish();
      ctx.stats.files += s.files;
      ctx.stats.hardlinked += s.hardlinked;
      ctx.stats.copied += s.copied;
      ctx.stats.byThread += s.files;
    }
  } finally {
    await ctx.thread?.close();
  }
  // Deepest first: a directory made read-only after everything below it.
  for (let i = ctx.dirMetas.length - 1; i >= 0; i--) applyDirMeta(ctx, ctx.dirMetas[i]![0], ctx.dirMetas[i]![1]);
  return ctx.stats;
}

async function checkoutDir(ctx: Ctx, treeCsum: string, metaCsum: string, dest: string): Promise<void> {
  const [tree, meta] = await Promise.all([ctx.repo.loadDirtree(treeCsum), ctx.repo.loadDirmeta(metaCsum)]);
  if (!isDirMode(meta.mode)) throw new UpdaterError('STORE_OBJECT_INVALID', `dirmeta for ${dest} is not a directory`);
  makeDir(ctx, dest);
  ctx.stats.dirs++;
  ctx.dirMetas.push([dest, meta]);
  if (tree.files.length > 0) {
    if (ctx.thread === null && ctx.inline >= THREAD_AFTER && !ctx.opts.forceCopy && availableParallelism() > 1) ctx.thread = new CheckoutThread(ctx);
    if (ctx.thread !== null && ctx.thread.backlog < THREAD_BACKLOG) {
      ctx.thread.post(dest, tree.files);
    } else {
      await checkoutFiles(ctx, dest, tree.files);
      const before = ctx.inline;
      ctx.inline += tree.files.length;
      // Let the second thread's answers in now and then (they lower its backlog).
      if (ctx.thread !== null && Math.floor(before / YIELD_EVERY) !== Math.floor(ctx.inline / YIELD_EVERY)) await new Promise((r) => setImmediate(r));
    }
  }
  for (const d of tree.dirs) await checkoutDir(ctx, d.treeChecksum, d.metaChecksum, join(dest, d.name));
}

/** Checks out the files of one directory (created already); used by both threads. */
export async function checkoutFiles(ctx: FileCtx, dest: string, files: DirTreeFile[]): Promise<void> {
  const jobs: Promise<void>[] = [];
  for (const f of files) {
    const path = `${dest}/${f.name}`; // names are validated: never '', '.', '..' or containing '/'
    // Links and symlinks are done inline; only copies go through the limiter.
    const info = linkOrSymlink(ctx, f.checksum, path);
    if (info === null) continue;
    await ctx.limiter.acquire();
    jobs.push(copyFileOut(ctx, info, path).finally(() => ctx.limiter.release()));
  }
  const settled = await Promise.allSettled(jobs);
  const failed = settled.find((s): s is PromiseRejectedResult => s.status === 'rejected');
  if (failed) throw failed.reason;
}

/** What checking out files needs: the same on both threads. */
export type FileCtx = Pick<Ctx, 'repo' | 'opts' | 'limiter' | 'stats' | 'canLink' | 'linkObjects'>;

/** What the second thread is started with. */
export interface CheckoutThreadInit {
  repoPath: string;
  opts: CheckoutOptions;
  canLink: boolean;
  linkObjects: boolean;
}

/** A failure on the second thread, rebuilt on this one. */
export interface CheckoutThreadFailure {
  message: string;
  code?: string;
  hint?: string;
}

/**
 * The second thread of a large checkout: directories' files are posted to it, and it
 * answers per directory. The first failure is kept and thrown by finish().
 */
class CheckoutThread {
  private readonly worker: Worker;
  private nextId = 0;
  private readonly pending = new Map<number, number>();
  private waiters: Array<() => void> = [];
  private failure: Error | null = null;
  private readonly stats: CheckoutStats = { files: 0, hardlinked: 0, copied: 0, dirs: 0, byThread: 0 };
  /** Files posted and not yet done. */
  backlog = 0;

  constructor(ctx: Ctx) {
    // Beside this module: the .ts source, or the bundled .js build (scripts/build.ts).
    const ext = import.meta.url.endsWith('.ts') ? 'ts' : 'js';
    const init: CheckoutThreadInit = { repoPath: ctx.repo.path, opts: ctx.opts, canLink: ctx.canLink, linkObjects: ctx.linkObjects };
    this.worker = new Worker(new URL(`./checkout-worker.${ext}`, import.meta.url), { workerData: init, resourceLimits: { maxYoungGenerationSizeMb: 4 } });
    this.worker.unref();
    this.worker.on('message', (m: { id: number; stats?: CheckoutStats; error?: CheckoutThreadFailure }) => {
      const n = this.pending.get(m.id) ?? 0;
      this.pending.delete(m.id);
      this.backlog -= n;
      if (m.stats) {
        this.stats.files += m.stats.files;
        this.stats.hardlinked += m.stats.hardlinked;
        this.stats.copied += m.stats.copied;
      }
      if (m.error) this.failure ??= m.error.code ? new UpdaterError(m.error.code as never, m.error.message, m.error.hint ? { hint: m.error.hint } : {}) : new Error(m.error.message);
      if (this.pending.size === 0) for (const w of this.waiters.splice(0)) w();
    });
    this.worker.on('error', (err) => this.lost(err));
    this.worker.on('exit', (code) => this.lost(new Error(`checkout thread exited (code ${code})`)));
  }

  post(dest: string, files: DirTreeFile[]): void {
    // Stop at the first failure, as a checkout on one thread would.
    if (this.failure) throw this.failure;
    const id = this.nextId++;
    this.pending.set(id, files.length);
    this.backlog += files.length;
    this.worker.postMessage({ id, dest, files });
  }

  /** Waits until every directory posted is answered; the totals, or the first failure. */
  async finish(): Promise<CheckoutStats> {
    if (this.pending.size > 0) await new Promise<void>((r) => this.waiters.push(r));
    if (this.failure) throw this.failure;
    return this.stats;
  }

  /** Waits for what is still running (nothing may write into the destination afterwards), then ends the thread. */
  async close(): Promise<void> {
    if (this.pending.size > 0) await new Promise<void>((r) => this.waiters.push(r));
    await this.worker.terminate();
  }

  /** The thread died: nothing more will be answered. */
  private lost(err: Error): void {
    if (this.pending.size === 0) return;
    this.failure ??= err;
    this.pending.clear();
    this.backlog = 0;
    for (const w of this.waiters.splice(0)) w();
  }
}

/** Creates `dest` as a directory; in union mode a non-directory there is replaced, never followed. */
function makeDir(ctx: Ctx, dest: string): void {
  // Synchronous metadata calls throughout: cheaper than thread-pool round trips.
  try {
    mkdirSync(dest, { mode: 0o700 });
  } catch (err) {
    if (!isErrno(err, 'EEXIST') || !ctx.opts.union) throw checkoutError(dest, err);
    if (!lstatSync(dest).isDirectory()) {
      unlinkSync(dest);
      mkdirSync(dest, { mode: 0o700 });
    }
  }
}

function applyDirMeta(ctx: Ctx, dest: string, meta: DirMeta): void {
  if (!ctx.opts.userMode) {
    for (const x of meta.xattrs) setXattr(dest, x.name, x.value);
    chownSync(dest, meta.uid, meta.gid);
    chmodSync(dest, meta.mode & 0o7777);
  } else {
    chmodSync(dest, meta.mode & 0o777);
  }
}

async function checkoutFile(ctx: FileCtx, csum: string, dest: string): Promise<void> {
  const info = linkOrSymlink(ctx, csum, dest);
  if (info !== null) await copyFileOut(ctx, info, dest);
}

/**
 * Checks out symlinks and hardlinkable files synchronously (metadata-only calls,
 * cheaper inline than as thread-pool round trips); returns the object's info
 * when it must be copied instead, else null.
 */
function linkOrSymlink(ctx: FileCtx, csum: string, dest: string): ContentInfo | null {
  if (ctx.linkObjects) {
    // Empty files are never hardlinked (link counts), as below.
    const path = ctx.repo.objectPath(csum, 'file');
    const st = lstatSync(path, { throwIfNoEntry: false });
    if (st !== undefined && (st.size > 0 || st.isSymbolicLink())) {
      if (ctx.opts.union) rmSync(dest, { force: true, recursive: true });
      try {
        linkSync(path, dest);
        ctx.stats.files++;
        ctx.stats.hardlinked++;
        return null;
      } catch (err) {
        if (!isErrno(err, 'EXDEV') && !isErrno(err, 'EMLINK')) throw checkoutError(dest, err);
      }
    }
  }
  const info = ctx.repo.readContentInfoSync(csum);
  const h = info.header;
  ctx.stats.files++;
  if (ctx.opts.union) rmSync(dest, { force: true, recursive: true });
  if (h.symlinkTarget) {
    try {
      symlinkSync(h.symlinkTarget, dest);
    } catch (err) {
      throw checkoutError(dest, err);
    }
    if (!ctx.opts.userMode) {
      lchownSync(dest, h.uid, h.gid);
      for (const x of h.xattrs) setXattr(dest, x.name, x.value);
    }
    return null;
  }
  if (ctx.canLink && info.size > 0) {
    try {
      linkSync(info.path, dest);
      ctx.stats.hardlinked++;
      return null;
    } catch (err) {
      if (!isErrno(err, 'EXDEV') && !isErrno(err, 'EMLINK')) throw checkoutError(dest, err);
      if (ctx.opts.requireHardlinks) throw new UpdaterError('STORE_CHECKOUT_NO_HARDLINK', `cannot hardlink object ${csum} to ${dest}: ${(err as Error).message}`);
    }
  }
  return info;
}

async function copyFileOut(ctx: FileCtx, info: ContentInfo, dest: string): Promise<void> {
  await copyOut(ctx, info, dest);
  ctx.stats.copied++;
}

async function copyOut(ctx: FileCtx, info: ContentInfo, dest: string): Promise<void> {
  const h = info.header;
  if (ctx.repo.mode === 'archive') await writeFile(dest, await ctx.repo.readContentData(info), { mode: 0o600, flag: 'wx' });
  else await copyFile(info.path, dest, 1 /* COPYFILE_EXCL */);
  if (!ctx.opts.userMode) {
    for (const x of h.xattrs) setXattr(dest, x.name, x.value);
    // chown before chmod: chown clears setuid/setgid bits.
    await chown(dest, h.uid, h.gid);
    await chmod(dest, h.mode & 0o7777);
  } else {
    await chmod(dest, h.mode & 0o777);
  }
}

function checkoutError(dest: string, err: unknown): Error {
  if (err instanceof UpdaterError) return err;
  if (isErrno(err, 'EEXIST')) return new UpdaterError('STORE_CHECKOUT_EXISTS', `${dest} already exists`, { hint: 'use --union to replace existing files' });
  return new UpdaterError('STORE_CHECKOUT_FAILED', `checking out ${dest}: ${(err as Error).message}`, { cause: err });
}
