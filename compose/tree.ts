// `atomic compose tree`: a treefile and rpm-md repositories in, a commit on the treefile's
// ref out, following rpm-ostree's compose (§2.2): previous commit and next version, repo
// metadata, depsolve, input hash and no-op detection, download, unpack in transaction
// order, scriptlets, rpmdb, postprocessing (§1.5) and the OSTree layout (§2.6, §2.7),
// then one commit with rpm-ostree's metadata (§2.8).
//
// Nothing is written to the target repo until the final commit, which is one transaction:
// a failure anywhere leaves the repo and its refs exactly as they were.

import { createHash } from 'node:crypto';
import { mkdtemp, mkdir, rm, writeFile } from 'node:fs/promises';
import { rmSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { isUpdaterError, prefixError, UpdaterError } from '../common/errors.ts';
import { commitDirectory, dictGet, encodeVarDict, Repo, resolvePath, Transaction, variant, type Commit, type VarDict } from '../store/index.ts';
import { depsolve, type ResolvedPackage } from './depsolve/index.ts';
import { downloadPackages, moveRpmdb, writeRpmdb, type FetchedPackage } from './install.ts';
import { TreeAssembly } from './assemble.ts';
import { treefileGitRevision, GIT_REVISION_KEY } from './git.ts';
import { cachedPackage, clearInUse, importPackage, markInUse, objectIntact, openPkgCache, recoverPkgCache } from './pkgcache.ts';
import { formatRepoLine, loadRepoFiles, selectRepos, syncRepos, type RepoMetadata } from './repos/index.ts';
import {
  addFiles, applyMachineIdCompat, assembleRootfs, checkPasswdGroup, composeCommitMetadata, computeInputHash, convertVarToTmpfiles, enableUnits,
  moveEtcToUsrEtc, mutateOsRelease, nsswitchAltfiles, patchUseraddHome, prepareRootfsLinks, previousPasswdGroup, processKernel, relocateRpmdb,
  removeFiles, runPostprocessScripts, seedPasswdGroup, setDefaultTarget, splitPasswdGroup, writeTmpfilesIntegration, writeTreefileJson,
  type PkgListEntry,
} from './rootfs/index.ts';
import type { RpmArchive, RpmPackage } from './rpm/index.ts';
import { readRpm } from './rpm/index.ts';
import { resolveInRoot, runScriptletPhases, type ScriptletKind, type ScriptletPackage } from './sandbox/index.ts';
import { loadTreefile, nextAutomaticVersion, treefileChecksum, type Treefile } from './treefile/index.ts';
import { formatSize } from '../common/format.ts';

export interface ComposeTreeOptions {
  /** Target repository (must exist). */
  repo: string;
  treefile: string;
  /** Persistent cache: rpm-md metadata and downloaded RPMs. Default: a temporary directory. */
  cachedir?: string;
  /** Use cached rpm-md metadata as it is; fetch none. */
  cacheOnly?: boolean;
  /** Commit even when the input hash equals the previous commit's. */
  forceNocache?: boolean;
  /** Resolve and print the package set, then stop (nothing is downloaded). */
  dryRun?: boolean;
  /** `--add-metadata-string KEY=VALUE` (a `version` here replaces the automatic one). */
  addMetadata?: Array<[string, string]>;
  /** Parent commit: undefined = the ref's current commit, null = none (`--no-parent`), a rev = that commit. */
  parent?: string | null;
  /** Write the commit checksum here instead of moving the ref. */
  writeCommitidTo?: string;
  writeComposejsonTo?: string;
  /** Where the install root is built (default: CACHEDIR/work, or a temporary directory). */
  workdir?: string;
  /**
   * Commit timestamp, seconds. Default: SOURCE_DATE_EPOCH when set, else the newest build
   * time of the packages, but at least one second after the previous commit's.
   */
  timestamp?: number;
  /** Script timeout (default: the sandbox's). */
  scriptTimeoutMs?: number;
  /** rpm-ostree's progress lines. */
  log?: (line: string) => void;
  /** Progress of the long steps (downloading, importing, checking out, committing), for a live line on a terminal. */
  progress?: (what: string, done: number, total: number) => void;
  warn?: (line: string) => void;
}

export interface PackageDiff {
  added: string[];
  removed: string[];
  upgraded: Array<[string, string]>;
  downgraded: Array<[string, string]>;
}

export interface ComposeTreeResult {
  /** False when no-op detection skipped the commit (or for --dry-run). */
  committed: boolean;
  commit: string | null;
  ref: string;
  previous: string | null;
  version?: string;
  inputhash: string;
  packages: ResolvedPackage[];
  diff: PackageDiff | null;
  composejson?: Record<string, unknown>;
}

const noop = (): void => {};

/** `name-[epoch:]version-release.arch` as rpm-ostree prints transaction members. */
function pkgEntry(p: { name: string; epoch: number | null | string; version: string; release: string; arch: string }): PkgListEntry {
  const epoch = typeof p.epoch === 'string' ? Number(p.epoch) : p.epoch;
  return { name: p.name, epoch: epoch || null, version: p.version, release: p.release, arch: p.arch };
}

function evrOf(p: PkgListEntry): string {
  return `${p.epoch ? `${p.epoch}:` : ''}${p.version}-${p.release}`;
}

/** rpmvercmp for the change summary. */
function rpmvercmp(a: string, b: string): number {
  if (a === b) return 0;
  const seg = /(\d+|[a-zA-Z]+|~|\^)/g;
  const as = a.match(seg) ?? [];
  const bs = b.match(seg) ?? [];
  for (let i = 0; ; i++) {
    const x = as[i];
    const y = bs[i];
    if (x === '~' || y === '~') {
      if (x !== y) return x === '~' ? -1 : 1;
      continue;
    }
    if (x === undefined || y === undefined) return x === y ? 0 : x === undefined ? -1 : 1;
    const xd = /^\d/.test(x);
    const yd = /^\d/.test(y);
    if (xd !== yd) return xd ? 1 : -1;
    if (xd) {
      const d = BigInt(x) - BigInt(y);
      if (d !== 0n) return d > 0n ? 1 : -1;
    } else if (x !== y) return x < y ? -1 : 1;
  }
}

function evrCompare(a: PkgListEntry, b: PkgListEntry): number {
  return (a.epoch ?? 0) - (b.epoch ?? 0) || rpmvercmp(a.version, b.version) || rpmvercmp(a.release, b.release);
}

/** The package list a commit records (`rpmostree.rpmdb.pkglist`), or null without one. */
export function commitPkglist(c: Commit): PkgListEntry[] | null {
  const v = dictGet(c.metadata, 'rpmostree.rpmdb.pkglist', 'a(sssss)') as string[][] | undefined;
  if (v === undefined) return null;
  return v.map(([name, epoch, version, release, arch]) => pkgEntry({ name: name!, epoch: epoch!, version: version!, release: release!, arch: arch! }));
}

/** Changes from `from` to `to`, by package name (arch changes count as upgrades). */
export function diffPkglists(from: PkgListEntry[], to: PkgListEntry[]): PackageDiff {
  const a = new Map(from.map((p) => [p.name, p]));
  const b = new Map(to.map((p) => [p.name, p]));
  const diff: PackageDiff = { added: [], removed: [], upgraded: [], downgraded: [] };
  const nevra = (p: PkgListEntry): string => `${p.name}-${evrOf(p)}.${p.arch}`;
  for (const [name, p] of [...b].sort(([x], [y]) => (x < y ? -1 : 1))) {
    const old = a.get(name);
    if (!old) diff.added.push(nevra(p));
    else if (evrOf(old) !== evrOf(p) || old.arch !== p.arch) (evrCompare(p, old) >= 0 ? diff.upgraded : diff.downgraded).push([nevra(old), nevra(p)]);
  }
  for (const [name, p] of [...a].sort(([x], [y]) => (x < y ? -1 : 1))) if (!b.has(name)) diff.removed.push(nevra(p));
  return diff;
}

/** The summary lines of a package diff (empty when nothing changed). */
export function formatPkgDiff(d: PackageDiff): string[] {
  const out: string[] = [];
  if (d.upgraded.length) out.push('Upgraded:', ...d.upgraded.map(([a, b]) => `  ${a} -> ${b}`));
  if (d.downgraded.length) out.push('Downgraded:', ...d.downgraded.map(([a, b]) => `  ${a} -> ${b}`));
  if (d.removed.length) out.push('Removed:', ...d.removed.map((x) => `  ${x}`));
  if (d.added.length) out.push('Added:', ...d.added.map((x) => `  ${x}`));
  return out;
}

function metaString(c: Commit, key: string): string | undefined {
  const v = dictGet(c.metadata, key, 's');
  return typeof v === 'string' ? v : undefined;
}

/** A regular file of a commit, or undefined when the commit has no such file. */
async function commitFile(repo: Repo, c: Commit, path: string): Promise<string | undefined> {
  try {
    const at = await resolvePath(repo, c, path);
    if (!('file' in at)) return undefined;
    const info = await repo.readContentInfo(at.file);
    if (info.header.symlinkTarget !== '') return undefined;
    return (await repo.readContentData(info)).toString('utf8');
  } catch (err) {
    if (isUpdaterError(err, 'STORE_PATH_NOT_FOUND')) return undefined;
    throw err;
  }
}

/**
 * The commit timestamp, from the inputs so that the same inputs give the same commit:
 * `SOURCE_DATE_EPOCH` when set, else the newest package build time, but never earlier than
 * one second after the previous commit (the stream's timestamps only grow).
 */
export function composeTimestamp(given: number | undefined, buildtimes: number[], prev: Commit | null): number {
  if (given !== undefined) return given;
  const sde = process.env.SOURCE_DATE_EPOCH;
  if (sde !== undefined && /^\d+$/.test(sde)) return Number(sde);
  const newest = buildtimes.reduce((a, b) => Math.max(a, b), 0);
  return Math.max(newest, prev ? prev.timestamp + 1 : 0);
}

/** `TYPE:HEX`, a package's checksum in its repository's metadata. */
function repoChecksum(p: ResolvedPackage): string {
  if (p.checksum === null) throw new UpdaterError('COMPOSE_DOWNLOAD_FAILED', `${p.nevra}: repo '${p.repo}' metadata gives no checksum`);
  return `${p.checksum.type === 'sha' ? 'sha1' : p.checksum.type}:${p.checksum.value}`;
}

/** Script kinds compose/rpm and compose/sandbox share; the triggers keep their prefixes. */
function scriptletPackage(pkg: RpmPackage): ScriptletPackage {
  return {
    name: pkg.name,
    nevra: pkg.nevra,
    release: pkg.release,
    scripts: [
      ...pkg.scripts.map((s) => ({ kind: s.kind as ScriptletKind, interpreter: s.interpreter, body: s.body, flags: s.flags })),
      ...pkg.triggers.map((t) => ({ kind: t.kind as ScriptletKind, interpreter: t.interpreter, body: t.body, flags: t.flags })),
    ],
    fileTriggers: pkg.fileTriggers.map((t) => ({ kind: t.kind as ScriptletKind, interpreter: t.interpreter, body: t.body, flags: t.flags, prefixes: t.conditions.map((c) => c.name) })),
  };
}

/** `remove-from-packages`: a package's files matching any of its patterns are deleted. */
function removeFromPackages(root: string, tf: Treefile, installed: Map<string, RpmPackage>): number {
  let n = 0;
  for (const rule of tf.removeFromPackages) {
    const pkg = installed.get(rule.package);
    if (!pkg) throw new UpdaterError('COMPOSE_INVALID', `remove-from-packages: package ${rule.package} is not installed`);
    const res = rule.patterns.map((p) => {
      try {
        return new RegExp(p);
      } catch (err) {
        throw new UpdaterError('COMPOSE_INVALID', `remove-from-packages: invalid regular expression ${JSON.stringify(p)} for ${rule.package}`, { cause: err });
      }
    });
    for (const f of pkg.files) {
      if (f.ghost || !res.some((r) => r.test(f.path))) continue;
      const rel = f.path.startsWith('/etc/') ? `usr${f.path}` : f.path.slice(1);
      rmSync(join(root, rel), { recursive: true, force: true });
      n++;
    }
  }
  return n;
}

/** `fn` over `items`, at most `limit` at a time; results in input order. */
async function mapLimit<T, R>(items: T[], limit: number, fn: (item: T, i: number) => Promise<R>): Promise<R[]> {
  const out = new Array<R>(items.length);
  let next = 0;
  const worker = async (): Promise<void> => {
    while (next < items.length) {
      const i = next++;
      out[i] = await fn(items[i]!, i);
    }
  };
  await Promise.all(Array.from({ length: Math.min(limit, items.length) }, worker));
  return out;
}

/** Parses `KEY=VALUE` (`--add-metadata-string`). */
export function parseMetadataString(kv: string): [string, string] {
  const eq = kv.indexOf('=');
  if (eq <= 0) throw new UpdaterError('CLI_USAGE', `--add-metadata-string: expected KEY=VALUE, got '${kv}'`);
  return [kv.slice(0, eq), kv.slice(eq + 1)];
}

/** Composes the treefile into a commit; see the file comment. */
export async function composeTree(opts: ComposeTreeOptions): Promise<ComposeTreeResult> {
  const log = opts.log ?? noop;
  const warn = opts.warn ?? noop;
  const progress = opts.progress ?? noop;
  const tf = await loadTreefile(opts.treefile);
  for (const w of tf.warnings) warn(w);
  if (tf.ref === undefined || tf.ref === '') {
    throw new UpdaterError('COMPOSE_NO_REF', `treefile ${tf.path} sets no ref`, { hint: 'add `ref: os/${basearch}/stable` (or similar) to the treefile' });
  }
  const ref = tf.ref;
  const repo = await Repo.open(opts.repo);

  // 1. Previous commit.
  let previous: string | null;
  if (typeof opts.parent === 'string') previous = await repo.resolveRev(opts.parent);
  else previous = await repo.readRef(ref);
  const prevCommit = previous === null ? null : await repo.loadCommit(previous);
  if (previous !== null) log(`Previous commit: ${previous}`);
  else log(`No previous commit for ${ref}`);
  const parent = opts.parent === null ? null : previous;

  // 2. Version.
  const extra = opts.addMetadata ?? [];
  const givenVersion = extra.find(([k]) => k === 'version')?.[1];
  let version = givenVersion;
  if (version === undefined && tf.automaticVersionPrefix !== undefined) {
    version = nextAutomaticVersion(tf.automaticVersionPrefix, prevCommit ? metaString(prevCommit, 'version') : undefined, {
      suffix: tf.automaticVersionSuffix, onWarning: warn,
    });
  }

  // 3. Repositories and depsolve.
  const ownCache = opts.cachedir === undefined;
  const cachedir = opts.cachedir !== undefined ? resolve(opts.cachedir) : await mkdtemp('/var/tmp/atomic-compose-cache-');
  try {
    await mkdir(cachedir, { recursive: true });
    const vars: Record<string, string> = { ...tf.repovars, basearch: tf.basearch, arch: tf.basearch };
    if (tf.releasever !== undefined) vars.releasever = tf.releasever;
    const repoConfigs = selectRepos(await loadRepoFiles(tf.directory, vars), tf.repos, tf.directory);
    if (repoConfigs.length === 0) throw new UpdaterError('COMPOSE_NO_REPOS', `treefile ${tf.path}: no rpm-md repos enabled`, { hint: `put .repo files in ${tf.directory} and name them in \`repos\`` });
    const metadata = await syncRepos(repoConfigs, cachedir, { cacheOnly: opts.cacheOnly });
    const solved = depsolve({
      repos: metadata.map((m) => ({
        id: m.id, primary: m.primary, filelists: m.filelists, priority: m.priority, cost: m.cost,
        excludePackages: m.excludePackages, includePackages: m.includePackages,
      })),
      packages: tf.packages, repoPackages: tf.repoPackages, excludePackages: tf.excludePackages, recommends: tf.recommends, arch: tf.basearch,
    });
    for (const m of metadata) log(formatRepoLine(m, solved.solvables[m.id] ?? 0));
    log('Resolving dependencies... done');
    const pkgs = solved.packages;
    log(`Installing ${pkgs.length} packages:`);
    for (const p of pkgs) log(`  ${p.nevra} (${p.repo})`);

    // 4. Input hash and no-op detection.
    const inputhash = computeInputHash(await treefileChecksum(tf), pkgs.map((p) => ({ nevra: p.nevra, checksum: repoChecksum(p) })));
    log(`Input state hash: ${inputhash}`);
    const newList = pkgs.map(pkgEntry);
    const oldList = prevCommit ? commitPkglist(prevCommit) : null;
    const diff = oldList ? diffPkglists(oldList, newList) : null;
    const base: ComposeTreeResult = { committed: false, commit: null, ref, previous, version, inputhash, packages: pkgs, diff };
    if (prevCommit && !opts.forceNocache) {
      const prevHash = metaString(prevCommit, 'rpmostree.inputhash');
      if (prevHash === undefined) log('Previous commit found, but without rpmostree.inputhash metadata key');
      else if (prevHash === inputhash) {
        log(`No apparent changes since previous commit; use --force-nocache to override${opts.dryRun ? '.' : ''}`);
        return base;
      }
    }
    if (opts.dryRun) {
      log('--dry-run complete; exiting');
      return base;
    }

    // 5. Download.
    const fetched = await downloadPackages(pkgs, metadata, cachedir, {
      onPlan: (count, bytes) => log(`Will download: ${count} package${count === 1 ? '' : 's'} (${formatSize(bytes)})`),
      onRepo: (id, count) => log(`Downloading from '${id}'... ${count} package${count === 1 ? '' : 's'}`),
      onFetched: (done, total) => progress('Downloading packages', done, total),
    });
    const cache = await openPkgCache(join(cachedir, 'pkgcache-repo'));
    await recoverPkgCache(cache, warn);
    const gitRevision = await treefileGitRevision(tf.directory);

    // 6. Install root.
    const workParent = opts.workdir !== undefined ? resolve(opts.workdir) : ownCache ? cachedir : join(cachedir, 'work');
    await mkdir(workParent, { recursive: true });
    const work = await mkdtemp(join(workParent, 'compose-'));
    try {
      const result = await buildAndCommit({ opts, tf, repo, ref, previous, prevCommit, parent, version, inputhash, metadata, fetched, work, cache, gitRevision, progress, log, warn });
      const out: ComposeTreeResult = { ...base, committed: true, commit: result.commit, composejson: result.composejson };
      if (diff) for (const l of formatPkgDiff(diff)) log(l);
      return out;
    } finally {
      rmSync(work, { recursive: true, force: true });
    }
  } finally {
    if (ownCache) rmSync(cachedir, { recursive: true, force: true });
  }
}

interface BuildInput {
  opts: ComposeTreeOptions;
  tf: Treefile;
  repo: Repo;
  ref: string;
  previous: string | null;
  prevCommit: Commit | null;
  parent: string | null;
  version: string | undefined;
  inputhash: string;
  metadata: RepoMetadata[];
  fetched: FetchedPackage[];
  work: string;
  cache: Repo;
  gitRevision: string | undefined;
  progress: (what: string, done: number, total: number) => void;
  log: (l: string) => void;
  warn: (l: string) => void;
}

async function buildAndCommit(b: BuildInput): Promise<{ commit: string; composejson?: Record<string, unknown> }> {
  const { tf, repo, log, warn, opts } = b;
  const installDir = join(b.work, 'install');

  // preserve-passwd: the previous commit's users and groups keep their ids.
  const mergeById = new Set<string>();
  let previousLib: { passwd?: string; group?: string } | undefined;
  if (b.prevCommit) {
    const files = {
      etcPasswd: await commitFile(repo, b.prevCommit, '/usr/etc/passwd'),
      libPasswd: await commitFile(repo, b.prevCommit, '/usr/lib/passwd'),
      etcGroup: await commitFile(repo, b.prevCommit, '/usr/etc/group'),
      libGroup: await commitFile(repo, b.prevCommit, '/usr/lib/group'),
    };
    previousLib = { passwd: files.libPasswd, group: files.libGroup };
    if (tf.preservePasswd && (files.etcPasswd !== undefined || files.libPasswd !== undefined)) {
      seedPasswdGroup(installDir, previousPasswdGroup(files));
      mergeById.add('/etc/passwd');
      mergeById.add('/etc/group');
    }
  }

  // The rpm database records the packages' headers only (rpm --justdb), and the scripts never
  // see it (their sandbox masks /usr/share/rpm): rpm writes it into a root of its own while
  // the tree is assembled, and it moves into the tree where it would have been written. rpm
  // starts before the headers are read, with the commit timestamp the repository metadata's
  // build times give; should the headers give another, it runs again with that one.
  const rpms = b.fetched.map((f) => f.path);
  const dbRoot = join(b.work, 'rpmdb');
  const startRpmdb = (epoch: number): Promise<unknown> => writeRpmdb(dbRoot, rpms, { sourceDateEpoch: epoch }).then(() => null, (err: unknown) => err);
  const metaBuildtimes = b.fetched.map((f) => f.pkg.buildtime);
  const predicted = metaBuildtimes.every((t) => t !== null) ? composeTimestamp(opts.timestamp, metaBuildtimes as number[], b.prevCommit) : null;
  let rpmdbJob = predicted === null ? null : startRpmdb(predicted);

  const archives: RpmArchive[] = [];
  try {
    for (const f of b.fetched) archives.push(await readRpm(f.path));
  } catch (err) {
    await rpmdbJob;
    throw err;
  }
  const timestamp = composeTimestamp(opts.timestamp, archives.map((a) => a.pkg.buildtime), b.prevCommit);
  if (timestamp !== predicted) {
    await rpmdbJob;
    rmSync(dbRoot, { recursive: true, force: true });
    rpmdbJob = startRpmdb(timestamp);
  }
  const writeDb = async (): Promise<void> => {
    const err = await rpmdbJob;
    if (err !== null) throw err;
    if (!moveRpmdb(dbRoot, installDir)) await writeRpmdb(installDir, rpms, { sourceDateEpoch: timestamp });
  };
  try {
    return await assembleAndCommit(b, { archives, timestamp, mergeById, previousLib, writeDb });
  } finally {
    // A failed compose lets rpm finish before the work directory is removed.
    await rpmdbJob;
  }
}

interface AssemblyInput {
  archives: RpmArchive[];
  timestamp: number;
  mergeById: Set<string>;
  previousLib: { passwd?: string; group?: string } | undefined;
  /** Puts the rpm database into the install root. */
  writeDb: () => Promise<void>;
}

async function assembleAndCommit(b: BuildInput, { archives, timestamp, mergeById, previousLib, writeDb }: AssemblyInput): Promise<{ commit: string; composejson?: Record<string, unknown> }> {
  const { tf, repo, log, warn, opts } = b;
  const installDir = join(b.work, 'install');

  // Unified core (§2.4): each package imported once into its own commit of the package
  // cache, the install root a hardlinked union checkout of those commits.
  const cache = b.cache;
  const installed = new Map(archives.map((a) => [a.pkg.name, a.pkg]));
  const settings = { documentation: tf.documentation, installLangs: tf.installLangs };
  // Cache lookups first (read-only, overlapped), then every missing package imported into
  // one transaction of the cache: one sync for all of them, and none of their refs visible
  // unless all were imported.
  const checksums = b.fetched.map((f) => repoChecksum(f.pkg));
  const commits = await mapLimit(archives, 8, (a, i) => cachedPackage(cache, a, checksums[i]!, settings));
  const missing = [...commits.keys()].filter((i) => commits[i] === null);
  const imported = missing.length;
  if (missing.length > 0) {
    const tx = await Transaction.begin(cache);
    try {
      for (const [n, i] of missing.entries()) {
        const a = archives[i]!;
        b.progress('Importing packages', archives.length - missing.length + n, archives.length);
        try {
          commits[i] = (await importPackage(cache, a, checksums[i]!, settings, { force: true, transaction: tx })).commit;
        } catch (err) {
          throw prefixError(`Unpacking ${a.pkg.nevra} (${i + 1}/${archives.length})`, err);
        }
      }
      await tx.commit();
    } catch (err) {
      await tx.abort();
      throw err;
    }
  }
  b.progress('Importing packages', archives.length, archives.length);
  log(`Importing packages... ${imported} imported, ${archives.length - imported} cached`);

  const tree = new TreeAssembly(installDir, cache);
  await markInUse(cache);
  let verified = false;
  const verifyAndRestore = async (): Promise<void> => {
    const damaged = await tree.verify();
    for (const d of damaged) {
      const a = archives[d.pkg]!;
      warn(`a script changed a file of ${a.pkg.nevra} in place (object ${d.checksum}); the tree keeps the change, the package cache is restored`);
      await rm(cache.objectPath(d.checksum, 'file'), { force: true });
      await importPackage(cache, a, repoChecksum(b.fetched[d.pkg]!.pkg), settings, { force: true });
      if (!(await objectIntact(cache, d.checksum))) {
        throw new UpdaterError('COMPOSE_PKGCACHE_INVALID', `package cache ${cache.path}: object ${d.checksum} of ${a.pkg.nevra} could not be restored`, { hint: `remove ${cache.path}; it is rebuilt on the next compose` });
      }
    }
    tree.restored(damaged.map((d) => d.checksum));
  };
  try {
    for (const [i, a] of archives.entries()) {
      b.progress('Checking out packages', i, archives.length);
      try {
        await tree.checkout(commits[i]!, a.pkg, i, { mergeById });
      } catch (err) {
        throw prefixError(`Checking out ${a.pkg.nevra} (${i + 1}/${archives.length})`, err);
      }
    }
    b.progress('Checking out packages', archives.length, archives.length);
    log(`Checking out packages... ${archives.length} done`);
    log(`Hardlinked files: ${tree.stats.hardlinked}, copied: ${tree.stats.copied}`);

    const phaseName: Record<string, string> = { pre: 'pre', post: 'post', posttrans: 'posttrans', transfiletriggerin: 'file trigger' };
    b.progress('Running scripts', 0, 1);
    await runScriptletPhases(installDir, archives.map((a) => scriptletPackage(a.pkg)), {
      bootLocation: tf.bootLocation,
      installLangs: tf.installLangs,
      timeoutMs: opts.scriptTimeoutMs,
      onOutput: log,
      afterPre: async () => {
        tree.applyOwners(archives.map((a) => a.pkg), warn);
      },
      onPhase: (phase, ran) => log(`Running ${phaseName[phase]} scripts... ${ran} done`),
    });
    await writeDb();
    log('Writing rpmdb... done');

    // Treefile postprocessing (§1.5), on the install root.
    moveEtcToUsrEtc(installDir);
    relocateRpmdb(installDir);
    const units = enableUnits(installDir, tf.units, { machineidCompat: tf.machineidCompat });
    for (const w of units.warnings) warn(w);
    if (tf.defaultTarget !== undefined) setDefaultTarget(installDir, tf.defaultTarget);
    writeTreefileJson(installDir, tf);
    if (tf.mutateOsRelease !== undefined) {
      if (b.version === undefined) log('Ignoring mutate-os-release: no commit version specified.');
      else {
        const rel = resolveInRoot(installDir, '/etc/os-release', { etcInUsr: true });
        if (rel !== null) tree.breakLink(rel);
        mutateOsRelease(installDir, tf.mutateOsRelease, b.version);
      }
    }
    removeFiles(installDir, tf.removeFiles);
    removeFromPackages(installDir, tf, installed);
    addFiles(installDir, tf.addFiles);
    await runPostprocessScripts(installDir, tf, { timeoutMs: opts.scriptTimeoutMs, onOutput: log, onStep: log });
    applyMachineIdCompat(installDir, tf.machineidCompat);

    // The OSTree layout (§2.6) and the kernel (§2.7), on the assembled tree.
    const rootfs = join(b.work, 'rootfs');
    assembleRootfs(installDir, rootfs, { tmpIsDir: tf.tmpIsDir, optUsrlocal: tf.optUsrlocal });
    prepareRootfsLinks(rootfs, tf.optUsrlocal);
    const conv = convertVarToTmpfiles(rootfs);
    if (conv.dropped.length) warn(`Dropped ${conv.dropped.length} file(s) under /var (only directories and links are kept): ${conv.dropped.slice(0, 5).join(', ')}${conv.dropped.length > 5 ? ', …' : ''}`);
    writeTmpfilesIntegration(rootfs, tf.optUsrlocal);
    splitPasswdGroup(rootfs, tf.etcGroupMembers);
    nsswitchAltfiles(rootfs);
    patchUseraddHome(rootfs);
    const report = checkPasswdGroup(rootfs, {
      checkPasswd: tf.checkPasswd, checkGroups: tf.checkGroups,
      ignoreRemovedUsers: tf.ignoreRemovedUsers, ignoreRemovedGroups: tf.ignoreRemovedGroups, previous: previousLib,
    });
    if (report.newUsers.length) log(`New passwd entries: ${report.newUsers.join(', ')}`);
    if (report.newGroups.length) log(`New group entries: ${report.newGroups.join(', ')}`);
    const kernel = await processKernel(rootfs, {
      bootLocation: tf.bootLocation, noInitramfs: tf.noInitramfs, initramfsArgs: tf.initramfsArgs,
      timeoutMs: opts.scriptTimeoutMs, onOutput: log, onStep: log,
    });

    // Objects a script changed in place go back to the package cache before anything is committed.
    await verifyAndRestore();
    verified = true;

    // The commit.
    b.progress('Committing', 0, 1);
    const extra: VarDict = (opts.addMetadata ?? []).map(([k, v]) => [k, variant('s', v)]);
    if (b.gitRevision !== undefined) extra.push([GIT_REVISION_KEY, variant('s', b.gitRevision)]);
    const repoTimestamp = (m: RepoMetadata): number => {
      const t = m.generated ? Date.parse(m.generated) : NaN;
      return Number.isNaN(t) ? 0 : Math.floor(t / 1000);
    };
    const meta = composeCommitMetadata({
      version: b.version,
      inputhash: b.inputhash,
      packages: b.fetched.map((f) => pkgEntry(f.pkg)),
      repos: b.metadata.map((m) => ({ id: m.id, timestamp: repoTimestamp(m) })),
      repoMetadata: tf.repoMetadata,
      initramfsArgs: tf.initramfsArgs,
      containerCmd: tf.containerCmd,
      addCommitMetadata: tf.addCommitMetadata,
      bootable: kernel?.metadata,
      extra,
    });
    const res = await commitDirectory(repo, rootfs, {
      branch: opts.writeCommitidTo === undefined ? b.ref : undefined,
      parent: b.parent,
      metadata: meta.metadata,
      timestamp,
      // Files still linked to intact cached objects are not read or hashed again.
      devino: tree.devinoMap(),
      onLockWait: () => log('Waiting for the repository lock…'),
    });
    if (meta.detached.length) await repo.writeCommitmeta(res.checksum, encodeVarDict(meta.detached));
    b.progress('Committing', 1, 1);
    log('Committing... done');
    log(`Metadata Written: ${res.stats.metadataWritten}`);
    log(`Content Written: ${res.stats.contentWritten}`);
    log(`Content Cache Hits: ${res.stats.filesReused}`);
    log(`Content Bytes Written: ${res.stats.contentBytesWritten}`);
    if (opts.writeCommitidTo !== undefined) {
      await writeFile(opts.writeCommitidTo, res.checksum);
      log(`Wrote commit: ${res.checksum}`);
    } else {
      log(`${b.ref} => ${res.checksum}`);
    }

    let composejson: Record<string, unknown> | undefined;
    if (opts.writeComposejsonTo !== undefined) {
      const c = await repo.loadCommit(res.checksum);
      composejson = {
        ...(opts.writeCommitidTo === undefined ? { ref: b.ref } : {}),
        'ostree-n-metadata-written': res.stats.metadataWritten,
        'ostree-n-content-written': res.stats.contentWritten,
        'ostree-n-cache-hits': res.stats.filesReused,
        'ostree-content-bytes-written': res.stats.contentBytesWritten,
        'ostree-commit': res.checksum,
        'ostree-content-checksum': createHash('sha256').update(Buffer.from(c.rootTree, 'hex')).update(Buffer.from(c.rootMeta, 'hex')).digest('hex'),
        ...(b.version !== undefined ? { 'ostree-version': b.version } : {}),
        'ostree-timestamp': new Date(timestamp * 1000).toISOString().replace('.000Z', 'Z'),
        'rpm-ostree-inputhash': b.inputhash,
        ...(b.prevCommit && b.parent !== null ? { pkgdiff: pkgdiffJson(commitPkglist(b.prevCommit) ?? [], b.fetched.map((f) => pkgEntry(f.pkg))) } : {}),
      };
      await writeFile(opts.writeComposejsonTo, `${JSON.stringify(composejson, null, 2)}\n`);
    }
    return { commit: res.checksum, composejson };
  } finally {
    let clean = verified;
    if (!verified) {
      clean = await verifyAndRestore().then(() => true, (err: unknown) => {
        warn(`checking the package cache: ${(err as Error).message}`);
        return false;
      });
    }
    // A cache that could not be checked keeps its marker: the next compose checks it.
    if (clean) await clearInUse(cache);
  }
}

/** rpm-ostree's composejson `pkgdiff`: [name, type (0 added, 1 removed, 2 upgraded, 3 downgraded), details]. */
function pkgdiffJson(from: PkgListEntry[], to: PkgListEntry[]): unknown[] {
  const d = diffPkglists(from, to);
  return [
    ...d.added.map((n) => [n, 0, {}]),
    ...d.removed.map((n) => [n, 1, {}]),
    ...d.upgraded.map(([a, b]) => [b, 2, { PreviousPackage: a }]),
    ...d.downgraded.map(([a, b]) => [b, 3, { PreviousPackage: a }]),
  ];
}
