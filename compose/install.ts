// Installing the resolved packages into an install root: download (checked against the
// repository metadata), unpack each RPM with compose/rpm in transaction order, owners
// from the root's own passwd/group, and the rpm database written by rpm itself.
//
// A compose does not install into its root with InstallRoot directly: each package is
// unpacked on its own into a commit of the package cache (pkgcache.ts), and the root is
// assembled from those commits (assemble.ts).

import { createHash, randomBytes } from 'node:crypto';
import { createReadStream, createWriteStream, existsSync, linkSync, lchownSync, lstatSync, mkdirSync, readdirSync, readFileSync, readlinkSync, renameSync, rmSync, statSync, symlinkSync, chmodSync, unlinkSync, writeFileSync } from 'node:fs';
import { mkdir, rename, rm } from 'node:fs/promises';
import { basename, dirname, join, resolve } from 'node:path';
import { pipeline } from 'node:stream/promises';
import { spawn } from 'node:child_process';
import { isUpdaterError, prefixError, UpdaterError } from '../common/errors.ts';
import { lstatOrNull } from '../common/fs.ts';
import { setXattr } from '../common/libc.ts';
import type { ResolvedPackage } from './depsolve/index.ts';
import { downloadVerified, resolveUrl, type RepoMetadata } from './repos/index.ts';
import { readRpm, readRpmPayload, type RpmArchive, type RpmPayloadEntry } from './rpm/index.ts';
import { parseGroup, parsePasswd } from './rootfs/index.ts';

/** A package of the install set with its downloaded file. */
export interface FetchedPackage {
  pkg: ResolvedPackage;
  /** The verified .rpm in the cache directory. */
  path: string;
  /** True when the cache already had it. */
  cached: boolean;
}

export interface DownloadOptions {
  /** Parallel downloads (default 4). */
  concurrency?: number;
  /** Called once the cache was checked: how many packages (and bytes) must be fetched. */
  onPlan?: (count: number, bytes: number) => void;
  /** Called once per repo before its packages are fetched (`Downloading from 'ID'...`). */
  onRepo?: (id: string, count: number) => void;
  /** Called as packages arrive: how many of those to fetch are done. */
  onFetched?: (done: number, total: number) => void;
}

/** Where a package's RPM is kept: CACHEDIR/rpms/<repo>/<file name>. */
export function packageCachePath(cacheDir: string, pkg: ResolvedPackage): string {
  return join(cacheDir, 'rpms', pkg.repo, basename(pkg.location));
}

/** Node's name for a repomd checksum type (`sha` is SHA-1 in old createrepo output). */
function hashName(type: string): string {
  return type === 'sha' ? 'sha1' : type;
}

/** Files up to this size are hashed from one synchronous read (no thread-pool round trips). */
const SYNC_DIGEST_LIMIT = 4 << 20;

async function digestOf(path: string, algo: string, size: number): Promise<string> {
  const h = createHash(algo);
  if (size <= SYNC_DIGEST_LIMIT) return h.update(readFileSync(path)).digest('hex');
  for await (const c of createReadStream(path) as AsyncIterable<Buffer>) h.update(c);
  return h.digest('hex');
}

/**
 * Fetches every package into CACHEDIR/rpms/<repo>/ (file:// and http(s)://), each checked
 * against the size and checksum its repository's metadata gives; a cached copy is reused
 * when it still matches. Downloads run in parallel; results keep the input order.
 */
export async function downloadPackages(pkgs: ResolvedPackage[], repos: RepoMetadata[], cacheDir: string, opts: DownloadOptions = {}): Promise<FetchedPackage[]> {
  const byId = new Map(repos.map((r) => [r.id, r]));
  const out: FetchedPackage[] = new Array(pkgs.length);
  // Cached copies that still match the metadata are used as they are.
  const todo: number[] = [];
  for (const [i, pkg] of pkgs.entries()) {
    if (!byId.has(pkg.repo)) throw new UpdaterError('COMPOSE_DOWNLOAD_FAILED', `${pkg.nevra}: comes from repo '${pkg.repo}', which was not loaded`);
    if (pkg.checksum === null) {
      throw new UpdaterError('COMPOSE_DOWNLOAD_FAILED', `${pkg.nevra}: the metadata of repo '${pkg.repo}' gives no checksum for ${pkg.location}`, { hint: 'regenerate the repository metadata with createrepo_c' });
    }
    const dest = packageCachePath(cacheDir, pkg);
    const st = statSync(dest, { throwIfNoEntry: false });
    if (st?.isFile() && (pkg.size === null || st.size === pkg.size) && (await digestOf(dest, hashName(pkg.checksum.type), st.size)) === pkg.checksum.value) {
      out[i] = { pkg, path: dest, cached: true };
    } else {
      todo.push(i);
    }
  }
  opts.onPlan?.(todo.length, todo.reduce((n, i) => n + (pkgs[i]!.size ?? 0), 0));
  const announced = new Set<string>();
  let next = 0;
  let fetchedCount = 0;
  if (todo.length) opts.onFetched?.(0, todo.length);
  const worker = async (): Promise<void> => {
    while (next < todo.length) {
      const i = todo[next++]!;
      const pkg = pkgs[i]!;
      const md = byId.get(pkg.repo)!;
      const checksum = pkg.checksum!;
      const dest = packageCachePath(cacheDir, pkg);
      if (!announced.has(pkg.repo)) {
        announced.add(pkg.repo);
        opts.onRepo?.(pkg.repo, todo.filter((j) => pkgs[j]!.repo === pkg.repo).length);
      }
      await mkdir(dirname(dest), { recursive: true });
      const tmp = `${dest}.${randomBytes(4).toString('hex')}.part`;
      const url = resolveUrl(md.baseurl, pkg.location);
      try {
        await downloadVerified(url, tmp, { checksum: { type: hashName(checksum.type), value: checksum.value }, size: pkg.size ?? undefined });
        await rename(tmp, dest);
      } catch (err) {
        await rm(tmp, { force: true });
        if (isUpdaterError(err)) {
          throw new UpdaterError('COMPOSE_DOWNLOAD_FAILED', `downloading ${pkg.nevra} from repo '${pkg.repo}': ${err.message}`, { cause: err, hint: err.hint });
        }
        throw prefixError(`downloading ${pkg.nevra} from ${url}`, err);
      }
      out[i] = { pkg, path: dest, cached: false };
      opts.onFetched?.(++fetchedCount, todo.length);
    }
  };
  const n = Math.max(1, Math.min(opts.concurrency ?? 4, todo.length));
  await Promise.all(Array.from({ length: n }, worker));
  return out;
}

export interface UnpackOptions {
  /** Treefile `documentation` (default true): false leaves out files RPM marks %doc. */
  documentation?: boolean;
  /** Treefile `install-langs` (RPM %_install_langs): files of other languages are left out. */
  installLangs?: string[];
  /** Paths whose current content wins; the package's lines are appended by name (seeded passwd/group). */
  mergeById?: Set<string>;
  /** Every file owned by root (a package imported on its own; owners are applied on the assembled tree). */
  ownersAsRoot?: boolean;
}

export interface UnpackStats {
  files: number;
  skippedDocs: number;
  skippedLangs: number;
  skippedDevices: number;
}

interface Owner {
  rel: string;
  user: string;
  group: string;
  mode: number;
  link: boolean;
}

const MAX_SYMLINKS = 40;

/** True when a file of language `lang` is installed with `%_install_langs` = `langs` (rpm's rule: substring match, or `all`). */
export function langWanted(lang: string, langs: string[] | undefined): boolean {
  if (lang === '' || langs === undefined) return true;
  return langs.some((l) => l === 'all' || lang.includes(l));
}

/**
 * The root-relative real path of directory `abs` (absolute or root-relative) inside `root`,
 * following symlinks inside the root (an absolute link restarts at the root, `..` stops at
 * it), so no payload path can land outside. Missing components are created (0755) unless
 * `create` is false, when a missing one is an error. Results are kept in `cache`, which the
 * caller clears whenever it places a symlink.
 */
export function realDirIn(root: string, abs: string, what: string, cache: Map<string, string>, create = true): string {
  const hit = cache.get(abs);
  if (hit !== undefined) return hit;
  const pending = abs.split('/').filter((c) => c !== '' && c !== '.');
  const shown = `/${pending.join('/')}`;
  const done: string[] = [];
  let links = 0;
  while (pending.length > 0) {
    const c = pending.shift()!;
    if (c === '..') {
      done.pop();
      continue;
    }
    const rel = done.length === 0 ? c : `${done.join('/')}/${c}`;
    const st = lstatSync(join(root, rel), { throwIfNoEntry: false });
    if (st === undefined) {
      if (!create) throw new UpdaterError('COMPOSE_UNPACK_FAILED', `${what ? `${what}: ` : ''}${shown}: /${rel} does not exist`);
      mkdirSync(join(root, rel), { mode: 0o755 });
    } else if (st.isSymbolicLink()) {
      if (++links > MAX_SYMLINKS) throw new UpdaterError('COMPOSE_UNPACK_FAILED', `${what}: too many levels of symbolic links under ${shown}`);
      const target = readlinkSync(join(root, rel));
      if (target.startsWith('/')) done.length = 0;
      pending.unshift(...target.split('/').filter((x) => x !== '' && x !== '.'));
      continue;
    } else if (!st.isDirectory()) {
      throw new UpdaterError('COMPOSE_UNPACK_FAILED', `${what}: cannot install into ${shown}: /${rel} is not a directory`);
    }
    done.push(c);
  }
  const out = done.join('/');
  if (create) cache.set(abs, out);
  return out;
}

/**
 * An install root being populated, package by package. Owners are looked up by name in the
 * root's /etc/passwd and /etc/group as they are when each file is written; names that do not
 * exist yet (users a %pre creates) are applied by `applyDeferredOwners` after the %pre phase,
 * as rpm-ostree does.
 */
export class InstallRoot {
  readonly root: string;
  private ids: { users: Map<string, number>; groups: Map<string, number> } | null = null;
  private deferred: Owner[] = [];
  private dirCache = new Map<string, string>();
  private ownersAsRoot = false;

  constructor(root: string) {
    this.root = root;
    mkdirSync(root, { recursive: true, mode: 0o755 });
  }

  private loadIds(): { users: Map<string, number>; groups: Map<string, number> } {
    if (this.ids) return this.ids;
    const read = (p: string): string => (existsSync(join(this.root, p)) ? readFileSync(join(this.root, p), 'utf8') : '');
    const users = new Map<string, number>([['root', 0]]);
    const groups = new Map<string, number>([['root', 0]]);
    for (const e of parsePasswd(read('etc/passwd'), '/etc/passwd')) if (!users.has(e.name)) users.set(e.name, e.uid);
    for (const e of parseGroup(read('etc/group'), '/etc/group')) if (!groups.has(e.name)) groups.set(e.name, e.gid);
    this.ids = { users, groups };
    return this.ids;
  }

  /**
   * The root-relative real path of directory `abs`, creating missing components, so no
   * payload path can land outside the root (see realDirIn).
   */
  private realDir(abs: string, what: string): string {
    return realDirIn(this.root, abs, what, this.dirCache);
  }

  /** Sets owner and mode of `rel` (or of `onDisk`, a temporary name it is about to get). */
  private applyOwner(rel: string, user: string, group: string, mode: number, link: boolean, onDisk?: string): void {
    const ids = this.loadIds();
    const uid = this.ownersAsRoot ? 0 : ids.users.get(user);
    const gid = this.ownersAsRoot ? 0 : ids.groups.get(group);
    const path = onDisk ?? join(this.root, rel);
    if (uid === undefined || gid === undefined) this.deferred.push({ rel, user, group, mode, link });
    lchownSync(path, uid ?? 0, gid ?? 0);
    // chown clears setuid/setgid: the mode goes on afterwards.
    if (!link) chmodSync(path, mode & 0o7777);
  }

  /**
   * After the %pre scripts: owners whose names did not resolve when the file was written.
   * Names still unknown stay root, as rpm does ("user X does not exist - using root").
   */
  applyDeferredOwners(warn: (message: string) => void = () => {}): number {
    this.ids = null;
    const ids = this.loadIds();
    let applied = 0;
    for (const o of this.deferred) {
      const uid = ids.users.get(o.user);
      const gid = ids.groups.get(o.group);
      if (uid === undefined) warn(`user ${o.user} does not exist - using root (/${o.rel})`);
      if (gid === undefined) warn(`group ${o.group} does not exist - using root (/${o.rel})`);
      lchownSync(join(this.root, o.rel), uid ?? 0, gid ?? 0);
      if (!o.link) chmodSync(join(this.root, o.rel), o.mode & 0o7777);
      applied++;
    }
    this.deferred = [];
    return applied;
  }

  /** Unpacks one package (headers and payload digests checked by compose/rpm). */
  async unpack(source: string | RpmArchive, opts: UnpackOptions = {}): Promise<UnpackStats> {
    const archive = typeof source === 'string' ? await readRpm(source) : source;
    const what = `${archive.path} (${archive.pkg.nevra})`;
    const stats: UnpackStats = { files: 0, skippedDocs: 0, skippedLangs: 0, skippedDevices: 0 };
    // Where each path of this package actually went (hardlinks point at set members).
    const placed = new Map<string, string>();
    this.ownersAsRoot = opts.ownersAsRoot === true;
    for await (const e of readRpmPayload(archive)) {
      if (opts.documentation === false && e.file.doc) {
        stats.skippedDocs++;
        continue;
      }
      if (!langWanted(e.file.lang, opts.installLangs)) {
        stats.skippedLangs++;
        continue;
      }
      if (e.type === 'chardev' || e.type === 'blockdev' || e.type === 'fifo' || e.type === 'socket') {
        // OSTree commits carry no device nodes (rpm-ostree's ignore-devices).
        stats.skippedDevices++;
        continue;
      }
      if (e.path === '/') {
        this.applyOwner('.', e.user, e.group, e.mode, false);
        continue;
      }
      const parent = this.realDir(dirname(e.path), what);
      const rel = parent === '' ? basename(e.path) : `${parent}/${basename(e.path)}`;
      await this.place(e, rel, placed, what, opts);
      placed.set(e.path, rel);
      stats.files++;
    }
    // Ids may have changed (a package shipping /etc/passwd).
    if ((placed.has('/etc/passwd') || placed.has('/etc/group'))) this.ids = null;
    return stats;
  }

  private async place(e: RpmPayloadEntry, rel: string, placed: Map<string, string>, what: string, opts: UnpackOptions): Promise<void> {
    const path = join(this.root, rel);
    const existing = lstatOrNull(path);
    const conflict = (msg: string): UpdaterError => new UpdaterError('COMPOSE_UNPACK_FAILED', `${what}: ${e.path}: ${msg}`);
    switch (e.type) {
      case 'directory': {
        if (existing?.isSymbolicLink()) {
          // rpm keeps a symlink where a package lists a directory (usr-merge links).
          this.dirCache.clear();
          return;
        }
        if (existing !== null && !existing.isDirectory()) throw conflict('a file of another package is in the way of this directory');
        if (existing === null) mkdirSync(path, { mode: 0o755 });
        this.applyOwner(rel, e.user, e.group, e.mode, false);
        return;
      }
      case 'symlink': {
        if (existing?.isDirectory()) throw conflict(`a directory is in the way of this symlink to ${e.linkTarget}`);
        if (existing !== null) unlinkSync(path);
        symlinkSync(e.linkTarget!, path);
        this.dirCache.clear();
        this.applyOwner(rel, e.user, e.group, e.mode, true);
        return;
      }
      case 'hardlink': {
        const src = placed.get(e.linkTarget!);
        if (src === undefined) throw conflict(`hardlink to ${e.linkTarget}, which was not installed`);
        if (existing?.isDirectory()) throw conflict('a directory is in the way of this file');
        if (existing !== null) unlinkSync(path);
        linkSync(join(this.root, src), path);
        return;
      }
      case 'file': {
        if (existing?.isDirectory()) throw conflict('a directory is in the way of this file');
        const tmp = join(dirname(path), `.atomic-unpack-${randomBytes(6).toString('hex')}`);
        try {
          await pipeline(e.content!, createWriteStream(tmp, { mode: 0o600 }));
          if (existing?.isFile() && opts.mergeById?.has(e.path)) mergeById(path, tmp);
          this.applyOwner(rel, e.user, e.group, e.mode, false, tmp);
          for (const x of e.xattrs) setXattr(tmp, x.name, x.value);
          renameSync(tmp, path);
        } catch (err) {
          rmSync(tmp, { force: true });
          throw err;
        }
        return;
      }
      default:
        return;
    }
  }
}

/**
 * passwd/group seeded from the previous commit keep their lines: the package's content
 * (at `incoming`) becomes the seeded file plus the package's entries whose names are new.
 */
export function mergeById(seeded: string, incoming: string): void {
  const old = readFileSync(seeded, 'utf8');
  const names = new Set(old.split('\n').map((l) => l.split(':')[0]).filter((n) => n !== ''));
  const added = readFileSync(incoming, 'utf8').split('\n').filter((l) => l !== '' && !l.startsWith('#') && !names.has(l.split(':')[0]!));
  writeFileSync(incoming, (old.endsWith('\n') || old === '' ? old : `${old}\n`) + added.map((l) => `${l}\n`).join(''));
}

/** The rpm database location in the tree (rpm-ostree's %_dbpath). */
export const TREE_DBPATH = '/usr/share/rpm';

/**
 * Records the installed packages in an rpm database inside the root, written by the host's
 * rpm (`rpm --root ROOT --dbpath /usr/share/rpm -i --justdb --nodeps --noscripts ...`), so
 * the database has exactly the format rpm reads back. The backend is sqlite, the default of
 * rpm 4.16 and later (Fedora, RHEL 9, Debian's rpm).
 */
export async function writeRpmdb(root: string, rpms: string[], opts: { rpm?: string; sourceDateEpoch?: number } = {}): Promise<void> {
  if (rpms.length === 0) return;
  root = resolve(root);
  await mkdir(join(root, TREE_DBPATH.slice(1)), { recursive: true, mode: 0o755 });
  const args = [
    '--root', root, '--dbpath', TREE_DBPATH, '--define', '_db_backend sqlite', '--define', '_pkgverify_level none',
    '-i', '--justdb', '--nodeps', '--noscripts', '--notriggers', '--nosignature', '--nodigest', '--ignorearch', '--ignoreos',
    '--ignoresize', '--replacefiles', '--replacepkgs', ...rpms,
  ];
  const rpm = opts.rpm ?? 'rpm';
  const { code, output } = await new Promise<{ code: number | null; output: string }>((resolve, reject) => {
    // rpm 4.18 takes the install time and transaction id from SOURCE_DATE_EPOCH: with it the
    // database file is the same byte for byte for the same packages.
    const env: NodeJS.ProcessEnv = { ...process.env, LANG: 'C' };
    if (opts.sourceDateEpoch !== undefined) env.SOURCE_DATE_EPOCH = String(opts.sourceDateEpoch);
    const child = spawn(rpm, args, { stdio: ['ignore', 'pipe', 'pipe'], env });
    let output = '';
    child.stdout.on('data', (d: Buffer) => (output += d.toString()));
    child.stderr.on('data', (d: Buffer) => (output += d.toString()));
    child.on('error', (err) => {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') {
        reject(new UpdaterError('COMPOSE_RPMDB_FAILED', `cannot write the rpm database: ${rpm} is not installed`, { hint: 'install rpm (apt install rpm)', cause: err }));
      } else reject(err);
    });
    child.on('close', (c) => resolve({ code: c, output }));
  });
  if (code !== 0) {
    throw new UpdaterError('COMPOSE_RPMDB_FAILED', `writing the rpm database in ${join(root, TREE_DBPATH.slice(1))} failed (rpm exited with ${code}): ${output.trim().split('\n').slice(-5).join('; ')}`);
  }
  // rpm leaves lock and journal files next to the database; a tree carries none.
  for (const name of ['.rpm.lock', 'rpmdb.sqlite-shm', 'rpmdb.sqlite-wal']) rmSync(join(root, TREE_DBPATH.slice(1), name), { force: true });
}

/**
 * Moves a database that writeRpmdb wrote into the empty root `from` to its place in the tree
 * `root`, when that place is free: TREE_DBPATH reached through real directories (created if
 * missing) and empty. Returns false, moving nothing, otherwise; the caller then writes the
 * database in the tree itself.
 */
export function moveRpmdb(from: string, root: string): boolean {
  const parts = TREE_DBPATH.slice(1).split('/');
  for (let i = 1; i <= parts.length; i++) {
    const st = lstatSync(join(root, ...parts.slice(0, i)), { throwIfNoEntry: false });
    if (st !== undefined && !st.isDirectory()) return false;
  }
  const dest = join(root, ...parts);
  if (existsSync(dest) && readdirSync(dest).length > 0) return false;
  mkdirSync(dest, { recursive: true, mode: 0o755 });
  const src = join(from, ...parts);
  for (const name of readdirSync(src)) renameSync(join(src, name), join(dest, name));
  return true;
}
