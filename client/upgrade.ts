// The verbs that create a new deployment (deploy, upgrade, kargs) and those that only
// reorder or drop deployments (rollback, cleanup -p/-r). Each runs under the sysroot
// lock: load, decide and check everything, prepare the deployment, then one swap.

import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { UpdaterError } from '../common/errors.ts';
import { writeFileAtomic } from '../common/fs-atomic.ts';
import { applyKargsEdits, parseKargs, renderKargs, setKarg, type KargsEdits } from '../bootloader/index.ts';
import { isChecksum, parseRefspec, type KeyFile } from '../store/index.ts';
import { cleanupSysroot, needsCleanup, removeStaleRefTemps } from './cleanup.ts';
import { crashPoint, phase } from './crash.ts';
import { packageDiffBetween } from './db.ts';
import type { PackageDiff } from './pkgdiff.ts';
import { prepareDeployment } from './deploy.ts';
import { preflightDeployment } from './preflight.ts';
import { downloadUpdate } from './download.ts';
import { formatEtcMergeSummary, type EtcDiff } from './etc-merge.ts';
import { cloneOrigin, deriveSameTreeOrigin, deriveUpgradeOrigin, isPinned, newOrigin, originRefspec } from './origin.ts';
import { writeDeployments, type WriteResult } from './swap.ts';
import {
  loadSysroot, lockSysroot, mergeDeployment, originPath, REPO_SUBPATH, pendingAndRollback, resolveOsname, sameDeployment, type Deployment, type LoadOptions, type Sysroot,
} from './sysroot.ts';

export interface HostOptions extends LoadOptions {
  sysroot: string;
  /** Stateroot (--os); default: the booted one, else the only one. */
  osname?: string;
  /** Progress and result lines (`Copying /etc changes: …`, `Bootloader updated; …`). */
  log?: (line: string) => void;
  /** Called once when another transaction holds the sysroot lock. */
  onLockWait?: () => void;
}

export interface DeployResult {
  /** False when there was nothing to do (`No upgrade available.`). */
  changed: boolean;
  deployment: Deployment | null;
  etc: EtcDiff | null;
  write: WriteResult | null;
  /** Package changes from the previous deployment (both commits list packages), computed before cleanup. */
  packages?: PackageDiff | null;
}

/** Runs `fn` holding the sysroot lock, on a freshly loaded sysroot. */
export async function withSysroot<T>(o: HostOptions, fn: (s: Sysroot) => Promise<T>): Promise<T> {
  phase('start');
  await loadSysroot(o.sysroot, o); // fails early with DEPLOY_NOT_A_SYSROOT, before creating the lock file
  const lock = await lockSysroot(o.sysroot, o.onLockWait);
  try {
    // A transaction killed while writing a deployment ref leaves its temporary file.
    await removeStaleRefTemps(join(o.sysroot, REPO_SUBPATH));
    return await fn(await loadSysroot(o.sysroot, o));
  } finally {
    await lock.release();
    phase('done');
  }
}

/** Retention flags of ostree's simple_write_deployment. */
export interface RetainFlags {
  retain?: boolean;
  retainPending?: boolean;
  retainRollback?: boolean;
}

/**
 * The new list, as ostree_sysroot_simple_write_deployment builds it: the new deployment
 * first, then the existing ones that are pinned, of another stateroot, booted, the merge
 * deployment, or kept by a --retain flag.
 */
export function retainDeployments(s: Sysroot, fresh: Deployment, merge: Deployment | null, flags: RetainFlags = {}): Deployment[] {
  const retainPending = flags.retain || flags.retainPending;
  const retainRollback = flags.retain || flags.retainRollback;
  const out = [fresh];
  let beforeBooted = s.booted !== null;
  for (const d of s.deployments) {
    const isBooted = sameDeployment(d, s.booted);
    if (isBooted) beforeBooted = false;
    if (d.osname !== fresh.osname || (retainPending && beforeBooted) || (retainRollback && !beforeBooted) || isBooted
      || sameDeployment(d, merge) || isPinned(d.origin)) out.push(d);
  }
  return out;
}

/** Resolves `REFSPEC` or a checksum in the sysroot repo, without downloading. */
export async function resolveDeployTarget(s: Sysroot, revision: string): Promise<{ csum: string; refspec: string }> {
  if (isChecksum(revision)) {
    if (!(await s.repo.hasObject(revision, 'commit'))) {
      throw new UpdaterError('DEPLOY_COMMIT_NOT_FOUND', `commit ${revision} is not in ${s.repo.path}`, { hint: 'pull it first' });
    }
    return { csum: revision, refspec: revision };
  }
  const csum = await s.repo.readRef(revision);
  if (csum === null) {
    throw new UpdaterError('DEPLOY_REF_NOT_FOUND', `refspec ${revision} is not in ${s.repo.path}`, {
      hint: revision.includes(':') ? 'pull it first (atomic repo pull --repo SYSROOT/ostree/repo REMOTE:REF)' : 'commit or pull it first',
    });
  }
  return { csum, refspec: revision };
}

/** Kernel arguments from a command line file, without the ones the bootloader adds. */
export function kargsFromProcCmdline(path: string): string {
  const args = parseKargs(readFileSync(path, 'utf8').trim()).filter((a) => !['ostree', 'BOOT_IMAGE', 'initrd'].includes(a.key));
  return renderKargs(args);
}

/**
 * Checks everything from the repo (bootable, /etc merge plan, space), then prepares the
 * deployment and swaps it in. Nothing is written before the checks pass.
 */
export async function deployCommit(s: Sysroot, o: HostOptions, osname: string, csum: string, origin: KeyFile, kargs: string, merge: Deployment | null, flags: RetainFlags): Promise<DeployResult> {
  phase('deploy');
  const preflight = await preflightDeployment(s, { osname, csum, merge, entries: s.deployments.length + 1, log: o.log });
  crashPoint('after-preflight');
  const { deployment, etc } = await prepareDeployment(s, { osname, csum, origin, merge, kargs: renderKargs(parseKargs(kargs)), preflight, log: o.log });
  if (etc !== null) o.log?.(formatEtcMergeSummary(etc));
  const list = retainDeployments(s, deployment, merge, flags);
  const write = await writeDeployments(s, list, { armBootCounting: true, log: o.log });
  return { changed: true, deployment, etc, write };
}

export interface DeployOptions extends HostOptions, RetainFlags {
  /** `REMOTE:REF`, `REF`, or a commit checksum present in the sysroot repo. */
  revision: string;
  /** `--karg K=V`: replace K's value, or append (ostree's --karg). */
  karg?: string[];
  /** `--karg-append K=V`. */
  kargAppend?: string[];
  /** `--karg-proc-cmdline`: start from the running kernel's command line (this file; default /proc/cmdline). */
  kargProcCmdline?: boolean | string;
  /** Do not download a `REMOTE:REF` revision; deploy what the sysroot repo has. */
  cacheOnly?: boolean;
  onProgress?: (line: string) => void;
}

/**
 * `ostree admin deploy`: deploy `REMOTE:REF` (downloaded first, unless cacheOnly),
 * a local ref, or a commit of the sysroot repo as the new default, following it.
 */
export async function deploy(o: DeployOptions): Promise<DeployResult> {
  return withSysroot(o, async (s) => {
    const osname = await resolveOsname(s, o.osname);
    // REMOTE:REF is downloaded first when the remote is configured; a ref already in the
    // repo of a remote that is not (an image built offline) is deployed as it is.
    if (!o.cacheOnly && !isChecksum(o.revision) && o.revision.includes(':')) {
      const known = s.repo.config.get(`remote "${parseRefspec(o.revision).remote}"`, 'url') !== undefined;
      phase('pull');
      if (known || (await s.repo.readRef(o.revision)) === null) await downloadUpdate(s.repo, o.revision, { onProgress: o.onProgress, onLockWait: o.onLockWait });
    }
    const { csum, refspec } = await resolveDeployTarget(s, o.revision);
    const merge = mergeDeployment(s, osname);
    let kargs = merge?.kargs ?? '';
    if (o.kargProcCmdline) kargs = kargsFromProcCmdline(typeof o.kargProcCmdline === 'string' ? o.kargProcCmdline : '/proc/cmdline');
    let args = parseKargs(kargs);
    for (const k of o.karg ?? []) {
      const [a] = parseKargs(k);
      if (a === undefined) throw new UpdaterError('CLI_USAGE', `--karg: empty argument`);
      args = setKarg(args, a.key, a.value);
    }
    for (const k of o.kargAppend ?? []) args = [...args, ...parseKargs(k)];
    return deployCommit(s, o, osname, csum, newOrigin(refspec), renderKargs(args), merge, o);
  });
}

export interface UpgradeOptions extends HostOptions {
  /** Deploy what the sysroot repo already has; no download. */
  cacheOnly?: boolean;
  /** Download the update into the sysroot repo, deploy nothing. */
  downloadOnly?: boolean;
  allowDowngrade?: boolean;
  onProgress?: (line: string) => void;
}

/**
 * Where an operation starts from, as rpm-ostree does it: the origin (refspec, kernel
 * arguments) of the pending deployment when there is one, so that changes accumulate
 * before a reboot, else of the merge deployment; /etc always comes from the merge
 * deployment (the booted one), as in ostree.
 */
export function mergeWithOrigin(s: Sysroot, osname: string): { merge: Deployment; base: Deployment; origin: KeyFile; refspec: string } {
  const merge = mergeDeployment(s, osname);
  if (merge === null) throw new UpdaterError('DEPLOY_NOTHING_DEPLOYED', `stateroot ${osname} has no deployment to upgrade`, { hint: 'deploy one first with `atomic host deploy`' });
  const pending = s.booted?.osname === osname ? pendingAndRollback(s, osname).pending : null;
  const base = pending ?? merge;
  const what = `origin of deployment ${base.csum}.${base.deployserial}`;
  if (base.origin === null) throw new UpdaterError('DEPLOY_ORIGIN_INVALID', `${what}: file is missing`, { hint: 'deploy a refspec explicitly to write one' });
  const unconfigured = base.origin.get('origin', 'unconfigured-state');
  if (unconfigured !== undefined) throw new UpdaterError('DEPLOY_UNCONFIGURED', unconfigured);
  return { merge, base, origin: base.origin, refspec: originRefspec(base.origin, what) };
}

/**
 * `atomic host upgrade`: download (unless cache-only) and deploy the origin refspec's
 * newest commit. As rpm-ostree, an `override-commit` left by `deploy REVISION` is
 * dropped: the upgrade goes back to following the refspec.
 */
export async function upgrade(o: UpgradeOptions): Promise<DeployResult & { from: string | null; to: string | null; refspec: string | null }> {
  return withSysroot(o, async (s) => {
    const osname = await resolveOsname(s, o.osname);
    const { merge, base, origin, refspec } = mergeWithOrigin(s, osname);
    o.log?.(`Updating from: ${refspec}`);
    if (!o.cacheOnly) {
      phase('pull');
      await downloadUpdate(s.repo, refspec, { allowDowngrade: o.allowDowngrade, onProgress: o.onProgress, onLockWait: o.onLockWait });
    }
    const target = (await resolveDeployTarget(s, refspec)).csum;
    if (o.downloadOnly) return { changed: false, deployment: null, etc: null, write: null, from: base.csum, to: target, refspec };
    if (target === base.csum && origin.get('origin', 'override-commit') === undefined) {
      // Finish what an interrupted run left (a swap done, its cleanup not).
      if (await needsCleanup(s)) await cleanupSysroot(s.path, { log: o.log, repo: s.repo });
      return { changed: false, deployment: null, etc: null, write: null, from: base.csum, to: target, refspec };
    }
    if (!o.allowDowngrade) {
      const [cur, next] = await Promise.all([s.repo.loadCommit(base.csum), s.repo.loadCommit(target)]);
      if (next.timestamp < cur.timestamp) {
        throw new UpdaterError('DEPLOY_DOWNGRADE', `Upgrade target revision '${target}' with timestamp '${new Date(next.timestamp * 1000).toISOString()}' is chronologically older than current revision '${base.csum}' with timestamp '${new Date(cur.timestamp * 1000).toISOString()}'; use --allow-downgrade to permit`);
      }
    }
    const packages = await packageDiffBetween(s.repo, base.csum, target);
    const res = await deployCommit(s, o, osname, target, deriveUpgradeOrigin(origin), base.kargs, merge, {});
    return { ...res, from: base.csum, to: target, refspec, packages };
  });
}

export interface KargsOptions extends HostOptions, KargsEdits {}

/** `atomic host kargs`: with edits, a new deployment of the same commit with the edited arguments; returns the arguments. */
export async function kargs(o: KargsOptions): Promise<DeployResult & { kargs: string }> {
  return withSysroot(o, async (s) => {
    const osname = await resolveOsname(s, o.osname);
    const merge = mergeDeployment(s, osname);
    if (merge === null) throw new UpdaterError('DEPLOY_NOTHING_DEPLOYED', `stateroot ${osname} has no deployment`);
    const edited = renderKargs(applyKargsEdits(parseKargs(merge.kargs), o));
    const noEdits = [o.append, o.delete, o.replace, o.appendIfMissing, o.deleteIfPresent].every((x) => (x ?? []).length === 0);
    if (noEdits || edited === merge.kargs) return { changed: false, deployment: null, etc: null, write: null, kargs: merge.kargs };
    const origin = merge.origin === null ? newOrigin(merge.csum) : deriveSameTreeOrigin(merge.origin);
    return { ...(await deployCommit(s, o, osname, merge.csum, origin, edited, merge, {})), kargs: edited };
  });
}

/**
 * `atomic host rollback`: when the default is booted (or nothing is), the next deployment
 * of the same stateroot becomes the default; when a non-default one is booted, it does.
 * Only the order changes; one atomic swap.
 */
export async function rollback(o: HostOptions): Promise<{ moved: Deployment; write: WriteResult }> {
  return withSysroot(o, async (s) => {
    const first = s.deployments[0];
    if (first === undefined) throw new UpdaterError('DEPLOY_NO_ROLLBACK', 'No rollback deployment found: nothing is deployed');
    let target: Deployment | undefined;
    if (s.booted !== null && !sameDeployment(s.booted, first)) target = s.booted;
    else {
      const os = s.booted?.osname ?? first.osname;
      target = s.booted !== null ? pendingAndRollback(s).rollback ?? undefined : s.deployments.slice(1).find((d) => d.osname === os);
    }
    if (target === undefined) throw new UpdaterError('DEPLOY_NO_ROLLBACK', 'No rollback deployment found');
    o.log?.(`Moving '${target.csum}.${target.deployserial}' to be first deployment`);
    const list = [target, ...s.deployments.filter((d) => !sameDeployment(d, target))];
    const write = await writeDeployments(s, list, { log: o.log });
    return { moved: target, write };
  });
}

export interface UndeployOptions extends HostOptions {
  /** Remove the pending deployment (-p). */
  pending?: boolean;
  /** Remove the rollback deployment (-r). */
  rollback?: boolean;
}

/**
 * Drops the pending and/or rollback deployment (rpm-ostree cleanup -p / -r): relative to
 * the booted deployment, or without one, the default's successor is the rollback and
 * there is no pending one. Pinned deployments are kept. Returns the removed ones.
 */
export async function removePendingRollback(o: UndeployOptions): Promise<Deployment[]> {
  return withSysroot(o, async (s) => {
    let pending: Deployment | null = null;
    let rb: Deployment | null = null;
    if (s.booted !== null) ({ pending, rollback: rb } = pendingAndRollback(s));
    else if (s.deployments.length > 0) rb = s.deployments.slice(1).find((d) => d.osname === s.deployments[0]!.osname) ?? null;
    const drop = [o.pending ? pending : null, o.rollback ? rb : null].filter((d): d is Deployment => d !== null && !isPinned(d.origin));
    if (drop.length === 0) return [];
    const list = s.deployments.filter((d) => !drop.some((x) => sameDeployment(x, d)));
    await writeDeployments(s, list, { log: o.log });
    return drop;
  });
}

/** `ostree admin pin` / `--unpin`: sets [libostree-transient] pinned in the deployment's origin. */
export async function setPinned(o: HostOptions & { index: number; pinned: boolean }): Promise<Deployment> {
  return withSysroot(o, async (s) => {
    const d = s.deployments[o.index];
    if (d === undefined) throw new UpdaterError('DEPLOY_NO_SUCH_DEPLOYMENT', `no deployment with index ${o.index} (there are ${s.deployments.length})`);
    const kf = d.origin === null ? newOrigin(d.csum) : cloneOrigin(d.origin);
    if (o.pinned) kf.set('libostree-transient', 'pinned', 'true');
    else kf.remove('libostree-transient', 'pinned');
    await writeFileAtomic(originPath(s.path, d), kf.toString());
    return d;
  });
}
