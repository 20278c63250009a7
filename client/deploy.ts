// Preparing a new deployment (format §9.1, ostree's deploy_tree): a hardlink checkout
// of the commit into ostree/deploy/OS/deploy/CSUM.SERIAL, /etc as a copy of usr/etc
// merged with the merge deployment's changes, the `.origin`, then chattr +i. Nothing
// references it until write-deployments swaps the boot configuration.

import { existsSync } from 'node:fs';
import { rename, rm } from 'node:fs/promises';
import { join } from 'node:path';
import { UpdaterError } from '../common/errors.ts';
import { writeFileAtomic } from '../common/fs-atomic.ts';
import { checkoutCommit, resolvePath, type KeyFile, type Repo } from '../store/index.ts';
import { crashPoint, phase } from './crash.ts';
import { copyDirRecurse, mergeEtc, type EtcDiff } from './etc-merge.ts';
import { computeBootcsum, findKernel, readOsRelease } from './kernel.ts';
import { setImmutable } from './sys.ts';
import type { Preflight } from './preflight.ts';
import { deploymentDir, originPath, type Deployment, type Sysroot } from './sysroot.ts';

export interface PrepareOptions {
  osname: string;
  /** Commit to deploy (a checksum present in the sysroot repo). */
  csum: string;
  origin: KeyFile;
  /** Source of /etc changes (null: take the new defaults as they are). */
  merge: Deployment | null;
  /** Kernel arguments without ostree=. */
  kargs: string;
  /** The checks already run on the repo (preflightDeployment): its bootcsum is reused. */
  preflight?: Preflight;
  log?: (line: string) => void;
}

export interface PreparedDeployment {
  deployment: Deployment;
  /** The /etc changes carried over; null without a merge deployment. */
  etc: EtcDiff | null;
}

async function pathKind(repo: Repo, csum: string, path: string): Promise<'dir' | 'file' | null> {
  try {
    const r = await resolvePath(repo, await repo.loadCommit(csum), path);
    return 'file' in r ? 'file' : 'dir';
  } catch (err) {
    if (err instanceof UpdaterError && err.code === 'STORE_PATH_NOT_FOUND') return null;
    throw err;
  }
}

/** Checks what can be checked on the commit before anything is written. */
export async function checkCommitDeployable(repo: Repo, csum: string): Promise<void> {
  if (await repo.isCommitPartial(csum)) {
    throw new UpdaterError('DEPLOY_COMMIT_PARTIAL', `commit ${csum} is only partially present in ${repo.path}`, { hint: 'pull it again' });
  }
  await repo.loadCommit(csum);
  const [usrEtc, etc] = await Promise.all([pathKind(repo, csum, 'usr/etc'), pathKind(repo, csum, 'etc')]);
  if (usrEtc !== null && etc !== null) {
    throw new UpdaterError('DEPLOY_TREE_INVALID', `commit ${csum} has both /etc and /usr/etc`, { hint: 'default configuration belongs in /usr/etc only' });
  }
}

/** Removes a deployment directory (clearing the immutable flag first) and its origin. */
export async function removeDeploymentDir(dir: string): Promise<void> {
  if (existsSync(dir)) setImmutable(dir, false);
  await rm(dir, { recursive: true, force: true });
  await rm(`${dir}.origin`, { force: true });
}

/** Next deployserial: 1 + the highest serial of the same commit in the same stateroot. */
export function allocateDeployserial(s: Sysroot, osname: string, csum: string): number {
  let serial = 0;
  for (const d of s.deployments) if (d.osname === osname && d.csum === csum) serial = Math.max(serial, d.deployserial + 1);
  return serial;
}

/** Checks out, merges /etc, writes the origin; on failure the partial directory is removed. */
export async function prepareDeployment(s: Sysroot, opts: PrepareOptions): Promise<PreparedDeployment> {
  if (opts.preflight === undefined) await checkCommitDeployable(s.repo, opts.csum);
  const deployserial = allocateDeployserial(s, opts.osname, opts.csum);
  const ref = { osname: opts.osname, csum: opts.csum, deployserial };
  const dir = deploymentDir(s.path, ref);
  // A directory left by an interrupted deploy is unreferenced garbage: start over.
  await removeDeploymentDir(dir);
  try {
    await checkoutCommit(s.repo, opts.csum, dir);
    crashPoint('after-checkout');
    const layout = findKernel(dir, `commit ${opts.csum}`);
    const bootcsum = opts.preflight?.bootcsum ?? (await computeBootcsum(layout));
    const osRelease = readOsRelease(dir);
    if (osRelease['PRETTY_NAME'] === undefined && osRelease['ID'] === undefined) {
      throw new UpdaterError('BOOT_OS_RELEASE_INVALID', `commit ${opts.csum} has no usr/lib/os-release with PRETTY_NAME or ID`);
    }
    phase('etc-merge');
    const etc = await prepareEtc(s, dir, opts);
    crashPoint('after-etc-merge');
    await rm(join(dir, 'etc/.updated'), { force: true });
    await rm(join(s.path, 'ostree/deploy', opts.osname, 'var/.updated'), { force: true });
    // Not fsynced on its own: nothing refers to the deployment until the bootloader swap,
    // whose syncfs makes the whole checkout durable first (a separate fsync here forced an
    // early journal commit of the whole checkout, ~0.1 s on the 1 GB bench tree).
    await writeFileAtomic(originPath(s.path, ref), opts.origin.toString(), { sync: false });
    setImmutable(dir, true);
    crashPoint('after-origin');
    const deployment: Deployment = { ...ref, bootcsum, bootserial: 0, kargs: opts.kargs, entry: null, origin: opts.origin };
    return { deployment, etc };
  } catch (err) {
    await removeDeploymentDir(dir).catch(() => {});
    throw err;
  }
}

async function prepareEtc(s: Sysroot, dir: string, opts: PrepareOptions): Promise<EtcDiff | null> {
  const usrEtc = join(dir, 'usr/etc');
  const etc = join(dir, 'etc');
  // A tree with /etc but no /usr/etc is accepted: /etc becomes the defaults.
  if (!existsSync(usrEtc) && existsSync(etc)) await rename(etc, usrEtc);
  if (!existsSync(usrEtc)) return null;
  copyDirRecurse(usrEtc, etc, opts.log);
  if (opts.merge === null) return null;
  const mergeDir = deploymentDir(s.path, opts.merge);
  const o = join(mergeDir, 'usr/etc');
  const m = join(mergeDir, 'etc');
  if (!existsSync(o) || !existsSync(m)) return null;
  return mergeEtc(o, m, etc, opts.log);
}
