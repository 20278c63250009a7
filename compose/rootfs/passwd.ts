// Users and groups in the tree (rpm-ostree rust/src/passwd.rs, composepost.rs): the split
// into /etc (root only, plus `etc-group-members`) and /usr/lib (nss-altfiles), nsswitch's
// `altfiles`, useradd's HOME, `preserve-passwd` seeding, and the `check-passwd` /
// `check-groups` validation with `ignore-removed-users` / `ignore-removed-groups`.

import { existsSync, lstatSync, readdirSync, readFileSync, writeFileSync, appendFileSync, mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { isErrno, UpdaterError } from '../../common/errors.ts';
import type { CheckGroups, CheckPasswd } from '../treefile/index.ts';

/** One /etc/passwd line. */
export interface PasswdEntry {
  name: string;
  passwd: string;
  uid: number;
  gid: number;
  gecos: string;
  home: string;
  shell: string;
}

/** One /etc/group line. */
export interface GroupEntry {
  name: string;
  passwd: string;
  gid: number;
  members: string[];
}

function readOrNull(path: string): string | null {
  try {
    return readFileSync(path, 'utf8');
  } catch (err) {
    if (isErrno(err, 'ENOENT')) return null;
    throw err;
  }
}

function contentLines(text: string): Array<[number, string]> {
  return text.split('\n').map((l, i) => [i + 1, l] as [number, string]).filter(([, l]) => l.trim() !== '' && !l.startsWith('#'));
}

function id(field: string | undefined, where: string, what: string): number {
  if (field === undefined || !/^\d+$/.test(field)) throw new UpdaterError('ROOTFS_PASSWD_INVALID', `${where}: invalid ${what} ${JSON.stringify(field ?? '')}`);
  return Number(field);
}

/** Parses passwd content; `source` names it in errors. */
export function parsePasswd(text: string, source = 'passwd'): PasswdEntry[] {
  return contentLines(text).map(([n, l]) => {
    const f = l.split(':');
    if (f.length !== 7) throw new UpdaterError('ROOTFS_PASSWD_INVALID', `${source}:${n}: expected 7 fields, got ${f.length}`);
    return { name: f[0]!, passwd: f[1]!, uid: id(f[2], `${source}:${n}`, 'uid'), gid: id(f[3], `${source}:${n}`, 'gid'), gecos: f[4]!, home: f[5]!, shell: f[6]! };
  });
}

/** Parses group content; `source` names it in errors. */
export function parseGroup(text: string, source = 'group'): GroupEntry[] {
  return contentLines(text).map(([n, l]) => {
    const f = l.split(':');
    if (f.length !== 4) throw new UpdaterError('ROOTFS_PASSWD_INVALID', `${source}:${n}: expected 4 fields, got ${f.length}`);
    return { name: f[0]!, passwd: f[1]!, gid: id(f[2], `${source}:${n}`, 'gid'), members: f[3] === '' ? [] : f[3]!.split(',') };
  });
}

export const formatPasswd = (es: PasswdEntry[]): string => es.map((e) => `${e.name}:${e.passwd}:${e.uid}:${e.gid}:${e.gecos}:${e.home}:${e.shell}\n`).join('');
export const formatGroup = (es: GroupEntry[]): string => es.map((e) => `${e.name}:${e.passwd}:${e.gid}:${e.members.join(',')}\n`).join('');

/**
 * Splits /usr/etc/passwd and /usr/etc/group: entries with uid/gid 0 stay in /usr/etc, all
 * others are appended to /usr/lib/passwd and /usr/lib/group; groups named in
 * `etcGroupMembers` are written to both, so people can be added to them on the host.
 */
export function splitPasswdGroup(rootfs: string, etcGroupMembers: string[] = []): void {
  mkdirSync(join(rootfs, 'usr/lib'), { recursive: true, mode: 0o755 });
  const etcPasswd = join(rootfs, 'usr/etc/passwd');
  const passwdText = readOrNull(etcPasswd);
  if (passwdText !== null) {
    const entries = parsePasswd(passwdText, '/usr/etc/passwd');
    appendFileSync(join(rootfs, 'usr/lib/passwd'), formatPasswd(entries.filter((e) => e.uid !== 0)), { mode: 0o644 });
    writeFileSync(etcPasswd, formatPasswd(entries.filter((e) => e.uid === 0)), { mode: 0o644 });
  }
  const etcGroup = join(rootfs, 'usr/etc/group');
  const groupText = readOrNull(etcGroup);
  if (groupText !== null) {
    const entries = parseGroup(groupText, '/usr/etc/group');
    const others = entries.filter((e) => e.gid !== 0);
    appendFileSync(join(rootfs, 'usr/lib/group'), formatGroup(others), { mode: 0o644 });
    const kept = [...entries.filter((e) => e.gid === 0), ...others.filter((e) => etcGroupMembers.includes(e.name))];
    writeFileSync(etcGroup, formatGroup(kept), { mode: 0o644 });
  }
}

/** nsswitch.conf with `altfiles` after `files` on the passwd: and group: lines (pure). */
export function addAltfiles(text: string): string {
  let out = '';
  const lines = text.split('\n');
  if (lines.at(-1) === '') lines.pop();
  for (const line of lines) {
    const m = /^(passwd:|group:)(.*)$/.exec(line);
    if (!m) {
      out += `${line}\n`;
      continue;
    }
    const words = m[2]!.split(/\s+/).filter((w) => w !== '');
    if (words.includes('altfiles')) return text;
    const i = words.indexOf('files');
    if (i >= 0) words.splice(i + 1, 0, 'altfiles');
    else words.push('altfiles');
    out += `${m[1]} ${words.join(' ')}\n`;
  }
  return out;
}

/** Adds `altfiles` to /usr/etc/nsswitch.conf, unless it is a symlink (owned by authselect). */
export function nsswitchAltfiles(rootfs: string): void {
  const path = join(rootfs, 'usr/etc/nsswitch.conf');
  let st;
  try {
    st = lstatSync(path);
  } catch (err) {
    if (isErrno(err, 'ENOENT')) return;
    throw err;
  }
  if (st.isSymbolicLink()) return;
  writeFileSync(path, addAltfiles(readFileSync(path, 'utf8')), { mode: 0o644 });
}

/** useradd's default HOME becomes /var/home, where /home points (postprocess_useradd). */
export function patchUseraddHome(rootfs: string): void {
  const path = join(rootfs, 'usr/etc/default/useradd');
  const text = readOrNull(path);
  if (text === null) return;
  const lines = text.split('\n');
  if (lines.at(-1) === '') lines.pop();
  writeFileSync(path, lines.map((l) => (l.startsWith('HOME=') ? 'HOME=/var/home' : l)).join('\n') + '\n', { mode: 0o644 });
}

function uniqueConcat<T extends { name: string }>(...lists: T[][]): T[] {
  const seen = new Set<string>();
  const out: T[] = [];
  for (const l of lists) for (const e of l) if (!seen.has(e.name)) { seen.add(e.name); out.push(e); }
  return out;
}

/** passwd/group content from before this compose: the previous commit's or a check file's. */
export interface PasswdGroupSeed {
  passwd: string;
  group: string;
}

/**
 * `preserve-passwd` (before any package is installed): writes the seed into the install
 * root's /etc/passwd and /etc/group so `useradd` in %pre scripts keeps the earlier ids.
 * From the previous commit pass the concatenation of its /usr/etc and /usr/lib files
 * (see `previousPasswdGroup`); with check-passwd `file`, that file's content. Entries
 * are deduplicated by name, first wins. Shadow files are written to match (file seeds).
 */
export function seedPasswdGroup(installRoot: string, seed: PasswdGroupSeed, opts: { etcDir?: string; writeShadow?: boolean } = {}): void {
  const etc = join(installRoot, opts.etcDir ?? 'etc');
  mkdirSync(etc, { recursive: true, mode: 0o755 });
  const users = uniqueConcat(parsePasswd(seed.passwd, 'seed passwd'));
  const groups = uniqueConcat(parseGroup(seed.group, 'seed group'));
  writeFileSync(join(etc, 'passwd'), formatPasswd(users), { mode: 0o644 });
  writeFileSync(join(etc, 'group'), formatGroup(groups), { mode: 0o644 });
  if (opts.writeShadow) {
    writeFileSync(join(etc, 'shadow'), users.map((u) => `${u.name}:*::0:99999:7:::\n`).join(''), { mode: 0 });
    writeFileSync(join(etc, 'gshadow'), groups.map((g) => `${g.name}:::\n`).join(''), { mode: 0 });
  }
}

/** Joins a tree's /usr/etc and /usr/lib passwd (or group) texts, as the seed wants them. */
export function previousPasswdGroup(files: { etcPasswd?: string; libPasswd?: string; etcGroup?: string; libGroup?: string }): PasswdGroupSeed {
  return {
    passwd: formatPasswd(uniqueConcat(parsePasswd(files.etcPasswd ?? '', '/usr/etc/passwd'), parsePasswd(files.libPasswd ?? '', '/usr/lib/passwd'))),
    group: formatGroup(uniqueConcat(parseGroup(files.etcGroup ?? '', '/usr/etc/group'), parseGroup(files.libGroup ?? '', '/usr/lib/group'))),
  };
}

/** True when any path under `dir` (itself included) is owned by uid (or gid). */
function treeHasOwner(dir: string, which: 'uid' | 'gid', idv: number): boolean {
  const st = lstatSync(dir);
  if (st[which] === idv) return true;
  if (!st.isDirectory()) return false;
  for (const e of readdirSync(dir)) if (treeHasOwner(join(dir, e), which, idv)) return true;
  return false;
}

export interface PasswdCheckInput {
  checkPasswd: CheckPasswd;
  checkGroups: CheckGroups;
  ignoreRemovedUsers: string[];
  ignoreRemovedGroups: string[];
  /** The previous commit's /usr/lib/passwd and /usr/lib/group (for type `previous`); absent = nothing to check. */
  previous?: { passwd?: string; group?: string };
}

export interface PasswdCheckReport {
  newUsers: string[];
  newGroups: string[];
  /** Removed but tolerated: no file is owned by their id, or they are ignored. */
  removedUsers: string[];
  removedGroups: string[];
}

/**
 * The compose's final users/groups check (check_passwd_group_entries), after the split:
 * the tree's /usr/lib/passwd and /usr/lib/group are compared with the reference (previous
 * commit's /usr/lib files, a `file`, or `data`). A changed uid/gid is an error; a
 * vanished entry is an error only when some file in the tree is still owned by its id
 * and it is not in `ignore-removed-*` (`*` = all). New entries are reported.
 */
export function checkPasswdGroup(rootfs: string, input: PasswdCheckInput): PasswdCheckReport {
  const newUsers = new Map(parsePasswd(readOrNull(join(rootfs, 'usr/lib/passwd')) ?? '', '/usr/lib/passwd').map((e) => [e.name, e] as const));
  const newGroups = new Map(parseGroup(readOrNull(join(rootfs, 'usr/lib/group')) ?? '', '/usr/lib/group').map((e) => [e.name, e.gid] as const));

  const oldUsers = new Map<string, [number, number]>();
  const cp = input.checkPasswd;
  if (cp.type === 'file') for (const e of parsePasswd(readFileSync(cp.path, 'utf8'), cp.path)) oldUsers.set(e.name, [e.uid, e.gid]);
  else if (cp.type === 'data') for (const [n, ids] of Object.entries(cp.entries)) oldUsers.set(n, ids);
  else if (cp.type === 'previous' && input.previous?.passwd !== undefined) {
    for (const e of parsePasswd(input.previous.passwd, 'previous commit /usr/lib/passwd')) oldUsers.set(e.name, [e.uid, e.gid]);
  }
  const oldGroups = new Map<string, number>();
  const cg = input.checkGroups;
  if (cg.type === 'file') for (const e of parseGroup(readFileSync(cg.path, 'utf8'), cg.path)) oldGroups.set(e.name, e.gid);
  else if (cg.type === 'data') for (const [n, g] of Object.entries(cg.entries)) oldGroups.set(n, g);
  else if (cg.type === 'previous' && input.previous?.group !== undefined) {
    for (const e of parseGroup(input.previous.group, 'previous commit /usr/lib/group')) oldGroups.set(e.name, e.gid);
  }

  const report: PasswdCheckReport = { newUsers: [], newGroups: [], removedUsers: [], removedGroups: [] };
  const ignoredUser = (n: string) => input.ignoreRemovedUsers.includes('*') || input.ignoreRemovedUsers.includes(n);
  const ignoredGroup = (n: string) => input.ignoreRemovedGroups.includes('*') || input.ignoreRemovedGroups.includes(n);
  for (const [name, [uid]] of [...oldUsers].sort(([a], [b]) => (a < b ? -1 : 1))) {
    if (newUsers.has(name)) continue;
    if (!ignoredUser(name) && treeHasOwner(rootfs, 'uid', uid)) {
      throw new UpdaterError('ROOTFS_PASSWD_CHECK', `User missing from new passwd file: ${name}`, { hint: `files in the tree are still owned by uid ${uid}; add it to ignore-removed-users to allow this` });
    }
    report.removedUsers.push(name);
  }
  for (const [name, e] of [...newUsers].sort(([a], [b]) => (a < b ? -1 : 1))) {
    const old = oldUsers.get(name);
    if (old === undefined) {
      report.newUsers.push(name);
      continue;
    }
    if (old[0] !== e.uid) throw new UpdaterError('ROOTFS_PASSWD_CHECK', `passwd UID changed: ${name} (${old[0]} to ${e.uid})`);
    if (old[1] !== e.gid) throw new UpdaterError('ROOTFS_PASSWD_CHECK', `passwd GID changed: ${name} (${old[1]} to ${e.gid})`);
  }
  for (const [name, gid] of [...oldGroups].sort(([a], [b]) => (a < b ? -1 : 1))) {
    if (newGroups.has(name)) continue;
    if (!ignoredGroup(name) && treeHasOwner(rootfs, 'gid', gid)) {
      throw new UpdaterError('ROOTFS_PASSWD_CHECK', `Group missing from new group file: ${name}`, { hint: `files in the tree are still owned by gid ${gid}; add it to ignore-removed-groups to allow this` });
    }
    report.removedGroups.push(name);
  }
  for (const [name, gid] of [...newGroups].sort(([a], [b]) => (a < b ? -1 : 1))) {
    const old = oldGroups.get(name);
    if (old === undefined) report.newGroups.push(name);
    else if (old !== gid) throw new UpdaterError('ROOTFS_PASSWD_CHECK', `group GID changed: ${name} (${old} to ${gid})`);
  }
  return report;
}

/** Name lookups for tmpfiles.d lines: the tree's passwd/group in /usr/etc, /usr/lib and /etc. */
export function readIdNames(rootfs: string): { user(uid: number): string; group(gid: number): string } {
  const users = new Map<number, string>();
  const groups = new Map<number, string>();
  for (const p of ['usr/etc/passwd', 'usr/lib/passwd', 'etc/passwd']) {
    const t = existsSync(join(rootfs, p)) ? readFileSync(join(rootfs, p), 'utf8') : '';
    for (const e of parsePasswd(t, `/${p}`)) if (!users.has(e.uid)) users.set(e.uid, e.name);
  }
  for (const p of ['usr/etc/group', 'usr/lib/group', 'etc/group']) {
    const t = existsSync(join(rootfs, p)) ? readFileSync(join(rootfs, p), 'utf8') : '';
    for (const e of parseGroup(t, `/${p}`)) if (!groups.has(e.gid)) groups.set(e.gid, e.name);
  }
  // systemd-tmpfiles accepts numeric ids, so an unnamed owner still round-trips.
  return { user: (u) => users.get(u) ?? String(u), group: (g) => groups.get(g) ?? String(g) };
}
