// The package cache of rpm-ostree's unified core (§2.4): every RPM is imported once into its
// own commit, on the ref `rpmostree/pkg/NAME/EVR.ARCH`, in a `bare` repository
// (CACHEDIR/pkgcache-repo), so the objects on disk carry the files' real modes and xattrs
// and a tree can be assembled from them with hardlinks (compose/assemble.ts).
//
// A package commit records the repository checksum of the RPM it was made from
// (`rpmostree.repodata_checksum`) and the import settings; a package whose checksum changed
// under the same NEVRA (a rebuild, a re-signing) is imported again. The commit timestamp is
// the RPM's build time, so importing the same RPM twice gives the same commit.
//
// Paths are imported as the payload has them (`/etc` stays `/etc`): the move to the OSTree
// layout happens on the assembled tree, after the scriptlets, as for a freshly unpacked root.

import { mkdtemp, writeFile, readFile, unlink } from 'node:fs/promises';
import { existsSync, lstatSync, mkdirSync, readFileSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { isErrno, prefixError, UpdaterError } from '../common/errors.ts';
import { commitDirectory, computeContentChecksum, dictGet, objectKey, Repo, traverseCommit, variant, type Transaction, type VarDict } from '../store/index.ts';
import { InstallRoot } from './install.ts';
import type { RpmArchive } from './rpm/index.ts';

/** Bumped when the import of a payload changes, so older package commits are imported again. */
export const UNPACK_VERSION = 1;

/** rpm-ostree's ref component escaping: ASCII alnum, `.` and `-` kept, `_` → `__`, any other byte → `_XX`. */
export function escapeRefComponent(s: string): string {
  let out = '';
  for (const b of Buffer.from(s, 'utf8')) {
    const c = String.fromCharCode(b);
    if (/[A-Za-z0-9.-]/.test(c)) out += c;
    else if (c === '_') out += '__';
    else out += `_${b.toString(16).toUpperCase().padStart(2, '0')}`;
  }
  return out;
}

/** The package's cache ref: `rpmostree/pkg/NAME/EVR.ARCH`, escaped, without an explicit `0:` epoch. */
export function pkgCacheRef(p: { name: string; epoch: number | null; version: string; release: string; arch: string }): string {
  const evr = `${p.epoch ? `${p.epoch}:` : ''}${p.version}-${p.release}`;
  return `rpmostree/pkg/${escapeRefComponent(p.name)}/${escapeRefComponent(evr)}.${escapeRefComponent(p.arch)}`;
}

/** What an import depends on besides the RPM itself. */
export interface ImportSettings {
  /** Treefile `documentation` (false leaves %doc files out). */
  documentation: boolean;
  /** Treefile `install-langs`. */
  installLangs?: string[];
}

function settingsKey(s: ImportSettings): string {
  return JSON.stringify({ unpack: UNPACK_VERSION, documentation: s.documentation, installLangs: s.installLangs ?? null });
}

/** The marker present while a tree hardlinked to this cache is being built (see recoverPkgCache). */
const IN_USE = 'atomic-tree-in-use';

/**
 * Opens (creating it as a `bare` repository) the package cache at `path`. Hardlinked trees
 * need the real owners and modes on the objects, so this needs root, as the compose does.
 */
export async function openPkgCache(path: string): Promise<Repo> {
  if (existsSync(join(path, 'config'))) {
    const repo = await Repo.open(path);
    if (repo.mode !== 'bare') throw new UpdaterError('COMPOSE_PKGCACHE_INVALID', `package cache ${path} is a ${repo.mode} repository, not bare`, { hint: `remove ${path}; it is rebuilt on the next compose` });
    return repo;
  }
  mkdirSync(join(path, '..'), { recursive: true });
  return Repo.init(path, 'bare');
}

export interface PkgCacheEntry {
  /** The package's commit in the cache. */
  commit: string;
  ref: string;
  /** False when the cache already had it. */
  imported: boolean;
}

/**
 * The cached commit of the package if it was made from an RPM with `checksum` and the same
 * settings, else null. Runs once per package of every compose, so it reads the ref and the
 * package's manifest (which carries the commit's import facts) synchronously, without
 * loading the commit itself.
 */
export async function cachedPackage(cache: Repo, archive: RpmArchive, checksum: string, settings: ImportSettings): Promise<string | null> {
  try {
    const commit = cache.readRefSync(pkgCacheRef(archive.pkg));
    if (commit === null) return null;
    // ostree's partial-commit marker, state/CSUM.commitpartial; and a commit pruned or lost
    // since its manifest was written.
    if (existsSync(join(cache.path, 'state', `${commit}.commitpartial`)) || !existsSync(cache.objectPath(commit, 'commit'))) return null;
    const m = await packageManifest(cache, commit);
    if (m.repodataChecksum !== checksum || m.importSettings !== settingsKey(settings)) return null;
    return commit;
  } catch {
    return null;
  }
}

/**
 * Imports one RPM into its own commit (or returns the cached one); `checksum` is the RPM's
 * checksum in its repository's metadata (`TYPE:HEX`). `force` imports again even when cached
 * (used to restore objects, see restoreObjects). With `transaction` (an open transaction of
 * the cache) the commit and its ref become visible when the caller commits it, so many
 * imports share one sync.
 */
export async function importPackage(cache: Repo, archive: RpmArchive, checksum: string, settings: ImportSettings, opts: { force?: boolean; tmpdir?: string; transaction?: Transaction } = {}): Promise<PkgCacheEntry> {
  const ref = pkgCacheRef(archive.pkg);
  if (!opts.force) {
    const hit = await cachedPackage(cache, archive, checksum, settings);
    if (hit !== null) return { commit: hit, ref, imported: false };
  }
  const tmp = await mkdtemp(join(opts.tmpdir ?? join(cache.path, 'tmp'), 'import-'));
  try {
    // Every file is owned by root here: owners are names, resolved against the assembled
    // tree's passwd/group once its %pre scripts ran (assemble.ts applyOwners).
    const root = new InstallRoot(join(tmp, 'root'));
    try {
      await root.unpack(archive, { documentation: settings.documentation, installLangs: settings.installLangs, ownersAsRoot: true });
    } catch (err) {
      throw prefixError(`Importing ${archive.pkg.nevra}`, err);
    }
    const metadata: VarDict = [
      ['rpmostree.nevra', variant('s', archive.pkg.nevra)],
      ['rpmostree.repodata_checksum', variant('s', checksum)],
      ['rpmostree.nodocs', variant('b', !settings.documentation)],
      ['rpmostree.unpack_version', variant('u', UNPACK_VERSION)],
      ['atomic.import-settings', variant('s', settingsKey(settings))],
    ];
    const res = await commitDirectory(cache, root.root, { branch: ref, parent: null, timestamp: archive.pkg.buildtime, metadata, noBindings: true, transaction: opts.transaction });
    return { commit: res.checksum, ref, imported: true };
  } finally {
    rmSync(tmp, { recursive: true, force: true });
  }
}

/**
 * Marks the cache as having objects hardlinked into a tree that scripts may touch. The
 * marker holds the time (ns) from which any change to an object is suspect.
 */
export async function markInUse(cache: Repo): Promise<bigint> {
  const p = join(cache.path, IN_USE);
  await writeFile(p, `${process.pid}\n`);
  return lstatSync(p, { bigint: true }).ctimeNs;
}

export async function clearInUse(cache: Repo): Promise<void> {
  await unlink(join(cache.path, IN_USE)).catch((err) => {
    if (!isErrno(err, 'ENOENT')) throw err;
  });
}

/** True when the content object `csum` still has its checksum (a bare object: content, owner, mode, xattrs). */
export async function objectIntact(cache: Repo, csum: string): Promise<boolean> {
  try {
    return (await computeContentChecksum(cache, csum)) === csum;
  } catch {
    return false;
  }
}

/**
 * After a compose that was interrupted while its tree was hardlinked to the cache: every
 * object changed since then is checked; damaged objects are deleted, and with them every
 * package ref whose commit uses one, so those packages are imported again. Returns the
 * number of damaged objects.
 */
export async function recoverPkgCache(cache: Repo, log: (l: string) => void = () => {}): Promise<number> {
  const marker = join(cache.path, IN_USE);
  let since: bigint;
  try {
    since = lstatSync(marker, { bigint: true }).ctimeNs;
  } catch (err) {
    if (isErrno(err, 'ENOENT')) return 0;
    throw err;
  }
  const bad = new Set<string>();
  for (const [csum, kind, path] of cache.listObjectsSync()) {
    if (kind !== 'file') continue;
    const st = lstatSync(path, { bigint: true, throwIfNoEntry: false });
    if (!st || st.ctimeNs < since) continue;
    if (!(await objectIntact(cache, csum))) bad.add(csum);
  }
  if (bad.size) {
    log(`Package cache: ${bad.size} object(s) changed by an interrupted compose; importing their packages again`);
    for (const [ref, commit] of await cache.listRefs({ remotes: false })) {
      if (!ref.startsWith('rpmostree/pkg/')) continue;
      let uses = false;
      try {
        const reachable = new Set<string>();
        await traverseCommit(cache, commit, 0, reachable);
        for (const c of bad) if (reachable.has(objectKey(c, 'file'))) uses = true;
      } catch {
        uses = true;
      }
      if (uses) await cache.writeRef(null, ref, null);
    }
    for (const c of bad) await unlink(cache.objectPath(c, 'file')).catch(() => {});
  }
  await clearInUse(cache);
  return bad.size;
}

/** One entry of a package commit's tree: kind (regular file, symlink, directory), path (root-relative), checksum (dirmeta for a directory), size of a regular file. */
export type ManifestEntry = ['f' | 'l' | 'd', string, string, number];

/**
 * A package commit's tree flattened in checkout order: each directory's files, then each
 * of its subdirectories (the entry, then its contents).
 */
export interface PkgManifest {
  version: number;
  commit: string;
  /** The commit's `rpmostree.repodata_checksum` and `atomic.import-settings` (see cachedPackage). */
  repodataChecksum: string | null;
  importSettings: string | null;
  rootMeta: string;
  entries: ManifestEntry[];
}

const MANIFEST_VERSION = 2;
/** Manifests read by this process, per cache: a compose looks each one up twice. */
const manifestMemo = new WeakMap<Repo, Map<string, PkgManifest>>();
const MANIFEST_DIR = 'atomic-manifests';

/**
 * The flattened tree of package commit `commit` (derived data, kept next to the cache as
 * MANIFEST_DIR/COMMIT.json), so assembling a tree reads one small file per package instead
 * of every dirtree of its commit and every object's header. Built from the commit when
 * missing or unreadable.
 */
export async function packageManifest(cache: Repo, commit: string): Promise<PkgManifest> {
  let memo = manifestMemo.get(cache);
  if (memo === undefined) manifestMemo.set(cache, (memo = new Map()));
  const known = memo.get(commit);
  if (known !== undefined) return known;
  const m = readManifest(cache, commit) ?? (await buildManifest(cache, commit));
  memo.set(commit, m);
  return m;
}

function manifestPath(cache: Repo, commit: string): string {
  return join(cache.path, MANIFEST_DIR, `${commit}.json`);
}

function readManifest(cache: Repo, commit: string): PkgManifest | null {
  try {
    const m = JSON.parse(readFileSync(manifestPath(cache, commit), 'utf8')) as PkgManifest;
    if (m.version === MANIFEST_VERSION && m.commit === commit && Array.isArray(m.entries) && typeof m.rootMeta === 'string') return m;
  } catch {
    // Missing or torn: rebuilt by the caller.
  }
  return null;
}

async function buildManifest(cache: Repo, commit: string): Promise<PkgManifest> {
  const c = await cache.loadCommit(commit);
  const entries: ManifestEntry[] = [];
  const walk = async (tree: string, logical: string): Promise<void> => {
    const t = await cache.loadDirtree(tree);
    for (const f of t.files) {
      const info = cache.readContentInfoSync(f.checksum);
      entries.push([info.header.symlinkTarget ? 'l' : 'f', logical === '' ? f.name : `${logical}/${f.name}`, f.checksum, info.size]);
    }
    for (const d of t.dirs) {
      const lpath = logical === '' ? d.name : `${logical}/${d.name}`;
      entries.push(['d', lpath, d.metaChecksum, 0]);
      await walk(d.treeChecksum, lpath);
    }
  };
  await walk(c.rootTree, '');
  const m: PkgManifest = {
    version: MANIFEST_VERSION,
    commit,
    repodataChecksum: (dictGet(c.metadata, 'rpmostree.repodata_checksum', 's') as string | undefined) ?? null,
    importSettings: (dictGet(c.metadata, 'atomic.import-settings', 's') as string | undefined) ?? null,
    rootMeta: c.rootMeta,
    entries,
  };
  const path = manifestPath(cache, commit);
  try {
    mkdirSync(join(cache.path, MANIFEST_DIR), { recursive: true });
    const tmp = `${path}.${process.pid}.tmp`;
    writeFileSync(tmp, JSON.stringify(m));
    renameSync(tmp, path);
  } catch {
    // A cache that cannot keep it rebuilds it next time.
  }
  return m;
}

/** Reads a small text file of the cache, or null. */
export async function readCacheFile(cache: Repo, name: string): Promise<string | null> {
  return readFile(join(cache.path, name), 'utf8').catch(() => null);
}
