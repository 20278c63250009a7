// Test helpers: temp dirs, external tools (skipped visibly when missing),
// running the built CLI, and generated trees with the awkward cases.

import { execFile, execFileSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { chmod, chown, link, lstat, mkdir, mkdtemp, readdir, readFile, readlink, rm, symlink, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { isUpdaterError } from '../common/errors.ts';
import { readAllXattrs, setXattr } from '../common/libc.ts';

const execFileAsync = promisify(execFile);
export const ROOT = join(import.meta.dirname, '..');
export const ATOMIC = join(ROOT, 'bin', 'atomic');
export const isRoot = process.getuid?.() === 0;

/** True when `cmd` is on PATH. */
export function have(cmd: string): boolean {
  try {
    execFileSync('sh', ['-c', `command -v ${cmd}`], { stdio: 'ignore' });
    return true;
  } catch {
    return false;
  }
}

export async function makeTmp(prefix = 'atomic-test-'): Promise<string> {
  // /var/tmp: a real filesystem with user xattrs (tmpfs /tmp may lack them).
  return mkdtemp(join(process.env.ATOMIC_TEST_TMP ?? '/var/tmp', prefix));
}

export async function removeTmp(dir: string): Promise<void> {
  await execFileAsync('chattr', ['-R', '-i', dir]).catch(() => {});
  await rm(dir, { recursive: true, force: true });
}

export interface RunResult {
  code: number;
  stdout: string;
  stderr: string;
}

/** Runs a command, never throwing on a non-zero exit. */
export async function run(cmd: string, args: string[], opts: { cwd?: string; env?: NodeJS.ProcessEnv } = {}): Promise<RunResult> {
  try {
    const { stdout, stderr } = await execFileAsync(cmd, args, { cwd: opts.cwd, env: opts.env ?? process.env, maxBuffer: 256 * 1024 * 1024 });
    return { code: 0, stdout, stderr };
  } catch (err) {
    const e = err as { code?: number; stdout?: string; stderr?: string };
    return { code: typeof e.code === 'number' ? e.code : 1, stdout: e.stdout ?? '', stderr: e.stderr ?? String(err) };
  }
}

/** Runs a command and throws with its stderr when it fails. */
export async function runOk(cmd: string, args: string[], opts: { cwd?: string; env?: NodeJS.ProcessEnv } = {}): Promise<string> {
  const r = await run(cmd, args, opts);
  if (r.code !== 0) throw new Error(`${cmd} ${args.join(' ')} exited ${r.code}: ${r.stderr}${r.stdout}`);
  return r.stdout;
}

export const atomic = (args: string[], opts: { cwd?: string } = {}): Promise<RunResult> => run(ATOMIC, args, opts);
export const ostree = (args: string[]): Promise<RunResult> => run('ostree', args);

/**
 * Builds a tree with the cases that break naive implementations: empty files,
 * executables, setuid, symlinks (dangling, absolute, to dirs), deep nesting,
 * long and non-ASCII names (one above U+FFFF, which sorts differently in UTF-16),
 * hardlinks, xattrs, and many files in one directory.
 */
export async function makeAwkwardTree(dir: string, opts: { manyFiles?: number; owners?: boolean } = {}): Promise<void> {
  await mkdir(dir, { recursive: true });
  await writeFile(join(dir, 'empty'), '');
  await writeFile(join(dir, 'empty2'), '');
  await writeFile(join(dir, 'hello.txt'), 'hello world\n');
  await writeFile(join(dir, 'run.sh'), '#!/bin/sh\necho hi\n', { mode: 0o755 });
  await writeFile(join(dir, 'setuid-bin'), 'ELF-ish\n');
  await chmod(join(dir, 'setuid-bin'), 0o4755);
  await writeFile(join(dir, 'private'), 'secret\n');
  await chmod(join(dir, 'private'), 0o600);
  await symlink('hello.txt', join(dir, 'link'));
  await symlink('does/not/exist', join(dir, 'dangling'));
  await symlink('/usr/share/absolute', join(dir, 'absolute'));
  await mkdir(join(dir, 'sub'));
  await symlink('sub', join(dir, 'dirlink'));
  await writeFile(join(dir, 'sub', 'xa.txt'), 'xattr data\n');
  setXattr(join(dir, 'sub', 'xa.txt'), 'user.test', Buffer.from('value1'));
  setXattr(join(dir, 'sub', 'xa.txt'), 'user.alpha', Buffer.from('A'));
  setXattr(join(dir, 'sub'), 'user.dirattr', Buffer.from('on a directory'));
  await link(join(dir, 'hello.txt'), join(dir, 'sub', 'hardlink-to-hello'));
  let deep = join(dir, 'deep');
  for (let i = 0; i < 40; i++) deep = join(deep, `level${i}`);
  await mkdir(deep, { recursive: true });
  await writeFile(join(deep, 'bottom.txt'), 'at the bottom\n');
  await writeFile(join(dir, 'x'.repeat(255)), 'long name\n');
  const names = ['café.txt', 'naïve-Ünïcödé', '日本語.txt', 'emoji-😀.txt', 'a\uFFFD-replacement', 'z-last', 'Zcap', 'with space', 'with\nnewline'];
  for (const n of names) await writeFile(join(dir, 'sub', n), `name ${n}\n`);
  await mkdir(join(dir, 'empty-dir'));
  await mkdir(join(dir, 'ro-dir'));
  await writeFile(join(dir, 'ro-dir', 'inside'), 'inside a read-only dir\n');
  await chmod(join(dir, 'ro-dir'), 0o555);
  await mkdir(join(dir, 'many'));
  const n = opts.manyFiles ?? 1500;
  for (let i = 0; i < n; i++) await writeFile(join(dir, 'many', `f${String(i).padStart(5, '0')}`), `file ${i % 50}\n`);
  await writeFile(join(dir, 'big.bin'), createHash('sha256').update('seed').digest().toString('hex').repeat(40000));
  if (opts.owners && isRoot) {
    await chown(join(dir, 'private'), 1234, 5678);
    await chown(join(dir, 'sub'), 42, 43);
    await writeFile(join(dir, 'sgid-file'), 'sgid\n');
    await chown(join(dir, 'sgid-file'), 0, 100);
    await chmod(join(dir, 'sgid-file'), 0o2755);
  }
}

export interface TreeSnapshotEntry {
  path: string;
  type: 'd' | 'f' | 'l';
  mode: number;
  uid: number;
  gid: number;
  sha256?: string;
  target?: string;
  xattrs: string;
}

/** A comparable description of a tree (content, modes, owners, targets, xattrs). */
export async function snapshotTree(root: string, opts: { owners?: boolean; xattrs?: boolean; ignoreXattrs?: string[] } = {}): Promise<TreeSnapshotEntry[]> {
  const out: TreeSnapshotEntry[] = [];
  const walk = async (rel: string): Promise<void> => {
    const p = rel ? join(root, rel) : root;
    const st = await lstat(p);
    const xattrs = opts.xattrs === false ? '' : readAllXattrs(p).filter((x) => !(opts.ignoreXattrs ?? ['user.ostreemeta']).includes(x.name)).map((x) => `${x.name}=${x.value.toString('hex')}`).join(',');
    const base = { path: '/' + rel, mode: st.mode & 0o7777, uid: opts.owners === false ? 0 : st.uid, gid: opts.owners === false ? 0 : st.gid, xattrs };
    if (st.isDirectory()) {
      out.push({ ...base, type: 'd' });
      for (const name of (await readdir(p)).sort()) await walk(rel ? `${rel}/${name}` : name);
    } else if (st.isSymbolicLink()) {
      out.push({ ...base, type: 'l', target: await readlink(p) });
    } else {
      out.push({ ...base, type: 'f', sha256: createHash('sha256').update(await readFile(p)).digest('hex') });
    }
  };
  await walk('');
  return out;
}

/** Runs `fn` and returns the UpdaterError it throws (code and message); fails if it throws nothing. */
export function errorOf(fn: () => unknown, opts: { withHint?: boolean } = {}): { code: string; message: string; hint?: string } {
  try {
    fn();
  } catch (err) {
    if (isUpdaterError(err)) return opts.withHint ? { code: err.code, message: err.message, hint: err.hint } : { code: err.code, message: err.message };
    throw err;
  }
  throw new Error('expected an UpdaterError');
}

/** The UpdaterError `p` rejects with (fails the test if it resolves or rejects with something else). */
export async function rejectionOf(p: Promise<unknown>): Promise<{ code: string; message: string; hint?: string }> {
  try {
    await p;
  } catch (err) {
    if (isUpdaterError(err)) return err;
    throw err;
  }
  throw new Error('expected a rejection');
}

/** A tiny RPM for repo and depsolve tests: dependencies and a few small text files. */
export interface TestRpm {
  name: string;
  version?: string;
  release?: string;
  epoch?: number;
  /** Default noarch; other arches build too (no binaries are compiled). */
  arch?: string;
  requires?: string[];
  provides?: string[];
  recommends?: string[];
  suggests?: string[];
  supplements?: string[];
  conflicts?: string[];
  obsoletes?: string[];
  /** Absolute path → content. */
  files?: Record<string, string>;
}

/**
 * Builds `rpms` with rpmbuild into `outDir` and returns the file paths. Packages sharing
 * epoch/version/release/arch become subpackages of one spec, so a dozen packages take
 * one or two rpmbuild runs.
 */
export async function buildTestRpms(rpms: TestRpm[], outDir: string): Promise<string[]> {
  await mkdir(outDir, { recursive: true });
  const groups = new Map<string, TestRpm[]>();
  for (const r of rpms) {
    const key = `${r.epoch ?? ''}|${r.version ?? '1.0'}|${r.release ?? '1'}|${r.arch ?? 'noarch'}`;
    groups.set(key, [...(groups.get(key) ?? []), r]);
  }
  const top = await mkdtemp(join(tmpdir(), 'rpmbuild-'));
  try {
    let n = 0;
    for (const [key, members] of groups) {
      const [epoch, version, release, arch] = key.split('|') as [string, string, string, string];
      const lines = [
        '%global debug_package %{nil}', '%global __os_install_post %{nil}', '%define _build_id_links none',
        `Name: testgroup${n++}`, `Version: ${version}`, `Release: ${release}`, 'Summary: test packages', 'License: MIT',
        ...(epoch ? [`Epoch: ${epoch}`] : []), ...(arch === 'noarch' ? ['BuildArch: noarch'] : []),
        '%description', 'test packages',
      ];
      const install: string[] = [];
      const files: string[] = [];
      for (const r of members) {
        const deps = (tag: string, list?: string[]): string[] => (list ?? []).map((d) => `${tag}: ${d}`);
        lines.push(`%package -n ${r.name}`, `Summary: ${r.name}`,
          ...deps('Requires', r.requires), ...deps('Provides', r.provides), ...deps('Recommends', r.recommends),
          ...deps('Suggests', r.suggests), ...deps('Supplements', r.supplements), ...deps('Conflicts', r.conflicts),
          ...deps('Obsoletes', r.obsoletes), `%description -n ${r.name}`, r.name);
        files.push(`%files -n ${r.name}`);
        for (const [path, content] of Object.entries(r.files ?? {})) {
          install.push(`mkdir -p "%{buildroot}$(dirname '${path}')"`, `echo ${Buffer.from(content).toString('base64')} | base64 -d > "%{buildroot}${path}"`);
          files.push(path);
        }
      }
      const spec = join(top, `g${n}.spec`);
      await writeFile(spec, [...lines, '%install', ...install, ...files, ''].join('\n'));
      await runOk('rpmbuild', ['-bb', '--quiet', '--define', `_topdir ${join(top, 'top')}`, '--target', arch, spec]);
    }
    const out: string[] = [];
    const rpmsDir = join(top, 'top', 'RPMS');
    for (const a of await readdir(rpmsDir)) {
      for (const f of await readdir(join(rpmsDir, a))) {
        await writeFile(join(outDir, f), await readFile(join(rpmsDir, a, f)));
        out.push(join(outDir, f));
      }
    }
    return out.sort();
  } finally {
    await rm(top, { recursive: true, force: true });
  }
}
