// rpm-ostree's verbs that pick another commit than the origin's newest one (§3.3):
// `deploy VERSION|CHECKSUM` (found in the refspec's history, recorded as the origin's
// override-commit), `rebase REFSPEC` (a new origin refspec), and `upgrade --check /
// --preview` (what an upgrade would bring, from commit metadata when it can).

import { UpdaterError } from '../common/errors.ts';
import { diffCommits, dictGet, isChecksum, parseRefspec, type Repo, type TreeDiff } from '../store/index.ts';
import { downloadUpdate, pullFrom, refspecRemote } from './download.ts';
import { cloneOrigin, deriveUpgradeOrigin } from './origin.ts';
import { packageDiffBetween } from './db.ts';
import type { PackageDiff } from './pkgdiff.ts';
import { commitSignature, type SignatureState } from './signature.ts';
import { loadSysroot, resolveOsname, type Sysroot } from './sysroot.ts';
import { deployCommit, mergeWithOrigin, resolveDeployTarget, withSysroot, type DeployResult, type HostOptions, type UpgradeOptions } from './upgrade.ts';

/** Walks the history from the refspec's commit while commits are present; stops at `match`. */
async function walkLocal(repo: Repo, tip: string | null, match: (csum: string, version: string | null) => boolean): Promise<{ found: string | null; walked: number; ended: boolean }> {
  let csum = tip;
  let walked = 0;
  while (csum !== null) {
    if (!(await repo.hasObject(csum, 'commit'))) return { found: null, walked, ended: false };
    const c = await repo.loadCommit(csum);
    const v = dictGet(c.metadata, 'version', 's');
    if (match(csum, typeof v === 'string' ? v : null)) return { found: csum, walked, ended: false };
    walked++;
    csum = c.parent;
  }
  return { found: null, walked, ended: true };
}

/**
 * Finds a commit in the history of `refspec`, as rpm-ostree's version lookup does: the
 * remote's commit objects only, from the tip, in batches of 10 parents then doubling.
 */
export async function findInHistory(s: Sysroot, refspec: string, match: (csum: string, version: string | null) => boolean, o: UpgradeOptions): Promise<string | null> {
  const r = o.cacheOnly ? null : refspecRemote(s.repo, refspec);
  if (r === null) return (await walkLocal(s.repo, await s.repo.readRef(refspec), match)).found;
  for (let depth = 10; ; depth *= 2) {
    await pullFrom(s.repo, r.remote, [r.ref], { commitMetadataOnly: true, depth, onLockWait: o.onLockWait });
    const w = await walkLocal(s.repo, await s.repo.readRef(refspec), match);
    if (w.found !== null || w.ended || w.walked <= depth) return w.found;
  }
}

/**
 * How `atomic host deploy REVISION` reads its argument: `REMOTE:REF`, a ref of the
 * repo, or anything while nothing follows a ref, is a refspec to deploy and follow
 * (ostree admin deploy); otherwise a checksum or version in the history of the
 * followed refspec (rpm-ostree deploy).
 */
export async function classifyDeployRevision(o: HostOptions & { revision: string }): Promise<'refspec' | 'revision'> {
  if (o.revision.includes(':')) return 'refspec';
  const s = await loadSysroot(o.sysroot, o);
  const osname = await resolveOsname(s, o.osname);
  let follows: string | undefined;
  try {
    follows = mergeWithOrigin(s, osname).refspec;
  } catch {
    follows = undefined; // nothing deployed, or no usable origin: deploy the argument as a refspec
  }
  if (follows === undefined || isChecksum(follows)) return 'refspec';
  if (isChecksum(o.revision)) return 'revision';
  // Versions do not contain '/', ref names usually do: a missing ref is then reported as such.
  if (o.revision.includes('/')) return 'refspec';
  return (await s.repo.readRef(o.revision)) !== null ? 'refspec' : 'revision';
}

export interface DeployRevisionOptions extends UpgradeOptions {
  /** A version string (commit `version` metadata) or a commit checksum. */
  revision: string;
  /** Accept a checksum that is not in the refspec's history. */
  skipBranchCheck?: boolean;
  /** Refuse a commit older than the current one (rpm-ostree allows by default). */
  disallowDowngrade?: boolean;
}

async function checkDowngrade(repo: Repo, from: string, to: string, what: string): Promise<void> {
  const [cur, next] = await Promise.all([repo.loadCommit(from), repo.loadCommit(to)]);
  if (next.timestamp < cur.timestamp) {
    throw new UpdaterError('DEPLOY_DOWNGRADE', `${what} revision '${to}' with timestamp '${new Date(next.timestamp * 1000).toISOString()}' is chronologically older than current revision '${from}' with timestamp '${new Date(cur.timestamp * 1000).toISOString()}'`, {
      hint: 'drop --disallow-downgrade to permit it',
    });
  }
}

/** Brings a commit in full into the sysroot repo (by checksum, from the refspec's remote). */
async function ensureCommit(s: Sysroot, refspec: string, csum: string, o: UpgradeOptions): Promise<void> {
  const complete = (await s.repo.hasObject(csum, 'commit')) && !(await s.repo.isCommitPartial(csum));
  if (complete) return;
  const r = o.cacheOnly ? null : refspecRemote(s.repo, refspec);
  if (r === null) {
    throw new UpdaterError('DEPLOY_COMMIT_NOT_FOUND', `commit ${csum} is not complete in ${s.repo.path}`, { hint: o.cacheOnly ? 'run without --cache-only to download it' : 'pull it first' });
  }
  await pullFrom(s.repo, r.remote, [csum], { onProgress: o.onProgress, onLockWait: o.onLockWait });
}

/**
 * `atomic host deploy VERSION|CHECKSUM` (rpm-ostree deploy): the commit is looked up in
 * the history of the merge deployment's refspec (`Resolving version 'X'`), downloaded,
 * and deployed with the origin's `override-commit` set, so that `upgrade` later goes
 * back to following the refspec.
 */
export async function deployRevision(o: DeployRevisionOptions): Promise<DeployResult & { csum: string; from: string }> {
  return withSysroot(o, async (s) => {
    const osname = await resolveOsname(s, o.osname);
    const { merge, base, origin, refspec } = mergeWithOrigin(s, osname);
    let csum: string | null;
    if (isChecksum(o.revision)) {
      csum = o.skipBranchCheck ? o.revision : await findInHistory(s, refspec, (c) => c === o.revision, o);
      if (csum === null) {
        throw new UpdaterError('DEPLOY_NOT_IN_BRANCH', `Checksum ${o.revision} not found in ${refspec}`, { hint: 'pass --skip-branch-check to deploy a commit of another branch' });
      }
    } else {
      o.log?.(`Resolving version '${o.revision}'`);
      csum = await findInHistory(s, refspec, (_c, v) => v === o.revision, o);
      if (csum === null) throw new UpdaterError('DEPLOY_VERSION_NOT_FOUND', `Version ${o.revision} not found in ${refspec}`);
    }
    await ensureCommit(s, refspec, csum, o);
    if (csum === base.csum && origin.get('origin', 'override-commit') === csum) {
      return { changed: false, deployment: null, etc: null, write: null, csum, from: base.csum };
    }
    if (o.disallowDowngrade) await checkDowngrade(s.repo, base.csum, csum, 'Deploy target');
    const next = deriveUpgradeOrigin(origin);
    next.set('origin', 'override-commit', csum);
    const packages = await packageDiffBetween(s.repo, base.csum, csum);
    return { ...(await deployCommit(s, o, osname, csum, next, base.kargs, merge, {})), csum, from: base.csum, packages };
  });
}

/**
 * rpm-ostree's rebase target: `REMOTE:REF`; `REF` keeps the current remote; `REMOTE:`
 * keeps the current ref.
 */
export function resolveRebaseRefspec(current: string, target: string): string {
  const cur = isChecksum(current) ? { remote: null, ref: null } : parseRefspec(current);
  if (target.endsWith(':')) {
    const remote = target.slice(0, -1);
    if (cur.ref === null) throw new UpdaterError('CLI_USAGE', `rebase ${target}: the current origin ${current} has no ref to keep`);
    return `${remote}:${cur.ref}`;
  }
  if (target.includes(':')) return target;
  return cur.remote === null ? target : `${cur.remote}:${target}`;
}

export interface RebaseOptions extends UpgradeOptions {
  refspec: string;
  /** Keep the old refspec's ref in the repo (by default it is deleted after the rebase). */
  skipPurge?: boolean;
  disallowDowngrade?: boolean;
}

/** `atomic host rebase REFSPEC`: deploy the newest commit of another refspec and follow it from now on. */
export async function rebase(o: RebaseOptions): Promise<DeployResult & { from: string; to: string; refspec: string; csum: string; previous: string }> {
  return withSysroot(o, async (s) => {
    const osname = await resolveOsname(s, o.osname);
    const { merge, base, origin, refspec: old } = mergeWithOrigin(s, osname);
    const refspec = resolveRebaseRefspec(old, o.refspec);
    parseRefspec(refspec);
    if (!o.cacheOnly) await downloadUpdate(s.repo, refspec, { allowDowngrade: true, onProgress: o.onProgress, onLockWait: o.onLockWait });
    const { csum } = await resolveDeployTarget(s, refspec);
    const result = { from: old, to: refspec, refspec, csum, previous: base.csum };
    if (refspec === old && csum === base.csum && origin.get('origin', 'override-commit') === undefined) {
      return { changed: false, deployment: null, etc: null, write: null, ...result };
    }
    if (o.disallowDowngrade) await checkDowngrade(s.repo, base.csum, csum, 'Rebase target');
    const next = deriveUpgradeOrigin(cloneOrigin(origin));
    next.remove('origin', 'baserefspec');
    next.set('origin', 'refspec', refspec);
    const packages = await packageDiffBetween(s.repo, base.csum, csum);
    const res = await deployCommit(s, o, osname, csum, next, base.kargs, merge, {});
    // rpm-ostree deletes the ref it no longer follows; deployed commits stay protected by ostree/B/S/I.
    if (!o.skipPurge && old !== refspec && !isChecksum(old)) {
      const p = parseRefspec(old);
      await s.repo.writeRef(p.remote, p.ref, null);
    }
    return { ...res, ...result, packages };
  });
}

/** What `upgrade --check` / `--preview` found. */
export interface UpdateCheck {
  refspec: string;
  current: string;
  /** null: no update (the origin's commit is deployed). */
  available: { csum: string; version: string | null; timestamp: number; signature: SignatureState | null } | null;
  /** From `rpmostree.rpmdb.pkglist` of both commits; null when either lacks it. */
  packages: PackageDiff | null;
  /** --preview without package lists: the file-level diff (the tree was downloaded for it). */
  files: TreeDiff | null;
}

/**
 * `upgrade --check`: the newest commit of the origin from its commit object alone;
 * `--preview`: also the package diff, or without package lists the file diff (which
 * needs the trees: they are downloaded, nothing is deployed).
 */
export async function checkUpdate(o: UpgradeOptions & { preview?: boolean }): Promise<UpdateCheck> {
  return withSysroot(o, async (s) => {
    const osname = await resolveOsname(s, o.osname);
    const { base, refspec, origin } = mergeWithOrigin(s, osname);
    if (!o.cacheOnly) await downloadUpdate(s.repo, refspec, { commitMetadataOnly: true, allowDowngrade: o.allowDowngrade, onLockWait: o.onLockWait });
    const csum = (await resolveDeployTarget(s, refspec)).csum;
    const out: UpdateCheck = { refspec, current: base.csum, available: null, packages: null, files: null };
    if (csum === base.csum && origin.get('origin', 'override-commit') === undefined) return out;
    const c = await s.repo.loadCommit(csum);
    const v = dictGet(c.metadata, 'version', 's');
    out.available = { csum, version: typeof v === 'string' ? v : null, timestamp: c.timestamp, signature: await commitSignature(s.repo, refspec, csum) };
    out.packages = await packageDiffBetween(s.repo, base.csum, csum);
    if (o.preview && out.packages === null) {
      if (!o.cacheOnly) await downloadUpdate(s.repo, refspec, { allowDowngrade: o.allowDowngrade, onProgress: o.onProgress, onLockWait: o.onLockWait });
      if (await s.repo.isCommitPartial(csum)) {
        throw new UpdaterError('DEPLOY_COMMIT_PARTIAL', `commit ${csum} is only partially present in ${s.repo.path}, so its files cannot be compared`, { hint: 'run without --cache-only' });
      }
      out.files = await diffCommits(s.repo, base.csum, csum);
    }
    return out;
  });
}
