// /var is never part of an OSTree commit: its directories and symlinks become tmpfiles.d
// lines created at boot (rpm-ostree composepost.rs var_to_tmpfiles, importer.rs
// translate_to_tmpfiles_d), and an integration file creates what the toplevel symlinks
// point at (rpm-ostree's rpm-ostree-0-integration.conf; ours is named atomic-0-…).

import { lstatSync, mkdirSync, readdirSync, readlinkSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { UpdaterError } from '../../common/errors.ts';
import type { OptUsrlocal } from '../treefile/index.ts';
import { readIdNames } from './passwd.ts';

export const TMPFILES_DIR = 'usr/lib/tmpfiles.d';
/** Same content as rpm-ostree-0-integration.conf; also our "final postprocessing done" marker. */
export const INTEGRATION_CONF = 'atomic-0-integration.conf';
export const INTEGRATION_OPT_USRLOCAL_CONF = 'atomic-0-integration-opt-usrlocal.conf';
/** What /var held after install (rpm-ostree-1-autovar.conf). */
export const AUTOVAR_CONF = 'atomic-1-autovar.conf';

/** State files known to appear in /var and to be harmless to drop. */
const KNOWN_STATE_FILES = [
  'var/lib/systemd/random-seed', 'var/lib/systemd/catalog/database', 'var/lib/plymouth/boot-duration', 'var/log/wtmp', 'var/log/btmp',
];

/** A path as tmpfiles.d wants it: /var/run is /run; odd characters are quoted. */
export function tmpfilesPath(abs: string): string {
  const p = abs.startsWith('/var/run/') ? abs.slice(4) : abs;
  if (/^[A-Za-z0-9_.\/@%+=:,-]+$/.test(p)) return p;
  return `'${p.replace(/'/g, `'\\''`)}'`;
}

/** One tmpfiles.d line: `d PATH MODE USER GROUP - -` or `L PATH - - - - TARGET`. */
export function tmpfilesLine(entry: { path: string; type: 'd' | 'f' | 'L'; mode?: number; user?: string; group?: string; target?: string }): string {
  const p = tmpfilesPath(entry.path);
  if (entry.type === 'L') return `L ${p} - - - - ${entry.target}`;
  return `${entry.type} ${p} ${(entry.mode ?? 0o755).toString(8).padStart(4, '0')} ${entry.user ?? 'root'} ${entry.group ?? 'root'} - -`;
}

export interface VarConversion {
  /** Lines written to atomic-1-autovar.conf, sorted. */
  lines: string[];
  /** Regular files and other non-directories dropped from /var (paths). */
  dropped: string[];
}

/**
 * Converts everything under /var into tmpfiles.d lines (directories with mode and owner
 * names from the tree's passwd/group, symlinks with their targets), writes them to
 * usr/lib/tmpfiles.d/atomic-1-autovar.conf, and leaves /var empty. Regular files are
 * dropped (reported), except under /var/lib/nfs as rpm-ostree keeps them. /var/run is not
 * traversed.
 */
export function convertVarToTmpfiles(rootfs: string): VarConversion {
  const ids = readIdNames(rootfs);
  const varDir = join(rootfs, 'var');
  mkdirSync(varDir, { recursive: true, mode: 0o755 });
  rmSync(join(rootfs, 'var/run'), { recursive: true, force: true });
  for (const f of KNOWN_STATE_FILES) rmSync(join(rootfs, f), { force: true });
  const lines = new Set<string>();
  const dropped: string[] = [];
  const walk = (rel: string): void => {
    for (const name of readdirSync(join(rootfs, rel))) {
      const r = `${rel}/${name}`;
      const st = lstatSync(join(rootfs, r));
      const abs = `/${r}`;
      if (st.isDirectory()) {
        lines.add(tmpfilesLine({ path: abs, type: 'd', mode: st.mode & 0o7777, user: ids.user(st.uid), group: ids.group(st.gid) }));
        walk(r);
      } else if (st.isSymbolicLink()) {
        lines.add(tmpfilesLine({ path: abs, type: 'L', target: readlinkSync(join(rootfs, r)) }));
      } else if (st.isFile() && r.startsWith('var/lib/nfs/')) {
        lines.add(tmpfilesLine({ path: abs, type: 'f', mode: st.mode & 0o7777, user: ids.user(st.uid), group: ids.group(st.gid) }));
      } else {
        dropped.push(abs);
      }
    }
  };
  walk('var');
  for (const name of readdirSync(varDir)) rmSync(join(varDir, name), { recursive: true, force: true });
  const sorted = [...lines].sort();
  mkdirSync(join(rootfs, TMPFILES_DIR), { recursive: true, mode: 0o755 });
  writeFileSync(join(rootfs, TMPFILES_DIR, AUTOVAR_CONF), sorted.map((l) => `${l}\n`).join(''), { mode: 0o644 });
  return { lines: sorted, dropped };
}

/** The integration file's content: the targets of the toplevel symlinks, and rpmdb/selinux links. */
export function integrationConf(): string {
  return [
    '# Created by atomic compose: what the OSTree toplevel symlinks point at.',
    'd /var/home 0755 root root -',
    'd /var/srv 0755 root root -',
    'd /var/roothome 0700 root root -',
    'd /var/mnt 0755 root root -',
    'd /run/media 0755 root root -',
    'L /var/lib/rpm - - - - ../../usr/share/rpm',
    'L /var/lib/selinux - - - - ../../etc/selinux',
    '',
  ].join('\n');
}

/** /opt and /usr/local live in /var with `opt-usrlocal: var`. */
export function integrationOptUsrlocalConf(): string {
  const dirs = ['bin', 'etc', 'games', 'include', 'lib', 'sbin', 'share', 'src'].map((d) => `d /usr/local/${d} 0755 root root -`);
  return ['# Created by atomic compose: /opt and /usr/local state in /var.', ...dirs, 'd /var/opt 0755 root root -', 'd /var/usrlocal 0755 root root -', ''].join('\n');
}

/** Writes the integration files (the opt/usrlocal one only with `opt-usrlocal: var`). */
export function writeTmpfilesIntegration(rootfs: string, optUsrlocal: OptUsrlocal = 'var'): void {
  const dir = join(rootfs, TMPFILES_DIR);
  mkdirSync(dir, { recursive: true, mode: 0o755 });
  writeFileSync(join(dir, INTEGRATION_CONF), integrationConf(), { mode: 0o644 });
  if (optUsrlocal === 'var') writeFileSync(join(dir, INTEGRATION_OPT_USRLOCAL_CONF), integrationOptUsrlocalConf(), { mode: 0o644 });
  else rmSync(join(dir, INTEGRATION_OPT_USRLOCAL_CONF), { force: true });
}

/** True once final postprocessing ran on this tree (the integration file is its marker). */
export function isPostprocessed(rootfs: string): boolean {
  try {
    return lstatSync(join(rootfs, TMPFILES_DIR, INTEGRATION_CONF)).isFile();
  } catch {
    return false;
  }
}

/** Guards against composing into a tree whose /var is not a plain directory. */
export function assertVarIsDir(rootfs: string): void {
  const st = lstatSync(join(rootfs, 'var'), { throwIfNoEntry: false });
  if (st !== undefined && !st.isDirectory()) throw new UpdaterError('ROOTFS_INVALID', `/var in ${rootfs} is not a directory`);
}
