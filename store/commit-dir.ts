// Commits a directory tree (`ostree commit --tree=dir=DIR`): walks it depth
// first, writes content, dirtree and dirmeta objects, then the commit and ref.
// File work runs through one Limiter so directories overlap while memory stays
// bounded by the directories on the current path, not by the tree's size.

import type { Stats } from 'node:fs';
import { closeSync, lstatSync, openSync, readdirSync, readlinkSync, readSync } from 'node:fs';
import { stat } from 'node:fs/promises';
import { join } from 'node:path';
import { isErrno, UpdaterError } from '../common/errors.ts';
import { readAllXattrs } from '../common/libc.ts';
import { variant, type VarDict } from './gvariant/index.ts';
import {
  encodeCommit, encodeDirmeta, encodeDirtree, S_IFLNK, S_IFMT, validateName, type DirTreeDir, type DirTreeFile, type FileHeader, type Xattr,
} from './objects/index.ts';
import type { Repo } from './repo/repo.ts';
import { IN_MEMORY_LIMIT, Transaction } from './repo/transaction.ts';
import { validateRef } from './repo/refs.ts';

export interface CommitOptions {
  branch?: string;
  subject?: string;
  body?: string;
  /** Seconds since the epoch; default now. */
  timestamp?: number;
  /** Extra metadata, in order (`--add-metadata-string`). */
  metadata?: VarDict;
  /** Parent checksum; undefined = current branch head; null = none (orphan). */
  parent?: string | null;
  ownerUid?: number;
  ownerGid?: number;
  /** Do not commit when the tree equals the parent's (`--skip-if-unchanged`). */
  skipIfUnchanged?: boolean;
  /** Skip the automatic `ostree.ref-binding` (`--no-bindings`). */
  noBindings?: boolean;
  /**
   * Content checksums of files known by device and inode (`DEV:INO` → checksum), as ostree's
   * devino cache: the files of a hardlink checkout from another repository whose inodes are
   * known to be unchanged since. A hardlinked regular file found here is neither read nor
   * hashed when this repository already has the object; otherwise it is read and must hash
   * to that checksum. Replaces the scan of this repository's own objects. Not used with
   * ownerUid/ownerGid or in a bare-user-only repository (the committed metadata would
   * differ from the file's).
   */
  devino?: ReadonlyMap<string, string>;
  /**
   * Write into this open transaction of `repo` instead of one of its own: the objects and
   * the ref become visible when the caller commits it (many commits, one sync).
   */
  transaction?: Transaction;
  onLockWait?: () => void;
}

export interface CommitResult {
  checksum: string;
  /** True when --skip-if-unchanged found the tree equal to the parent's. */
  unchanged: boolean;
  stats: { contentWritten: number; contentBytesWritten: number; metadataWritten: number; filesReused: number };
}

/** Xattrs ostree never carries from a source tree: our own bare-user bookkeeping. */
const SKIP_XATTRS = new Set(['user.ostreemeta']);

interface WalkContext {
  tx: Transaction;
  repo: Repo;
  opts: CommitOptions;
  devino: Map<string, string> | null | undefined;
  /** opts.devino, when usable. */
  known: ReadonlyMap<string, string> | null;
  canonical: boolean;
  filesReused: number;
  filesSeen: number;
}

/** Writes `dir` into `repo` as a commit (optionally on `opts.branch`); see ostree commit. */
export async function commitDirectory(repo: Repo, dir: string, opts: CommitOptions = {}): Promise<CommitResult> {
  if (opts.branch !== undefined) validateRef(opts.branch);
  const st = await stat(dir).catch((err) => {
    throw new UpdaterError('STORE_COMMIT_SOURCE', `cannot commit ${dir}: ${(err as Error).message}`, { cause: err });
  });
  if (!st.isDirectory()) throw new UpdaterError('STORE_COMMIT_SOURCE', `cannot commit ${dir}: not a directory`);

  let parent = opts.parent;
  if (parent === undefined) parent = opts.branch !== undefined ? await repo.readRef(opts.branch) : null;
  if (parent !== null) await repo.loadCommit(parent);

  const own = opts.transaction === undefined;
  if (!own && opts.transaction!.repo !== repo) throw new UpdaterError('INTERNAL', `commit into ${repo.path}: the transaction given is of ${opts.transaction!.repo.path}`);
  const tx = opts.transaction ?? await Transaction.begin(repo, { onWait: opts.onLockWait });
  try {
    // A devino cache is only valid when the committed metadata equals the file's.
    const asIs = opts.ownerUid === undefined && opts.ownerGid === undefined && repo.mode !== 'bare-user-only';
    const ctx: WalkContext = {
      tx, repo, opts,
      devino: !asIs || repo.mode === 'archive' || opts.devino !== undefined ? null : undefined,
      known: asIs ? (opts.devino ?? null) : null,
      canonical: repo.mode === 'bare-user-only',
      filesReused: 0,
      filesSeen: 0,
    };
    const root = await writeDir(ctx, dir);

    if (opts.skipIfUnchanged && parent !== null) {
      const p = await repo.loadCommit(parent);
      if (p.rootTree === root.treeChecksum && p.rootMeta === root.metaChecksum) {
        if (own) await tx.abort();
        return { checksum: parent, unchanged: true, stats: { ...tx.stats, filesReused: ctx.filesReused } };
      }
    }

    const metadata: VarDict = [...(opts.metadata ?? [])];
    if (opts.branch !== undefined && !opts.noBindings && !metadata.some(([k]) => k === 'ostree.ref-binding')) {
      metadata.push(['ostree.ref-binding', variant('as', [opts.branch])]);
    }
    const commitBytes = encodeCommit({
      metadata,
      parent,
      subject: opts.subject ?? '',
      body: opts.body ?? '',
      timestamp: opts.timestamp ?? Math.floor(Date.now() / 1000),
      rootTree: root.treeChecksum,
      rootMeta: root.metaChecksum,
    });
    const checksum = await tx.writeMetadata('commit', commitBytes);
    if (opts.branch !== undefined) tx.setRef(null, opts.branch, checksum);
    if (own) await tx.commit();
    return { checksum, unchanged: false, stats: { ...tx.stats, filesReused: ctx.filesReused } };
  } catch (err) {
    if (own) await tx.abort();
    throw err;
  }
}

function readXattrs(path: string): Xattr[] {
  return readAllXattrs(path).filter((x) => !SKIP_XATTRS.has(x.name));
}

function ownership(ctx: WalkContext, uid: number, gid: number): { uid: number; gid: number } {
  if (ctx.canonical) return { uid: 0, gid: 0 };
  return { uid: ctx.opts.ownerUid ?? uid, gid: ctx.opts.ownerGid ?? gid };
}

/** Canonical permissions for bare-user-only: at most 0755 (ostree's CANONICAL_PERMISSIONS); symlinks stay 0777. */
function canonMode(ctx: WalkContext, mode: number): number {
  if (!ctx.canonical || (mode & S_IFMT) === S_IFLNK) return mode;
  return mode & (S_IFMT | 0o755);
}

/** Every this many files the walk yields to the event loop (timers, signals). */
const YIELD_EVERY = 512;

/**
 * Depth-first walk. Small files are read, hashed and written synchronously:
 * with the data in the page cache each step is a short syscall, and doing it
 * inline costs far less than a thread-pool round trip per step. Files larger
 * than the in-memory limit stream asynchronously.
 */
async function writeDir(ctx: WalkContext, path: string): Promise<{ treeChecksum: string; metaChecksum: string }> {
  const st = lstatSync(path);
  const metaChecksum = ctx.tx.writeMetadataSync('dirmeta', encodeDirmeta({
    ...ownership(ctx, st.uid, st.gid),
    mode: canonMode(ctx, st.mode),
    xattrs: ctx.canonical ? [] : readXattrs(path),
  }));

  const files: DirTreeFile[] = [];
  const dirs: DirTreeDir[] = [];
  for (const name of readNames(path)) {
    const child = join(path, name);
    const cst = lstatSync(child);
    if (cst.isDirectory()) {
      dirs.push({ name, ...(await writeDir(ctx, child)) });
    } else if (cst.isFile() || cst.isSymbolicLink()) {
      files.push({ name, checksum: await writeFile(ctx, child, cst) });
      if (++ctx.filesSeen % YIELD_EVERY === 0) await new Promise((r) => setImmediate(r));
    } else {
      throw new UpdaterError('STORE_UNSUPPORTED_FILE_TYPE', `cannot commit ${child}: only regular files, symlinks and directories can be committed`);
    }
  }
  const treeChecksum = ctx.tx.writeMetadataSync('dirtree', encodeDirtree({ files, dirs }));
  return { treeChecksum, metaChecksum };
}

/** Entry names as valid UTF-8 (ostree requires it), each a legal dirtree name. */
function readNames(path: string): string[] {
  const raw = readdirSync(path, { encoding: 'buffer' });
  const dec = new TextDecoder('utf-8', { fatal: true });
  return raw.map((b) => {
    let name: string;
    try {
      name = dec.decode(b);
    } catch {
      throw new UpdaterError('STORE_INVALID_FILENAME', `cannot commit ${join(path, b.toString('latin1'))}: file name is not valid UTF-8`);
    }
    validateName(name, path);
    return name;
  });
}

async function writeFile(ctx: WalkContext, path: string, st: Stats): Promise<string> {
  let expected: string | undefined;
  if (st.isFile() && st.nlink > 1) {
    if (ctx.known !== null) {
      expected = ctx.known.get(`${st.dev}:${st.ino}`);
      if (expected !== undefined && ctx.tx.hasSync(expected, 'file')) {
        ctx.filesReused++;
        return expected;
      }
    } else if (ctx.devino !== null) {
      const hit = devinoCache(ctx).get(`${st.dev}:${st.ino}`);
      if (hit !== undefined) {
        ctx.filesReused++;
        return hit;
      }
    }
  }
  const isLink = st.isSymbolicLink();
  const header: FileHeader = {
    ...ownership(ctx, st.uid, st.gid),
    mode: canonMode(ctx, st.mode),
    symlinkTarget: isLink ? readlinkSync(path) : '',
    xattrs: ctx.canonical ? [] : readXattrs(path),
  };
  try {
    if (isLink) return ctx.tx.writeContentSync(header, null);
    if (st.size <= IN_MEMORY_LIMIT) {
      const data = readSmallFile(path, st.size);
      if (data !== null) {
        // Hashed here; written by the transaction's writer threads while the walk goes on
        // (they take a copy, so the scratch buffer is free again on return).
        const csum = ctx.tx.writeContentDetached(header, data, expected);
        await ctx.tx.writeRoom();
        return csum;
      }
    }
    return await ctx.tx.writeContent(header, { path }, expected);
  } catch (err) {
    if (err instanceof UpdaterError) throw new UpdaterError(err.code, `${path}: ${err.message}`, { cause: err, hint: err.hint });
    if (isErrno(err, 'EACCES')) throw new UpdaterError('STORE_COMMIT_SOURCE', `cannot read ${path}: permission denied`, { cause: err });
    throw err;
  }
}

/** One reusable read buffer: the commit path is synchronous, so each file's bytes are done with before the next read. */
let scratch = Buffer.allocUnsafe(1 << 20);

/**
 * Reads a file of `size` bytes (from lstat) into the shared scratch buffer, so a
 * walk over tens of thousands of files allocates nothing per file. Returns null
 * when the file grew meanwhile; the caller then streams it.
 */
function readSmallFile(path: string, size: number): Buffer | null {
  if (scratch.length < size + 1) scratch = Buffer.allocUnsafe(Math.max(size + 1, scratch.length * 2));
  const fd = openSync(path, 'r');
  try {
    let off = 0;
    // Read one byte past the expected size to notice a file that grew.
    for (;;) {
      const n = readSync(fd, scratch, off, size + 1 - off, off);
      if (n === 0) break;
      off += n;
      if (off > size) return null;
    }
    return scratch.subarray(0, off);
  } finally {
    closeSync(fd);
  }
}

/**
 * ostree's devino cache: (device, inode) → checksum of every content object in
 * the repo, so files of a hardlink checkout are recognised without being read.
 * Built on the first hardlinked file met.
 */
function devinoCache(ctx: WalkContext): Map<string, string> {
  ctx.devino ??= scanDevino(ctx.repo);
  return ctx.devino;
}

function scanDevino(repo: Repo): Map<string, string> {
  const map = new Map<string, string>();
  for (const [csum, kind, path] of repo.listObjectsSync()) {
    if (kind !== 'file') continue;
    const s = lstatSync(path, { throwIfNoEntry: false });
    if (s && s.isFile()) map.set(`${s.dev}:${s.ino}`, csum);
  }
  return map;
}
