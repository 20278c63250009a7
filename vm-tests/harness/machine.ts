// A test machine: a private copy of the built boot disk plus the shared read-only tools
// and repository disks, booted again and again like one computer. Also reads the disk
// from the host without mounting it (debugfs, e2fsck -fn), since neither GRUB nor
// debugfs replays the ext4 journal: what they see is what GRUB will boot.

import { execFileSync } from 'node:child_process';
import { appendFileSync, existsSync, mkdirSync, readFileSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { DiskImage, type BootFileSizes, type Part, type Partitions } from './disk.ts';
import { runVm, startVm, type RunningVm, type VmOptions, type VmResult } from './qemu.ts';

/** The work directory the build scripts fill (vm-tests/lib.sh). */
export const WORK = process.env.ATOMIC_VM_WORK ?? '/var/tmp/atomic-vm';

/** What build.sh produced. */
export interface Artifacts {
  disk: string;
  tools: string;
  repo: string;
  /** Partition byte offsets and sizes of disk.img. */
  partitions: Partitions;
  /** Kernel and initramfs sizes of each version, by boot checksum (what a complete boot entry points at). */
  bootFiles: Record<string, BootFileSizes>;
  /** Commit checksum of each test OS version ('1', '2', '3'). */
  commits: Record<string, string>;
}

/** Reads the build's outputs; a clear error when the build has not run. */
export function loadArtifacts(): Artifacts {
  const need = ['disk.img', 'disk.img.offsets', 'tools.img', 'repo.img', 'os/v1.commit', 'os/v2.commit', 'os/v3.commit', 'os/boot-files'];
  const missing = need.filter((f) => !existsSync(join(WORK, f)));
  if (missing.length > 0) throw new Error(`vm-tests: ${missing.join(', ')} missing in ${WORK}; run \`bash vm-tests/build.sh\` first`);
  const partitions = {} as Artifacts['partitions'];
  for (const line of readFileSync(join(WORK, 'disk.img.offsets'), 'utf8').trim().split('\n')) {
    const [name, offset, size] = line.split(' ');
    partitions[name as 'esp'] = { offset: Number(offset), size: Number(size) };
  }
  const commits: Record<string, string> = {};
  for (const v of ['1', '2', '3']) commits[v] = readFileSync(join(WORK, `os/v${v}.commit`), 'utf8').trim();
  // Lines "VERSION BOOTCSUM KERNEL_SIZE INITRAMFS_SIZE".
  const bootFiles: Record<string, BootFileSizes> = {};
  for (const line of readFileSync(join(WORK, 'os/boot-files'), 'utf8').trim().split('\n')) {
    const [, bootcsum, kernel, initramfs] = line.split(' ');
    bootFiles[bootcsum!] = { kernel: Number(kernel), initramfs: Number(initramfs) };
  }
  return {
    disk: join(WORK, 'disk.img'), tools: join(WORK, 'tools.img'), repo: join(WORK, 'repo.img'), partitions, commits,
    bootFiles,
  };
}

/** Appends one line per boot to WORK/runs/timings.txt and prints it. */
function recordTiming(r: VmResult): void {
  // Guest uptimes split the boot: firmware + GRUB (total minus the kernel's uptime at
  // power-off), kernel + initramfs (uptime when init starts), and the action.
  const init = Number(r.report.facts['uptime-init'] ?? NaN);
  const done = Number(r.report.facts['uptime-done'] ?? NaN);
  const split = Number.isFinite(init) && Number.isFinite(done)
    ? ` (firmware+GRUB ~${(r.durationMs / 1000 - done).toFixed(1)} s, kernel+initramfs ${init.toFixed(1)} s, action ${(done - init).toFixed(1)} s)`
    : '';
  const line = `${new Date().toISOString()} ${r.name} ${(r.durationMs / 1000).toFixed(1)} s exit=${r.exitCode ?? r.signal}${r.timedOut ? ' TIMEOUT' : ''}${r.killed ? ' KILLED' : ''}${split}`;
  appendFileSync(join(WORK, 'runs', 'timings.txt'), line + '\n');
  console.log(`vm-tests: boot ${line.slice(25)}`);
}

export interface BootOptions {
  /** Shell run by the guest's init after its report (see vm-tests/os/files/init for helpers). */
  action?: string;
  timeoutMs?: number;
  onLine?: (line: string) => void;
  /** Record this boot's writes to the boot disk (dm-log-writes file in the run dir). */
  writeLog?: boolean;
}

export interface MachineOptions {
  /**
   * The boot disk is a qcow2 overlay whose backing file is the built disk.img (~0.1 s to
   * make, and the base stays untouched). Writes the guest had not flushed may then be
   * lost at a SIGKILL, like a disk's volatile write cache; flushed ones are kept. Host
   * checks read a raw conversion (image()). Default: a private sparse raw copy.
   */
  overlay?: boolean;
}

/** One machine with its own boot disk, in WORK/runs/NAME. */
export class Machine {
  readonly name: string;
  readonly runDir: string;
  readonly disk: string;
  readonly format: 'raw' | 'qcow2';
  readonly art: Artifacts;
  boots = 0;
  private views = 0;

  constructor(name: string, art: Artifacts = loadArtifacts(), opts: MachineOptions = {}) {
    this.name = name;
    this.art = art;
    this.runDir = join(WORK, 'runs', name);
    rmSync(this.runDir, { recursive: true, force: true });
    mkdirSync(this.runDir, { recursive: true });
    if (opts.overlay) {
      this.format = 'qcow2';
      this.disk = join(this.runDir, 'disk.qcow2');
      execFileSync('qemu-img', ['create', '-q', '-f', 'qcow2', '-F', 'raw', '-b', art.disk, this.disk]);
    } else {
      this.format = 'raw';
      this.disk = join(this.runDir, 'disk.img');
      // Sparse copy: ~0.01 s for the 940 MiB image.
      execFileSync('cp', ['--sparse=always', art.disk, this.disk]);
    }
  }

  /**
   * The boot disk as a raw image for host-side reads, as it is now (QEMU not running):
   * the disk itself when raw, else a fresh sparse conversion of the overlay in the run dir.
   */
  image(): DiskImage {
    if (this.format === 'raw') return new DiskImage(this.disk, this.art.partitions);
    const raw = join(this.runDir, `view-${++this.views}.img`);
    execFileSync('qemu-img', ['convert', '-f', 'qcow2', '-O', 'raw', this.disk, raw]);
    return new DiskImage(raw, this.art.partitions);
  }

  private vmOptions(o: BootOptions): VmOptions {
    this.boots += 1;
    return {
      name: `${this.name}-${this.boots}`,
      runDir: this.runDir,
      disks: [
        { path: this.disk, format: this.format, writeLog: o.writeLog ? join(this.runDir, `writes-${this.boots}.log`) : undefined },
        { path: this.art.tools, readonly: true },
        { path: this.art.repo, readonly: true },
      ],
      action: o.action ?? '',
      timeoutMs: o.timeoutMs ?? Number(process.env.ATOMIC_VM_BOOT_TIMEOUT ?? 120) * 1000,
      onLine: o.onLine,
    };
  }

  /** Boots, waits for QEMU to exit, records the time. */
  async boot(o: BootOptions = {}): Promise<VmResult> {
    const r = await runVm(this.vmOptions(o));
    recordTiming(r);
    return r;
  }

  /** Boots without waiting: for power cuts (`kill()` at a console line or a random moment). */
  start(o: BootOptions = {}): RunningVm {
    const vm = startVm(this.vmOptions(o));
    vm.result.then(recordTiming, () => {});
    return vm;
  }

  /** debugfs -R CMD on one partition of the boot disk (read-only, journal not replayed). */
  debugfs(part: Part, cmd: string): string {
    return this.image().debugfs(part, cmd);
  }

  /** Target of a symlink as GRUB sees it, e.g. readLink('boot', '/loader') → 'loader.1'. */
  readLink(part: Part, path: string): string | null {
    return this.image().readLink(part, path);
  }

  /** `e2fsck -fn` of a partition: null when clean, else its output. */
  fsck(part: Part): string | null {
    return this.image().fsck(part);
  }

  /** Deletes the disk copy (after a passing test); logs stay. */
  discardDisk(): void {
    rmSync(this.disk, { force: true });
    for (let i = 1; i <= this.views; i++) rmSync(join(this.runDir, `view-${i}.img`), { force: true });
  }
}
