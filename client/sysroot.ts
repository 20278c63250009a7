// An OSTree sysroot on disk (format §9.1, §9.3): `ostree admin init-fs` / `os-init`
// layout, the sysroot lock, and loading the deployment list from the live
// /boot/loader -> loader.B entries and the ostree/boot.B -> boot.B.S symlink farm.

import { createHash } from 'node:crypto';
import { existsSync, lstatSync, readFileSync, readlinkSync, realpathSync, statSync, writeFileSync } from 'node:fs';
import { chmod, mkdir, open, readdir, readFile, symlink, type FileHandle } from 'node:fs/promises';
import { join } from 'node:path';
import { isErrno, UpdaterError } from '../common/errors.ts';
import { tryLockFd } from '../common/libc.ts';
import { getKarg, parseBlsEntry, parseKargs, parseOstreeBootlink, renderKargs, sortBlsEntries, type BootEntry } from '../bootloader/index.ts';
import { isChecksum, KeyFile, Repo } from '../store/index.ts';

/** Bootloader backends: `none`/`bls` write BLS entries only; `grub2` also writes loader.N/grub.cfg. */
export type BootloaderKind = 'none' | 'grub2';

/** One deployment: a checkout of a commit in a stateroot, plus its boot entry. */
export interface Deployment {
  /** Stateroot (OS name). */
  osname: string;
  /** Commit checksum. */
  csum: string;
  /** Distinguishes deployments of the same commit: 0, 1, … */
  deployserial: number;
  /** sha256 of kernel ‖ initramfs ‖ devicetree; names /boot/ostree/OS-BOOTCSUM. */
  bootcsum: string;
  /** Index among the listed deployments sharing bootcsum (from the entry's ostree=). */
  bootserial: number;
  /** Kernel arguments without `ostree=`. */
  kargs: string;
  /** The BLS entry it was loaded from; null for a deployment not written yet. */
  entry: BootEntry | null;
  /** The parsed `.origin`; null when the file is missing. */
  origin: KeyFile | null;
}

/** A loaded sysroot. */
export interface Sysroot {
  path: string;
  /** B of /boot/loader -> loader.B (0 when there is no boot configuration yet). */
  bootversion: 0 | 1;
  /** S of ostree/boot.B -> boot.B.S (0 when absent). */
  subbootversion: 0 | 1;
  /** True once /boot/loader exists. */
  hasLoader: boolean;
  /** In boot order: index 0 is the default. */
  deployments: Deployment[];
  /** The running deployment, when this sysroot is the booted one (see findBooted). */
  booted: Deployment | null;
  repo: Repo;
}

export interface LoadOptions {
  /** File holding the kernel command line of the running system (default /proc/cmdline; env ATOMIC_PROC_CMDLINE). */
  procCmdline?: string;
  /** The sysroot's repo, already open (its decoded-object caches carry over). */
  repo?: Repo;
}

export const REPO_SUBPATH = 'ostree/repo';
export const LOCK_SUBPATH = 'ostree/lock';

export function deploymentDir(sysroot: string, d: Pick<Deployment, 'osname' | 'csum' | 'deployserial'>): string {
  return join(sysroot, 'ostree/deploy', d.osname, 'deploy', `${d.csum}.${d.deployserial}`);
}

export function originPath(sysroot: string, d: Pick<Deployment, 'osname' | 'csum' | 'deployserial'>): string {
  return `${deploymentDir(sysroot, d)}.origin`;
}

export function deploymentName(d: Pick<Deployment, 'csum' | 'deployserial'>): string {
  return `${d.csum}.${d.deployserial}`;
}

export function sameDeployment(a: Deployment | null | undefined, b: Deployment | null | undefined): boolean {
  return !!a && !!b && a.osname === b.osname && a.csum === b.csum && a.deployserial === b.deployserial;
}

/** `ostree admin init-fs`: the top-level directories, ostree/deploy and a bare ostree/repo. */
export async function initSysroot(path: string, opts: { bootloader?: BootloaderKind } = {}): Promise<Repo> {
  await mkdir(path, { recursive: true });
  for (const d of ['boot', 'dev', 'home', 'proc', 'run', 'sys']) await mkdir(join(path, d), { recursive: true, mode: 0o755 });
  await mkdir(join(path, 'root'), { recursive: true, mode: 0o700 });
  await mkdir(join(path, 'tmp'), { recursive: true });
  await chmod(join(path, 'tmp'), 0o1777);
  await mkdir(join(path, 'ostree/deploy'), { recursive: true, mode: 0o755 });
  const repo = await Repo.init(join(path, REPO_SUBPATH), 'bare');
  if (opts.bootloader !== undefined) await setBootloader(repo, opts.bootloader);
  return repo;
}

/** `ostree admin os-init NAME`: the stateroot with its deploy/ dir and shared /var. */
export async function initStateroot(sysroot: string, osname: string): Promise<void> {
  validateOsname(osname);
  await openSysrootRepo(sysroot);
  const base = join(sysroot, 'ostree/deploy', osname);
  await mkdir(join(base, 'deploy'), { recursive: true, mode: 0o755 });
  const v = join(base, 'var');
  await mkdir(v, { recursive: true, mode: 0o755 });
  await mkdir(join(v, 'tmp'), { recursive: true });
  await chmod(join(v, 'tmp'), 0o1777);
  for (const d of ['lib', 'log']) await mkdir(join(v, d), { recursive: true, mode: 0o755 });
  for (const [name, target] of [['run', '../run'], ['lock', '../run/lock']] as const) {
    await symlink(target, join(v, name)).catch((err) => {
      if (!isErrno(err, 'EEXIST')) throw err;
    });
  }
}

export function validateOsname(osname: string): string {
  if (!/^[A-Za-z0-9_][A-Za-z0-9_.-]*$/.test(osname)) {
    throw new UpdaterError('DEPLOY_INVALID_OSNAME', `invalid stateroot name '${osname}'`, { hint: 'use letters, digits, "_", "-" and "."' });
  }
  return osname;
}

/** Opens `SYSROOT/ostree/repo`, failing with DEPLOY_NOT_A_SYSROOT when it is not there. */
export async function openSysrootRepo(sysroot: string): Promise<Repo> {
  try {
    statSync(join(sysroot, 'ostree/deploy'));
    return await Repo.open(join(sysroot, REPO_SUBPATH));
  } catch (err) {
    throw new UpdaterError('DEPLOY_NOT_A_SYSROOT', `${sysroot} is not an OSTree sysroot (no ostree/deploy and ostree/repo)`, {
      cause: err, hint: `create one with \`atomic host init --sysroot ${sysroot}\``,
    });
  }
}

/** `[sysroot] bootloader` of the sysroot repo config; `bls` is stored as ostree's `none`. */
export function getBootloader(repo: Repo): BootloaderKind {
  const v = repo.config.get('sysroot', 'bootloader') ?? 'none';
  if (v === 'none' || v === 'auto' || v === 'bls') return 'none';
  if (v === 'grub2') return 'grub2';
  throw new UpdaterError('BOOT_CONFIG_INVALID', `${repo.path}/config: [sysroot] bootloader=${v} is not supported`, { hint: 'use none, bls or grub2' });
}

export async function setBootloader(repo: Repo, kind: BootloaderKind): Promise<void> {
  repo.config.set('sysroot', 'bootloader', kind);
  await repo.saveConfig();
}

/** Parses the `--bootloader` value: none, bls (= none) or grub2. */
export function parseBootloaderKind(v: string): BootloaderKind {
  if (v === 'none' || v === 'bls') return 'none';
  if (v === 'grub2') return 'grub2';
  throw new UpdaterError('CLI_USAGE', `--bootloader: expected none, bls or grub2, got '${v}'`);
}

/** The exclusive sysroot lock (`ostree/lock`, an OFD lock as libostree takes): one transaction at a time. */
export interface SysrootLock {
  release(): Promise<void>;
}

/**
 * Takes the sysroot lock, waiting (never failing with "busy") while another process holds
 * it. OFD locks die with their process, so a lock left by a killed process is free at once.
 */
export async function lockSysroot(sysroot: string, onWait?: () => void): Promise<SysrootLock> {
  const path = join(sysroot, LOCK_SUBPATH);
  const fh: FileHandle = await open(path, 'a+', 0o600);
  let waited = false;
  try {
    while (!tryLockFd(fh.fd, 'exclusive', path)) {
      if (!waited) onWait?.();
      waited = true;
      await new Promise((r) => setTimeout(r, 100));
    }
  } catch (err) {
    await fh.close();
    throw err;
  }
  return { release: () => fh.close() };
}

function readLinkOrNull(path: string): string | null {
  try {
    return readlinkSync(path);
  } catch (err) {
    if (isErrno(err, 'ENOENT')) return null;
    if (isErrno(err, 'EINVAL')) throw new UpdaterError('DEPLOY_SYSROOT_INVALID', `${path} is not a symbolic link`);
    throw err;
  }
}

/** B of /boot/loader -> loader.B, or null when /boot/loader does not exist. */
export function readBootversion(sysroot: string): 0 | 1 | null {
  const path = join(sysroot, 'boot/loader');
  const target = readLinkOrNull(path);
  if (target === null) return null;
  if (target === 'loader.0') return 0;
  if (target === 'loader.1') return 1;
  throw new UpdaterError('DEPLOY_SYSROOT_INVALID', `${path} points to '${target}', expected loader.0 or loader.1`);
}

/** S of ostree/boot.B -> boot.B.S (0 when the link is absent, as ostree counts it). */
export function readSubbootversion(sysroot: string, bootversion: 0 | 1): 0 | 1 {
  const path = join(sysroot, `ostree/boot.${bootversion}`);
  const target = readLinkOrNull(path);
  if (target === null) return 0;
  if (target === `boot.${bootversion}.0`) return 0;
  if (target === `boot.${bootversion}.1`) return 1;
  throw new UpdaterError('DEPLOY_SYSROOT_INVALID', `${path} points to '${target}', expected boot.${bootversion}.0 or boot.${bootversion}.1`);
}

/** Reads a deployment's `.origin`; null when absent, DEPLOY_ORIGIN_INVALID when unparsable. */
export function readOrigin(path: string): KeyFile | null {
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (err) {
    if (isErrno(err, 'ENOENT')) return null;
    throw err;
  }
  try {
    return KeyFile.parse(text, path);
  } catch (err) {
    throw new UpdaterError('DEPLOY_ORIGIN_INVALID', `origin file ${path} is corrupt: ${(err as Error).message}`, {
      cause: err, hint: 'fix or remove the file; deploy a refspec explicitly to write a new one',
    });
  }
}

/** Loads one BLS entry into a Deployment by resolving its `ostree=` bootlink through the farm. */
function deploymentFromEntry(sysroot: string, bootversion: 0 | 1, entry: BootEntry, file: string): Deployment {
  const args = parseKargs(entry.options);
  const value = getKarg(args, 'ostree');
  if (typeof value !== 'string') throw new UpdaterError('DEPLOY_SYSROOT_INVALID', `${file}: no ostree= kernel argument`);
  const link = parseOstreeBootlink(value, `${file}: ostree=`);
  const linkPath = join(sysroot, 'ostree', `boot.${bootversion}`, link.osname, link.bootcsum, String(link.bootserial));
  const target = readLinkOrNull(linkPath);
  if (target === null) throw new UpdaterError('DEPLOY_SYSROOT_INVALID', `${file}: bootlink ${linkPath} does not exist`);
  const m = /^\.\.\/\.\.\/\.\.\/deploy\/([^/]+)\/deploy\/([0-9a-f]{64})\.([0-9]+)$/.exec(target);
  if (m === null || m[1] !== link.osname || !isChecksum(m[2]!)) {
    throw new UpdaterError('DEPLOY_SYSROOT_INVALID', `bootlink ${linkPath} -> '${target}' is not ../../../deploy/${link.osname}/deploy/CSUM.SERIAL`);
  }
  const d: Deployment = {
    osname: link.osname, csum: m[2]!, deployserial: Number(m[3]), bootcsum: link.bootcsum, bootserial: link.bootserial,
    kargs: renderKargs(args.filter((a) => a.key !== 'ostree')),
    entry, origin: null,
  };
  if (!existsSync(deploymentDir(sysroot, d))) {
    throw new UpdaterError('DEPLOY_SYSROOT_INVALID', `${file}: deployment ${deploymentDir(sysroot, d)} does not exist`);
  }
  d.origin = readOrigin(originPath(sysroot, d));
  return d;
}

/** Lists the deployments of the current boot configuration, in boot order. */
export async function loadDeployments(sysroot: string, bootversion: 0 | 1): Promise<Deployment[]> {
  const dir = join(sysroot, `boot/loader.${bootversion}/entries`);
  let names: string[];
  try {
    names = (await readdir(dir)).filter((n) => n.startsWith('ostree-') && n.endsWith('.conf')).sort();
  } catch (err) {
    if (isErrno(err, 'ENOENT')) return [];
    throw err;
  }
  const entries: { entry: BootEntry; file: string; version: string }[] = [];
  for (const n of names) {
    const file = join(dir, n);
    const entry = parseBlsEntry(await readFile(file, 'utf8'), file);
    entries.push({ entry, file, version: entry.version });
  }
  return sortBlsEntries(entries).map((e) => deploymentFromEntry(sysroot, bootversion, e.entry, e.file));
}

/**
 * The booted deployment, as ostree finds it: on a booted host (/run/ostree-booted and
 * sysroot `/`) the deployment directory with the device/inode of `/`. With an explicit
 * command line (option or ATOMIC_PROC_CMDLINE, for tests and image tools), its `ostree=`
 * resolved under the sysroot like ostree-prepare-root does; null if it no longer resolves.
 */
export function findBooted(sysroot: string, deployments: readonly Deployment[], opts: LoadOptions = {}): Deployment | null {
  const cmdlinePath = opts.procCmdline ?? process.env.ATOMIC_PROC_CMDLINE;
  let target: { dev: number; ino: number } | null = null;
  if (cmdlinePath !== undefined) return bootedFromCmdline(sysroot, deployments, cmdlinePath);
  if (realpathSync(sysroot) === '/' && existsSync('/run/ostree-booted')) {
    const st = statSync('/');
    target = { dev: st.dev, ino: st.ino };
  }
  if (target === null) return null;
  for (const d of deployments) {
    const st = lstatSync(deploymentDir(sysroot, d));
    if (st.dev === target.dev && st.ino === target.ino) return d;
  }
  return null;
}

/**
 * An injected command line stands for a boot: its `ostree=` is resolved like
 * ostree-prepare-root does (realpath under the sysroot), and the result is remembered in
 * `CMDLINE.atomic-booted` for as long as the command line file is unchanged, as the
 * bind mount of / keeps it on a real host after the boot links are rewritten.
 */
function bootedFromCmdline(sysroot: string, deployments: readonly Deployment[], cmdlinePath: string): Deployment | null {
  let text: string;
  let stamp: string;
  try {
    text = readFileSync(cmdlinePath, 'utf8');
    stamp = `${statSync(cmdlinePath, { bigint: true }).mtimeNs} ${createHash('sha256').update(text).update(realpathSync(sysroot)).digest('hex')}`;
  } catch (err) {
    if (isErrno(err, 'ENOENT')) return null;
    throw err;
  }
  const memo = `${cmdlinePath}.atomic-booted`;
  const byName = (name: string): Deployment | null => deployments.find((d) => `${d.osname}/${d.csum}.${d.deployserial}` === name) ?? null;
  try {
    const [seen, name] = readFileSync(memo, 'utf8').split('\n');
    if (seen === stamp && name !== undefined) return byName(name);
  } catch {
    // not resolved since this boot
  }
  const v = getKarg(parseKargs(text.trim()), 'ostree');
  if (typeof v !== 'string') return null;
  let resolved: string;
  try {
    resolved = realpathSync(join(sysroot, v));
  } catch {
    return null;
  }
  const m = /\/ostree\/deploy\/([^/]+)\/deploy\/([0-9a-f]{64}\.[0-9]+)$/.exec(resolved);
  if (m === null) return null;
  const name = `${m[1]}/${m[2]}`;
  try {
    writeFileSync(memo, `${stamp}\n${name}\n`);
  } catch {
    // read-only location: resolve again next time
  }
  return byName(name);
}

/** Loads the sysroot: repo, boot versions, deployments and the booted one. */
export async function loadSysroot(path: string, opts: LoadOptions = {}): Promise<Sysroot> {
  const repo = opts.repo ?? (await openSysrootRepo(path));
  const bv = readBootversion(path);
  const bootversion = bv ?? 0;
  const subbootversion = readSubbootversion(path, bootversion);
  const deployments = bv === null ? [] : await loadDeployments(path, bootversion);
  const booted = findBooted(path, deployments, opts);
  return { path, bootversion, subbootversion, hasLoader: bv !== null, deployments, booted, repo };
}

/** pending = first deployment of the booted stateroot before the booted one; rollback = first after it (§9.3). */
export function pendingAndRollback(s: Sysroot, osname?: string): { pending: Deployment | null; rollback: Deployment | null } {
  const os = osname ?? s.booted?.osname;
  if (s.booted === null) return { pending: null, rollback: null };
  const i = s.deployments.findIndex((d) => sameDeployment(d, s.booted));
  const before = s.deployments.slice(0, i).find((d) => d.osname === os) ?? null;
  const after = s.deployments.slice(i + 1).find((d) => d.osname === os) ?? null;
  return { pending: before, rollback: after };
}

/** The source of /etc and kernel arguments: the booted deployment of this stateroot, else its first one. */
export function mergeDeployment(s: Sysroot, osname: string): Deployment | null {
  if (s.booted !== null && s.booted.osname === osname) return s.booted;
  return s.deployments.find((d) => d.osname === osname) ?? null;
}

/** The stateroot to act on: --os, else the booted one, else the only one deployed or initialised. */
export async function resolveOsname(s: Sysroot, osname: string | undefined): Promise<string> {
  if (osname !== undefined) {
    validateOsname(osname);
    if (!existsSync(join(s.path, 'ostree/deploy', osname, 'deploy'))) {
      throw new UpdaterError('DEPLOY_NO_STATEROOT', `stateroot '${osname}' does not exist in ${s.path}`, { hint: `run \`atomic host os-init ${osname} --sysroot ${s.path}\`` });
    }
    return osname;
  }
  if (s.booted !== null) return s.booted.osname;
  if (s.deployments.length > 0) return s.deployments[0]!.osname;
  const roots = await readdir(join(s.path, 'ostree/deploy')).catch(() => [] as string[]);
  if (roots.length === 1) return roots[0]!;
  throw new UpdaterError('DEPLOY_NO_STATEROOT', roots.length === 0 ? `no stateroot in ${s.path}` : `several stateroots in ${s.path}: ${roots.join(', ')}`, {
    hint: roots.length === 0 ? 'run `atomic host os-init NAME`' : 'choose one with --os',
  });
}
