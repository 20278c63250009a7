// The boot configuration of a deployment list (format §9.2): BLS entries as ostree
// 2022.7 writes them, the grub.cfg for the grub2 backend, and the test for whether a
// new list needs a new bootversion (Case A) or only a new symlink farm (Case B).

import { lstatSync, statSync } from 'node:fs';
import { join } from 'node:path';
import {
  blsEntryFileName, blsEntryVersion, bootEntryTitle, parseKargs, renderKargs, setKarg, setOstreeKarg, type BootEntry, type OstreeBootlink,
} from '../bootloader/index.ts';
import { dictGet, type Repo } from '../store/index.ts';
import { bootcsumDirName, findKernel, readOsRelease } from './kernel.ts';
import { deploymentDir, type Deployment } from './sysroot.ts';

/** The `version` metadata of a commit, or null. */
export async function commitVersion(repo: Repo, csum: string): Promise<string | null> {
  const c = await repo.loadCommit(csum);
  const v = dictGet(c.metadata, 'version', 's');
  return typeof v === 'string' ? v : null;
}

/** BOOTSERIAL: the position of each deployment among those sharing its bootcsum, in list order. */
export function assignBootserials(list: Deployment[]): void {
  const seen = new Map<string, number>();
  for (const d of list) {
    const n = seen.get(d.bootcsum) ?? 0;
    d.bootserial = n;
    seen.set(d.bootcsum, n + 1);
  }
}

/** The entry of `list[index]` for bootversion `bootversion` (bootserials already assigned). */
export async function buildEntry(sysroot: string, repo: Repo, list: readonly Deployment[], index: number, bootversion: 0 | 1): Promise<{ name: string; entry: BootEntry }> {
  const d = list[index]!;
  const dir = deploymentDir(sysroot, d);
  const layout = findKernel(dir, `deployment ${d.csum}.${d.deployserial}`);
  const link: OstreeBootlink = { bootversion, osname: d.osname, bootcsum: d.bootcsum, bootserial: d.bootserial };
  let args = setOstreeKarg(parseKargs(d.kargs), link);
  const bootdir = `/${bootcsumDirName(d.osname, d.bootcsum)}`;
  // Without an initramfs the kernel runs ostree-prepare-root as init.
  if (layout.initramfs === null) {
    args = setKarg(args, 'init', `/ostree/boot.${bootversion}/${d.osname}/${d.bootcsum}/${d.bootserial}/usr/lib/ostree/ostree-prepare-root`);
  }
  const multipleStateroots = new Set(list.map((x) => x.osname)).size > 1;
  const entry: BootEntry = {
    title: bootEntryTitle({ osRelease: readOsRelease(dir), version: await commitVersion(repo, d.csum), index, osname: d.osname, multipleStateroots }),
    version: blsEntryVersion(index, list.length),
    options: renderKargs(args),
    linux: `${bootdir}/${layout.kernel.name}`,
  };
  if (layout.devicetree !== null) entry.devicetree = `${bootdir}/${layout.devicetree.name}`;
  if (layout.initramfs !== null) entry.initrd = `${bootdir}/${layout.initramfs.name}`;
  return { name: blsEntryFileName(index, list.length, d.osname), entry };
}

/**
 * ostree's test for a new bootversion: the number of deployments changed, or at some
 * position the bootcsum, the kernel arguments or the commit version differ.
 */
export async function requiresNewBootversion(repo: Repo, current: readonly Deployment[], next: readonly Deployment[]): Promise<boolean> {
  if (current.length !== next.length) return true;
  for (let i = 0; i < next.length; i++) {
    const a = current[i]!;
    const b = next[i]!;
    if (a.bootcsum !== b.bootcsum || a.kargs !== b.kargs || a.osname !== b.osname) return true;
    if ((await commitVersion(repo, a.csum)) !== (await commitVersion(repo, b.csum))) return true;
  }
  return false;
}

/** True when SYSROOT/boot is a separate filesystem (BLS paths are then relative to it as they are). */
export function bootIsSeparate(sysroot: string): boolean {
  return lstatSync(join(sysroot, 'boot')).dev !== statSync(sysroot).dev;
}
