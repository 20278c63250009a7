// The toplevel of an OSTree tree (rpm-ostree rust/src/composepost.rs: compose_init_rootfs,
// compose_prepare_rootfs, rootfs_prepare_links): only /usr, /boot and /var come from the
// install root, plus the compat links lib/lib64/lib32/bin/sbin; everything else is a fixed
// set of empty mount points and symlinks into /var, /run and /sysroot.

import { mkdirSync, renameSync, rmSync, rmdirSync, symlinkSync, chmodSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { UpdaterError } from '../../common/errors.ts';
import type { OptUsrlocal } from '../treefile/index.ts';
import { lstatOrNull } from '../../common/fs.ts';

export interface LayoutOptions {
  /** `tmp-is-dir`: /tmp a 1777 directory instead of a symlink to sysroot/tmp. */
  tmpIsDir: boolean;
  /** `opt-usrlocal` [var]: where /opt and /usr/local point. */
  optUsrlocal?: OptUsrlocal;
}

const TOPLEVEL_DIRS = ['dev', 'proc', 'run', 'sys', 'var', 'sysroot'];
/** Compat links copied from the install root when present (usr-merge links). */
const TOPLEVEL_LINKS = ['lib', 'lib64', 'lib32', 'bin', 'sbin'];

/** The fixed toplevel symlinks: [link name, target]. */
export function toplevelSymlinks(optUsrlocal: OptUsrlocal = 'var'): Array<[string, string]> {
  const links: Array<[string, string]> = [
    ['home', 'var/home'], ['root', 'var/roothome'], ['srv', 'var/srv'], ['mnt', 'var/mnt'],
    ['media', 'run/media'], ['ostree', 'sysroot/ostree'],
  ];
  if (optUsrlocal === 'var') links.push(['opt', 'var/opt']);
  else if (optUsrlocal === 'stateoverlay') links.push(['opt', 'usr/lib/opt']);
  return links;
}

/** Creates the fixed toplevel in an empty `rootfs` (compose_init_rootfs). */
export function initRootfs(rootfs: string, opts: LayoutOptions): void {
  mkdirSync(rootfs, { recursive: true });
  chmodSync(rootfs, 0o755);
  for (const d of TOPLEVEL_DIRS) mkdirSync(join(rootfs, d), { recursive: true, mode: 0o755 });
  for (const [link, target] of toplevelSymlinks(opts.optUsrlocal)) symlinkSync(target, join(rootfs, link));
  if (opts.optUsrlocal === 'root') mkdirSync(join(rootfs, 'opt'), { mode: 0o755 });
  if (opts.tmpIsDir) {
    mkdirSync(join(rootfs, 'tmp'));
    chmodSync(join(rootfs, 'tmp'), 0o1777);
  } else {
    symlinkSync('sysroot/tmp', join(rootfs, 'tmp'));
  }
}

/**
 * Builds the final tree at `dest` (which must not exist) from the install root `src`:
 * the fixed toplevel, then /usr, /boot and /var and the compat links moved (renamed) over.
 * Anything else in `src`'s toplevel stays behind (compose_prepare_rootfs).
 */
export function assembleRootfs(src: string, dest: string, opts: LayoutOptions): void {
  if (!lstatOrNull(join(src, 'usr'))?.isDirectory()) {
    throw new UpdaterError('ROOTFS_INVALID', `install root ${src} has no /usr directory`);
  }
  if (lstatOrNull(dest) !== null) throw new UpdaterError('ROOTFS_INVALID', `cannot assemble the tree at ${dest}: it already exists`);
  initRootfs(dest, opts);
  renameSync(join(src, 'usr'), join(dest, 'usr'));
  for (const name of ['boot', 'var']) {
    if (lstatOrNull(join(src, name)) === null) continue;
    // The fresh toplevel already has an empty var: the install root's replaces it.
    if (name === 'var') rmdirSync(join(dest, 'var'));
    renameSync(join(src, name), join(dest, name));
  }
  for (const name of TOPLEVEL_LINKS) {
    if (lstatOrNull(join(src, name)) !== null) renameSync(join(src, name), join(dest, name));
  }
}

/** Directories moved from /var/lib to /usr/lib, leaving a symlink (COMPAT_VARLIB_SYMLINKS). */
export const COMPAT_VARLIB = ['alternatives', 'vagrant'];

/**
 * /usr/local becomes a symlink to ../var/usrlocal (unless `opt-usrlocal: root`), and
 * /var/lib/alternatives and /var/lib/vagrant move to /usr/lib with a symlink back
 * (rootfs_prepare_links). Idempotent.
 */
export function prepareRootfsLinks(rootfs: string, optUsrlocal: OptUsrlocal = 'var'): void {
  if (optUsrlocal !== 'root') ensureSymlink(rootfs, 'usr/local', '../var/usrlocal', { replaceDir: 'always' });
  mkdirSync(join(rootfs, 'usr/lib'), { recursive: true, mode: 0o755 });
  for (const entry of COMPAT_VARLIB) {
    const varlib = join(rootfs, 'var/lib', entry);
    if (!lstatOrNull(varlib)?.isDirectory()) continue;
    const usrlib = join(rootfs, 'usr/lib', entry);
    rmSync(usrlib, { recursive: true, force: true });
    renameSync(varlib, usrlib);
    symlinkSync(`../../usr/lib/${entry}`, varlib);
  }
}

/**
 * Makes `rel` a symlink to `target`. An existing symlink is kept; an empty directory is
 * replaced (with `replaceDir: 'always'` a non-empty one too); anything else is an error.
 */
export function ensureSymlink(rootfs: string, rel: string, target: string, opts: { replaceDir?: 'empty' | 'always' } = {}): boolean {
  const path = join(rootfs, rel);
  const st = lstatOrNull(path);
  if (st?.isSymbolicLink()) return false;
  if (st?.isDirectory()) {
    if (opts.replaceDir === 'always') rmSync(path, { recursive: true });
    else rmdirSync(path);
  } else if (st !== null) {
    throw new UpdaterError('ROOTFS_INVALID', `cannot make /${rel} a symlink to ${target}: a file is in the way`);
  } else {
    mkdirSync(dirname(path), { recursive: true, mode: 0o755 });
  }
  symlinkSync(target, path);
  return true;
}
