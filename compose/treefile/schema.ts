// The treefile key table: how each key's value is read and how included files merge into
// the including one (rpm-ostree rust/src/treefile.rs `TreeComposeConfig` and `treefile_merge`).
//
// HACKING — to add a key: add it to `TreefileFields` (types.ts), give it a reader and a merge
// kind here, map it in `finalize.ts` (default + camelCase field), and document it in
// docs/treefile.md.

import { isAbsolute, resolve } from 'node:path';
import type {
  AddFile, CheckGroups, CheckPasswd, ExternalFile, RemoveFromPackage, RepoPackages, Rojig, TreefileFields, VarValue,
} from './types.ts';
import { splitPackageEntry } from './packages.ts';
import {
  describeValue, readBool, readEnum, readJsonMap, readMapping, readString, readStringArray, readStringMap, readUint,
  sortedSet, type KeyPath, type TreefileSource,
} from './values.ts';

/**
 * How an included file's value combines with the includer's:
 * - `first`: the includer's value wins (first one set, walking from the top).
 * - `append`: included items come first, then the includer's.
 * - `union`: sorted set union.
 * - `map`: key union; the includer's value wins for a key both set.
 */
export type MergeKind = 'first' | 'append' | 'union' | 'map';

type Reader<T> = (src: TreefileSource, v: unknown, path: KeyPath) => T;

interface FieldSpec<T> {
  read: Reader<T>;
  merge: MergeKind;
}

const str: Reader<string> = readString;
const bool: Reader<boolean> = readBool;
const strings: Reader<string[]> = readStringArray;

/** Reads package entries with rpm-ostree's whitespace splitting; returns a sorted set. */
export function readPackageList(src: TreefileSource, v: unknown, path: KeyPath): string[] {
  const entries = readStringArray(src, v, path);
  const out: string[] = [];
  entries.forEach((entry, i) => {
    const r = splitPackageEntry(entry);
    if (!Array.isArray(r)) src.fail([...path, i], r.error);
    out.push(...r);
  });
  return sortedSet(out);
}

function readVarValue(src: TreefileSource, v: unknown, path: KeyPath): VarValue {
  if (typeof v === 'boolean' || typeof v === 'string') return v;
  if (typeof v === 'number' && Number.isSafeInteger(v) && v >= 0) return v;
  return src.fail(path, `expected a boolean, a non-negative integer or a string, got ${describeValue(v)}`);
}

function readReleasever(src: TreefileSource, v: unknown, path: KeyPath): string | number {
  if (typeof v === 'string') return v;
  if (typeof v === 'number' && Number.isSafeInteger(v) && v >= 0) return v;
  return src.fail(path, `expected a string or a non-negative integer, got ${describeValue(v)}`);
}

function readRojig(src: TreefileSource, v: unknown, path: KeyPath): Rojig {
  const m = readMapping(src, v, path);
  const req = (k: string): string => {
    if (!(k in m)) src.fail(path, `missing field \`${k}\``);
    return readString(src, m[k], [...path, k]);
  };
  const out: Rojig = { name: req('name'), summary: req('summary'), license: req('license') };
  if (m.description !== undefined && m.description !== null) out.description = readString(src, m.description, [...path, 'description']);
  return out;
}

function readRepoPackages(src: TreefileSource, v: unknown, path: KeyPath): RepoPackages[] {
  if (!Array.isArray(v)) src.fail(path, `expected an array of {repo, packages} mappings, got ${describeValue(v)}`);
  return v.map((item, i) => {
    const m = readMapping(src, item, [...path, i]);
    for (const k of ['repo', 'packages']) if (!(k in m)) src.fail([...path, i], `missing field \`${k}\``);
    return { repo: readString(src, m.repo, [...path, i, 'repo']), packages: readPackageList(src, m.packages, [...path, i, 'packages']) };
  });
}

/** remove-files: paths relative to the root, without `..` (rpm-ostree refuses both). */
function readRemoveFiles(src: TreefileSource, v: unknown, path: KeyPath): string[] {
  const files = readStringArray(src, v, path);
  files.forEach((f, i) => {
    if (isAbsolute(f)) src.fail([...path, i], `path must be relative: ${f}`);
    if (f.split('/').includes('..')) src.fail([...path, i], `path must not contain '..': ${f}`);
    if (f === '') src.fail([...path, i], 'empty path');
  });
  return files;
}

function readRemoveFromPackages(src: TreefileSource, v: unknown, path: KeyPath): RemoveFromPackage[] {
  if (!Array.isArray(v)) src.fail(path, `expected an array of [package, regex...] arrays, got ${describeValue(v)}`);
  return v.map((item, i) => {
    const entry = readStringArray(src, item, [...path, i]);
    if (entry.length === 0) src.fail([...path, i], 'expected [package, regex...], got an empty array');
    const [pkg, ...patterns] = entry;
    patterns.forEach((p, j) => {
      try {
        new RegExp(p);
      } catch (err) {
        src.fail([...path, i, j + 1], `invalid regular expression: ${(err as Error).message}`);
      }
    });
    return { package: pkg!, patterns };
  });
}

/** add-files destinations rpm-ostree accepts (rust/src/treefile.rs `add_files_path_is_valid`). */
export function addFilesDestIsValid(dest: string): boolean {
  const p = dest.replace(/^\/+/, '');
  return (p.startsWith('usr/') && !p.startsWith('usr/local/')) ||
    ['etc/', 'bin/', 'sbin/', 'lib/', 'lib64/'].some((prefix) => p.startsWith(prefix));
}

function readAddFiles(src: TreefileSource, v: unknown, path: KeyPath): AddFile[] {
  if (!Array.isArray(v)) src.fail(path, `expected an array of [source, destination] pairs, got ${describeValue(v)}`);
  return v.map((item, i) => {
    const pair = readStringArray(src, item, [...path, i]);
    if (pair.length !== 2) src.fail([...path, i], `expected [source, destination], got ${pair.length} element(s)`);
    const [name, dest] = pair as [string, string];
    if (!addFilesDestIsValid(dest)) {
      src.fail([...path, i, 1], `Unsupported path in add-files: ${dest}`, 'TREEFILE_INVALID',
        'destinations must be under /usr (not /usr/local), /etc, /bin, /sbin, /lib or /lib64');
    }
    return { name, path: resolve(src.directory, name), dest };
  });
}

function readExternal(src: TreefileSource, v: unknown, path: KeyPath): ExternalFile {
  const name = readString(src, v, path);
  if (name === '') src.fail(path, 'empty path');
  return { name, path: resolve(src.directory, name) };
}

const CHECK_TYPES = ['none', 'previous', 'file', 'data'] as const;

function readCheckPasswd(src: TreefileSource, v: unknown, path: KeyPath): CheckPasswd {
  const m = readMapping(src, v, path);
  const type = readEnum(src, m.type, [...path, 'type'], CHECK_TYPES);
  if (type === 'none' || type === 'previous') return { type };
  if (type === 'file') {
    if (!('filename' in m)) src.fail(path, 'missing field `filename`');
    const f = readExternal(src, m.filename, [...path, 'filename']);
    return { type, filename: f.name, path: f.path };
  }
  const entries = readMapping(src, m.entries, [...path, 'entries']);
  const out: Record<string, [number, number]> = {};
  for (const [name, id] of Object.entries(entries)) {
    const at = [...path, 'entries', name];
    if (typeof id === 'number') {
      const n = readUint(src, id, at, 0xffffffff);
      out[name] = [n, n];
    } else if (Array.isArray(id) && (id.length === 1 || id.length === 2)) {
      const ids = id.map((x, i) => readUint(src, x, [...at, i], 0xffffffff));
      out[name] = [ids[0]!, ids[1] ?? ids[0]!];
    } else {
      src.fail(at, `expected a uid, [uid] or [uid, gid], got ${describeValue(id)}`);
    }
  }
  return { type, entries: out };
}

function readCheckGroups(src: TreefileSource, v: unknown, path: KeyPath): CheckGroups {
  const m = readMapping(src, v, path);
  const type = readEnum(src, m.type, [...path, 'type'], CHECK_TYPES);
  if (type === 'none' || type === 'previous') return { type };
  if (type === 'file') {
    if (!('filename' in m)) src.fail(path, 'missing field `filename`');
    const f = readExternal(src, m.filename, [...path, 'filename']);
    return { type, filename: f.name, path: f.path };
  }
  const entries = readMapping(src, m.entries, [...path, 'entries']);
  const out: Record<string, number> = {};
  for (const [name, id] of Object.entries(entries)) out[name] = readUint(src, id, [...path, 'entries', name], 0xffffffff);
  return { type, entries: out };
}

const readSuffix: Reader<string> = (src, v, path) => {
  const s = readString(src, v, path);
  // Exactly one byte of ASCII, as rpm-ostree's validate_config checks.
  if (!/^[\x00-\x7f]$/.test(s)) src.fail(path, `Invalid automatic-version-suffix, must be exactly one ASCII character: ${s}`);
  return s;
};

const readRepovars: Reader<Record<string, string>> = (src, v, path) => {
  const m = readStringMap(src, v, path);
  if ('releasever' in m) src.fail([...path, 'releasever'], 'Treefile repo var "releasever" invalid; use "releasever" field instead');
  if ('basearch' in m) src.fail([...path, 'basearch'], 'Treefile repo var "basearch" invalid; it is automatically filled in');
  return m;
};

const readVariables: Reader<Record<string, VarValue>> = (src, v, path) => {
  const m = readMapping(src, v, path);
  const out: Record<string, VarValue> = {};
  for (const [k, val] of Object.entries(m)) out[k] = readVarValue(src, val, [...path, k]);
  return out;
};

/** Every key that ends up in the configuration, with its reader and merge rule. */
export const FIELDS: { [K in keyof TreefileFields]: FieldSpec<TreefileFields[K]> } = {
  'ref': { read: str, merge: 'first' },
  'edition': { read: (s, v, p) => readEnum(s, v, p, ['2014', '2024'] as const), merge: 'first' },
  'basearch': { read: str, merge: 'first' },
  'releasever': { read: readReleasever, merge: 'first' },
  'variables': { read: readVariables, merge: 'map' },
  'repovars': { read: readRepovars, merge: 'map' },
  'automatic-version-prefix': { read: str, merge: 'first' },
  'automatic-version-suffix': { read: readSuffix, merge: 'first' },
  'mutate-os-release': { read: str, merge: 'first' },
  'add-commit-metadata': { read: readJsonMap, merge: 'map' },
  'metadata': { read: readJsonMap, merge: 'map' },
  'gpg-key': { read: str, merge: 'first' },
  'rojig': { read: readRojig, merge: 'first' },
  'repos': { read: strings, merge: 'append' },
  'lockfile-repos': { read: strings, merge: 'append' },
  'repo-packages': { read: readRepoPackages, merge: 'append' },
  'packages': { read: readPackageList, merge: 'union' },
  'exclude-packages': { read: strings, merge: 'append' },
  'recommends': { read: bool, merge: 'first' },
  'documentation': { read: bool, merge: 'first' },
  'install-langs': { read: strings, merge: 'append' },
  'platform-module': { read: str, merge: 'first' },
  'selinux': { read: bool, merge: 'first' },
  'selinux-label-version': {
    read: (s, v, p) => {
      const n = readUint(s, v, p, 0xffffffff);
      if (n > 1) s.fail(p, `Invalid selinux-label-version: ${n}`);
      return n;
    },
    merge: 'first',
  },
  'ignore-devices': { read: bool, merge: 'first' },
  'ima': { read: bool, merge: 'first' },
  'boot-location': {
    read: (s, v, p) => {
      if (v === 'both' || v === 'legacy') {
        s.fail(p, `boot-location "${v}" is no longer supported`, 'TREEFILE_INVALID', 'use boot-location: modules');
      }
      return readEnum(s, v, p, ['new', 'modules', 'kernel-install'] as const);
    },
    merge: 'first',
  },
  'tmp-is-dir': { read: bool, merge: 'first' },
  'opt-usrlocal': {
    read: (s, v, p) => {
      const x = readEnum(s, v, p, ['var', 'root', 'state-overlay', 'stateoverlay'] as const);
      return x === 'state-overlay' ? 'stateoverlay' : x;
    },
    merge: 'first',
  },
  'machineid-compat': { read: bool, merge: 'first' },
  'readonly-executables': { read: bool, merge: 'first' },
  'container': { read: bool, merge: 'first' },
  'no-initramfs': { read: bool, merge: 'first' },
  'initramfs-args': { read: strings, merge: 'append' },
  'units': { read: strings, merge: 'append' },
  'default-target': { read: str, merge: 'first' },
  'remove-files': { read: readRemoveFiles, merge: 'append' },
  'remove-from-packages': { read: readRemoveFromPackages, merge: 'append' },
  'add-files': { read: readAddFiles, merge: 'append' },
  'ostree-layers': { read: strings, merge: 'append' },
  'ostree-override-layers': { read: strings, merge: 'append' },
  'rpmdb': {
    read: (s, v, p) => {
      const x = readEnum(s, v, p, ['bdb', 'b-d-b', 'sqlite', 'ndb', 'target', 'host'] as const);
      return x === 'b-d-b' ? 'bdb' : x;
    },
    merge: 'first',
  },
  'rpmdb-normalize': { read: bool, merge: 'first' },
  'cliwrap': { read: bool, merge: 'first' },
  'cliwrap-binaries': {
    read: (s, v, p) => {
      const bins = readStringArray(s, v, p);
      bins.forEach((b, i) => { if (b !== 'kernel-install') s.fail([...p, i], `unsupported cliwrap binary: ${b}`); });
      return bins;
    },
    merge: 'append',
  },
  'container-cmd': { read: strings, merge: 'first' },
  'repo-metadata': { read: (s, v, p) => readEnum(s, v, p, ['inline', 'detached', 'disabled'] as const), merge: 'first' },
  'advisories-metadata': { read: (s, v, p) => readEnum(s, v, p, ['inline', 'detached', 'disabled'] as const), merge: 'first' },
  'sysusers': { read: (s, v, p) => readEnum(s, v, p, ['compose-auto', 'compose-forced'] as const), merge: 'first' },
  'etc-group-members': { read: strings, merge: 'append' },
  'preserve-passwd': { read: bool, merge: 'first' },
  'check-passwd': { read: readCheckPasswd, merge: 'first' },
  'check-groups': { read: readCheckGroups, merge: 'first' },
  'ignore-removed-users': { read: (s, v, p) => sortedSet(readStringArray(s, v, p)), merge: 'union' },
  'ignore-removed-groups': { read: (s, v, p) => sortedSet(readStringArray(s, v, p)), merge: 'union' },
  'postprocess-script': { read: readExternal, merge: 'first' },
  'postprocess': { read: strings, merge: 'append' },
};

/** Legacy snake_case spellings still accepted (migrated to the kebab-case key). */
export const LEGACY_KEYS: Readonly<Record<string, keyof TreefileFields>> = {
  gpg_key: 'gpg-key',
  boot_location: 'boot-location',
  default_target: 'default-target',
  automatic_version_prefix: 'automatic-version-prefix',
};

/** Keys consumed while reading a file (they never reach the merged configuration). */
export const CONSUMED_KEYS: ReadonlySet<string> = new Set([
  'include', 'arch-include', 'conditional-include', 'bootstrap-packages', 'bootstrap_packages',
]);

/**
 * Keys of rpm-ostree's client-side "derive" treefiles (origin translation). They parse in
 * rpm-ostree but `compose tree` rejects them; so do we.
 */
export const DERIVE_KEYS: ReadonlySet<string> = new Set([
  'base-refspec', 'container-image-reference', 'packages-local', 'packages-local-fileoverride', 'override-remove',
  'ex-override-replace', 'override-replace-local', 'initramfs', 'custom', 'override-commit', 'unconfigured-state',
]);
