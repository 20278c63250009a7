// The treefile-driven steps of rpm-ostree's compose_postprocess (composepost.rs):
// mutate-os-release, remove-files, add-files, the flattened treefile written into the tree,
// and the postprocess scripts (inline ones, then postprocess-script) in the sandbox.

import { chmodSync, copyFileSync, lstatSync, mkdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { prefixError, UpdaterError } from '../../common/errors.ts';
import { resolveInRoot, runSandboxed } from '../sandbox/index.ts';
import type { AddFile, Treefile } from '../treefile/index.ts';

/** Where the flattened treefile goes (rpm-ostree's path, kept for tools that read it). */
export const TREEFILE_JSON = 'usr/share/rpm-ostree/treefile.json';

/** Single-quotes `s` for a shell when needed (g_shell_quote always quotes). */
function shellQuote(s: string): string {
  return `'${s.replace(/'/g, `'\\''`)}'`;
}

/**
 * os-release text with `base` replaced by `version` inside VERSION= and PRETTY_NAME=,
 * empty lines dropped, and `OSTREE_VERSION='<version>'` appended (pure).
 */
export function mutateOsReleaseContents(text: string, base: string, version: string): string {
  let out = '';
  for (const line of text.split('\n')) {
    if (line === '') continue;
    const prefix = ['VERSION=', 'PRETTY_NAME='].find((p) => line.startsWith(p));
    out += prefix === undefined ? `${line}\n` : `${prefix}${line.slice(prefix.length).split(base).join(version)}\n`;
  }
  return `${out}OSTREE_VERSION=${shellQuote(version)}\n`;
}

/**
 * `mutate-os-release`: rewrites the file /etc/os-release resolves to inside the tree
 * (normally /usr/lib/os-release). Returns the tree-relative path changed, or null with no
 * version (rpm-ostree prints "Ignoring mutate-os-release: no commit version specified.").
 */
export function mutateOsRelease(rootfs: string, base: string, version: string | undefined): string | null {
  if (version === undefined || version === '') return null;
  const etcInUsr = lstatSync(join(rootfs, 'etc'), { throwIfNoEntry: false }) === undefined;
  const rel = resolveInRoot(rootfs, '/etc/os-release', { etcInUsr }) ?? (etcInUsr ? 'usr/etc/os-release' : 'etc/os-release');
  let text: string;
  try {
    text = readFileSync(join(rootfs, rel), 'utf8');
  } catch (err) {
    throw prefixError(`mutate-os-release: reading /${rel}`, err);
  }
  writeFileSync(join(rootfs, rel), mutateOsReleaseContents(text, base, version), { mode: 0o644 });
  chmodSync(join(rootfs, rel), 0o644);
  return rel;
}

/** `remove-files`: deletes each relative path (recursively). Absolute paths and `..` are errors. */
export function removeFiles(rootfs: string, names: string[]): string[] {
  const removed: string[] = [];
  for (const name of names) {
    if (name.startsWith('/')) throw new UpdaterError('ROOTFS_INVALID', `remove-files: Invalid absolute path: ${name}`);
    if (name.includes('..')) throw new UpdaterError('ROOTFS_INVALID', `remove-files: Invalid '..' in path: ${name}`);
    // Like the treefile's /etc, a listed etc/ path is found in usr/etc once converted.
    const rel = name.startsWith('etc/') && lstatSync(join(rootfs, 'etc'), { throwIfNoEntry: false }) === undefined ? `usr/${name}` : name;
    rmSync(join(rootfs, rel), { recursive: true, force: true });
    removed.push(rel);
  }
  return removed;
}

/**
 * `add-files`: copies each source (absolute path resolved by the treefile loader) to its
 * destination, keeping the source's mode; `/etc/...` lands in `/usr/etc/...`. Missing
 * parent directories are created 0755.
 */
export function addFiles(rootfs: string, files: AddFile[]): string[] {
  const added: string[] = [];
  for (const f of files) {
    const reldest = f.dest.replace(/^\/+/, '');
    if (reldest === '' || reldest.split('/').includes('..')) throw new UpdaterError('ROOTFS_INVALID', `add-files: Invalid destination: ${f.dest}`);
    const dest = reldest.startsWith('etc/') ? `usr/${reldest}` : reldest;
    let mode: number;
    try {
      mode = statSync(f.path).mode & 0o7777;
    } catch (err) {
      throw prefixError(`add-files: source ${f.name} (${f.path})`, err);
    }
    mkdirSync(dirname(join(rootfs, dest)), { recursive: true, mode: 0o755 });
    rmSync(join(rootfs, dest), { force: true });
    copyFileSync(f.path, join(rootfs, dest));
    chmodSync(join(rootfs, dest), mode);
    added.push(dest);
  }
  return added;
}

/** Writes the flattened treefile (sorted keys, as rpm-ostree serialises it) into the tree. */
export function writeTreefileJson(rootfs: string, tf: Pick<Treefile, 'flattened'>): string {
  const sortKeys = (v: unknown): unknown =>
    Array.isArray(v) ? v.map(sortKeys)
      : v !== null && typeof v === 'object' ? Object.fromEntries(Object.keys(v).sort().map((k) => [k, sortKeys((v as Record<string, unknown>)[k])]))
        : v;
  mkdirSync(join(rootfs, dirname(TREEFILE_JSON)), { recursive: true, mode: 0o755 });
  writeFileSync(join(rootfs, TREEFILE_JSON), JSON.stringify(sortKeys(tf.flattened)), { mode: 0o644 });
  return TREEFILE_JSON;
}

export interface PostprocessOptions {
  timeoutMs?: number;
  onOutput?: (line: string) => void;
  /** Progress lines (`Executing postprocess inline script '0'`). */
  onStep?: (message: string) => void;
}

/**
 * Runs the treefile's inline `postprocess` scripts in order, then `postprocess-script`,
 * each executed directly (its `#!` picks the interpreter; none means /bin/sh) inside the
 * sandbox with /usr and /etc writable and /var read-only, no network. The script is not
 * written into the tree: it is passed as /proc/self/fd/5.
 */
export async function runPostprocessScripts(rootfs: string, tf: Pick<Treefile, 'postprocess' | 'postprocessScript'>, opts: PostprocessOptions = {}): Promise<number> {
  const scripts: Array<{ label: string; body: string; step: string }> = tf.postprocess.map((body, i) => ({
    label: `postprocess[${i}]`, body, step: `Executing \`postprocess\` inline script '${i}'`,
  }));
  if (tf.postprocessScript !== undefined) {
    let body: string;
    try {
      body = readFileSync(tf.postprocessScript.path, 'utf8');
    } catch (err) {
      throw prefixError(`postprocess-script ${tf.postprocessScript.name}`, err);
    }
    scripts.push({ label: `postprocess-script ${tf.postprocessScript.name}`, body, step: 'Executing postprocessing script' });
  }
  for (const s of scripts) {
    opts.onStep?.(s.step);
    // A script without #! runs under /bin/sh, which is what exec falls back to.
    const argv = s.body.startsWith('#!') ? ['/proc/self/fd/5'] : ['/bin/sh', '/proc/self/fd/5'];
    await runSandboxed(rootfs, { argv, label: s.label, script: s.body, mutability: 'mutable', var: 'ro', ostreeBooted: false, timeoutMs: opts.timeoutMs, onOutput: opts.onOutput });
  }
  return scripts.length;
}
