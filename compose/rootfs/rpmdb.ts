// The rpm database moves into /usr, where it is part of the image (rpm-ostree
// composepost.rs compose_postprocess_rpmdb, postprocess_rpm_macro,
// hardlink_rpmdb_base_location, postprocess_cleanup_rpmdb): /usr/share/rpm holds it,
// /var/lib/rpm and /usr/lib/sysimage/rpm point at it, and a macro sets %_dbpath.

import { linkSync, lstatSync, mkdirSync, readdirSync, renameSync, rmSync, symlinkSync, unlinkSync, writeFileSync, chmodSync } from 'node:fs';
import { join } from 'node:path';

import { lstatOrNull } from '../../common/fs.ts';

export const RPMDB_LOCATION = 'usr/share/rpm';
export const TRADITIONAL_RPMDB_LOCATION = 'var/lib/rpm';
export const SYSIMAGE_RPMDB = 'usr/lib/sysimage/rpm';
/** A hardlinked copy of the base rpmdb, read by client-side package layering. */
export const BASE_RPMDB = 'usr/lib/sysimage/rpm-ostree-base-db';
export const RPM_MACROS_FILE = 'usr/lib/rpm/macros.d/macros.rpm-ostree';

function nonEmptyDir(path: string): boolean {
  const st = lstatOrNull(path);
  return st !== null && st.isDirectory() && readdirSync(path).length > 0;
}

function hardlinkTree(src: string, dest: string): void {
  const st = lstatSync(src);
  mkdirSync(dest, { recursive: true });
  chmodSync(dest, st.mode & 0o7777);
  for (const e of readdirSync(src, { withFileTypes: true })) {
    if (e.isDirectory()) hardlinkTree(join(src, e.name), join(dest, e.name));
    else linkSync(join(src, e.name), join(dest, e.name));
  }
}

/**
 * Puts the rpmdb at /usr/share/rpm (taking it from /var/lib/rpm or /usr/lib/sysimage/rpm,
 * wherever rpm wrote it), drops lock and Berkeley DB environment files, makes
 * /var/lib/rpm → ../../usr/share/rpm and /usr/lib/sysimage/rpm → ../../share/rpm, writes
 * the `%_dbpath /usr/share/rpm` macro, and hardlinks the base-db copy. Idempotent.
 */
export function relocateRpmdb(rootfs: string): void {
  const dbDir = join(rootfs, RPMDB_LOCATION);
  for (const candidate of [TRADITIONAL_RPMDB_LOCATION, SYSIMAGE_RPMDB]) {
    const p = join(rootfs, candidate);
    if (lstatOrNull(p)?.isDirectory() && nonEmptyDir(p) && !nonEmptyDir(dbDir)) {
      rmSync(dbDir, { recursive: true, force: true });
      mkdirSync(join(rootfs, 'usr/share'), { recursive: true, mode: 0o755 });
      renameSync(p, dbDir);
    }
  }
  if (lstatOrNull(dbDir)?.isDirectory()) {
    for (const name of readdirSync(dbDir)) {
      if (name === '.dbenv.lock' || name === '.rpm.lock' || name.startsWith('__db.')) unlinkSync(join(dbDir, name));
    }
  }
  // /var/lib/rpm: rpm-ostree also creates this link at boot through tmpfiles.
  rmSync(join(rootfs, TRADITIONAL_RPMDB_LOCATION), { recursive: true, force: true });
  mkdirSync(join(rootfs, 'var/lib'), { recursive: true, mode: 0o755 });
  symlinkSync('../../usr/share/rpm', join(rootfs, TRADITIONAL_RPMDB_LOCATION));

  mkdirSync(join(rootfs, 'usr/lib/rpm/macros.d'), { recursive: true, mode: 0o755 });
  writeFileSync(join(rootfs, RPM_MACROS_FILE), `%_dbpath /${RPMDB_LOCATION}\n`, { mode: 0o644 });

  if (!lstatOrNull(dbDir)?.isDirectory()) return;
  rmSync(join(rootfs, BASE_RPMDB), { recursive: true, force: true });
  hardlinkTree(dbDir, join(rootfs, BASE_RPMDB));
  // Fedora's rpm leaves a stamp in the sysimage dir it created; the link replaces both.
  rmSync(join(rootfs, SYSIMAGE_RPMDB), { recursive: true, force: true });
  mkdirSync(join(rootfs, 'usr/lib/sysimage'), { recursive: true, mode: 0o755 });
  symlinkSync('../../share/rpm', join(rootfs, SYSIMAGE_RPMDB));
}
