// `.repo` files (dnf's INI dialect): one section per repository, `key=value` lines,
// continuation lines for lists, `$var`/`${var}` substitution ($releasever, $basearch,
// $arch and the treefile's repovars). Pure: loadRepoFiles (load.ts) does the reading.

import { UpdaterError } from '../../common/errors.ts';

/** One repository as a .repo file declares it. */
export interface RepoConfig {
  /** The section name (`[fedora]`): the id treefiles name in `repos`. */
  id: string;
  name: string;
  /** Base URLs tried in order (`file://`, `http://`, `https://`). */
  baseurl: string[];
  metalink?: string;
  mirrorlist?: string;
  enabled: boolean;
  /** Verify package signatures (done when packages are imported, not here). */
  gpgcheck: boolean;
  gpgkey: string[];
  /** Signed repomd.xml (`repomd.xml.asc`). */
  repoGpgcheck: boolean;
  /** dnf priority: lower wins (default 99). */
  priority: number;
  /** dnf cost: tie-break between equal priorities (default 1000). */
  cost: number;
  /** `excludepkgs` (alias `exclude`) and `includepkgs` globs. */
  excludePackages: string[];
  includePackages: string[];
  sslverify: boolean;
  skipIfUnavailable: boolean;
  /** The .repo file it came from (for error messages). */
  file: string;
}

const BOOL: Record<string, boolean> = { '1': true, yes: true, true: true, on: true, '0': false, no: false, false: false, off: false };
const ID = /^[A-Za-z0-9\-_.:]+$/;

/**
 * Replaces `$name` and `${name}` with `vars` (dnf's substitution); unknown variables
 * stay as written, as dnf leaves them.
 */
export function substituteRepoVars(text: string, vars: Record<string, string>): string {
  return text.replace(/\$(?:\{([A-Za-z0-9_]+)\}|([A-Za-z0-9_]+))/g, (whole, braced: string | undefined, bare: string | undefined) => {
    const name = braced ?? bare!;
    if (Object.hasOwn(vars, name)) return vars[name]!;
    // dnf matches the longest known variable that prefixes a bare name ($basearchfoo stays).
    return whole;
  });
}

function splitList(v: string): string[] {
  return v.split(/[\s,]+/).filter(Boolean);
}

/** Parses one .repo file; `path` names it in errors. Throws REPOMD_REPOFILE_INVALID naming file and line. */
export function parseRepoFile(text: string, path: string, vars: Record<string, string> = {}): RepoConfig[] {
  const sections: { id: string; line: number; kv: Map<string, string> }[] = [];
  let cur: { id: string; line: number; kv: Map<string, string> } | null = null;
  let lastKey: string | null = null;
  const lines = text.split(/\r?\n/);
  const bad = (n: number, msg: string): never => {
    throw new UpdaterError('REPOMD_REPOFILE_INVALID', `${path}:${n}: ${msg}`);
  };
  lines.forEach((raw, i) => {
    const n = i + 1;
    if (/^\s*([#;].*)?$/.test(raw)) {
      lastKey = raw.trim() === '' ? null : lastKey;
      return;
    }
    // A line starting with whitespace continues the previous value (multi-line baseurl, gpgkey).
    if (/^\s/.test(raw) && cur && lastKey) {
      cur.kv.set(lastKey, `${cur.kv.get(lastKey)}\n${raw.trim()}`);
      return;
    }
    const sec = /^\s*\[([^\]]*)\]\s*$/.exec(raw);
    if (sec) {
      const id = sec[1]!.trim();
      if (!ID.test(id)) bad(n, `invalid repo id '${id}' (allowed: letters, digits, '-', '_', '.', ':')`);
      if (sections.some((s) => s.id === id)) bad(n, `repo '${id}' is defined twice`);
      cur = { id, line: n, kv: new Map() };
      sections.push(cur);
      lastKey = null;
      return;
    }
    const kv = /^\s*([A-Za-z0-9_.\-]+)\s*=\s*(.*?)\s*$/.exec(raw);
    if (!kv) bad(n, `expected '[repo-id]' or 'key=value', got ${JSON.stringify(raw)}`);
    if (!cur) bad(n, `'${kv![1]}' outside of a [repo] section`);
    lastKey = kv![1]!.toLowerCase();
    cur!.kv.set(lastKey, kv![2]!);
  });
  const out: RepoConfig[] = [];
  for (const s of sections) {
    if (s.id === 'main') continue; // dnf's [main] holds global options, not a repo
    const get = (k: string): string | undefined => {
      const v = s.kv.get(k);
      return v === undefined ? undefined : substituteRepoVars(v, vars);
    };
    const bool = (k: string, dflt: boolean): boolean => {
      const v = get(k);
      if (v === undefined || v === '') return dflt;
      const b = BOOL[v.toLowerCase()];
      if (b === undefined) bad(s.line, `repo '${s.id}': ${k}=${v} is not a boolean (use 1/0, yes/no, true/false)`);
      return b!;
    };
    const int = (k: string, dflt: number): number => {
      const v = get(k);
      if (v === undefined || v === '') return dflt;
      if (!/^-?\d+$/.test(v)) bad(s.line, `repo '${s.id}': ${k}=${v} is not an integer`);
      return Number(v);
    };
    const baseurl = splitList(get('baseurl') ?? '');
    for (const u of baseurl) {
      if (!/^(file|https?):\/\//.test(u)) bad(s.line, `repo '${s.id}': baseurl '${u}' is not a file://, http:// or https:// URL`);
    }
    out.push({
      id: s.id,
      name: get('name') ?? s.id,
      baseurl,
      ...(get('metalink') ? { metalink: get('metalink')! } : {}),
      ...(get('mirrorlist') ? { mirrorlist: get('mirrorlist')! } : {}),
      enabled: bool('enabled', true),
      gpgcheck: bool('gpgcheck', false),
      gpgkey: splitList(get('gpgkey') ?? ''),
      repoGpgcheck: bool('repo_gpgcheck', false),
      priority: int('priority', 99),
      cost: int('cost', 1000),
      excludePackages: splitList(get('excludepkgs') ?? get('exclude') ?? ''),
      includePackages: splitList(get('includepkgs') ?? ''),
      sslverify: bool('sslverify', true),
      skipIfUnavailable: bool('skip_if_unavailable', false),
      file: path,
    });
  }
  return out;
}
