// The space check before a deployment is written (issue 5 "too little space"): what the
// new deployment adds to the sysroot filesystem (directories, the /etc copy, copied
// files, the origin) and to /boot (kernel, initramfs, entries), against what statfs
// says is free. On the sysroot the repo's reserve is kept as ostree keeps it for
// content writes: `[core] min-free-space-size` when set, else
// `min-free-space-percent` (default 3) of the filesystem. /boot has no reserve.

import { statfs, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { UpdaterError } from '../common/errors.ts';
import { formatBytes, parseSize, type Repo } from '../store/index.ts';

/** What a new deployment needs, in bytes (rounded up to blocks) and inodes. */
export interface SpaceNeed {
  sysrootBytes: number;
  sysrootInodes: number;
  bootBytes: number;
  bootInodes: number;
}

/** One filesystem as statfs reports it. */
export interface FsSpace {
  path: string;
  /** Bytes available to unprivileged writers (f_bavail × f_bsize). */
  freeBytes: number;
  /** Free inodes; null when the filesystem does not count them (f_files = 0). */
  freeInodes: number | null;
  blockSize: number;
}

/** The sysroot filesystem's reserve: bytes that must stay free, and how the config said it. */
export interface Reserve {
  bytes: number;
  text: string;
}

export async function fsSpace(path: string): Promise<FsSpace> {
  const st = await statfs(path);
  return { path, freeBytes: st.bavail * st.bsize, freeInodes: st.files === 0 ? null : st.ffree, blockSize: st.bsize };
}

/** ostree's min-free-space reserve of the repo's filesystem, from the repo config. */
export async function repoReserve(repo: Repo): Promise<Reserve> {
  const sizeCfg = repo.config.get('core', 'min-free-space-size');
  if (sizeCfg !== undefined) {
    return { bytes: parseSize(sizeCfg, `${repo.path}/config: min-free-space-size`), text: `min-free-space-size=${sizeCfg}` };
  }
  const pctCfg = repo.config.get('core', 'min-free-space-percent');
  const pct = pctCfg === undefined ? 3 : Number(pctCfg);
  if (!Number.isInteger(pct) || pct < 0 || pct > 99) {
    throw new UpdaterError('STORE_BAD_CONFIG', `${repo.path}/config: min-free-space-percent must be an integer from 0 to 99, got '${pctCfg}'`);
  }
  const st = await statfs(repo.path);
  const bytes = Math.floor((st.blocks * st.bsize * pct) / 100);
  return { bytes, text: `min-free-space-percent=${pct} (${formatBytes(bytes)})` };
}

/** Rounds a file size up to whole blocks, as it occupies the disk. */
export function blocks(size: number, blockSize: number): number {
  return Math.ceil(size / blockSize) * blockSize;
}

/**
 * Throws DEPLOY_NO_SPACE when `need` does not fit: on the sysroot above the reserve,
 * on /boot in what is free. `boot` null means /boot is on the sysroot filesystem, so
 * both needs count against it.
 */
export function checkSpace(need: SpaceNeed, sysroot: FsSpace, boot: FsSpace | null, reserve: Reserve, what: string): void {
  const hint = 'free space on it (`atomic host cleanup -r` removes the rollback deployment, `atomic host cleanup` prunes unused objects)';
  const sysBytes = need.sysrootBytes + (boot === null ? need.bootBytes : 0);
  const sysInodes = need.sysrootInodes + (boot === null ? need.bootInodes : 0);
  const room = sysroot.freeBytes - reserve.bytes;
  if (sysBytes > room) {
    throw new UpdaterError('DEPLOY_NO_SPACE', `not enough space on ${sysroot.path} for ${what}: it needs ${formatBytes(sysBytes)}, `
      + `${formatBytes(Math.max(0, sysroot.freeBytes))} are free and ${reserve.text} must stay free`, {
      hint: `${hint}, or lower [core] min-free-space-size / min-free-space-percent in the sysroot repo config`,
    });
  }
  if (sysroot.freeInodes !== null && sysInodes > sysroot.freeInodes) {
    throw new UpdaterError('DEPLOY_NO_SPACE', `not enough inodes on ${sysroot.path} for ${what}: it needs ${sysInodes}, ${sysroot.freeInodes} are free`, { hint });
  }
  if (boot === null) return;
  if (need.bootBytes > boot.freeBytes) {
    throw new UpdaterError('DEPLOY_NO_SPACE', `not enough space on ${boot.path} for the kernel and initramfs of ${what}: it needs ${formatBytes(need.bootBytes)}, `
      + `${formatBytes(Math.max(0, boot.freeBytes))} are free`, { hint: `free space on /boot (\`atomic host cleanup -r\` removes the rollback deployment and its kernel)` });
  }
  if (boot.freeInodes !== null && need.bootInodes > boot.freeInodes) {
    throw new UpdaterError('DEPLOY_NO_SPACE', `not enough inodes on ${boot.path} for ${what}: it needs ${need.bootInodes}, ${boot.freeInodes} are free`, { hint });
  }
}

/** True when SYSROOT/boot and the repo are on different filesystems. */
export async function bootIsOtherFs(sysroot: string, repoPath: string): Promise<boolean> {
  const [a, b] = await Promise.all([stat(join(sysroot, 'boot')), stat(repoPath)]);
  return a.dev !== b.dev;
}
