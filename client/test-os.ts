// Test fixtures for the host client (not a test file): tiny OS trees with a kernel
// that says "a kernel", committed into a sysroot's repo, as ostree's libtest.sh
// setup_os_repository does.

import { existsSync, lstatSync, readdirSync, readFileSync, readlinkSync, realpathSync } from 'node:fs';
import { mkdir, symlink, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { expect } from 'vitest';
import { getKarg, parseKargs } from '../bootloader/index.ts';
import { commitDirectory, listTree, Repo, variant, type TreeEntry } from '../store/index.ts';
import { deploymentDir, loadSysroot } from './sysroot.ts';
import { lstatOrNull } from '../common/fs.ts';

export const KVER = '5.10.0-test';

export interface OsTreeOptions {
  version: string;
  /** Kernel contents (changes the bootcsum). */
  kernel?: string;
  initramfs?: string | null;
  /** Files under usr/etc: path → content (a value starting with '->' makes a symlink). */
  etc?: Record<string, string>;
  /** Extra files: path → content. */
  files?: Record<string, string | Uint8Array>;
  /** `rpmostree.rpmdb.pkglist` entries as `NAME-[E:]V-R.ARCH`. */
  packages?: string[];
}

/** `NAME-[E:]V-R.ARCH` → the (sssss) tuple of rpmostree.rpmdb.pkglist. */
export function pkglistEntry(nevra: string): [string, string, string, string, string] {
  const m = /^(.+)-(?:(\d+):)?([^-]+)-([^-]+)\.([^.]+)$/.exec(nevra);
  if (m === null) throw new Error(`bad NEVRA ${nevra}`);
  return [m[1]!, m[2] ?? '0', m[3]!, m[4]!, m[5]!];
}

/** Writes an OS tree into `dir`. */
export async function makeOsTree(dir: string, o: OsTreeOptions): Promise<void> {
  const mod = join(dir, 'usr/lib/modules', KVER);
  await mkdir(mod, { recursive: true });
  await writeFile(join(mod, 'vmlinuz'), o.kernel ?? 'KERNEL A\n');
  if (o.initramfs !== null) await writeFile(join(mod, 'initramfs.img'), o.initramfs ?? 'INITRAMFS A\n');
  await writeFile(join(dir, 'usr/lib/os-release'), 'NAME=TestOS\nID=testos\nPRETTY_NAME="TestOS"\n');
  await mkdir(join(dir, 'usr/bin'), { recursive: true });
  await writeFile(join(dir, 'usr/bin/hello'), `#!/bin/sh\necho hello ${o.version}\n`, { mode: 0o755 });
  for (const d of ['var', 'sysroot', 'boot', 'proc', 'sys', 'dev', 'run', 'tmp']) await mkdir(join(dir, d), { recursive: true });
  await symlink('sysroot/ostree', join(dir, 'ostree'));
  for (const [p, content] of Object.entries(o.etc ?? { 'os.conf': `version ${o.version}\n` })) {
    const full = join(dir, 'usr/etc', p);
    await mkdir(join(full, '..'), { recursive: true });
    if (content.startsWith('->')) await symlink(content.slice(2), full);
    else await writeFile(full, content);
  }
  for (const [p, content] of Object.entries(o.files ?? {})) {
    await mkdir(join(dir, p, '..'), { recursive: true });
    await writeFile(join(dir, p), content);
  }
}

/** Builds a tree in `work` and commits it to `branch` of the repo at `repoPath`; returns the checksum. */
export async function commitOsTree(repoPath: string, branch: string, work: string, o: OsTreeOptions & { timestamp?: number }): Promise<string> {
  await makeOsTree(work, o);
  const repo = await Repo.open(repoPath);
  const metadata: Array<[string, ReturnType<typeof variant>]> = [['version', variant('s', o.version)]];
  if (o.packages) metadata.push(['rpmostree.rpmdb.pkglist', variant('a(sssss)', o.packages.map(pkglistEntry))]);
  const res = await commitDirectory(repo, work, { branch, subject: `TestOS ${o.version}`, timestamp: o.timestamp, metadata });
  return res.checksum;
}

/** A sysroot with one stateroot `testos`, ready for deploys (library calls, no CLI). */
export async function makeSysroot(tmp: string, opts: { bootloader?: 'none' | 'grub2' } = {}): Promise<string> {
  const { initSysroot, initStateroot } = await import('./sysroot.ts');
  const sysroot = join(tmp, 'sysroot');
  await initSysroot(sysroot, { bootloader: opts.bootloader });
  await initStateroot(sysroot, 'testos');
  return sysroot;
}

/** "Reboots" into the current default: writes its options as the kernel command line file. */
export async function bootDefault(sysroot: string, cmdlineFile: string, index = 0): Promise<void> {

  const s = await loadSysroot(sysroot, { procCmdline: '/nonexistent' });
  const e = s.deployments[index]?.entry;
  if (!e) throw new Error(`no deployment ${index} to boot`);
  await writeFile(cmdlineFile, `BOOT_IMAGE=${e.linux} ${e.options}\n`);
}

/** A commit's tree (without /etc, which a deployment has merged), read once per commit. */
const listings = new Map<string, TreeEntry[]>();
async function commitListing(repo: Repo, csum: string): Promise<TreeEntry[]> {
  let l = listings.get(csum);
  if (l === undefined) {
    l = [];
    for await (const e of listTree(repo, csum, '/', true)) if (e.path !== '/' && e.path !== '/etc' && !e.path.startsWith('/etc/')) l.push(e);
    listings.set(csum, l);
  }
  return l;
}

/** What is wrong with a deployment directory: every entry of its commit there (type, size, link target), /etc and the origin. */
async function deploymentProblems(repo: Repo, dir: string, csum: string): Promise<string[]> {
  const problems: string[] = [];
  for (const e of await commitListing(repo, csum)) {
    let st;
    try {
      st = lstatSync(dir + e.path);
    } catch {
      problems.push(`${e.path} is missing`);
      continue;
    }
    if (e.type === 'd' ? !st.isDirectory() : e.type === 'l' ? !st.isSymbolicLink() || readlinkSync(dir + e.path) !== e.target : !st.isFile() || st.size !== e.size) {
      problems.push(`${e.path} differs from the commit`);
    }
  }
  if (existsSync(join(dir, 'usr/etc'))) {
    for (const name of readdirSync(join(dir, 'usr/etc'), { recursive: true })) {
      if (lstatOrNull(join(dir, 'etc', String(name))) === null) problems.push(`/etc/${name} is missing`);
    }
  }
  if (!existsSync(`${dir}.origin`)) problems.push('the origin file is missing');
  return problems;
}

/**
 * Everything the bootloader would read exists and is complete: one entry per deployment,
 * its `linux` and `initrd` are the deployment's own kernel and initramfs, its `ostree=`
 * resolves (through the boot.B.S farm) to the deployment, whose tree is its commit's
 * whole tree with /etc and the origin, and the commit is whole in the repo. Returns the
 * deployed checksums, default first.
 */
export async function assertBootable(sysroot: string): Promise<string[]> {
  const s = await loadSysroot(sysroot, { procCmdline: '/nonexistent' });
  const loader = join(sysroot, 'boot/loader');
  const entryFiles = readdirSync(join(loader, 'entries'));
  expect(entryFiles).toHaveLength(s.deployments.length);
  for (const d of s.deployments) {
    const e = d.entry!;
    const dir = deploymentDir(sysroot, d);
    const modules = join(dir, 'usr/lib/modules', KVER);
    expect(readFileSync(join(sysroot, 'boot', e.linux), 'utf8')).toBe(readFileSync(join(modules, 'vmlinuz'), 'utf8'));
    expect(readFileSync(join(sysroot, 'boot', e.initrd!), 'utf8')).toBe(readFileSync(join(modules, 'initramfs.img'), 'utf8'));
    const target = realpathSync(join(sysroot, getKarg(parseKargs(e.options), 'ostree') as string));
    expect(target).toBe(realpathSync(dir));
    expect(readFileSync(join(target, 'usr/bin/hello'), 'utf8')).toContain('echo hello');
    expect(await s.repo.isCommitPartial(d.csum), `commit ${d.csum} is partial`).toBe(false);
    expect(await deploymentProblems(s.repo, dir, d.csum), `deployment ${d.csum}.${d.deployserial}`).toEqual([]);
  }
  return s.deployments.map((d) => d.csum);
}

/**
 * Temporary files an interrupted run may leave (none after a rerun): under /boot and
 * ostree/ (with the marker of an interrupted cleanup), and in the repo's tmp/ anything but ostree's cache/ and an empty
 * pull-partial/ (a staging directory, a partial download).
 */
export function leftovers(sysroot: string): string[] {
  const out: string[] = [];
  const walk = (dir: string, depth: number): void => {
    for (const e of readdirSync(dir, { withFileTypes: true })) {
      const p = join(dir, e.name);
      if (/\.tmp(-|$)|etc-tmp|^\.atomic-.*-pending$/.test(e.name)) out.push(p);
      if (e.isDirectory() && depth > 0 && !p.endsWith('ostree/repo/objects') && !p.endsWith('ostree/repo/tmp')) walk(p, depth - 1);
    }
  };
  walk(join(sysroot, 'boot'), 3);
  walk(join(sysroot, 'ostree'), 6);
  const tmp = join(sysroot, 'ostree/repo/tmp');
  for (const name of existsSync(tmp) ? readdirSync(tmp) : []) {
    if (name === 'cache') continue;
    if (name !== 'pull-partial') out.push(join(tmp, name));
    else for (const part of readdirSync(join(tmp, name))) out.push(join(tmp, name, part));
  }
  return out;
}
