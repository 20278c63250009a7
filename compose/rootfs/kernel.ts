// Kernel and initramfs (rpm-ostree src/libpriv/rpmostree-kernel.cxx, rpmostree-postprocess.cxx):
// /boot is cleared of kernel-install and loader leftovers and moved to /usr/lib/ostree-boot,
// the one kernel is found, RPM-built initramfs images are dropped, depmod runs, an
// initramfs is generated in the sandbox (the tree's dracut, or the tree's own generator at
// /usr/lib/atomic/mkinitramfs), and vmlinuz + initramfs.img end up in /usr/lib/modules/$KVER.

import { createHash } from 'node:crypto';
import { chmodSync, copyFileSync, linkSync, mkdirSync, readdirSync, readFileSync, renameSync, rmdirSync, rmSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { prefixError, UpdaterError } from '../../common/errors.ts';
import { variant, type VarDict } from '../../store/gvariant/index.ts';
import { resolveInRoot, runSandboxed } from '../sandbox/index.ts';
import type { BootLocation } from '../treefile/index.ts';
import { lstatOrNull } from '../../common/fs.ts';

export const OSTREE_BOOT = 'usr/lib/ostree-boot';
export const MODULES = 'usr/lib/modules';
/** The tree's own initramfs generator, used when the tree has no dracut: `mkinitramfs KVER OUTPUT [ARGS...]`. */
export const INITRAMFS_GENERATOR = '/usr/lib/atomic/mkinitramfs';
export const DRACUT = '/usr/bin/dracut';

export interface FoundKernel {
  kver: string;
  /** Tree-relative path of the kernel image. */
  kernel: string;
  /** Tree-relative path of an existing initramfs, if any. */
  initramfs: string | null;
}

/**
 * Finds the tree's single kernel: /usr/lib/modules/$KVER/vmlinuz, else vmlinuz-$KVER in
 * /usr/lib/ostree-boot or /boot. Null when there is none; several is ROOTFS_KERNEL.
 */
export function findKernel(rootfs: string): FoundKernel | null {
  const modDir = join(rootfs, MODULES);
  const inModules = lstatOrNull(modDir)?.isDirectory()
    ? readdirSync(modDir).filter((k) => lstatOrNull(join(modDir, k, 'vmlinuz'))?.isFile()).sort()
    : [];
  if (inModules.length > 1) throw new UpdaterError('ROOTFS_KERNEL', `several kernels in /${MODULES}: ${inModules.join(', ')}`, { hint: 'a tree carries exactly one kernel' });
  if (inModules.length === 1) {
    const kver = inModules[0]!;
    const initramfs = `${MODULES}/${kver}/initramfs.img`;
    return { kver, kernel: `${MODULES}/${kver}/vmlinuz`, initramfs: lstatOrNull(join(rootfs, initramfs)) ? initramfs : null };
  }
  for (const dir of [OSTREE_BOOT, 'boot']) {
    if (!lstatOrNull(join(rootfs, dir))?.isDirectory()) continue;
    const kernels = readdirSync(join(rootfs, dir)).filter((n) => n.startsWith('vmlinuz-') && !n.includes('-rescue-') && lstatOrNull(join(rootfs, dir, n))?.isFile()).sort();
    if (kernels.length > 1) throw new UpdaterError('ROOTFS_KERNEL', `several kernels in /${dir}: ${kernels.join(', ')}`);
    if (kernels.length === 1) {
      const kver = kernels[0]!.slice('vmlinuz-'.length);
      const initramfs = readdirSync(join(rootfs, dir)).find((n) => n === `initramfs-${kver}.img` || n.startsWith(`initramfs-${kver}.img-`));
      return { kver, kernel: `${dir}/${kernels[0]}`, initramfs: initramfs ? `${dir}/${initramfs}` : null };
    }
  }
  return null;
}

/** Moves `src`'s entries into `dest` (created), replacing same-named files. */
function moveInto(src: string, dest: string): void {
  mkdirSync(dest, { recursive: true, mode: 0o755 });
  for (const name of readdirSync(src)) {
    const s = join(src, name);
    const d = join(dest, name);
    if (lstatOrNull(s)!.isDirectory() && lstatOrNull(d)?.isDirectory()) moveInto(s, d);
    else {
      rmSync(d, { recursive: true, force: true });
      renameSync(s, d);
    }
  }
  rmdirSync(src);
}

/**
 * Step 1: removes /boot/<machine-id>/ (kernel-install's) and the loader directories, then
 * moves what is left of /boot into /usr/lib/ostree-boot and leaves /boot empty.
 */
export function moveBootToUsr(rootfs: string): void {
  const boot = join(rootfs, 'boot');
  if (lstatOrNull(boot)?.isDirectory()) {
    for (const name of readdirSync(boot)) {
      if (/^[0-9a-f]{32}$/.test(name) || /^loader(\.\d+)?$/.test(name)) rmSync(join(boot, name), { recursive: true, force: true });
    }
    if (readdirSync(boot).length > 0) moveInto(boot, join(rootfs, OSTREE_BOOT));
    else rmdirSync(boot);
  } else {
    rmSync(boot, { force: true });
  }
  mkdirSync(boot, { mode: 0o755 });
}

export interface KernelOptions {
  bootLocation: BootLocation;
  /** `no-initramfs`. */
  noInitramfs?: boolean;
  /** `initramfs-args`; dracut gets `--no-hostonly` when unset or empty. */
  initramfsArgs?: string[];
  timeoutMs?: number;
  onOutput?: (line: string) => void;
  onStep?: (message: string) => void;
}

export interface KernelResult {
  kver: string;
  /** SHA-256 of the kernel followed by the initramfs. */
  bootcsum: string;
  /** `dracut`, `mkinitramfs`, or null with `no-initramfs`. */
  generator: 'dracut' | 'mkinitramfs' | null;
  /** ostree.bootable and ostree.linux, for the commit. */
  metadata: VarDict;
}

/** The generator the tree provides, as rpm-ostree would pick it. */
export function initramfsGenerator(rootfs: string): 'dracut' | 'mkinitramfs' | null {
  if (resolveInRoot(rootfs, DRACUT) !== null) return 'dracut';
  if (resolveInRoot(rootfs, INITRAMFS_GENERATOR) !== null) return 'mkinitramfs';
  return null;
}

async function generateInitramfs(rootfs: string, kver: string, generator: 'dracut' | 'mkinitramfs', opts: KernelOptions): Promise<string> {
  const out = await mkdtemp(join(tmpdir(), 'atomic-initramfs-'));
  const dest = '/run/atomic-initramfs';
  const img = `${dest}/initramfs.img`;
  let argv: string[];
  if (generator === 'dracut') {
    const args = opts.initramfsArgs && opts.initramfsArgs.length > 0 ? opts.initramfsArgs : ['--no-hostonly'];
    // dracut is a shell script: whether it knows --reproducible (dracut 045+) shows in its text.
    const dracutText = readFileSync(join(rootfs, resolveInRoot(rootfs, DRACUT)!), 'latin1');
    argv = ['dracut', ...(dracutText.includes('reproducible') ? ['--reproducible'] : []), '-v', '--add', 'ostree', '--tmpdir=/tmp', '-f', img, ...args, '--kver', kver];
  } else {
    argv = [INITRAMFS_GENERATOR, kver, img, ...(opts.initramfsArgs ?? [])];
  }
  try {
    await runSandboxed(rootfs, {
      argv, label: generator, mutability: 'immutable', var: 'ro', ostreeBooted: false,
      binds: [{ src: out, dest, rw: true }], timeoutMs: opts.timeoutMs, onOutput: opts.onOutput,
    });
    const result = join(out, 'initramfs.img');
    if (!lstatOrNull(result)?.isFile()) {
      throw new UpdaterError('ROOTFS_INITRAMFS', `${generator} exited successfully but wrote no ${img}`);
    }
    return result;
  } catch (err) {
    await rm(out, { recursive: true, force: true });
    throw prefixError(`Generating the initramfs for ${kver}`, err);
  }
}

function sha256Files(paths: string[]): string {
  const h = createHash('sha256');
  for (const p of paths) h.update(readFileSync(p));
  return h.digest('hex');
}

/**
 * Kernel and initramfs processing on the assembled tree (§2.7), in rpm-ostree's order:
 * /boot → /usr/lib/ostree-boot, find the kernel, move it to /usr/lib/modules/$KVER/vmlinuz,
 * drop RPM-built initramfs images, depmod (when the tree has it), generate the initramfs
 * (unless `no-initramfs`), place it as initramfs.img (0644), compute the bootcsum, copy
 * both to /usr/lib/ostree-boot with the bootcsum for `boot-location: new` (removed for
 * `modules`), and leave /boot an empty directory. Null when the tree has no kernel.
 */
export async function processKernel(rootfs: string, opts: KernelOptions): Promise<KernelResult | null> {
  moveBootToUsr(rootfs);
  const found = findKernel(rootfs);
  if (found === null) return null;
  const { kver } = found;
  opts.onStep?.('Preparing kernel');
  const modDir = join(rootfs, MODULES, kver);
  mkdirSync(modDir, { recursive: true, mode: 0o755 });
  const vmlinuz = join(modDir, 'vmlinuz');
  if (found.kernel !== `${MODULES}/${kver}/vmlinuz`) renameSync(join(rootfs, found.kernel), vmlinuz);
  // Initramfs images that came with packages (or a previous run) are rebuilt, never reused.
  rmSync(join(modDir, 'initramfs.img'), { force: true });
  const bootDir = join(rootfs, OSTREE_BOOT);
  if (lstatOrNull(bootDir)?.isDirectory()) {
    for (const n of readdirSync(bootDir)) {
      if (n.startsWith(`initramfs-${kver}.img`) || n.startsWith(`vmlinuz-${kver}`)) rmSync(join(bootDir, n), { force: true });
    }
  }
  if (resolveInRoot(rootfs, '/usr/sbin/depmod') !== null) {
    opts.onStep?.(`Running depmod for ${kver}`);
    await runSandboxed(rootfs, { argv: ['depmod', '-a', kver], label: 'depmod', mutability: 'mutable', var: 'ro', ostreeBooted: false, timeoutMs: opts.timeoutMs, onOutput: opts.onOutput });
  }

  let generator: KernelResult['generator'] = null;
  const initramfs = join(modDir, 'initramfs.img');
  if (!opts.noInitramfs) {
    generator = initramfsGenerator(rootfs);
    if (generator === null) {
      throw new UpdaterError('ROOTFS_INITRAMFS', `the tree has a kernel (${kver}) but neither ${DRACUT} nor ${INITRAMFS_GENERATOR} to build its initramfs`, {
        hint: `install dracut, ship an executable ${INITRAMFS_GENERATOR} (called as: mkinitramfs KVER OUTPUT [initramfs-args...]), or set no-initramfs: true`,
      });
    }
    opts.onStep?.(`Generating initramfs with ${generator}`);
    const built = await generateInitramfs(rootfs, kver, generator, opts);
    try {
      copyFileSync(built, initramfs);
    } finally {
      await rm(join(built, '..'), { recursive: true, force: true });
    }
    // Built on the compose server from public content: no secrets, world-readable.
    chmodSync(initramfs, 0o644);
  }
  const bootcsum = sha256Files(generator === null ? [vmlinuz] : [vmlinuz, initramfs]);

  if (opts.bootLocation === 'new') {
    mkdirSync(bootDir, { recursive: true, mode: 0o755 });
    linkSync(vmlinuz, join(bootDir, `vmlinuz-${kver}-${bootcsum}`));
    if (generator !== null) linkSync(initramfs, join(bootDir, `initramfs-${kver}.img-${bootcsum}`));
  } else if (lstatOrNull(bootDir)?.isDirectory() && readdirSync(bootDir).length === 0) {
    rmdirSync(bootDir);
  }
  const boot = join(rootfs, 'boot');
  rmSync(boot, { recursive: true, force: true });
  mkdirSync(boot, { mode: 0o755 });
  return {
    kver, bootcsum, generator,
    metadata: [['ostree.bootable', variant('b', true)], ['ostree.linux', variant('s', kver)]],
  };
}
