// Everything a deploy checks before its first write, from the repo alone (no checkout):
// the commit is complete and bootable (kernel, os-release, not both /etc and /usr/etc),
// the /etc merge plan has no conflict, and the sysroot and /boot have room. A failure
// here leaves the sysroot exactly as it was.

import { existsSync, lstatSync } from 'node:fs';
import { join } from 'node:path';
import { UpdaterError } from '../common/errors.ts';
import type { Repo } from '../store/index.ts';
import { CommitTree } from './commit-tree.ts';
import { applyEtcDiff, diffEtc, etcMergeError, modelTarget, type EtcDiff } from './etc-merge.ts';
import { bootcsumDirName, findKernelIn, parseOsRelease, type KernelLayout } from './kernel.ts';
import { blocks, bootIsOtherFs, checkSpace, fsSpace, repoReserve, type SpaceNeed } from './space.ts';
import { deploymentDir, type Deployment, type Sysroot } from './sysroot.ts';

export interface Preflight {
  /** Kernel layout with paths relative to the deployment root. */
  kernel: KernelLayout;
  bootcsum: string;
  /** The /etc changes that will be carried over (null: no merge). */
  etc: EtcDiff | null;
  need: SpaceNeed;
}

export interface PreflightOptions {
  osname: string;
  csum: string;
  merge: Deployment | null;
  /** Deployments in the new list (for the size of the new boot entries). */
  entries: number;
  log?: (line: string) => void;
}

/** Checks the commit is present in full and has a kernel; returns its tree and boot files. */
async function checkBootable(repo: Repo, csum: string): Promise<{ tree: CommitTree; kernel: KernelLayout; bootcsum: string }> {
  if (await repo.isCommitPartial(csum)) {
    throw new UpdaterError('DEPLOY_COMMIT_PARTIAL', `commit ${csum} is only partially present in ${repo.path}`, { hint: 'pull it again' });
  }
  const tree = await CommitTree.open(repo, csum);
  const [usrEtc, etc] = await Promise.all([tree.dir('usr/etc'), tree.dir('etc')]);
  if (usrEtc !== null && etc !== null) {
    throw new UpdaterError('DEPLOY_TREE_INVALID', `commit ${csum} has both /etc and /usr/etc`, { hint: 'default configuration belongs in /usr/etc only' });
  }
  await tree.preload('usr/lib/modules', 1);
  await tree.preload('usr/lib/ostree-boot');
  await tree.preload('boot');
  const kernel = findKernelIn(tree.view(), `commit ${csum}`);
  const bootcsum = kernel.bootcsum ?? (await tree.hashFiles([kernel.kernel, kernel.initramfs, kernel.devicetree].flatMap((f) => (f === null ? [] : [f.src]))));
  // os-release, where readOsRelease looks for it.
  let osRelease: Record<string, string> = {};
  for (const p of ['usr/lib/os-release', 'etc/os-release', 'usr/etc/os-release']) {
    const slash = p.lastIndexOf('/');
    await tree.dir(p.slice(0, slash));
    const f = tree.file(p);
    if (f === null) continue;
    osRelease = parseOsRelease((await repo.readContentData(repo.readContentInfoSync(f.checksum))).toString('utf8'));
    break;
  }
  if (osRelease['PRETTY_NAME'] === undefined && osRelease['ID'] === undefined) {
    throw new UpdaterError('BOOT_OS_RELEASE_INVALID', `commit ${csum} has no usr/lib/os-release with PRETTY_NAME or ID`);
  }
  return { tree, kernel, bootcsum };
}

/**
 * Plans the /etc merge on a model of the new /etc (the commit's /usr/etc): every
 * conflict is reported, with the message the merge itself would give, in one error.
 */
async function planEtc(tree: CommitTree, mergeDir: string | null, blockSize: number, log?: (line: string) => void): Promise<{ diff: EtcDiff | null; bytes: number; inodes: number }> {
  const base = (await tree.dir('usr/etc')) !== null ? 'usr/etc' : (await tree.dir('etc')) !== null ? 'etc' : null;
  if (base === null) return { diff: null, bytes: 0, inodes: 0 };
  const types = new Map<string, 'dir' | 'other'>();
  let bytes = 0;
  let inodes = 0;
  await tree.walk(base, (rel) => {
    inodes++;
    bytes += blockSize;
    if (rel !== base) types.set(rel.slice(base.length + 1), 'dir');
  }, (rel) => {
    inodes++;
    types.set(rel.slice(base.length + 1), 'other');
    const f = tree.file(rel);
    if (f !== null && f.regular) bytes += blocks(f.size, blockSize);
  });
  if (mergeDir === null) return { diff: null, bytes, inodes };
  const o = join(mergeDir, 'usr/etc');
  const m = join(mergeDir, 'etc');
  if (!existsSync(o) || !existsSync(m)) return { diff: null, bytes, inodes };
  const diff = diffEtc(o, m);
  const conflicts: UpdaterError[] = [];
  try {
    applyEtcDiff(diff, m, modelTarget(types, log), log, (err) => conflicts.push(err));
  } catch (err) {
    throw etcMergeError(err);
  }
  if (conflicts.length > 0) {
    const first = conflicts[0]!;
    throw new UpdaterError(first.code, `during /etc merge: ${conflicts.map((c) => c.message).join('; ')}`, { hint: first.hint, cause: first });
  }
  // Changed files are copied from the current /etc.
  for (const rel of [...diff.modified, ...diff.added]) {
    const st = lstatSync(join(m, rel));
    inodes++;
    bytes += st.isFile() ? blocks(st.size, blockSize) : st.isDirectory() ? blockSize : 0;
  }
  return { diff, bytes, inodes };
}

/** Size of the checkout outside /etc: directories (hardlinked files cost nothing), or everything when the repo mode copies. */
async function measureCheckout(tree: CommitTree, blockSize: number): Promise<{ bytes: number; inodes: number }> {
  const copies = !(tree.repo.mode === 'bare' || tree.repo.mode === 'bare-user-only');
  let bytes = 0;
  let inodes = 0;
  await tree.walk('', () => {
    inodes++;
    bytes += blockSize;
  }, (rel) => {
    if (!copies) return;
    inodes++;
    const f = tree.file(rel);
    if (f !== null && f.regular) bytes += blocks(f.size, blockSize);
  });
  return { bytes, inodes };
}

/** What the kernel install adds to /boot: nothing when the bootcsum directory is complete, or when it hardlinks. */
function measureBoot(s: Sysroot, osname: string, tree: CommitTree, kernel: KernelLayout, bootcsum: string, otherFs: boolean, blockSize: number, entries: number): { bytes: number; inodes: number } {
  let bytes = (entries + 2) * blockSize; // loader.N, entries/, one file per entry
  let inodes = entries + 2;
  const dir = join(s.path, 'boot', bootcsumDirName(osname, bootcsum));
  for (const f of [kernel.kernel, kernel.initramfs, kernel.devicetree, kernel.hmac]) {
    if (f === null || existsSync(join(dir, f.name))) continue;
    inodes++;
    if (otherFs) bytes += blocks(tree.file(f.src)?.size ?? 0, blockSize);
  }
  return { bytes, inodes };
}

/** Runs every check; throws the first failure (all /etc conflicts at once). */
export async function preflightDeployment(s: Sysroot, o: PreflightOptions): Promise<Preflight> {
  const { tree, kernel, bootcsum } = await checkBootable(s.repo, o.csum);
  const sys = await fsSpace(s.repo.path);
  const otherFs = await bootIsOtherFs(s.path, s.repo.path);
  const boot = otherFs ? await fsSpace(join(s.path, 'boot')) : null;
  const mergeDir = o.merge === null ? null : deploymentDir(s.path, o.merge);
  const etc = await planEtc(tree, mergeDir, sys.blockSize, o.log);
  const checkout = await measureCheckout(tree, sys.blockSize);
  const bootNeed = measureBoot(s, o.osname, tree, kernel, bootcsum, otherFs, (boot ?? sys).blockSize, o.entries);
  const need: SpaceNeed = {
    sysrootBytes: checkout.bytes + etc.bytes + sys.blockSize, // + the .origin file
    sysrootInodes: checkout.inodes + etc.inodes + 1,
    bootBytes: bootNeed.bytes,
    bootInodes: bootNeed.inodes,
  };
  checkSpace(need, sys, boot, await repoReserve(s.repo), `the new deployment of ${o.csum}`);
  return { kernel, bootcsum, etc: etc.diff, need };
}
