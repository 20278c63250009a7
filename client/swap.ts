// Writing a new deployment list (format §9.4, ostree's write_deployments): every new
// file goes under names the live /boot/loader does not reference (loader.NEW,
// ostree/boot.NEW.S', content-named kernel dirs), everything is flushed, then one
// rename is the commit point. A crash before it boots the old set, after it the new.

import { randomBytes } from 'node:crypto';
import { existsSync } from 'node:fs';
import { mkdir, open, readFile, rename, rm, symlink, unlink, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { UpdaterError } from '../common/errors.ts';
import { fsyncDir, writeFileAtomic } from '../common/fs-atomic.ts';
import {
  armBootCounting, bootCountingEntryId, GRUBENV_SIZE, parseGrubEnv, renderBlsEntry, renderGrubConfig, renderGrubEnv, renderGrubStub, type BootEntry,
} from '../bootloader/index.ts';
import { assignBootserials, bootIsSeparate, buildEntry, requiresNewBootversion } from './bootconfig.ts';
import { cleanupSysroot, writeDeploymentRefs, type CleanupResult } from './cleanup.ts';
import { crashPoint, phase } from './crash.ts';
import { flushForSwap } from './flush.ts';
import { findKernel, installKernel } from './kernel.ts';
import { deploymentDir, getBootloader, readSubbootversion, type Deployment, type Sysroot } from './sysroot.ts';

export interface WriteOptions {
  /** Arm GRUB boot counting for the new default (grub2 backend, two or more entries). */
  armBootCounting?: boolean;
  /** Skip the cleanup after the swap (ostree's --no-clean / NO_CLEAN). */
  noCleanup?: boolean;
  log?: (line: string) => void;
}

export interface WriteResult {
  /** Case A: a new /boot/loader.N was written and swapped in. */
  bootconfigSwap: boolean;
  bootversion: 0 | 1;
  subbootversion: 0 | 1;
  /** /boot was frozen and thawed (false: the filesystem or the caller could not, syncfs was used). */
  froze: boolean;
  countChange: number;
  cleanup: CleanupResult | null;
}

/** Replaces the symlink `path` atomically: a temporary link beside it, renamed over it. */
export async function replaceSymlink(target: string, path: string): Promise<void> {
  const tmp = `${path}.tmp-${randomBytes(6).toString('hex')}`;
  await symlink(target, tmp);
  try {
    await rename(tmp, path);
  } catch (err) {
    await unlink(tmp).catch(() => {});
    throw err;
  }
}

/** The OSTREE/boot.B.S farm: OS/BOOTCSUM/BOOTSERIAL -> ../../../deploy/OS/deploy/CSUM.SERIAL. */
async function createBootlinks(sysroot: string, bootversion: 0 | 1, subbootversion: 0 | 1, list: readonly Deployment[]): Promise<void> {
  const farm = join(sysroot, 'ostree', `boot.${bootversion}.${subbootversion}`);
  await rm(farm, { recursive: true, force: true });
  await mkdir(farm, { mode: 0o755 });
  for (const d of list) {
    const parent = join(farm, d.osname, d.bootcsum);
    await mkdir(parent, { recursive: true, mode: 0o755 });
    await symlink(`../../../deploy/${d.osname}/deploy/${d.csum}.${d.deployserial}`, join(parent, String(d.bootserial)));
  }
}

/** Arms boot counting in /boot/grub/grubenv: rewritten in place as GRUB's save_env does, or created by rename. */
async function armGrubenv(sysroot: string, entry0: BootEntry): Promise<void> {
  const id = bootCountingEntryId(entry0);
  if (id === null) return;
  const path = join(sysroot, 'boot/grub/grubenv');
  const existing = await readFile(path).catch(() => null);
  if (existing === null) {
    await mkdir(join(sysroot, 'boot/grub'), { recursive: true });
    await writeFileAtomic(path, renderGrubEnv(armBootCounting({}, id), GRUBENV_SIZE));
    return;
  }
  await writeGrubenvInPlace(path, renderGrubEnv(armBootCounting(parseGrubEnv(existing, path), id), existing.length));
}

/** Same inode, same size, then fdatasync: what GRUB's block-list writes can follow. */
export async function writeGrubenvInPlace(path: string, bytes: Uint8Array): Promise<void> {
  const fh = await open(path, 'r+');
  try {
    await fh.write(bytes, 0, bytes.length, 0);
    await fh.datasync();
  } finally {
    await fh.close();
  }
}

/** The static /boot/grub/grub.cfg that loads loader/grub.cfg; written once, when missing. */
export async function ensureGrubStub(sysroot: string): Promise<void> {
  const path = join(sysroot, 'boot/grub/grub.cfg');
  if (existsSync(path)) return;
  await mkdir(join(sysroot, 'boot/grub'), { recursive: true });
  await writeFileAtomic(path, renderGrubStub({ bootIsSeparate: bootIsSeparate(sysroot) }));
}

/**
 * Makes `list` the deployment list of the sysroot: Case A (new loader.N + swap of
 * /boot/loader) when the boot configuration changes, else Case B (new boot.B.S' farm
 * + swap of ostree/boot.B). Then cleans up unless noCleanup.
 */
export async function writeDeployments(s: Sysroot, list: Deployment[], opts: WriteOptions = {}): Promise<WriteResult> {
  if (list.length === 0) throw new UpdaterError('DEPLOY_EMPTY', 'refusing to write an empty deployment list: nothing would boot');
  assignBootserials(list);
  const countChange = list.length - s.deployments.length;
  const caseA = !s.hasLoader || (await requiresNewBootversion(s.repo, s.deployments, list));
  let bootversion: 0 | 1;
  let subbootversion: 0 | 1;
  let froze: boolean;
  if (caseA) {
    bootversion = s.bootversion === 0 ? 1 : 0;
    subbootversion = readSubbootversion(s.path, bootversion) === 0 ? 1 : 0;
    froze = await writeCaseA(s, list, bootversion, subbootversion, opts);
  } else {
    bootversion = s.bootversion;
    subbootversion = s.subbootversion === 0 ? 1 : 0;
    phase('swap');
    await createBootlinks(s.path, bootversion, subbootversion, list);
    crashPoint('after-bootlinks');
    await writeDeploymentRefs(s, bootversion, subbootversion, list);
    froze = (await flushForSwap(s.path)).froze;
    crashPoint('before-swap');
    await replaceSymlink(`boot.${bootversion}.${subbootversion}`, join(s.path, 'ostree', `boot.${bootversion}`));
    await fsyncDir(join(s.path, 'ostree'));
    crashPoint('after-swap');
  }
  opts.log?.(`Bootloader updated; bootconfig swap: ${caseA ? 'yes' : 'no'}; bootversion: boot.${bootversion}.${subbootversion}, deployment count change: ${countChange}`);
  let cleanup: CleanupResult | null = null;
  if (!opts.noCleanup) {
    crashPoint('before-cleanup');
    cleanup = await cleanupSysroot(s.path, { log: opts.log, repo: s.repo });
  }
  return { bootconfigSwap: caseA, bootversion, subbootversion, froze, countChange, cleanup };
}

async function writeCaseA(s: Sysroot, list: Deployment[], newB: 0 | 1, newS: 0 | 1, opts: WriteOptions): Promise<boolean> {
  const boot = join(s.path, 'boot');
  const loaderDir = join(boot, `loader.${newB}`);
  // 1. A fresh loader.NEW: whatever an interrupted run left there is not referenced.
  await rm(loaderDir, { recursive: true, force: true });
  await mkdir(join(loaderDir, 'entries'), { recursive: true, mode: 0o755 });
  // 2. Kernels (content-named, never rewritten) and entries (synced all at once below).
  const entries: BootEntry[] = [];
  phase('kernel-install');
  for (let i = 0; i < list.length; i++) {
    const d = list[i]!;
    await installKernel(s.path, d.osname, d.bootcsum, findKernel(deploymentDir(s.path, d), `deployment ${d.csum}.${d.deployserial}`));
  }
  crashPoint('after-kernel-install');
  phase('swap');
  for (let i = 0; i < list.length; i++) {
    const { name, entry } = await buildEntry(s.path, s.repo, list, i, newB);
    await writeFile(join(loaderDir, 'entries', name), renderBlsEntry(entry, name), { mode: 0o644 });
    entries.push(entry);
  }
  crashPoint('after-loader-entries');
  // 3. The symlink farm for the new bootversion, then ostree/boot.NEW -> boot.NEW.S'.
  await createBootlinks(s.path, newB, newS, list);
  await replaceSymlink(`boot.${newB}.${newS}`, join(s.path, 'ostree', `boot.${newB}`));
  crashPoint('after-bootlinks');
  // 4. The bootloader backend: grub.cfg lives inside loader.NEW, so the swap switches it too.
  if (getBootloader(s.repo) === 'grub2') {
    await ensureGrubStub(s.path);
    await writeFile(join(loaderDir, 'grub.cfg'), renderGrubConfig(entries, { bootIsSeparate: bootIsSeparate(s.path) }), { mode: 0o644 });
    // Armed before the swap so the flush below makes it durable with the new menu.
    if (opts.armBootCounting && entries.length >= 2) await armGrubenv(s.path, entries[0]!);
  }
  await writeDeploymentRefs(s, newB, newS, list);
  // 5. boot/boot -> . and boot/loader.tmp -> loader.NEW.
  if (!existsSync(join(boot, 'boot'))) await symlink('.', join(boot, 'boot')).catch(() => {});
  const tmp = join(boot, 'loader.tmp');
  await rm(tmp, { force: true });
  await symlink(`loader.${newB}`, tmp);
  // 6. Flush: syncfs(sysroot), FIFREEZE/FITHAW of /boot, sync().
  const { froze } = await flushForSwap(s.path);
  crashPoint('before-swap');
  // 7. The commit point.
  await rename(tmp, join(boot, 'loader'));
  await fsyncDir(boot);
  // 8. Flush /boot again before anything the old configuration names is deleted:
  // fsync puts the rename in /boot's journal, but GRUB reads the filesystem without
  // replaying it, so until a checkpoint it still follows the old loader symlink. A
  // power cut then (cleanup having removed the old boot links on the root fs, which
  // Linux does replay) left GRUB's old menu pointing at nothing (found by the VM
  // power-cut test and its write-log replay).
  await flushForSwap(s.path);
  crashPoint('after-swap');
  return froze;
}
