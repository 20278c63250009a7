// The install root of a unified-core compose: a union checkout of the package commits of
// the package cache (pkgcache.ts), in transaction order, with hardlinks to the cache's
// objects, as rpm-ostree assembles its tree (§2.4).
//
// Hardlinks share the inode with the cached object, so anything written into such a file in
// place would change the cache. rpm-ostree guards the tree with rofiles-fuse; here:
// - files that scripts and the compose itself write as a rule are copies, never links:
//   everything under /etc, empty files, a second path of an object already in the tree, and
//   (applyOwners) every file whose owner is not root;
// - every object linked into the tree has its ctime recorded (ctime cannot be set from user
//   space: any write, chmod, chown, xattr or link change of the inode moves it). `verify`
//   checks each object whose ctime moved against its checksum and reports the damaged ones,
//   which the compose restores by importing their package again (the tree keeps what the
//   scripts made of the file);
// - while a tree is linked, a marker in the cache lets the next compose find objects damaged
//   by a compose that was killed meanwhile (pkgcache.ts recoverPkgCache).

import { chmodSync, chownSync, copyFileSync, lchownSync, linkSync, lstatSync, mkdirSync, readFileSync, readlinkSync, renameSync, symlinkSync, unlinkSync, existsSync } from 'node:fs';
import { randomBytes } from 'node:crypto';
import { dirname, join } from 'node:path';
import { UpdaterError } from '../common/errors.ts';
import { lstatOrNull } from '../common/fs.ts';
import { readAllXattrs, setXattr } from '../common/libc.ts';
import type { DirMeta, Repo } from '../store/index.ts';
import { mergeById } from './install.ts';
import { objectIntact } from './pkgcache.ts';
import { parseGroup, parsePasswd } from './rootfs/index.ts';
import type { RpmPackage } from './rpm/index.ts';

const MAX_SYMLINKS = 40;
const S_IFMT = 0o170000;
const S_IFDIR = 0o040000;

export interface AssemblyStats {
  files: number;
  hardlinked: number;
  copied: number;
}

export interface DamagedObject {
  /** The content object whose checksum no longer matches. */
  checksum: string;
  /** Index (in checkout order) of the package that linked it into the tree. */
  pkg: number;
}

interface Linked {
  rel: string;
  ctimeNs: bigint;
  ino: bigint;
  pkg: number;
}

/** A tree being assembled from package commits of `cache` (a bare repository). */
export class TreeAssembly {
  readonly root: string;
  readonly cache: Repo;
  readonly stats: AssemblyStats = { files: 0, hardlinked: 0, copied: 0 };
  private linked = new Map<string, Linked>();
  private byIno = new Map<bigint, string>();
  private damaged = new Map<string, number>();
  private dirCache = new Map<string, string>();

  constructor(root: string, cache: Repo) {
    if (cache.mode !== 'bare') throw new UpdaterError('COMPOSE_PKGCACHE_INVALID', `package cache ${cache.path} is a ${cache.mode} repository, not bare`);
    this.root = root;
    this.cache = cache;
    mkdirSync(root, { recursive: true, mode: 0o755 });
  }

  /** Number of objects currently hardlinked into the tree. */
  get linkedObjects(): number {
    return this.linked.size;
  }

  /**
   * Checks package commit `commit` out on top of the tree. Directories the package lists
   * get its mode; directories it only implies keep what an earlier package gave them.
   * `mergeById` paths that already exist keep their lines and gain the package's new names.
   */
  async checkout(commit: string, pkg: RpmPackage, index: number, opts: { mergeById?: Set<string> } = {}): Promise<void> {
    const c = await this.cache.loadCommit(commit);
    const listed = new Set(pkg.files.filter((f) => (f.mode & S_IFMT) === S_IFDIR).map((f) => f.path));
    const what = pkg.nevra;
    if (listed.has('/')) this.applyDirMeta('', await this.cache.loadDirmeta(c.rootMeta));
    await this.walk(c.rootTree, '', listed, index, what, opts.mergeById);
  }

  private async walk(treeCsum: string, logical: string, listed: Set<string>, index: number, what: string, merge: Set<string> | undefined): Promise<void> {
    const tree = await this.cache.loadDirtree(treeCsum);
    const real = this.realDir(logical, what);
    for (const f of tree.files) {
      const lpath = logical === '' ? f.name : `${logical}/${f.name}`;
      this.placeFile(f.checksum, `/${lpath}`, real === '' ? f.name : `${real}/${f.name}`, index, what, merge);
    }
    for (const d of tree.dirs) {
      const lpath = logical === '' ? d.name : `${logical}/${d.name}`;
      const rel = real === '' ? d.name : `${real}/${d.name}`;
      const st = lstatOrNull(join(this.root, rel));
      if (st === null) {
        mkdirSync(join(this.root, rel), { mode: 0o700 });
        this.applyDirMeta(rel, await this.cache.loadDirmeta(d.metaChecksum));
      } else if (st.isSymbolicLink()) {
        // rpm keeps a symlink where a package lists a directory (usr-merge links): followed below.
      } else if (!st.isDirectory()) {
        throw new UpdaterError('COMPOSE_UNPACK_FAILED', `${what}: /${lpath}: a file of another package is in the way of this directory`);
      } else if (listed.has(`/${lpath}`)) {
        this.applyDirMeta(rel, await this.cache.loadDirmeta(d.metaChecksum));
      }
      await this.walk(d.treeChecksum, lpath, listed, index, what, merge);
    }
  }

  private applyDirMeta(rel: string, meta: DirMeta): void {
    const path = join(this.root, rel);
    for (const x of meta.xattrs) setXattr(path, x.name, x.value);
    chownSync(path, meta.uid, meta.gid);
    chmodSync(path, meta.mode & 0o7777);
  }

  private placeFile(csum: string, logical: string, rel: string, index: number, what: string, merge: Set<string> | undefined): void {
    const info = this.cache.readContentInfoSync(csum);
    const h = info.header;
    const dest = join(this.root, rel);
    const st = lstatOrNull(dest);
    this.stats.files++;
    if (st?.isDirectory()) throw new UpdaterError('COMPOSE_UNPACK_FAILED', `${what}: ${logical}: a directory is in the way of this ${h.symlinkTarget ? `symlink to ${h.symlinkTarget}` : 'file'}`);
    if (h.symlinkTarget) {
      if (st !== null) this.unlinkOwn(dest, st.ino);
      symlinkSync(h.symlinkTarget, dest);
      lchownSync(dest, h.uid, h.gid);
      this.dirCache.clear();
      return;
    }
    if (merge?.has(logical) && st?.isFile()) {
      const tmp = this.tmpName(dest);
      copyFileSync(info.path, tmp);
      mergeById(dest, tmp);
      this.finishCopy(tmp, h.uid, h.gid, h.mode, h.xattrs);
      renameSync(tmp, dest);
      this.stats.copied++;
      return;
    }
    const copy = info.size === 0 || rel === 'etc' || rel.startsWith('etc/') || this.linked.has(csum);
    if (st !== null) this.unlinkOwn(dest, st.ino);
    if (copy) {
      const tmp = this.tmpName(dest);
      copyFileSync(info.path, tmp);
      this.finishCopy(tmp, h.uid, h.gid, h.mode, h.xattrs);
      renameSync(tmp, dest);
      this.stats.copied++;
      return;
    }
    linkSync(info.path, dest);
    const ost = lstatSync(info.path, { bigint: true });
    this.linked.set(csum, { rel, ctimeNs: ost.ctimeNs, ino: ost.ino, pkg: index });
    this.byIno.set(ost.ino, csum);
    this.stats.hardlinked++;
  }

  private tmpName(dest: string): string {
    return join(dirname(dest), `.atomic-copy-${randomBytes(6).toString('hex')}`);
  }

  private finishCopy(path: string, uid: number, gid: number, mode: number, xattrs: Array<{ name: string; value: Uint8Array }>): void {
    for (const x of xattrs) setXattr(path, x.name, x.value);
    // chown before chmod: chown clears setuid/setgid.
    lchownSync(path, uid, gid);
    chmodSync(path, mode & 0o7777);
  }

  /**
   * Removes a tree path that may be a link to a cached object; the object then leaves the
   * tree, checked first if something touched it meanwhile.
   */
  private unlinkOwn(path: string, ino: number | bigint): void {
    this.release(BigInt(ino));
    unlinkSync(path);
  }

  private release(ino: bigint): void {
    const csum = this.byIno.get(ino);
    if (csum === undefined) return;
    const l = this.linked.get(csum)!;
    this.byIno.delete(ino);
    this.linked.delete(csum);
    const st = lstatSync(this.cache.objectPath(csum, 'file'), { bigint: true, throwIfNoEntry: false });
    if (!st || st.ctimeNs !== l.ctimeNs) this.suspects.push({ checksum: csum, pkg: l.pkg });
  }

  private suspects: DamagedObject[] = [];

  /**
   * Gives `rel` (a regular file of the tree) its own inode when it is a link to a cached
   * object, keeping content, owner, mode and xattrs. The compose calls it before writing a
   * file in place. Returns true when a link was broken.
   */
  breakLink(rel: string): boolean {
    const path = join(this.root, rel);
    const st = lstatOrNull(path);
    if (st === null || !st.isFile() || st.nlink < 2 || !this.byIno.has(BigInt(st.ino))) return false;
    const tmp = this.tmpName(path);
    copyFileSync(path, tmp);
    this.finishCopy(tmp, st.uid, st.gid, st.mode, readAllXattrs(path));
    this.release(BigInt(st.ino));
    renameSync(tmp, path);
    this.stats.copied++;
    this.stats.hardlinked--;
    return true;
  }

  /** Resolves a path of the tree the way the payload's paths were resolved (symlinked directories followed inside the root). */
  resolve(abs: string): string | null {
    const parent = this.realDirNoCreate(dirname(abs));
    if (parent === null) return null;
    const base = abs.slice(abs.lastIndexOf('/') + 1);
    return parent === '' ? base : `${parent}/${base}`;
  }

  /**
   * The packages' owners and modes for files not owned by root, by name from the tree's
   * /etc/passwd and /etc/group (after the %pre scripts, which usually create them), as
   * rpm-ostree does. The file gets its own inode first. Names still unknown stay root, with
   * a warning, as rpm does. Returns how many files were changed.
   */
  applyOwners(pkgs: RpmPackage[], warn: (l: string) => void = () => {}): number {
    const read = (p: string): string => (existsSync(join(this.root, p)) ? readFileSync(join(this.root, p), 'utf8') : '');
    const users = new Map<string, number>([['root', 0]]);
    const groups = new Map<string, number>([['root', 0]]);
    for (const e of parsePasswd(read('etc/passwd'), '/etc/passwd')) if (!users.has(e.name)) users.set(e.name, e.uid);
    for (const e of parseGroup(read('etc/group'), '/etc/group')) if (!groups.has(e.name)) groups.set(e.name, e.gid);
    let n = 0;
    for (const pkg of pkgs) {
      for (const f of pkg.files) {
        if (f.ghost || (f.user === 'root' && f.group === 'root')) continue;
        const rel = f.path === '/' ? '' : this.resolve(f.path);
        if (rel === null) continue;
        const path = join(this.root, rel);
        const st = lstatOrNull(path);
        if (st === null) continue;
        const uid = users.get(f.user);
        const gid = groups.get(f.group);
        if (uid === undefined) warn(`user ${f.user} does not exist - using root (${f.path})`);
        if (gid === undefined) warn(`group ${f.group} does not exist - using root (${f.path})`);
        if (st.isFile()) this.breakLink(rel);
        lchownSync(path, uid ?? 0, gid ?? 0);
        if (!st.isSymbolicLink()) chmodSync(path, f.mode & 0o7777);
        n++;
      }
    }
    return n;
  }

  /**
   * Every object linked into the tree whose inode changed since it was linked (its ctime
   * moved) is checked against its checksum; returns the damaged ones.
   */
  async verify(): Promise<DamagedObject[]> {
    const out = new Map<string, number>(this.damaged);
    const check = async (csum: string, pkg: number): Promise<void> => {
      if (!out.has(csum) && !(await objectIntact(this.cache, csum))) out.set(csum, pkg);
    };
    for (const s of this.suspects) await check(s.checksum, s.pkg);
    this.suspects = [];
    for (const [csum, l] of this.linked) {
      const st = lstatSync(this.cache.objectPath(csum, 'file'), { bigint: true, throwIfNoEntry: false });
      if (!st) {
        out.set(csum, l.pkg);
        continue;
      }
      if (st.ctimeNs !== l.ctimeNs) await check(csum, l.pkg);
    }
    this.damaged = out;
    return [...out].map(([checksum, pkg]) => ({ checksum, pkg }));
  }

  /** Forgets damaged objects once restored. */
  restored(csums: Iterable<string>): void {
    for (const c of csums) this.damaged.delete(c);
  }

  private realDirNoCreate(abs: string): string | null {
    try {
      return this.realDir(abs, '', false);
    } catch {
      return null;
    }
  }

  /**
   * The root-relative real path of directory `abs` (root-relative or absolute), creating
   * missing components (0755) unless `create` is false, and following symlinks inside the
   * root (an absolute link restarts at the root, `..` stops at it).
   */
  private realDir(abs: string, what: string, create = true): string {
    const hit = this.dirCache.get(abs);
    if (hit !== undefined) return hit;
    const pending = abs.split('/').filter((c) => c !== '' && c !== '.');
    const done: string[] = [];
    let links = 0;
    while (pending.length > 0) {
      const c = pending.shift()!;
      if (c === '..') {
        done.pop();
        continue;
      }
      const rel = [...done, c].join('/');
      const st = lstatOrNull(join(this.root, rel));
      if (st === null) {
        if (!create) throw new UpdaterError('COMPOSE_UNPACK_FAILED', `${abs}: /${rel} does not exist`);
        mkdirSync(join(this.root, rel), { mode: 0o755 });
      } else if (st.isSymbolicLink()) {
        if (++links > MAX_SYMLINKS) throw new UpdaterError('COMPOSE_UNPACK_FAILED', `${what}: too many levels of symbolic links under /${abs}`);
        const target = readlinkSync(join(this.root, rel));
        if (target.startsWith('/')) done.length = 0;
        pending.unshift(...target.split('/').filter((x) => x !== '' && x !== '.'));
        continue;
      } else if (!st.isDirectory()) {
        throw new UpdaterError('COMPOSE_UNPACK_FAILED', `${what}: cannot install into /${abs}: /${rel} is not a directory`);
      }
      done.push(c);
    }
    const out = done.join('/');
    if (create) this.dirCache.set(abs, out);
    return out;
  }
}
