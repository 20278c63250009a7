// Reads a test disk image from the host without mounting it: debugfs for files and
// symlinks, e2fsck -fn for consistency. Neither replays the ext4 journal, which is what
// GRUB sees too; replayJournals() makes a copy on which the journal has been replayed,
// which is what Linux sees after mounting. inspectBoot() follows exactly the path a boot
// takes: /boot/loader -> loader.N/grub.cfg (GRUB, no replay) -> the kernel and initramfs
// files of each menu entry -> its ostree= path in the root filesystem -> a deployment.

import { execFileSync, spawnSync } from 'node:child_process';
import { rmSync } from 'node:fs';

export type Part = 'boot' | 'root';

/** Partition byte offsets and sizes of a boot disk (WORK/disk.img.offsets). */
export type Partitions = Record<'esp' | 'boot' | 'root', { offset: number; size: number }>;

/** One raw disk image with the test layout (GPT: ESP, boot, root). */
export class DiskImage {
  readonly path: string;
  readonly partitions: Partitions;
  /** Filesystems held in files of their own instead of at their offsets in `path`. */
  readonly files: Partial<Record<Part, string>>;

  constructor(path: string, partitions: Partitions, files: Partial<Record<Part, string>> = {}) {
    this.path = path;
    this.partitions = partitions;
    this.files = files;
  }

  private spec(part: Part): string {
    return this.files[part] ?? `${this.path}?offset=${this.partitions[part].offset}`;
  }

  /** debugfs -R CMD on one partition (read-only, journal not replayed). */
  debugfs(part: Part, cmd: string): string {
    return execFileSync('debugfs', ['-R', cmd, this.spec(part)], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'], maxBuffer: 64 << 20 });
  }

  /** Type and, for a symlink, target of PATH (the last component is not followed); null when missing. */
  lookup(part: Part, path: string): { type: string; size: number; target: string | null } | null {
    const r = spawnSync('debugfs', ['-R', `stat ${path}`, this.spec(part)], { encoding: 'utf8' });
    const type = /Type: (\S+)/.exec(r.stdout)?.[1];
    if (type === undefined) return null;
    const size = Number(/Size: (\d+)/.exec(r.stdout)?.[1] ?? NaN);
    let target: string | null = null;
    if (type === 'symlink') {
      // Short targets live in the inode ("Fast link dest"), longer ones in a data block.
      target = /Fast link dest: "([^"]*)"/.exec(r.stdout)?.[1] ?? this.debugfs(part, `cat ${path}`);
    }
    return { type, size, target };
  }

  /** Target of a symlink as GRUB sees it, e.g. readLink('boot', '/loader') → 'loader.1'. */
  readLink(part: Part, path: string): string | null {
    return this.lookup(part, path)?.target ?? null;
  }

  /** Contents of a regular file, or null when it is missing. */
  readFile(part: Part, path: string): string | null {
    const l = this.lookup(part, path);
    if (l === null || l.type !== 'regular') return null;
    return this.debugfs(part, `cat ${path}`);
  }

  /** Canonical path of PATH in one filesystem, following every symlink; null when a component is missing. */
  realpath(part: Part, path: string): string | null {
    let todo = path.split('/').filter((c) => c !== '' && c !== '.');
    let done: string[] = [];
    for (let hops = 0; todo.length > 0;) {
      const c = todo.shift()!;
      if (c === '..') {
        done.pop();
        continue;
      }
      const here = '/' + [...done, c].join('/');
      const l = this.lookup(part, here);
      if (l === null) return null;
      if (l.type !== 'symlink') {
        done.push(c);
        continue;
      }
      if (++hops > 40) return null;
      const t = l.target!.split('/').filter((x) => x !== '' && x !== '.');
      if (l.target!.startsWith('/')) done = [];
      todo = [...t, ...todo];
    }
    return '/' + done.join('/');
  }

  /** `e2fsck -fn` of a partition: null when clean, else its output. */
  fsck(part: Part): string | null {
    const r = spawnSync('e2fsck', ['-fn', this.spec(part)], { encoding: 'utf8' });
    return r.status === 0 ? null : `e2fsck -fn ${this.spec(part)}: exit ${r.status}\n${r.stdout}${r.stderr}`;
  }

  /**
   * Both ext4 filesystems copied out to DEST.boot and DEST.root (sparse) with their
   * journals replayed (e2fsck -E journal_only): what Linux finds after mounting. The image
   * itself is left as it is. (e2fsck cannot replay through `?offset=`: it re-opens the
   * device without the offset after recovery, hence the copies.) Remove them with discard().
   */
  replayJournals(dest: string): DiskImage {
    const files: Record<Part, string> = { boot: `${dest}.boot`, root: `${dest}.root` };
    for (const part of ['boot', 'root'] as const) {
      const { offset, size } = this.partitions[part];
      if (this.files[part] !== undefined) execFileSync('cp', ['--sparse=always', this.files[part]!, files[part]]);
      else {
        execFileSync('dd', [`if=${this.path}`, `of=${files[part]}`, 'bs=1M', 'iflag=skip_bytes,count_bytes', `skip=${offset}`, `count=${size}`, 'conv=sparse', 'status=none']);
      }
      const r = spawnSync('e2fsck', ['-E', 'journal_only', '-y', files[part]], { encoding: 'utf8' });
      if (r.status !== 0 && r.status !== 1) throw new Error(`journal replay of ${part} (${files[part]}) failed (exit ${r.status}): ${r.stdout}${r.stderr}`);
    }
    return new DiskImage(this.path, this.partitions, files);
  }

  /** Deletes the per-filesystem files of a replayJournals() copy. */
  discard(): void {
    for (const f of Object.values(this.files)) rmSync(f, { force: true });
  }
}

/** One GRUB menu entry followed down to its deployment. */
export interface BootEntryView {
  title: string;
  linux: string;
  initrd: string | null;
  /** The `ostree=` kernel argument. */
  ostree: string | null;
  /** Canonical deployment directory in the root filesystem, e.g. /ostree/deploy/testos/deploy/CSUM.0. */
  deployment: string | null;
  /** VERSION from the deployment's usr/lib/os-release. */
  version: string | null;
}

/** Sizes of one version's kernel and initramfs (vm-tests/build-os.sh writes them per boot checksum). */
export interface BootFileSizes {
  kernel: number;
  initramfs: number;
}

export interface BootView {
  /** /boot/loader's target (loader.0 or loader.1). */
  loader: string | null;
  entries: BootEntryView[];
  /** Everything that would make a boot of some entry fail; empty when every entry is complete. */
  problems: string[];
}

/**
 * What a boot of this disk would find: GRUB's view of /boot on `bootImg` (the journal not
 * replayed) and Linux's view of the root filesystem on `rootImg` (replayed; the same image
 * when the journal is clean). An entry is complete when its kernel and initramfs are
 * regular files of the expected sizes (when `bootFiles` is given: the sizes by the boot
 * checksum in their /ostree/OS-BOOTCSUM/ path) and its ostree= path resolves to a
 * deployment with /usr, /sbin/init and an .origin file.
 */
export function inspectBoot(bootImg: DiskImage, rootImg: DiskImage, bootFiles?: Record<string, BootFileSizes>): BootView {
  const problems: string[] = [];
  const loader = bootImg.readLink('boot', '/loader');
  if (loader === null || !/^loader\.[01]$/.test(loader)) {
    return { loader, entries: [], problems: [`/boot/loader is ${loader === null ? 'missing' : `-> ${loader}`}`] };
  }
  const cfg = bootImg.readFile('boot', `/${loader}/grub.cfg`);
  if (cfg === null) return { loader, entries: [], problems: [`/boot/${loader}/grub.cfg is missing`] };
  const entries: BootEntryView[] = [];
  for (const block of cfg.split(/^menuentry /m).slice(1)) {
    const title = /^'([^']*)'/.exec(block)?.[1] ?? '?';
    const words = /^\s*linux (.*)$/m.exec(block)?.[1]?.split(' ') ?? [];
    const initrd = /^\s*initrd (\S+)/m.exec(block)?.[1] ?? null;
    const ostree = words.find((w) => w.startsWith('ostree='))?.slice('ostree='.length) ?? null;
    const e: BootEntryView = { title, linux: words[0] ?? '', initrd, ostree, deployment: null, version: null };
    entries.push(e);
    const what = `entry '${title}' of /boot/${loader}/grub.cfg`;
    const file = (path: string, kind: 'kernel' | 'initramfs'): void => {
      const real = bootImg.realpath('boot', path);
      const l = real === null ? null : bootImg.lookup('boot', real);
      if (l === null || l.type !== 'regular') return void problems.push(`${what}: ${kind} ${path} is missing`);
      if (bootFiles === undefined) return;
      const bootcsum = /\/ostree\/[^/]+-([0-9a-f]{64})\//.exec(path)?.[1];
      const expected = bootcsum === undefined ? undefined : bootFiles[bootcsum];
      if (expected === undefined) problems.push(`${what}: ${kind} ${path} is not under the boot checksum of a known version`);
      else if (l.size !== expected[kind]) problems.push(`${what}: ${kind} ${path} has ${l.size} bytes, not ${expected[kind]}`);
    };
    if (e.linux === '') problems.push(`${what}: no linux line`);
    else file(e.linux, 'kernel');
    if (initrd === null) problems.push(`${what}: no initrd line`);
    else file(initrd, 'initramfs');
    if (ostree === null) {
      problems.push(`${what}: no ostree= argument`);
      continue;
    }
    const dep = rootImg.realpath('root', ostree);
    if (dep === null || !/^\/ostree\/deploy\/[^/]+\/deploy\/[0-9a-f]{64}\.\d+$/.test(dep)) {
      problems.push(`${what}: ostree=${ostree} resolves to ${dep ?? 'nothing'}, not a deployment`);
      continue;
    }
    e.deployment = dep;
    if (rootImg.lookup('root', `${dep}/usr`)?.type !== 'directory') problems.push(`${what}: ${dep}/usr is missing`);
    if (rootImg.realpath('root', `${dep}/sbin/init`) === null) problems.push(`${what}: ${dep}/sbin/init is missing`);
    if (rootImg.lookup('root', `${dep}.origin`)?.type !== 'regular') problems.push(`${what}: ${dep}.origin is missing`);
    const osRelease = rootImg.readFile('root', `${dep}/usr/lib/os-release`);
    e.version = osRelease === null ? null : (/^VERSION="?([^"\n]*)"?$/m.exec(osRelease)?.[1] ?? null);
    if (e.version === null) problems.push(`${what}: ${dep}/usr/lib/os-release has no VERSION`);
  }
  if (entries.length === 0) problems.push(`/boot/${loader}/grub.cfg has no menu entries`);
  return { loader, entries, problems };
}
