// Checks a commit (or a subpath of it) out into a directory, as `ostree checkout`:
// hardlinks into the object store where the repo mode allows (bare, bare-user
// in user mode, bare-user-only), copies otherwise. Zero-sized files are always
// copied: hardlinking every empty file to one inode would make them share writes.

import { chmodSync, chownSync, lchownSync, linkSync, lstatSync, mkdirSync, rmSync, symlinkSync, unlinkSync } from 'node:fs';
import { chmod, chown, copyFile, lstat, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { isErrno, UpdaterError } from '../common/errors.ts';
import { setXattr } from '../common/libc.ts';
import { Limiter } from '../common/limit.ts';
import { isDirMode, type DirMeta } from './objects/index.ts';
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
}

/** Checks out `commit` (a checksum) into `dest`. */
export async function checkoutCommit(repo: Repo, commit: string, dest: string, opts: CheckoutOptions = {}): Promise<CheckoutStats> {
  const c = await repo.loadCommit(commit);
  const userMode = opts.userMode ?? process.getuid?.() !== 0;
  const ctx: Ctx = {
    repo,
    opts: { ...opts, userMode },
    limiter: new Limiter(16),
    stats: { files: 0, hardlinked: 0, copied: 0, dirs: 0 },
    // Objects carry the right metadata on disk only in these cases.
    canLink: !opts.forceCopy && (repo.mode === 'bare' || repo.mode === 'bare-user-only' || (repo.mode === 'bare-user' && userMode)),
    linkObjects: !opts.forceCopy && repo.mode === 'bare' && !userMode,
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
  await checkoutDir(ctx, tree, meta, dest);
  return ctx.stats;
}

async function checkoutDir(ctx: Ctx, treeCsum: string, metaCsum: string, dest: string): Promise<void> {
  const [tree, meta] = await Promise.all([ctx.repo.loadDirtree(treeCsum), ctx.repo.loadDirmeta(metaCsum)]);
  makeDir(ctx, dest);
  ctx.stats.dirs++;
  const jobs: Promise<void>[] = [];
  for (const f of tree.files) {
    const path = `${dest}/${f.name}`; // names are validated: never '', '.', '..' or containing '/'
    // Links and symlinks are done inline; only copies go through the limiter.
    const info = linkOrSymlink(ctx, f.checksum, path);
    if (info === null) continue;
    await ctx.limiter.acquire();
    jobs.push(copyFileOut(ctx, info, path).finally(() => ctx.limiter.release()));
  }
  for (const d of tree.dirs) await checkoutDir(ctx, d.treeChecksum, d.metaChecksum, join(dest, d.name));
  const settled = await Promise.allSettled(jobs);
  const failed = settled.find((s): s is PromiseRejectedResult => s.status === 'rejected');
  if (failed) throw failed.reason;
  // Directory metadata last, so a read-only directory can still be filled.
  applyDirMeta(ctx, dest, meta);
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
  if (!isDirMode(meta.mode)) throw new UpdaterError('STORE_OBJECT_INVALID', `dirmeta for ${dest} is not a directory`);
  if (!ctx.opts.userMode) {
    for (const x of meta.xattrs) setXattr(dest, x.name, x.value);
    chownSync(dest, meta.uid, meta.gid);
    chmodSync(dest, meta.mode & 0o7777);
  } else {
    chmodSync(dest, meta.mode & 0o777);
  }
}

async function checkoutFile(ctx: Ctx, csum: string, dest: string): Promise<void> {
  const info = linkOrSymlink(ctx, csum, dest);
  if (info !== null) await copyFileOut(ctx, info, dest);
}

/**
 * Checks out symlinks and hardlinkable files synchronously (metadata-only calls,
 * cheaper inline than as thread-pool round trips); returns the object's info
 * when it must be copied instead, else null.
 */
function linkOrSymlink(ctx: Ctx, csum: string, dest: string): ContentInfo | null {
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

async function copyFileOut(ctx: Ctx, info: ContentInfo, dest: string): Promise<void> {
  await copyOut(ctx, info, dest);
  ctx.stats.copied++;
}

async function copyOut(ctx: Ctx, info: ContentInfo, dest: string): Promise<void> {
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
