// Kernel, initramfs and devicetree of a deployment (format §9.1 "tree requirements"):
// found in usr/lib/modules/KVER/ (or the legacy usr/lib/ostree-boot, /boot with
// -CHECKSUM suffixes), hashed into the bootcsum, installed once per bootcsum into
// /boot/ostree/OS-BOOTCSUM/ (hardlinked on the same filesystem, else copied durably).

import { createHash, randomBytes } from 'node:crypto';
import { createReadStream, linkSync, lstatSync, readdirSync, readFileSync } from 'node:fs';
import { copyFile, mkdir, open, rename, unlink } from 'node:fs/promises';
import { join } from 'node:path';
import { isErrno, UpdaterError } from '../common/errors.ts';
import { fsyncDir } from '../common/fs-atomic.ts';

/** Where the boot files of one deployment are, and what they are called in /boot. */
export interface KernelLayout {
  /** Absolute source paths inside the deployment, and their names under /boot/ostree/OS-BOOTCSUM/. */
  kernel: { src: string; name: string };
  initramfs: { src: string; name: string } | null;
  devicetree: { src: string; name: string } | null;
  /** `.vmlinuz-KVER.hmac` (FIPS), installed alongside when present. */
  hmac: { src: string; name: string } | null;
  /** Known from a legacy file name; otherwise computed by computeBootcsum. */
  bootcsum: string | null;
}

/** Read-only view of a tree, on disk or in the repo: relative paths, no leading slash. */
export interface TreeView {
  /** Sorted names in directory `rel` ([] when it is not a directory). */
  list(rel: string): string[];
  /** True when `rel` is a regular file. */
  isFile(rel: string): boolean;
}

/** A view of the directory `root` on disk. */
export function diskView(root: string): TreeView {
  return {
    list(rel) {
      try {
        return readdirSync(join(root, rel)).sort();
      } catch (err) {
        if (isErrno(err, 'ENOENT') || isErrno(err, 'ENOTDIR')) return [];
        throw err;
      }
    },
    isFile(rel) {
      try {
        return lstatSync(join(root, rel)).isFile();
      } catch {
        return false;
      }
    },
  };
}

function modulesLayout(v: TreeView): KernelLayout | null {
  const base = 'usr/lib/modules';
  for (const kver of v.list(base)) {
    const dir = `${base}/${kver}`;
    if (!v.isFile(`${dir}/vmlinuz`)) continue;
    const initrd = ['initramfs.img', 'initramfs'].map((n) => `${dir}/${n}`).find((p) => v.isFile(p));
    return {
      kernel: { src: `${dir}/vmlinuz`, name: `vmlinuz-${kver}` },
      initramfs: initrd === undefined ? null : { src: initrd, name: `initramfs-${kver}.img` },
      devicetree: v.isFile(`${dir}/devicetree`) ? { src: `${dir}/devicetree`, name: `devicetree-${kver}` } : null,
      hmac: v.isFile(`${dir}/.vmlinuz.hmac`) ? { src: `${dir}/.vmlinuz.hmac`, name: `.vmlinuz-${kver}.hmac` } : null,
      bootcsum: null,
    };
  }
  return null;
}

/** Legacy layout: `vmlinuz-KVER-SHA256` and `initramfs-KVER.img-SHA256` in usr/lib/ostree-boot, else boot/. */
function legacyLayout(v: TreeView): KernelLayout | null {
  for (const dir of ['usr/lib/ostree-boot', 'boot']) {
    const names = v.list(dir);
    const split = (n: string): { namever: string; csum: string } | null => {
      const m = /^(.+)-([0-9a-f]{64})$/.exec(n);
      return m === null ? null : { namever: m[1]!, csum: m[2]! };
    };
    const k = names.filter((n) => n.startsWith('vmlinuz-') && v.isFile(`${dir}/${n}`)).map((n) => ({ n, s: split(n) })).find((x) => x.s !== null);
    if (k === undefined) continue;
    const csum = k.s!.csum;
    const i = names.find((n) => n.startsWith('initramfs-') && n.endsWith(`-${csum}`) && v.isFile(`${dir}/${n}`));
    const dt = names.find((n) => n.startsWith('devicetree-') && n.endsWith(`-${csum}`) && v.isFile(`${dir}/${n}`));
    return {
      kernel: { src: `${dir}/${k.n}`, name: k.s!.namever },
      initramfs: i === undefined ? null : { src: `${dir}/${i}`, name: split(i)!.namever },
      devicetree: dt === undefined ? null : { src: `${dir}/${dt}`, name: split(dt)!.namever },
      hmac: null,
      bootcsum: csum,
    };
  }
  return null;
}

/**
 * Finds the boot files in a tree as ostree 2022.7 does: the modules layout, unless it
 * has no initramfs and the legacy layout has one. Paths in the result are relative to
 * the view. Throws DEPLOY_NO_KERNEL.
 */
export function findKernelIn(v: TreeView, what: string): KernelLayout {
  const modules = modulesLayout(v);
  const legacy = legacyLayout(v);
  if (modules !== null && modules.initramfs === null && legacy !== null && legacy.initramfs !== null) return legacy;
  if (modules !== null) return modules;
  if (legacy !== null) return legacy;
  throw new UpdaterError('DEPLOY_NO_KERNEL', `${what} is not bootable: no kernel at usr/lib/modules/KVER/vmlinuz (or usr/lib/ostree-boot/vmlinuz-KVER-CHECKSUM)`, {
    hint: 'the commit must contain a kernel; compose it with one',
  });
}

/** The boot files of a checked-out tree, with absolute source paths. */
export function findKernel(root: string, what: string): KernelLayout {
  const l = findKernelIn(diskView(root), what);
  const abs = <T extends { src: string } | null>(f: T): T => (f === null ? f : { ...f, src: join(root, f.src) });
  return { ...l, kernel: abs(l.kernel), initramfs: abs(l.initramfs), devicetree: abs(l.devicetree), hmac: abs(l.hmac) };
}

function isFile(path: string): boolean {
  try {
    return lstatSync(path).isFile();
  } catch {
    return false;
  }
}

async function hashInto(h: ReturnType<typeof createHash>, path: string): Promise<void> {
  for await (const chunk of createReadStream(path)) h.update(chunk as Buffer);
}

/** sha256(kernel ‖ initramfs ‖ devicetree), or the checksum a legacy file name carries. */
export async function computeBootcsum(layout: KernelLayout): Promise<string> {
  if (layout.bootcsum !== null) return layout.bootcsum;
  const h = createHash('sha256');
  await hashInto(h, layout.kernel.src);
  if (layout.initramfs !== null) await hashInto(h, layout.initramfs.src);
  if (layout.devicetree !== null) await hashInto(h, layout.devicetree.src);
  return h.digest('hex');
}

/** `/boot/ostree/OS-BOOTCSUM`, relative to the /boot filesystem. */
export function bootcsumDirName(osname: string, bootcsum: string): string {
  return `ostree/${osname}-${bootcsum}`;
}

/**
 * Installs the boot files into SYSROOT/boot/ostree/OS-BOOTCSUM/. A file already there is
 * never rewritten (its name is its content's checksum). New files are hardlinked when
 * /boot is the same filesystem, else copied under a temporary name, fdatasync'ed and
 * renamed, so a crash never leaves a truncated kernel under the final name.
 */
export async function installKernel(sysroot: string, osname: string, bootcsum: string, layout: KernelLayout): Promise<void> {
  const dir = join(sysroot, 'boot', bootcsumDirName(osname, bootcsum));
  await mkdir(dir, { recursive: true, mode: 0o775 });
  let added = false;
  for (const f of [layout.kernel, layout.initramfs, layout.devicetree, layout.hmac]) {
    if (f === null) continue;
    const dest = join(dir, f.name);
    if (isFile(dest)) continue;
    try {
      linkSync(f.src, dest);
    } catch (err) {
      if (!isErrno(err, 'EXDEV') && !isErrno(err, 'EMLINK') && !isErrno(err, 'EPERM')) throw err;
      const tmp = join(dir, `.${f.name}.tmp-${randomBytes(6).toString('hex')}`);
      try {
        await copyFile(f.src, tmp);
        const fh = await open(tmp, 'r+');
        await fh.datasync().finally(() => fh.close());
        await rename(tmp, dest);
      } catch (e) {
        await unlink(tmp).catch(() => {});
        throw e;
      }
    }
    added = true;
  }
  if (added) await fsyncDir(dir);
}

/** Parses os-release text (KEY=value, shell quoting) into a map. */
export function parseOsRelease(text: string): Record<string, string> {
  const out: Record<string, string> = {};
  for (const line of text.split('\n')) {
    const m = /^\s*([A-Za-z0-9_]+)=(.*)$/.exec(line);
    if (m === null) continue;
    let v = m[2]!.trim();
    if (v.startsWith('"') && v.endsWith('"') && v.length >= 2) v = v.slice(1, -1).replace(/\\(["\\$`])/g, '$1');
    else if (v.startsWith("'") && v.endsWith("'") && v.length >= 2) v = v.slice(1, -1);
    out[m[1]!] = v;
  }
  return out;
}

/** The deployment's os-release: usr/lib/os-release, falling back to etc/os-release. */
export function readOsRelease(root: string): Record<string, string> {
  for (const p of ['usr/lib/os-release', 'etc/os-release', 'usr/etc/os-release']) {
    try {
      return parseOsRelease(readFileSync(join(root, p), 'utf8'));
    } catch (err) {
      if (!isErrno(err, 'ENOENT')) throw err;
    }
  }
  return {};
}
