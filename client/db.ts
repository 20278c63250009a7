// `atomic host db diff [FROM [TO]]` and `db list [REV…]` (rpm-ostree db, §3.3): package
// lists from the commits' `rpmostree.rpmdb.pkglist` metadata, else from the rpmdb in
// the tree (usr/share/rpm, read from the repo). Revisions are commit
// checksums (or unique prefixes), refs and refspecs of the sysroot repo, or the
// words booted, pending, rollback and default.

import { UpdaterError } from '../common/errors.ts';
import { isChecksum, type Repo } from '../store/index.ts';
import { CommitTree } from './commit-tree.ts';
import { diffPackages, parsePkglist, PKGLIST_KEY, type PackageDiff, type RpmPackage } from './pkgdiff.ts';
import { loadSysroot, pendingAndRollback, type LoadOptions, type Sysroot } from './sysroot.ts';

export interface DbRev {
  /** What the user named, or `booted deployment` etc. */
  desc: string;
  csum: string;
}

/** Resolves a revision of `db diff` / `db list`. */
export async function resolveDbRev(s: Sysroot, rev: string): Promise<DbRev> {
  const named = namedDeployment(s, rev);
  if (named !== null) return named;
  if (isChecksum(rev)) return { desc: rev, csum: rev };
  const ref = await s.repo.readRef(rev).catch(() => null);
  if (ref !== null) return { desc: rev, csum: ref };
  try {
    return { desc: rev, csum: await s.repo.resolveRev(rev) };
  } catch (err) {
    throw new UpdaterError('DB_REV_NOT_FOUND', `revision '${rev}' is not a commit, ref or deployment of ${s.repo.path}`, { cause: err });
  }
}

function namedDeployment(s: Sysroot, word: string): DbRev | null {
  const { pending, rollback } = pendingAndRollback(s);
  const pick = (d: typeof s.booted, desc: string): DbRev => {
    if (d === null || d === undefined) throw new UpdaterError('DB_REV_NOT_FOUND', `there is no ${desc}`);
    return { desc, csum: d.csum };
  };
  if (word === 'booted') return pick(s.booted, 'booted deployment');
  if (word === 'pending') return pick(pending, 'pending deployment');
  if (word === 'rollback') return pick(s.booted === null ? (s.deployments[1] ?? null) : rollback, 'rollback deployment');
  if (word === 'default') return pick(s.deployments[0] ?? null, 'default deployment');
  return null;
}

/** Where a tree keeps its rpmdb, newest layout first, and the format of each. */
const RPMDB_FILES: Array<[string, 'sqlite' | 'bdb' | 'ndb']> = [
  ['usr/share/rpm/rpmdb.sqlite', 'sqlite'], ['usr/lib/sysimage/rpm/rpmdb.sqlite', 'sqlite'],
  ['usr/share/rpm/Packages.db', 'ndb'], ['usr/lib/sysimage/rpm/Packages.db', 'ndb'],
  ['usr/share/rpm/Packages', 'bdb'], ['usr/lib/sysimage/rpm/Packages', 'bdb'],
];

/** The packages of the tree's own rpmdb (read from the repo with @snyk/rpm-parser); null when it has none. */
export async function rpmdbPackages(repo: Repo, csum: string): Promise<RpmPackage[] | null> {
  const tree = await CommitTree.open(repo, csum);
  for (const [path, format] of RPMDB_FILES) {
    await tree.dir(path.slice(0, path.lastIndexOf('/')));
    const f = tree.file(path);
    if (f === null || !f.regular) continue;
    const data = await repo.readContentData(repo.readContentInfoSync(f.checksum));
    const parser = await import('@snyk/rpm-parser');
    const res = format === 'sqlite' ? await parser.getPackagesSqlite(data) : format === 'ndb' ? await parser.getPackagesNdb(data) : await parser.getPackages(data);
    if (res.error !== undefined) {
      throw new UpdaterError('DB_RPMDB_INVALID', `commit ${csum}: cannot read the rpmdb ${path}: ${String((res.error as Error).message ?? res.error)}`);
    }
    return res.response
      .filter((p) => p.name !== 'gpg-pubkey')
      .map((p) => ({ name: p.name, epoch: String(p.epoch ?? 0), version: p.version, release: p.release, arch: p.arch ?? '(none)' }))
      .sort((a, b) => (a.name !== b.name ? (a.name < b.name ? -1 : 1) : a.arch < b.arch ? -1 : a.arch > b.arch ? 1 : 0));
  }
  return null;
}

/**
 * The package list of a commit: `rpmostree.rpmdb.pkglist`, else the tree's rpmdb;
 * DB_NO_PKGLIST when it has neither.
 */
export async function commitPackages(repo: Repo, rev: DbRev): Promise<RpmPackage[]> {
  const c = await repo.loadCommit(rev.csum);
  const list = parsePkglist(c.metadata) ?? (await rpmdbPackages(repo, rev.csum));
  if (list === null) {
    throw new UpdaterError('DB_NO_PKGLIST', `commit ${rev.csum} (${rev.desc}) has no ${PKGLIST_KEY} metadata and no rpmdb, so its packages are unknown`, {
      hint: 'compose the tree with rpm-ostree-style package metadata',
    });
  }
  return list;
}

export interface DbDiffResult {
  from: DbRev;
  to: DbRev;
  diff: PackageDiff;
}

/**
 * The defaults of rpm-ostree: booted -> pending; one revision: booted -> it. Without a
 * booted deployment (an image or a test sysroot): rollback -> default.
 */
export async function dbDiff(o: LoadOptions & { sysroot: string; from?: string; to?: string }): Promise<DbDiffResult> {
  const s = await loadSysroot(o.sysroot, o);
  let from: DbRev;
  let to: DbRev;
  if (o.from !== undefined && o.to !== undefined) {
    [from, to] = [await resolveDbRev(s, o.from), await resolveDbRev(s, o.to)];
  } else if (o.from !== undefined) {
    [from, to] = [await resolveDbRev(s, s.booted === null ? 'default' : 'booted'), await resolveDbRev(s, o.from)];
  } else if (s.booted !== null) {
    from = await resolveDbRev(s, 'booted');
    if (pendingAndRollback(s).pending === null) throw new UpdaterError('DB_REV_NOT_FOUND', 'No pending deployment to diff against', { hint: 'name the revisions: db diff FROM TO' });
    to = await resolveDbRev(s, 'pending');
  } else {
    [from, to] = [await resolveDbRev(s, 'rollback'), await resolveDbRev(s, 'default')];
  }
  const [a, b] = [await commitPackages(s.repo, from), await commitPackages(s.repo, to)];
  return { from, to, diff: diffPackages(a, b) };
}

/** The `ostree diff commit from:` / `to:` header lines of db diff. */
export function renderDbDiffHeader(r: DbDiffResult): string {
  return `ostree diff commit from: ${r.from.desc} (${r.from.csum})\nostree diff commit to:   ${r.to.desc} (${r.to.csum})\n`;
}

/** `db list [REV…]`: each commit's packages (default: booted, else the default deployment). */
export async function dbList(o: LoadOptions & { sysroot: string; revs: string[] }): Promise<Array<{ rev: DbRev; packages: RpmPackage[] }>> {
  const s = await loadSysroot(o.sysroot, o);
  const revs = o.revs.length > 0 ? o.revs : [s.booted === null ? 'default' : 'booted'];
  const out: Array<{ rev: DbRev; packages: RpmPackage[] }> = [];
  for (const r of revs) {
    const rev = await resolveDbRev(s, r);
    out.push({ rev, packages: await commitPackages(s.repo, rev) });
  }
  return out;
}

/** The package diff between two commits of the repo, or null when either has no package list. */
export async function packageDiffBetween(repo: Repo, from: string, to: string): Promise<PackageDiff | null> {
  const [a, b] = await Promise.all([repo.loadCommit(from), repo.loadCommit(to)]);
  const pa = parsePkglist(a.metadata);
  const pb = parsePkglist(b.metadata);
  return pa === null || pb === null ? null : diffPackages(pa, pb);
}
