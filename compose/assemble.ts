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
//
// The same bookkeeping makes the final commit cheap (docs/compose-speed.md): after `verify`,
// every linked inode is known to still be its object, so `devinoMap` hands the commit their
// checksums (ostree's devino cache) and only files the scripts and postprocessing made or
// changed are read and hashed. Each package is checked out from its flattened manifest
// (pkgcache.ts packageManifest): one small file per package instead of its dirtrees.

import { chmodSync, chownSync, constants, copyFileSync, lchownSync, linkSync, lstatSync, mkdirSync, readFileSync, renameSync, symlinkSync, unlinkSync, existsSync } from 'node:fs';
import { randomBytes } from 'node:crypto';
import { dirname, join } from 'node:path';
import { UpdaterError } from '../common/errors.ts';
import { lstatOrNull } from '../common/fs.ts';
import { readAllXattrs, setXattr } from '../common/libc.ts';
import type { DirMeta, Repo } from '../store/index.ts';
import { mergeById, realDirIn } from './install.ts';
import { objectIntact, packageManifest } from './pkgcache.ts';
import { parseGroup, parsePasswd } from './rootfs/index.ts';
import type { RpmPackage } from './rpm/index.ts';

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
  dev: bigint;
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
  private dirmetas = new Map<string, DirMeta>();

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
    const m = await packageManifest(this.cache, commit);
    const listed = new Set(pkg.files.filter((f) => (f.mode & S_IFMT) === S_IFDIR).map((f) => f.path));
    const what = pkg.nevra;
    const merge = opts.mergeById;
    if (listed.has('/')) this.applyDirMeta('', await this.dirmeta(m.rootMeta));
    // Real (symlink-resolved) path of each directory of the package, resolved when it is
    // reached, as a recursive walk would.
    const reals = new Map<string, string>([['', this.realDir('', what)]]);
    for (const [kind, lpath, csum, size] of m.entries) {
      const slash = lpath.lastIndexOf('/');
      const parent = slash < 0 ? '' : lpath.slice(0, slash);
      const name = slash < 0 ? lpath : lpath.slice(slash + 1);
      const real = reals.get(parent);
      if (real === undefined) throw new UpdaterError('COMPOSE_PKGCACHE_INVALID', `package cache ${this.cache.path}: the manifest of ${commit} (${what}) lists /${lpath} before its directory`);
      const rel = real === '' ? name : `${real}/${name}`;
      if (kind !== 'd') {
        this.placeFile(csum, `/${lpath}`, rel, index, what, merge, kind === 'f' && size > 0);
        continue;
      }
      const st = lstatSync(join(this.root, rel), { throwIfNoEntry: false });
      if (st === undefined) {
        mkdirSync(join(this.root, rel), { mode: 0o700 });
        this.applyDirMeta(rel, await this.dirmeta(csum));
      } else if (st.isSymbolicLink()) {
        // rpm keeps a symlink where a package lists a directory (usr-merge links): followed below.
      } else if (!st.isDirectory()) {
        throw new UpdaterError('COMPOSE_UNPACK_FAILED', `${what}: /${lpath}: a file of another package is in the way of this directory`);
      } else if (listed.has(`/${lpath}`)) {
        this.applyDirMeta(rel, await this.dirmeta(csum));
      }
      reals.set(lpath, this.realDir(lpath, what));
    }
  }

  /** A dirmeta of the cache: the few distinct ones of a tree are each read once. */
  private async dirmeta(csum: string): Promise<DirMeta> {
    let m = this.dirmetas.get(csum);
    if (m === undefined) this.dirmetas.set(csum, (m = await this.cache.loadDirmeta(csum)));
    return m;
  }

  private applyDirMeta(rel: string, meta: DirMeta): void {
    const path = join(this.root, rel);
    for (const x of meta.xattrs) setXattr(path, x.name, x.value);
    chownSync(path, meta.uid, meta.gid);
    chmodSync(path, meta.mode & 0o7777);
  }

  /** `linkable`: the object is a non-empty regular file (from the manifest). */
  private placeFile(csum: string, logical: string, rel: string, index: number, what: string, merge: Set<string> | undefined, linkable: boolean): void {
    this.stats.files++;
    const dest = join(this.root, rel);
    // The common case first: an object not yet in the tree, linked where nothing is in the
    // way. Anything unusual (EEXIST, a missing object) takes the general path below.
    if (linkable && !this.linked.has(csum) && rel !== 'etc' && !rel.startsWith('etc/') && merge?.has(logical) !== true) {
      let placed = true;
      try {
        linkSync(this.cache.objectPath(csum, 'file'), dest);
      } catch {
        placed = false;
      }
      if (placed) {
        this.recordLink(csum, dest, rel, index);
        return;
      }
    }
    const info = this.cache.readContentInfoSync(csum);
    const h = info.header;
    const st = lstatOrNull(dest);
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
      // Nothing is at dest any more: the copy is made in place (the work tree is discarded
      // whole if the compose stops half-way).
      copyFileSync(info.path, dest, constants.COPYFILE_EXCL);
      this.finishCopy(dest, h.uid, h.gid, h.mode, h.xattrs);
      this.stats.copied++;
      return;
    }
    linkSync(info.path, dest);
    this.recordLink(csum, dest, rel, index);
  }

  /** Records a fresh link of object `csum` at `dest`: its inode and the ctime the link gave it. */
  private recordLink(csum: string, dest: string, rel: string, index: number): void {
    const st = lstatSync(dest, { bigint: true });
    this.linked.set(csum, { rel, ctimeNs: st.ctimeNs, ino: st.ino, dev: st.dev, pkg: index });
    this.byIno.set(st.ino, csum);
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

  /**
   * Forgets damaged objects once restored. The tree keeps the changed file, which is no
   * longer the cached object's inode (the cache has a new one).
   */
  restored(csums: Iterable<string>): void {
    for (const c of csums) {
      this.damaged.delete(c);
      const l = this.linked.get(c);
      if (l === undefined) continue;
      this.linked.delete(c);
      this.byIno.delete(l.ino);
    }
  }

  /**
   * (device, inode) → checksum of every tree file that is still a link to its cached
   * object, for the final commit (commitDirectory's `devino`), so those files are neither
   * read nor hashed again. Only valid right after verify() and restored(), with nothing run
   * in between: verify() has checked every linked object whose inode changed since it was
   * linked (any write, chmod, chown or xattr change moves the ctime), and the damaged ones
   * left the set.
   */
  devinoMap(): Map<string, string> {
    const out = new Map<string, string>();
    for (const [csum, l] of this.linked) if (!this.damaged.has(csum)) out.set(`${l.dev}:${l.ino}`, csum);
    return out;
  }

  private realDir(abs: string, what: string, create = true): string {
    return realDirIn(this.root, abs, what, this.dirCache, create);
  }

  private realDirNoCreate(abs: string): string | null {
    try {
      return this.realDir(abs, '', false);
    } catch {
      return null;
    }
  }
}
