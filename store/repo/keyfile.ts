// GLib key files (the repo `config`, `.origin` files): `[group]` headers and
// `key=value` lines. Order and comments are kept so a rewrite changes only what was set.

import { UpdaterError } from '../../common/errors.ts';

type Line = { kind: 'comment'; text: string } | { kind: 'entry'; key: string; value: string };
interface Group {
  name: string;
  /** Comment lines above the header. */
  leading: string[];
  lines: Line[];
}

/** A parsed key file; `get`/`set` address values by group and key. */
export class KeyFile {
  private groups: Group[] = [];

  /** Parses key-file text; `what` names the file in errors. */
  static parse(text: string, what = 'key file'): KeyFile {
    const kf = new KeyFile();
    let current: Group | null = null;
    // Comments and blank lines wait here: above a group header they belong to that
    // group (as in GKeyFile), between entries to the group they are in.
    let pending: string[] = [];
    const lines = text.split('\n');
    for (let i = 0; i < lines.length; i++) {
      const raw = lines[i]!;
      const line = raw.trim();
      if (line === '' || line.startsWith('#')) {
        pending.push(raw);
        continue;
      }
      if (line.startsWith('[')) {
        if (!line.endsWith(']')) throw new UpdaterError('KEYFILE_INVALID', `${what}:${i + 1}: malformed group header`);
        current = { name: line.slice(1, -1), leading: trimBlank(pending), lines: [] };
        pending = [];
        kf.groups.push(current);
        continue;
      }
      const eq = line.indexOf('=');
      if (eq <= 0 || current === null) throw new UpdaterError('KEYFILE_INVALID', `${what}:${i + 1}: expected key=value inside a [group]`);
      for (const c of pending) current.lines.push({ kind: 'comment', text: c });
      pending = [];
      current.lines.push({ kind: 'entry', key: line.slice(0, eq).trim(), value: unescape(line.slice(eq + 1).trim()) });
    }
    if (current) for (const c of trimBlank(pending)) current.lines.push({ kind: 'comment', text: c });
    return kf;
  }

  get(group: string, key: string): string | undefined {
    const g = this.groups.find((x) => x.name === group);
    if (!g) return undefined;
    let value: string | undefined;
    for (const l of g.lines) if (l.kind === 'entry' && l.key === key) value = l.value;
    return value;
  }

  getBoolean(group: string, key: string, dflt: boolean): boolean {
    const v = this.get(group, key);
    if (v === undefined) return dflt;
    if (v === 'true' || v === '1') return true;
    if (v === 'false' || v === '0') return false;
    throw new UpdaterError('KEYFILE_INVALID', `[${group}] ${key}: expected true or false, got '${v}'`);
  }

  set(group: string, key: string, value: string): void {
    let g = this.groups.find((x) => x.name === group);
    if (!g) {
      g = { name: group, leading: [], lines: [] };
      this.groups.push(g);
    }
    const existing = g.lines.find((l): l is Extract<Line, { kind: 'entry' }> => l.kind === 'entry' && l.key === key);
    if (existing) existing.value = value;
    else g.lines.push({ kind: 'entry', key, value });
  }

  remove(group: string, key?: string): void {
    if (key === undefined) {
      this.groups = this.groups.filter((g) => g.name !== group);
      return;
    }
    const g = this.groups.find((x) => x.name === group);
    if (g) g.lines = g.lines.filter((l) => !(l.kind === 'entry' && l.key === key));
  }

  hasGroup(group: string): boolean {
    return this.groups.some((g) => g.name === group);
  }

  groupNames(): string[] {
    return this.groups.map((g) => g.name);
  }

  keys(group: string): string[] {
    const g = this.groups.find((x) => x.name === group);
    return g ? g.lines.flatMap((l) => (l.kind === 'entry' ? [l.key] : [])) : [];
  }

  toString(): string {
    const out: string[] = [];
    for (const g of this.groups) {
      out.push(...g.leading, `[${g.name}]`);
      // Blank lines that separated this group from the next were parsed into it;
      // one separator is written below, so a parse/print round trip adds none.
      let end = g.lines.length;
      while (end > 0 && g.lines[end - 1]!.kind === 'comment' && (g.lines[end - 1] as { text: string }).text.trim() === '') end--;
      for (const l of g.lines.slice(0, end)) out.push(l.kind === 'comment' ? l.text : `${l.key}=${escape(l.value)}`);
      out.push('');
    }
    return out.join('\n');
  }
}

/** Drops blank lines at both ends (group separators are written by toString). */
function trimBlank(lines: string[]): string[] {
  let a = 0;
  let b = lines.length;
  while (a < b && lines[a]!.trim() === '') a++;
  while (b > a && lines[b - 1]!.trim() === '') b--;
  return lines.slice(a, b);
}

// GKeyFile escapes: \s \n \t \r \\ (a leading space is written as \s).
function unescape(v: string): string {
  return v.replace(/\\(.)/g, (_, ch: string) => ({ s: ' ', n: '\n', t: '\t', r: '\r', '\\': '\\' })[ch] ?? `\\${ch}`);
}

function escape(v: string): string {
  return v.replace(/\\/g, '\\\\').replace(/\n/g, '\\n').replace(/\t/g, '\\t').replace(/\r/g, '\\r').replace(/^ /, '\\s');
}
