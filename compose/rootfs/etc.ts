// /etc becomes /usr/etc, the defaults of ostree's three-way /etc merge (rpm-ostree
// compose_postprocess and passwd_cleanup); shadow-utils' lock and backup files go.
// Also machine-id compatibility (rpm-ostree `machineid-compat`).

import { mkdirSync, readdirSync, renameSync, rmdirSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { UpdaterError } from '../../common/errors.ts';
import { lstatOrNull } from '../../common/fs.ts';

/** Lock and backup files shadow-utils leaves behind; never part of a commit. */
export const PWGRP_LOCK_AND_BACKUP_FILES = ['.pwd.lock', 'passwd-', 'group-', 'shadow-', 'gshadow-', 'subuid-', 'subgid-'];

/** Moves `src` into `dest` entry by entry; an entry present in both is an error. */
function mergeInto(src: string, dest: string, shown: string): void {
  for (const name of readdirSync(src)) {
    const s = join(src, name);
    const d = join(dest, name);
    const ds = lstatOrNull(d);
    if (ds === null) {
      renameSync(s, d);
    } else if (ds.isDirectory() && lstatOrNull(s)!.isDirectory()) {
      mergeInto(s, d, `${shown}/${name}`);
    } else {
      throw new UpdaterError('ROOTFS_INVALID', `${shown}/${name} exists in both /etc and /usr/etc`, {
        hint: 'package files are imported into /usr/etc; a script wrote the same path into /etc',
      });
    }
  }
  rmdirSync(src);
}

/**
 * Renames `etc` to `usr/etc` (merging when packages already populated usr/etc), then
 * removes the lock and backup files (`passwd-`, `.pwd.lock`, …). Returns false when the
 * tree has no /etc at all.
 */
export function moveEtcToUsrEtc(rootfs: string): boolean {
  const etc = join(rootfs, 'etc');
  const usrEtc = join(rootfs, 'usr/etc');
  const st = lstatOrNull(etc);
  if (st !== null && !st.isDirectory()) throw new UpdaterError('ROOTFS_INVALID', `/etc in ${rootfs} is not a directory`);
  if (st !== null) {
    if (lstatOrNull(usrEtc) === null) renameSync(etc, usrEtc);
    else mergeInto(etc, usrEtc, '/etc');
  }
  if (lstatOrNull(usrEtc) === null) return false;
  for (const f of PWGRP_LOCK_AND_BACKUP_FILES) rmSync(join(usrEtc, f), { force: true });
  return true;
}

/**
 * `machineid-compat: true` ships an empty /usr/etc/machine-id (systemd then treats the
 * first boot like any boot); false removes it (first-boot semantics, `systemctl preset-all`).
 */
export function applyMachineIdCompat(rootfs: string, compat: boolean): void {
  const path = join(rootfs, 'usr/etc/machine-id');
  if (compat) {
    mkdirSync(join(rootfs, 'usr/etc'), { recursive: true, mode: 0o755 });
    writeFileSync(path, '', { mode: 0o444 });
  } else {
    rmSync(path, { force: true });
  }
}
