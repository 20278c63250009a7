// Shared CLI helpers: sizes as ostree/GLib print them, error reporting, repo opening.

import { UpdaterError } from '../common/errors.ts';
import { Repo } from '../store/index.ts';

export { formatSize } from '../common/format.ts';

export const DEFAULT_REPO = '/ostree/repo';

export async function openRepo(path: string | undefined): Promise<Repo> {
  return Repo.open(path ?? DEFAULT_REPO);
}

/** Parses an integer option, naming the option on error. */
export function intOption(name: string): (v: string) => number {
  return (v: string) => {
    if (!/^-?\d+$/.test(v)) throw new UpdaterError('CLI_USAGE', `${name}: expected an integer, got '${v}'`);
    return Number(v);
  };
}

export function collect(v: string, prev: string[] = []): string[] {
  return [...prev, v];
}

/** Parses a date as ostree's --timestamp does: ISO 8601, or seconds since the epoch. */
export function parseTimestamp(v: string, name = '--timestamp'): number {
  if (/^\d+$/.test(v)) return Number(v);
  const ms = Date.parse(/[zZ]|[+-]\d\d:?\d\d$/.test(v) || !/T|\d:\d/.test(v) ? v : `${v}Z`);
  if (Number.isNaN(ms)) throw new UpdaterError('CLI_USAGE', `${name}: cannot parse date '${v}'`);
  return Math.floor(ms / 1000);
}

export function stdoutLine(s: string): void {
  process.stdout.write(s.endsWith('\n') ? s : `${s}\n`);
}

/** Prints a progress line on a terminal (overwritten in place); nothing otherwise. */
export function progress(text: string | null): void {
  if (!process.stderr.isTTY) return;
  process.stderr.write(text === null ? '\r\x1b[K' : `\r\x1b[K${text}`);
}
