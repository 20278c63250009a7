// Free-space checks for pulls, keeping ostree's reserve: `core.min-free-space-size`
// (e.g. 500MB) when set, else `core.min-free-space-percent` of the filesystem
// (default 3%). A pull refuses before writing an object that would dip into it.

import { statfs } from 'node:fs/promises';
import { join } from 'node:path';
import { UpdaterError } from '../../common/errors.ts';
import type { Repo } from '../repo/repo.ts';
import { formatBytes } from './progress.ts';

const UNITS: Record<string, number> = { '': 1, B: 1, KB: 1e3, MB: 1e6, GB: 1e9, TB: 1e12, KIB: 1024, MIB: 1024 ** 2, GIB: 1024 ** 3, TIB: 1024 ** 4 };

/** Parses a size as ostree's `min-free-space-size` (`500MB`, `1GB`, `2TB`; bare numbers are bytes). */
export function parseSize(text: string, what = 'size'): number {
  const m = /^\s*(\d+)\s*([KMGT]i?B|B)?\s*$/i.exec(text);
  if (!m) throw new UpdaterError('STORE_BAD_CONFIG', `${what}: cannot parse '${text}'`, { hint: 'use a number with MB, GB or TB' });
  return Number(m[1]) * UNITS[(m[2] ?? '').toUpperCase()]!;
}

/** Tracks free space while a pull writes; re-reads statfs every 32 MB or second. */
export class SpaceGuard {
  private readonly dir: string;
  private readonly reserveBytes: number;
  private readonly reserveText: string;
  private free = 0;
  private usedSinceStat = 0;
  private statAt = 0;

  private constructor(dir: string, reserveBytes: number, reserveText: string) {
    this.dir = dir;
    this.reserveBytes = reserveBytes;
    this.reserveText = reserveText;
  }

  static async open(repo: Repo): Promise<SpaceGuard> {
    const dir = join(repo.path, 'tmp');
    const st = await statfs(dir);
    const sizeCfg = repo.config.get('core', 'min-free-space-size');
    const pctCfg = repo.config.get('core', 'min-free-space-percent');
    let reserve: number;
    let text: string;
    if (sizeCfg !== undefined) {
      reserve = parseSize(sizeCfg, `${repo.path}/config: min-free-space-size`);
      text = `min-free-space-size=${sizeCfg}`;
    } else {
      const pct = pctCfg === undefined ? 3 : Number(pctCfg);
      if (!Number.isInteger(pct) || pct < 0 || pct > 99) {
        throw new UpdaterError('STORE_BAD_CONFIG', `${repo.path}/config: min-free-space-percent must be an integer from 0 to 99, got '${pctCfg}'`);
      }
      reserve = Math.floor((st.blocks * st.bsize * pct) / 100);
      text = `min-free-space-percent=${pct}% (${formatBytes(reserve)})`;
    }
    const g = new SpaceGuard(dir, reserve, text);
    g.take(st);
    return g;
  }

  private take(st: { bavail: number; bsize: number }): void {
    this.free = st.bavail * st.bsize;
    this.usedSinceStat = 0;
    this.statAt = Date.now();
  }

  /** Throws PULL_NO_SPACE unless `bytes` more fit above the reserve, and counts them as used. */
  async reserve(bytes: number, what: string): Promise<void> {
    await this.check(bytes, what);
    this.usedSinceStat += bytes;
  }

  /** Throws PULL_NO_SPACE unless `bytes` more fit above the reserve (nothing is counted: a check before a batch of writes). */
  async check(bytes: number, what: string): Promise<void> {
    if (this.usedSinceStat > 32e6 || Date.now() - this.statAt > 1000) this.take(await statfs(this.dir));
    const left = this.free - this.usedSinceStat - this.reserveBytes;
    if (bytes > left) {
      throw new UpdaterError('PULL_NO_SPACE', `not enough disk space for ${what}: it needs ${formatBytes(bytes)}, ` +
        `${formatBytes(Math.max(0, this.free - this.usedSinceStat))} are free and ${this.reserveText} must stay free (${this.dir})`, {
        hint: 'free some space (e.g. `atomic repo prune`), or lower min-free-space-size / min-free-space-percent in the repo config',
      });
    }
  }
}
