// Package lists and diffs as rpm-ostree shows them (rpm-ostree-behaviour §3.4(e)): the
// `rpmostree.rpmdb.pkglist` commit metadata (a(sssss): name, epoch, version, release,
// arch), rpm's version comparison (rpmvercmp), and the Upgraded / Downgraded / Removed /
// Added listing. Pure: no I/O.

import { dictGet, type VarDict } from '../store/index.ts';

/** One installed package. `epoch` is '' or '0' when the package has none. */
export interface RpmPackage {
  name: string;
  epoch: string;
  version: string;
  release: string;
  arch: string;
}

export interface PackageDiff {
  upgraded: Array<{ from: RpmPackage; to: RpmPackage }>;
  downgraded: Array<{ from: RpmPackage; to: RpmPackage }>;
  removed: RpmPackage[];
  added: RpmPackage[];
}

export const PKGLIST_KEY = 'rpmostree.rpmdb.pkglist';

/** The commit's package list, sorted by name then arch; null when the metadata has none. */
export function parsePkglist(meta: VarDict): RpmPackage[] | null {
  const v = dictGet(meta, PKGLIST_KEY, 'a(sssss)');
  if (!Array.isArray(v)) return null;
  const out = (v as unknown[]).map((t) => {
    const [name, epoch, version, release, arch] = t as string[];
    return { name: name!, epoch: epoch!, version: version!, release: release!, arch: arch! };
  });
  return out.sort(comparePackages);
}

const isDigit = (c: string): boolean => c >= '0' && c <= '9';
const isAlpha = (c: string): boolean => (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z');
const isAlnum = (c: string): boolean => isDigit(c) || isAlpha(c);

/**
 * rpm's rpmvercmp: segments of digits or letters compared in turn (numbers
 * numerically, a number beats letters), `~` sorts before everything, even the end,
 * `^` after the end but before anything else; other characters only separate.
 */
export function rpmvercmp(a: string, b: string): -1 | 0 | 1 {
  if (a === b) return 0;
  let i = 0;
  let j = 0;
  while (i < a.length || j < b.length) {
    while (i < a.length && !isAlnum(a[i]!) && a[i] !== '~' && a[i] !== '^') i++;
    while (j < b.length && !isAlnum(b[j]!) && b[j] !== '~' && b[j] !== '^') j++;
    if (a[i] === '~' || b[j] === '~') {
      if (a[i] !== '~') return 1;
      if (b[j] !== '~') return -1;
      i++;
      j++;
      continue;
    }
    if (a[i] === '^' || b[j] === '^') {
      if (i >= a.length) return -1;
      if (j >= b.length) return 1;
      if (a[i] !== '^') return 1;
      if (b[j] !== '^') return -1;
      i++;
      j++;
      continue;
    }
    if (!(i < a.length && j < b.length)) break;
    const numeric = isDigit(a[i]!);
    const test = numeric ? isDigit : isAlpha;
    let ei = i;
    let ej = j;
    while (ei < a.length && test(a[ei]!)) ei++;
    while (ej < b.length && test(b[ej]!)) ej++;
    let sa = a.slice(i, ei);
    let sb = b.slice(j, ej);
    if (sb.length === 0) return numeric ? 1 : -1; // different segment types: a number is newer
    if (numeric) {
      sa = sa.replace(/^0+/, '');
      sb = sb.replace(/^0+/, '');
      if (sa.length !== sb.length) return sa.length > sb.length ? 1 : -1;
    }
    if (sa !== sb) return sa < sb ? -1 : 1;
    i = ei;
    j = ej;
  }
  if (i >= a.length && j >= b.length) return 0;
  return i >= a.length ? -1 : 1;
}

function epochNumber(e: string): number {
  return e === '' ? 0 : Number(e);
}

/** Compares epoch, then version, then release. */
export function compareEvr(a: RpmPackage, b: RpmPackage): -1 | 0 | 1 {
  const ea = epochNumber(a.epoch);
  const eb = epochNumber(b.epoch);
  if (ea !== eb) return ea < eb ? -1 : 1;
  return rpmvercmp(a.version, b.version) || rpmvercmp(a.release, b.release);
}

function comparePackages(a: RpmPackage, b: RpmPackage): number {
  if (a.name !== b.name) return a.name < b.name ? -1 : 1;
  if (a.arch !== b.arch) return a.arch < b.arch ? -1 : 1;
  return compareEvr(a, b);
}

/** `[E:]V-R`, the epoch only when it is not 0. */
export function formatEvr(p: RpmPackage): string {
  const e = epochNumber(p.epoch);
  return `${e === 0 ? '' : `${e}:`}${p.version}-${p.release}`;
}

/** `N-[E:]V-R.A`. */
export function formatNevra(p: RpmPackage): string {
  return `${p.name}-${formatEvr(p)}.${p.arch}`;
}

/**
 * Pairs the packages of the two lists by name (by name and arch when a name has
 * several packages, as multilib does); unpaired ones are removed or added, pairs
 * with another EVR or arch upgraded or downgraded.
 */
export function diffPackages(from: readonly RpmPackage[], to: readonly RpmPackage[]): PackageDiff {
  const d: PackageDiff = { upgraded: [], downgraded: [], removed: [], added: [] };
  const group = (list: readonly RpmPackage[]): Map<string, RpmPackage[]> => {
    const m = new Map<string, RpmPackage[]>();
    for (const p of list) m.set(p.name, [...(m.get(p.name) ?? []), p]);
    return m;
  };
  const ga = group(from);
  const gb = group(to);
  const same = (a: RpmPackage, b: RpmPackage): boolean => a.arch === b.arch && compareEvr(a, b) === 0;
  const pair = (a: RpmPackage, b: RpmPackage): void => {
    if (same(a, b)) return;
    const c = compareEvr(a, b);
    if (c > 0) d.downgraded.push({ from: a, to: b });
    else d.upgraded.push({ from: a, to: b });
  };
  for (const name of [...new Set([...ga.keys(), ...gb.keys()])].sort()) {
    const a = ga.get(name) ?? [];
    const b = gb.get(name) ?? [];
    if (a.length === 1 && b.length === 1) {
      pair(a[0]!, b[0]!);
      continue;
    }
    const left = [...a];
    const right = [...b];
    // Identical packages first, then one per arch, then the rest are removed/added.
    for (let i = left.length - 1; i >= 0; i--) {
      const k = right.findIndex((x) => same(left[i]!, x));
      if (k >= 0) {
        left.splice(i, 1);
        right.splice(k, 1);
      }
    }
    for (let i = left.length - 1; i >= 0; i--) {
      const archMates = right.filter((x) => x.arch === left[i]!.arch);
      if (archMates.length === 1 && left.filter((x) => x.arch === left[i]!.arch).length === 1) {
        pair(left[i]!, archMates[0]!);
        right.splice(right.indexOf(archMates[0]!), 1);
        left.splice(i, 1);
      }
    }
    d.removed.push(...left);
    d.added.push(...right);
  }
  const byPair = (x: { from: RpmPackage }, y: { from: RpmPackage }): number => comparePackages(x.from, y.from);
  d.upgraded.sort(byPair);
  d.downgraded.sort(byPair);
  d.removed.sort(comparePackages);
  d.added.sort(comparePackages);
  return d;
}

export function isEmptyDiff(d: PackageDiff): boolean {
  return d.upgraded.length + d.downgraded.length + d.removed.length + d.added.length === 0;
}

/** The listing rpm-ostree prints after an upgrade and for `db diff` (format "block"). */
export function renderPackageDiff(d: PackageDiff): string {
  const lines: string[] = [];
  const section = (title: string, rows: string[]): void => {
    if (rows.length === 0) return;
    lines.push(`${title}:`, ...rows.map((r) => `  ${r}`));
  };
  section('Upgraded', d.upgraded.map((x) => `${x.to.name} ${formatEvr(x.from)} -> ${formatEvr(x.to)}`));
  section('Downgraded', d.downgraded.map((x) => `${x.to.name} ${formatEvr(x.from)} -> ${formatEvr(x.to)}`));
  section('Removed', d.removed.map(formatNevra));
  section('Added', d.added.map(formatNevra));
  return lines.length === 0 ? '' : `${lines.join('\n')}\n`;
}

/** `db diff --format=diff`: `!old` / `=new` for changed, `-` removed, `+` added, in name order. */
export function renderPackageDiffDiff(d: PackageDiff): string {
  const rows: Array<[string, string[]]> = [
    ...[...d.upgraded, ...d.downgraded].map((x): [string, string[]] => [x.from.name, [`!${formatNevra(x.from)}`, `=${formatNevra(x.to)}`]]),
    ...d.removed.map((p): [string, string[]] => [p.name, [`-${formatNevra(p)}`]]),
    ...d.added.map((p): [string, string[]] => [p.name, [`+${formatNevra(p)}`]]),
  ];
  rows.sort((a, b) => (a[0] < b[0] ? -1 : a[0] > b[0] ? 1 : 0));
  return rows.flatMap((r) => r[1]).map((l) => `${l}\n`).join('');
}

/** `db diff --format=json`. */
export function packageDiffJson(d: PackageDiff): unknown {
  const pkg = (p: RpmPackage): unknown => ({ name: p.name, epoch: epochNumber(p.epoch), version: p.version, release: p.release, arch: p.arch, nevra: formatNevra(p) });
  return {
    upgraded: d.upgraded.map((x) => ({ from: pkg(x.from), to: pkg(x.to) })),
    downgraded: d.downgraded.map((x) => ({ from: pkg(x.from), to: pkg(x.to) })),
    removed: d.removed.map(pkg),
    added: d.added.map(pkg),
  };
}

/** The status summary: `4 upgraded, 1 added` (empty string when nothing changed). */
export function summarizePackageDiff(d: PackageDiff): string {
  const parts: string[] = [];
  if (d.upgraded.length) parts.push(`${d.upgraded.length} upgraded`);
  if (d.downgraded.length) parts.push(`${d.downgraded.length} downgraded`);
  if (d.removed.length) parts.push(`${d.removed.length} removed`);
  if (d.added.length) parts.push(`${d.added.length} added`);
  return parts.join(', ');
}
