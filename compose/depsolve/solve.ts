// Depsolving a treefile's package list against rpm-md repositories with libsolv, set up as
// libdnf sets it up for `dnf install` (and so for rpm-ostree compose): an empty installed
// system, the host's arch policy, Recommends installed unless `recommends: false`.

import koffi from 'koffi';
import { UpdaterError } from '../../common/errors.ts';
import {
  DISTTYPE_RPM, MAP_SIZE, Mem, POOL_CONSIDERED, POOL_NSOLVABLES, REPO_EXTEND_SOLVABLES, REPO_NSOLVABLES, REPO_PRIORITY, REPO_REPOID,
  REPO_SUBPRIORITY, SELECTION_CANON, SELECTION_DOTARCH, SELECTION_FILELIST, SELECTION_GLOB, SELECTION_NAME, SELECTION_PROVIDES,
  SOLVER_FLAG_ALLOW_VENDORCHANGE, SOLVER_FLAG_BEST_OBEY_POLICY, SOLVER_FLAG_IGNORE_RECOMMENDED, SOLVER_FLAG_KEEP_ORPHANS,
  SOLVER_FLAG_YUM_OBSOLETES, SOLVER_INSTALL, SOLVER_SETREPO, SOLVER_SOLVABLE_PROVIDES, SOLVER_SOLVABLE_REPO, TRANSACTION_STEPS,
  freeQueue, libsolv, newQueue, queuePush, type Libsolv,
} from './libsolv.ts';
import { globToRegExp, parsePackageSpec, patternMatchesPackage, relFlags, splitEvr } from './spec.ts';

/** One rpm-md repository as the solver reads it: the cached metadata files. */
export interface DepsolveRepo {
  id: string;
  /** primary.xml[.gz|.xz|.zst|.bz2] */
  primary: string;
  /** filelists.xml[...], for file dependencies outside primary's short file list. */
  filelists?: string;
  /** dnf's `priority` (lower wins; default 99) and `cost` (tie-break; default 1000). */
  priority?: number;
  cost?: number;
  /** The .repo file's excludepkgs / includepkgs globs. */
  excludePackages?: string[];
  includePackages?: string[];
}

export interface DepsolveRequest {
  repos: DepsolveRepo[];
  /** Treefile `packages` (already merged with `packages-$basearch`). */
  packages: string[];
  /** Treefile `repo-packages`: these come only from the named repo. */
  repoPackages?: { repo: string; packages: string[] }[];
  /** Treefile `exclude-packages`: hidden from the solver (names or globs). */
  excludePackages?: string[];
  /** Treefile `recommends` (default true): install weak dependencies. */
  recommends?: boolean;
  /** Target arch (`x86_64`, `aarch64`); defaults to the host's. */
  arch?: string;
}

/** One package of the install set. */
export interface ResolvedPackage {
  name: string;
  epoch: number;
  version: string;
  release: string;
  arch: string;
  /** `name-[epoch:]version-release.arch`, the form rpm-ostree prints. */
  nevra: string;
  /** The id of the repo it comes from. */
  repo: string;
  /** location href inside the repo. */
  location: string;
  checksum: { type: string; value: string } | null;
  /** Download size in bytes (null when the metadata lacks it). */
  size: number | null;
  installSize: number | null;
  /** Build time from the metadata (seconds; null when it lacks one). The RPM header's is authoritative. */
  buildtime: number | null;
}

export interface DepsolveResult {
  /** The install set in libsolv's transaction order (dependencies before dependents where possible). */
  packages: ResolvedPackage[];
  /** Solvables loaded per repo id. */
  solvables: Record<string, number>;
}

/** The rpm arch for this host (Node's process.arch names differ). */
export function hostArch(): string {
  const map: Record<string, string> = { x64: 'x86_64', arm64: 'aarch64', ppc64: 'ppc64le', s390x: 's390x', ia32: 'i686', arm: 'armv7hl' };
  return map[process.arch] ?? process.arch;
}

/** Resolves the request; throws DEPSOLVE_PACKAGE_NOT_FOUND or DEPSOLVE_UNSATISFIABLE with libsolv's explanation. */
export function depsolve(req: DepsolveRequest): DepsolveResult {
  const l = libsolv();
  const pool = l.pool_create();
  const m = new Mem(l, pool);
  const owned: Buffer[] = []; // queues to free
  let solver: unknown = null;
  let trans: unknown = null;
  try {
    // Debian's libsolv handles several package formats; RPM semantics (EVR comparison,
    // rich deps) must be chosen before any repo is read.
    l.pool_setdisttype(pool, DISTTYPE_RPM);
    l.pool_setarch(pool, req.arch ?? hostArch());
    const repos = loadRepos(m, req.repos);
    applyConsidered(m, req, repos);
    l.pool_addfileprovides(pool);
    l.pool_createwhatprovides(pool);

    const job = newQueue(l);
    const sel = newQueue(l);
    owned.push(job, sel);
    const missing: string[] = [];
    const addSpecs = (specs: string[], repoId?: string): void => {
      for (const text of specs) {
        if (!selectSpec(m, sel, text, repoId === undefined ? undefined : repos.get(repoId)!.repoid)) {
          missing.push(repoId === undefined ? text : `${text} (in repo '${repoId}')`);
          continue;
        }
        const ids = m.queue(sel);
        for (let i = 0; i < ids.length; i += 2) queuePush(l, job, ids[i]! | SOLVER_INSTALL, ids[i + 1]!);
      }
    };
    addSpecs(req.packages);
    for (const rp of req.repoPackages ?? []) {
      if (!repos.has(rp.repo)) throw new UpdaterError('DEPSOLVE_UNKNOWN_REPO', `repo-packages names repo '${rp.repo}', which is not among the enabled repos (${[...repos.keys()].join(', ') || 'none'})`);
      addSpecs(rp.packages, rp.repo);
    }
    if (missing.length) throw new UpdaterError('DEPSOLVE_PACKAGE_NOT_FOUND', `Packages not found: ${missing.join(', ')}`, { hint: 'check the names against the enabled repos and exclude-packages' });

    solver = l.solver_create(pool);
    // libdnf's solver flags (hy-goal init_solver), so the result matches dnf's.
    l.solver_set_flag(solver, SOLVER_FLAG_ALLOW_VENDORCHANGE, 1);
    l.solver_set_flag(solver, SOLVER_FLAG_KEEP_ORPHANS, 1);
    l.solver_set_flag(solver, SOLVER_FLAG_BEST_OBEY_POLICY, 1);
    l.solver_set_flag(solver, SOLVER_FLAG_YUM_OBSOLETES, 1);
    if (req.recommends === false) l.solver_set_flag(solver, SOLVER_FLAG_IGNORE_RECOMMENDED, 1);
    if (Number(l.solver_solve(solver, job)) !== 0) throw unsatisfiable(m, solver, owned);

    trans = l.solver_create_transaction(solver);
    l.transaction_order(trans, 0);
    const steps = m.queueAt(koffi.address(trans as object) + BigInt(TRANSACTION_STEPS));
    const byAddr = new Map([...repos.values()].map((r) => [r.addr, r.id]));
    const keys = { checksum: key(m, 'solvable:checksum'), downloadsize: key(m, 'solvable:downloadsize'), installsize: key(m, 'solvable:installsize'), buildtime: key(m, 'solvable:buildtime') };
    const packages = steps.map((p) => describe(m, p, byAddr, keys));
    const solvables = Object.fromEntries([...repos.values()].map((r) => [r.id, r.nsolvables]));
    return { packages, solvables };
  } finally {
    if (trans) l.transaction_free(trans);
    if (solver) l.solver_free(solver);
    for (const q of owned) freeQueue(l, q);
    // pool_free leaves pool->considered to its owner (libdnf frees it the same way).
    const considered = m.poolPtr(POOL_CONSIDERED);
    if (considered !== 0n) {
      m.setPoolPtr(POOL_CONSIDERED, 0n);
      l.map_free(considered);
      l.solv_free(considered);
    }
    l.pool_free(pool);
  }
}

function key(m: Mem, name: string): number {
  return m.l.pool_str2id(m.pool, name, 0) as number;
}

interface LoadedRepo {
  id: string;
  addr: bigint;
  repoid: number;
  nsolvables: number;
  spec: DepsolveRepo;
}

/** Creates one libsolv repo per rpm-md repo from its primary (then filelists) metadata. */
function loadRepos(m: Mem, specs: DepsolveRepo[]): Map<string, LoadedRepo> {
  const l = m.l;
  const out = new Map<string, LoadedRepo>();
  for (const spec of specs) {
    if (out.has(spec.id)) throw new UpdaterError('DEPSOLVE_DUPLICATE_REPO', `repo '${spec.id}' is listed twice`);
    const repo = l.repo_create(m.pool, spec.id);
    const addr = koffi.address(repo as object);
    // dnf: repo->priority = -priority, repo->subpriority = -cost (higher wins in libsolv).
    const prio = Buffer.alloc(8);
    prio.writeInt32LE(-(spec.priority ?? 99), 0);
    prio.writeInt32LE(-(spec.cost ?? 1000), REPO_SUBPRIORITY - REPO_PRIORITY);
    m.write(addr + BigInt(REPO_PRIORITY), prio);
    readRpmmd(m, repo, spec.id, spec.primary, 0);
    // Filelists extend the solvables primary created (matched by package checksum).
    if (spec.filelists) readRpmmd(m, repo, spec.id, spec.filelists, REPO_EXTEND_SOLVABLES);
    l.repo_internalize(repo);
    out.set(spec.id, {
      id: spec.id,
      addr,
      repoid: m.read(addr + BigInt(REPO_REPOID), 4).readInt32LE(0),
      nsolvables: m.read(addr + BigInt(REPO_NSOLVABLES), 4).readInt32LE(0),
      spec,
    });
  }
  return out;
}

function readRpmmd(m: Mem, repo: unknown, id: string, path: string, flags: number): void {
  const l = m.l;
  // solv_xfopen picks the decompressor from the suffix (.gz, .xz, .bz2, .zst).
  const fp = l.solv_xfopen(path, 'r');
  if (fp === null) throw new UpdaterError('DEPSOLVE_METADATA_UNREADABLE', `repo '${id}': cannot open ${path}`, { hint: 'refresh the repo metadata cache' });
  let rc: number;
  try {
    rc = Number(l.repo_add_rpmmd(repo, fp, null, flags));
    if (rc === 0 && Number(l.ferror(fp)) !== 0) rc = -1;
  } finally {
    l.fclose(fp);
  }
  if (rc !== 0) {
    const why = String(l.pool_errstr(m.pool) ?? '') || 'read error (truncated or corrupt compressed data)';
    throw new UpdaterError('DEPSOLVE_METADATA_INVALID', `repo '${id}': ${path}: ${why}`, { hint: 'the metadata is corrupt: remove the repo cache and refresh' });
  }
}

/**
 * Hides excluded packages from the solver through pool->considered, as libdnf applies
 * excludes: an excluded package is neither installable nor a provider, so a hard
 * requirement on it fails and a Recommends of it is dropped.
 */
function applyConsidered(m: Mem, req: DepsolveRequest, repos: Map<string, LoadedRepo>): void {
  const l = m.l;
  const global = (req.excludePackages ?? []).map(toMatcher);
  const perRepo = new Map([...repos.values()].map((r) => [r.addr, { ex: (r.spec.excludePackages ?? []).map(toMatcher), inc: (r.spec.includePackages ?? []).map(toMatcher) }]));
  const any = global.length > 0 || [...perRepo.values()].some((v) => v.ex.length > 0 || v.inc.length > 0);
  if (!any) return;
  const n = m.poolInt(POOL_NSOLVABLES);
  const map = BigInt(l.solv_calloc(1, MAP_SIZE) as number | bigint);
  l.map_init(map, n);
  l.map_invertall(map);
  // struct s_Map { unsigned char *map; int size; }: edit the bits in JS, then write them back.
  const bitsAddr = m.read(map, 8).readBigUInt64LE(0);
  const bits = m.read(bitsAddr, (n + 7) >> 3);
  const str = (id: number): string => String(l.pool_id2str(m.pool, id));
  for (let p = 2; p < n; p++) {
    const s = m.solvableFields(p);
    const rules = perRepo.get(s.repo);
    if (!rules) continue;
    const pkg = { name: str(s.name), evr: str(s.evr), arch: str(s.arch) };
    const hit = (ms: (RegExp | string)[]): boolean => ms.some((x) => patternMatchesPackage(x, pkg));
    const excluded = hit(global) || hit(rules.ex) || (rules.inc.length > 0 && !hit(rules.inc));
    if (excluded) bits[p >> 3]! &= ~(1 << (p & 7));
  }
  m.write(bitsAddr, bits);
  m.setPoolPtr(POOL_CONSIDERED, map);
}

function toMatcher(pattern: string): RegExp | string {
  return /[*?[]/.test(pattern) ? globToRegExp(pattern) : pattern;
}

/**
 * Fills `sel` with the solver selection for one spec. Versioned specs are provides
 * (`skopeo >= 2:1.7.0` matches the package's own `Provides: skopeo = ...`); plain ones
 * try the name first, then provides (`grub2` → grub2-pc), then file paths, as dnf does.
 */
function selectSpec(m: Mem, sel: Buffer, text: string, repoid?: number): boolean {
  const l = m.l;
  const spec = parsePackageSpec(text);
  // File lists and globs are searched only when the spec asks for them: both walk every
  // solvable (or every file), too slow to do for each of hundreds of plain names.
  let flags = SELECTION_NAME | SELECTION_PROVIDES | SELECTION_CANON | SELECTION_DOTARCH;
  if (spec.name.startsWith('/')) flags |= SELECTION_FILELIST;
  if (/[*?[]/.test(spec.name)) flags |= SELECTION_GLOB;
  l.selection_make(m.pool, sel, spec.name, flags);
  if (m.queue(sel).length === 0) return false;
  if (spec.op !== undefined) {
    const dep = l.pool_rel2id(m.pool, l.pool_str2id(m.pool, spec.name, 1), l.pool_str2id(m.pool, spec.evr!, 1), relFlags(spec.op), 1) as number;
    l.queue_free(sel);
    l.queue_init(sel);
    queuePush(l, sel, SOLVER_SOLVABLE_PROVIDES, dep);
  }
  if (repoid !== undefined) {
    const filter = newQueue(l);
    try {
      queuePush(l, filter, SOLVER_SOLVABLE_REPO | SOLVER_SETREPO, repoid);
      l.selection_filter(m.pool, sel, filter);
    } finally {
      freeQueue(l, filter);
    }
    if (m.queue(sel).length === 0) return false;
  }
  return true;
}

/** Collects libsolv's explanation of every problem (the rule texts dnf prints). */
function unsatisfiable(m: Mem, solver: unknown, owned: Buffer[]): UpdaterError {
  const l = m.l;
  const count = Number(l.solver_problem_count(solver));
  const rules = newQueue(l);
  owned.push(rules);
  const parts: string[] = [];
  for (let i = 1; i <= count; i++) {
    l.solver_findallproblemrules(solver, i, rules);
    const lines: string[] = [];
    for (const rid of m.queue(rules)) {
      const from = [0];
      const to = [0];
      const dep = [0];
      const type = Number(l.solver_ruleinfo(solver, rid, from, to, dep));
      const s = String(l.solver_problemruleinfo2str(solver, type, from[0]!, to[0]!, dep[0]!));
      if (!lines.includes(s)) lines.push(s);
    }
    const summary = String(l.solver_problem2str(solver, i));
    parts.push(`Problem ${i}: ${summary}` + lines.filter((s) => s !== summary).map((s) => `\n  - ${s}`).join(''));
  }
  return new UpdaterError('DEPSOLVE_UNSATISFIABLE', `cannot resolve the package set:\n${parts.join('\n')}`, {
    hint: 'add the missing packages to a repo, or drop or relax the packages named above',
  });
}

const NOT_FOUND = 0xffffffffffffffffn;

function describe(m: Mem, p: number, byAddr: Map<bigint, string>, keys: { checksum: number; downloadsize: number; installsize: number; buildtime: number }): ResolvedPackage {
  const l = m.l;
  const s = m.solvableFields(p);
  const str = (id: number): string => String(l.pool_id2str(m.pool, id));
  const name = str(s.name);
  const evr = str(s.evr);
  const arch = str(s.arch);
  const { epoch, version, release } = splitEvr(evr);
  const type = [0];
  const sum = l.pool_lookup_checksum(m.pool, p, keys.checksum, type) as string | null;
  const num = (k: number): number | null => {
    const v = BigInt(l.pool_lookup_num(m.pool, p, k, NOT_FOUND) as number | bigint);
    return v === NOT_FOUND ? null : Number(v);
  };
  return {
    name, epoch, version, release, arch,
    nevra: `${name}-${evr}.${arch}`,
    repo: byAddr.get(s.repo) ?? '',
    location: String(l.solvable_lookup_location(m.solvable(p), [0]) ?? ''),
    checksum: sum ? { type: String(l.solv_chksum_type2str(type[0]!)), value: sum } : null,
    size: num(keys.downloadsize),
    installSize: num(keys.installsize),
    buildtime: num(keys.buildtime),
  };
}
