// Treefile `units` and `default-target` (rpm-ostree composepost.rs
// compose_postprocess_units / compose_postprocess_default_target). A unit is enabled with a
// symlink in the .wants directory of each target its [Install] WantedBy= names (RequiredBy=
// gives .requires); a unit without [Install] goes to multi-user.target.wants, which is
// where rpm-ostree puts every listed unit. Links live in /usr/etc/systemd/system.

import { existsSync, lstatSync, mkdirSync, readFileSync, rmSync, symlinkSync } from 'node:fs';
import { join } from 'node:path';
import { UpdaterError } from '../../common/errors.ts';

export const SYSTEM_UNIT_DIR = 'usr/lib/systemd/system';
export const ETC_UNIT_DIR = 'usr/etc/systemd/system';

/** [Install] WantedBy= and RequiredBy= of a unit file's text (pure; later lines add, empty resets). */
export function parseInstallSection(text: string): { wantedBy: string[]; requiredBy: string[] } {
  const out = { wantedBy: [] as string[], requiredBy: [] as string[] };
  let section = '';
  let logical = '';
  for (const raw of text.split('\n')) {
    // Backslash continuations join lines.
    if (raw.endsWith('\\')) {
      logical += raw.slice(0, -1) + ' ';
      continue;
    }
    const line = (logical + raw).trim();
    logical = '';
    if (line === '' || line.startsWith('#') || line.startsWith(';')) continue;
    const sec = /^\[(.+)\]$/.exec(line);
    if (sec) {
      section = sec[1]!;
      continue;
    }
    if (section !== 'Install') continue;
    const kv = /^([A-Za-z]+)\s*=\s*(.*)$/.exec(line);
    if (!kv) continue;
    const key = kv[1] === 'WantedBy' ? 'wantedBy' : kv[1] === 'RequiredBy' ? 'requiredBy' : null;
    if (key === null) continue;
    const vals = kv[2]!.split(/\s+/).filter((v) => v !== '');
    if (vals.length === 0) out[key] = [];
    else out[key].push(...vals);
  }
  return out;
}

/** The unit file for `unit` (template instances `foo@bar.service` use `foo@.service`). */
function unitFile(rootfs: string, unit: string): string | null {
  const direct = join(rootfs, SYSTEM_UNIT_DIR, unit);
  if (existsSync(direct)) return direct;
  const tmpl = /^([^@]+@)[^.]+(\..+)$/.exec(unit);
  if (tmpl) {
    const p = join(rootfs, SYSTEM_UNIT_DIR, `${tmpl[1]}${tmpl[2]}`);
    if (existsSync(p)) return p;
  }
  return null;
}

/**
 * Enables `units` (names, e.g. `sshd.service`) with symlinks to
 * /usr/lib/systemd/system/<unit>; an existing link is left alone. Returns the links made
 * (tree-relative) and warnings: a unit missing from /usr/lib/systemd/system is linked into
 * multi-user.target.wants anyway, as rpm-ostree does, with a warning.
 */
export function enableUnits(rootfs: string, units: string[], opts: { machineidCompat?: boolean } = {}): { links: string[]; warnings: string[] } {
  const warnings: string[] = [];
  if (units.length === 0) return { links: [], warnings };
  if (opts.machineidCompat === false) {
    throw new UpdaterError('ROOTFS_INVALID', 'treefile `units` cannot be used with `machineid-compat: false`', { hint: 'use systemd presets (/usr/lib/systemd/system-preset) instead' });
  }
  if (!existsSync(join(rootfs, 'usr/etc'))) throw new UpdaterError('ROOTFS_INVALID', `missing usr/etc in ${rootfs}`);
  const made: string[] = [];
  for (const unit of units) {
    if (unit.includes('/') || unit === '' || unit.startsWith('.')) throw new UpdaterError('ROOTFS_INVALID', `units: invalid unit name ${JSON.stringify(unit)}`);
    const file = unitFile(rootfs, unit);
    if (file === null) warnings.push(`units: ${unit} is not in /usr/lib/systemd/system; linking it into multi-user.target.wants`);
    const install = file === null ? { wantedBy: [], requiredBy: [] } : parseInstallSection(readFileSync(file, 'utf8'));
    const dirs = [...install.wantedBy.map((t) => `${t}.wants`), ...install.requiredBy.map((t) => `${t}.requires`)];
    if (dirs.length === 0) dirs.push('multi-user.target.wants');
    for (const d of dirs) {
      const rel = `${ETC_UNIT_DIR}/${d}/${unit}`;
      if (lstatSync(join(rootfs, rel), { throwIfNoEntry: false }) !== undefined) continue;
      mkdirSync(join(rootfs, ETC_UNIT_DIR, d), { recursive: true, mode: 0o755 });
      symlinkSync(`/usr/lib/systemd/system/${unit}`, join(rootfs, rel));
      made.push(rel);
    }
  }
  return { links: made, warnings };
}

/** `default-target`: /usr/lib/systemd/system/default.target → /usr/lib/systemd/system/<target>. */
export function setDefaultTarget(rootfs: string, target: string): void {
  if (target.includes('/') || !target.endsWith('.target')) {
    throw new UpdaterError('ROOTFS_INVALID', `default-target: ${JSON.stringify(target)} is not a target unit name`);
  }
  const path = join(rootfs, SYSTEM_UNIT_DIR, 'default.target');
  mkdirSync(join(rootfs, SYSTEM_UNIT_DIR), { recursive: true, mode: 0o755 });
  rmSync(path, { force: true });
  symlinkSync(`/usr/lib/systemd/system/${target}`, path);
}
