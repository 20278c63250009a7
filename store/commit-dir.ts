// Commits a directory tree (`ostree commit --tree=dir=DIR`): walks it depth
// first, writes content, dirtree and dirmeta objects, then the commit and ref.
// File work runs through one Limiter so directories overlap while memory stays
// bounded by the directories on the current path, not by the tree's size.

import type { Stats } from 'node:fs';
import { closeSync, lstatSync, openSync, readdirSync, readFileSync, readlinkSync, readSync, realpathSync } from 'node:fs';
import { stat } from 'node:fs/promises';
import { join } from 'node:path';
import { isErrno, UpdaterError } from '../common/errors.ts';
import { DT_DIR, DT_REG, filesystemType, readAllXattrs, readDirEntries } from '../common/libc.ts';
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
  /**
   * filesReused: files committed as objects the repo has, without being read (devino);
   * filesByEntry: how many of those were recognised from their directory entry alone, with no lstat.
   */
  stats: { contentWritten: number; contentBytesWritten: number; metadataWritten: number; filesReused: number; filesByEntry: number };
}

/** Xattrs ostree never carries from a source tree: our own bare-user bookkeeping. */
const SKIP_XATTRS = new Set(['user.ostreemeta']);

interface WalkContext {
  tx: Transaction;
  repo: Repo;
  opts: CommitOptions;
  /** The repo's own devino cache: null when not usable, undefined until the first hardlinked file. */
  devino: InodeIndex | null | undefined;
  /** opts.devino, when usable. */
  known: ReadonlyMap<string, string> | null;
  /** The directory being committed. */
  root: string;
  /**
   * Whether directory entries' d_ino may stand in for an lstat in this tree (see
   * direntInodesTrusted); settled at the first hardlinked file, before which no
   * entry could be a known object.
   */
  dino: boolean | undefined;
  canonical: boolean;
  filesReused: number;
  filesByEntry: number;
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
      root: dir.replace(/(.)\/+$/, '$1'),
      dino: undefined,
      canonical: repo.mode === 'bare-user-only',
      filesReused: 0,
      filesByEntry: 0,
      filesSeen: 0,
    };
    const root = await writeDir(ctx, ctx.root);

    if (opts.skipIfUnchanged && parent !== null) {
      const p = await repo.loadCommit(parent);
      if (p.rootTree === root.treeChecksum && p.rootMeta === root.metaChecksum) {
        if (own) await tx.abort();
        return { checksum: parent, unchanged: true, stats: { ...tx.stats, filesReused: ctx.filesReused, filesByEntry: ctx.filesByEntry } };
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
    return { checksum, unchanged: false, stats: { ...tx.stats, filesReused: ctx.filesReused, filesByEntry: ctx.filesByEntry } };
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
  if (!st.isDirectory()) throw new UpdaterError('STORE_COMMIT_SOURCE', `cannot commit ${path}: it stopped being a directory during the commit`);
  const metaChecksum = ctx.tx.writeMetadataSync('dirmeta', encodeDirmeta({
    ...ownership(ctx, st.uid, st.gid),
    mode: canonMode(ctx, st.mode),
    xattrs: ctx.canonical ? [] : readXattrs(path),
  }));

  const files: DirTreeFile[] = [];
  const dirs: DirTreeDir[] = [];
  const ents = readEntries(path);
  for (let i = 0; i < ents.names.length; i++) {
    const name = ents.names[i];
    const child = path === '/' ? `/${name}` : `${path}/${name}`;
    // A regular file that is a hardlink of a known object needs no lstat: its inode
    // number from the directory entry names the object (ostree's devino cache).
    if (ents.types[i] === DT_REG && ctx.dino === true) {
      const hit = reusable(ctx, st.dev, ents.inos[i]);
      if (hit !== undefined) {
        ctx.filesReused++;
        ctx.filesByEntry++;
        files.push({ name, checksum: hit });
        if (++ctx.filesSeen % YIELD_EVERY === 0) await new Promise((r) => setImmediate(r));
        continue;
      }
    }
    if (ents.types[i] === DT_DIR) {
      dirs.push({ name, ...(await writeDir(ctx, child)) });
      continue;
    }
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

/** A directory's entries, each name valid UTF-8 (ostree requires it) and a legal dirtree name. */
function readEntries(path: string): ReturnType<typeof readDirEntries> {
  const ents = readDirEntries(path);
  if (ents.nonUtf8.length > 0) {
    throw new UpdaterError('STORE_INVALID_FILENAME', `cannot commit ${join(path, ents.names[ents.nonUtf8[0]])}: file name is not valid UTF-8`);
  }
  for (const name of ents.names) validateName(name, path);
  return ents;
}

async function writeFile(ctx: WalkContext, path: string, st: Stats): Promise<string> {
  let expected: string | undefined;
  if (st.isFile() && st.nlink > 1) {
    ctx.dino ??= direntInodesTrusted(ctx.root);
    if (ctx.known !== null) {
      expected = ctx.known.get(`${st.dev}:${st.ino}`);
      if (expected !== undefined && ctx.tx.hasSync(expected, 'file')) {
        ctx.filesReused++;
        return expected;
      }
    } else if (ctx.devino !== null) {
      const idx = devinoCache(ctx);
      const hit = st.dev === idx.dev ? idx.byIno.get(st.ino) : undefined;
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
    // Read one byte past the expected size to notice a file that grew. A regular file's
    // read returns less than asked only at its end, so a short read needs no second call.
    for (;;) {
      const want = size + 1 - off;
      const n = readSync(fd, scratch, off, want, off);
      if (n === 0) break;
      off += n;
      if (off > size) return null;
      if (n < want && off === size) break;
    }
    return scratch.subarray(0, off);
  } finally {
    closeSync(fd);
  }
}

/** ostree's devino cache: every content object of a repo by inode, all on one device. */
interface InodeIndex {
  dev: number;
  byIno: Map<number, string>;
}

/** The repo's own devino cache, built on the first hardlinked file met. */
function devinoCache(ctx: WalkContext): InodeIndex {
  ctx.devino ??= scanDevino(ctx);
  return ctx.devino;
}

/**
 * The checksum of a hardlinked regular file of the tree (on `dev`, inode `ino`) that is
 * known to be a repo object, or undefined. Only lookups: a miss is lstat'ed and read.
 */
function reusable(ctx: WalkContext, dev: number, ino: number): string | undefined {
  if (ctx.known !== null) {
    const csum = ctx.known.get(`${dev}:${ino}`);
    return csum !== undefined && ctx.tx.hasSync(csum, 'file') ? csum : undefined;
  }
  const idx = ctx.devino;
  return idx && dev === idx.dev ? idx.byIno.get(ino) : undefined;
}

/**
 * Filesystems whose directory entries carry the same inode number as lstat gives (not
 * overlayfs, whose d_ino may name a lower layer's inode): ext2/3/4, XFS, Btrfs, tmpfs.
 */
const DINO_FILESYSTEMS = new Set([0xef53, 0x58465342, 0x9123683e, 0x01021994]);

/**
 * Whether the d_ino of the directory entries under `dir` equals each file's st_ino on
 * the device of its directory: `dir` is on one of DINO_FILESYSTEMS and nothing is mounted
 * below it (a mount over a file or directory hides the entry's own inode). Btrfs
 * subvolumes are directories with their own device, which the walk compares.
 */
export function direntInodesTrusted(dir: string): boolean {
  try {
    if (!DINO_FILESYSTEMS.has(filesystemType(dir))) return false;
    const real = realpathSync(dir);
    for (const line of readFileSync('/proc/self/mountinfo', 'utf8').split('\n')) {
      const field = line.split(' ')[4];
      if (field === undefined) continue;
      const mountPoint = field.replace(/\\([0-7]{3})/g, (_, o: string) => String.fromCharCode(parseInt(o, 8)));
      if (mountPoint !== real && (real === '/' || mountPoint.startsWith(`${real}/`))) return false;
    }
    return true;
  } catch {
    return false;
  }
}

/** True for `n` lowercase hex digits starting at `off` of `s`. */
function isHex(s: string, off: number, n: number): boolean {
  for (let i = off; i < off + n; i++) {
    const c = s.charCodeAt(i);
    if (!((c >= 0x30 && c <= 0x39) || (c >= 0x61 && c <= 0x66))) return false;
  }
  return true;
}

/**
 * Lists objects/ once: every content object by inode, and every object's name for the
 * transaction's existence checks (it holds the lock, so the listing stays true). On a
 * filesystem whose directory entries carry trustworthy inode numbers this is one
 * getdents64 per fan-out directory; elsewhere an lstat per content object, as ostree does.
 */
function scanDevino(ctx: WalkContext): InodeIndex {
  const objects = join(ctx.repo.path, 'objects');
  const dev = lstatSync(objects).dev;
  const byDirent = direntInodesTrusted(objects);
  const byIno = new Map<number, string>();
  // Object file names (`REST.KIND`) per fan-out directory.
  const listing = new Map<string, Set<string>>();
  for (const d of readdirSync(objects)) {
    if (d.length !== 2 || !isHex(d, 0, 2)) continue;
    const sub = `${objects}/${d}`;
    const ents = readDirEntries(sub);
    listing.set(d, new Set(ents.names));
    for (let i = 0; i < ents.names.length; i++) {
      const name = ents.names[i];
      if (name.length !== 67 || !name.endsWith('.file') || !isHex(name, 0, 62)) continue;
      const csum = d + name.slice(0, 62);
      if (byDirent && ents.types[i] === DT_REG) {
        byIno.set(ents.inos[i], csum);
      } else {
        const s = lstatSync(`${sub}/${name}`, { throwIfNoEntry: false });
        if (s && s.isFile() && s.dev === dev) byIno.set(s.ino, csum);
      }
    }
  }
  const archive = ctx.repo.mode === 'archive';
  ctx.tx.useListing((csum, kind) => listing.get(csum.slice(0, 2))?.has(`${csum.slice(2)}.${archive && kind === 'file' ? 'filez' : kind}`) === true);
  return { dev, byIno };
}
