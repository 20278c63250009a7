// Decodes the main header into what compose needs: NEVRA, dependencies, the file
// list (paths, modes, owners, digests, flags, links, capabilities) and the
// scriptlets with their interpreters. Pure: takes parsed headers, does no I/O.

import { UpdaterError } from '../../common/errors.ts';
import type { RpmHeader } from './header.ts';
import { DIGEST_ALGOS, type DigestAlgo, RPMFILE, RPMSENSE, TAG } from './tags.ts';

export type DependencyKind = 'provides' | 'requires' | 'conflicts' | 'obsoletes' | 'recommends' | 'suggests' | 'supplements' | 'enhances';

/** One dependency; rich dependencies (`(a or b)`) are kept whole in `name`. */
export interface RpmDependency {
  name: string;
  /** '' (unversioned), '<', '>', '=', '<=', '>='. */
  op: '' | '<' | '>' | '=' | '<=' | '>=';
  version: string;
  /** The raw rpmsenseFlags (pre/post/rpmlib/… bits included). */
  flags: number;
}

/** One file of the package, as the header describes it. */
export interface RpmFileInfo {
  /** Absolute path, e.g. `/usr/bin/true`. */
  path: string;
  size: number;
  /** Full st_mode (type and permission bits). */
  mode: number;
  mtime: number;
  rdev: number;
  /** Hex digest with the package's file digest algorithm; '' for non-regular files and ghosts. */
  digest: string;
  user: string;
  group: string;
  /** rpmfileAttrs bits; the booleans below decode the common ones. */
  flags: number;
  config: boolean;
  noreplace: boolean;
  missingok: boolean;
  doc: boolean;
  license: boolean;
  readme: boolean;
  ghost: boolean;
  artifact: boolean;
  /** Symlink target ('' unless a symlink). */
  linkTo: string;
  /** Inode and device numbers; equal pairs of regular files are one hardlink set. */
  inode: number;
  device: number;
  lang: string;
  color: number;
  verifyFlags: number;
  /** libcap text form, e.g. `cap_net_raw=ep`; '' for none. */
  caps: string;
}

export type ScriptKind = 'pretrans' | 'prein' | 'postin' | 'preun' | 'postun' | 'posttrans' | 'verify';

/** A scriptlet: its body, interpreter (argv; `<lua>` for the embedded Lua) and flags. */
export interface RpmScript {
  kind: ScriptKind;
  body: string;
  interpreter: string[];
  flags: number;
}

export type TriggerKind = 'triggerprein' | 'triggerin' | 'triggerun' | 'triggerpostun';

/** A package trigger: one script fired by any of its conditions. */
export interface RpmTrigger {
  kind: TriggerKind;
  body: string;
  interpreter: string[];
  flags: number;
  conditions: RpmDependency[];
}

export type FileTriggerKind = 'filetriggerin' | 'filetriggerun' | 'filetriggerpostun' | 'transfiletriggerin' | 'transfiletriggerun' | 'transfiletriggerpostun';

/** A file trigger: fired by files under the path prefixes in `conditions`. */
export interface RpmFileTrigger {
  kind: FileTriggerKind;
  body: string;
  interpreter: string[];
  flags: number;
  priority: number;
  conditions: RpmDependency[];
}

/** Everything compose reads from a package header. */
export interface RpmPackage {
  name: string;
  /** null when the package has no Epoch tag (rpm treats it as 0). */
  epoch: number | null;
  version: string;
  release: string;
  arch: string;
  /** `name-[epoch:]version-release.arch` (epoch only when set and non-zero: dnf's form). */
  nevra: string;
  summary: string;
  description: string;
  license: string;
  url: string;
  group: string;
  vendor: string;
  buildtime: number;
  buildhost: string;
  /** null for source packages. */
  sourcerpm: string | null;
  /** Installed size in bytes (SIZE or LONGSIZE). */
  size: number;
  provides: RpmDependency[];
  requires: RpmDependency[];
  conflicts: RpmDependency[];
  obsoletes: RpmDependency[];
  recommends: RpmDependency[];
  suggests: RpmDependency[];
  supplements: RpmDependency[];
  enhances: RpmDependency[];
  fileDigestAlgo: DigestAlgo;
  files: RpmFileInfo[];
  scripts: RpmScript[];
  triggers: RpmTrigger[];
  fileTriggers: RpmFileTrigger[];
  /** PAYLOADFORMAT (`cpio`), PAYLOADCOMPRESSOR (`gzip`, `xz`, `lzma`, `zstd`, `bzip2`; '' when absent), PAYLOADFLAGS (level). */
  payload: { format: string; compressor: string; flags: string };
}

function opOf(flags: number): RpmDependency['op'] {
  const l = flags & RPMSENSE.LESS ? '<' : '';
  const g = flags & RPMSENSE.GREATER ? '>' : '';
  const e = flags & RPMSENSE.EQUAL ? '=' : '';
  return `${l}${g}${e}` as RpmDependency['op'];
}

/** `name`, or `name op version` as `rpm -q --requires` prints it. */
export function formatDependency(d: RpmDependency): string {
  return d.op && d.version !== '' ? `${d.name} ${d.op} ${d.version}` : d.name;
}

function malformed(h: RpmHeader, tag: number, msg: string): UpdaterError {
  return new UpdaterError('RPM_MALFORMED', `${h.what}: tag ${tag}: ${msg}`);
}

/** An array tag that must have `n` elements when present (`fill` when absent). */
function arrayOf<T>(h: RpmHeader, tag: number, n: number, get: (t: number) => T[] | undefined, fill: T): T[] {
  const v = get.call(h, tag);
  if (v === undefined) return new Array<T>(n).fill(fill);
  if (v.length !== n) throw malformed(h, tag, `has ${v.length} elements, expected ${n}`);
  return v;
}

function deps(h: RpmHeader, nameTag: number, flagsTag: number, versionTag: number): RpmDependency[] {
  const names = h.strings(nameTag) ?? [];
  const flags = arrayOf(h, flagsTag, names.length, h.numbers, 0);
  const versions = arrayOf(h, versionTag, names.length, h.strings, '');
  return names.map((name, i) => ({ name, op: opOf(flags[i]!), version: versions[i]!, flags: flags[i]! }));
}

/** Checks a header path: absolute, no `.`/`..` components, no NUL. */
function checkPath(h: RpmHeader, tag: number, p: string): string {
  if (!p.startsWith('/') || p.includes('\0') || p.split('/').some((c) => c === '..' || c === '.')) {
    throw new UpdaterError('RPM_UNSAFE_PATH', `${h.what}: tag ${tag}: unsafe file path "${p}"`);
  }
  return p;
}

function filePaths(h: RpmHeader): string[] {
  const basenames = h.strings(TAG.BASENAMES);
  if (basenames) {
    const dirnames = h.strings(TAG.DIRNAMES) ?? [];
    const dirindexes = arrayOf(h, TAG.DIRINDEXES, basenames.length, h.numbers, -1);
    return basenames.map((b, i) => {
      const d = dirnames[dirindexes[i]!];
      if (d === undefined) throw malformed(h, TAG.DIRINDEXES, `file ${i} has directory index ${dirindexes[i]} of ${dirnames.length}`);
      if (b.includes('/')) throw new UpdaterError('RPM_UNSAFE_PATH', `${h.what}: tag ${TAG.BASENAMES}: basename "${b}" contains "/"`);
      return checkPath(h, TAG.BASENAMES, d + b);
    });
  }
  return (h.strings(TAG.OLDFILENAMES) ?? []).map((p) => checkPath(h, TAG.OLDFILENAMES, p));
}

function files(h: RpmHeader): RpmFileInfo[] {
  const paths = filePaths(h);
  const n = paths.length;
  const sizes = h.has(TAG.LONGFILESIZES) ? arrayOf(h, TAG.LONGFILESIZES, n, h.numbers, 0) : arrayOf(h, TAG.FILESIZES, n, h.numbers, 0);
  const modes = arrayOf(h, TAG.FILEMODES, n, h.numbers, 0);
  const rdevs = arrayOf(h, TAG.FILERDEVS, n, h.numbers, 0);
  const mtimes = arrayOf(h, TAG.FILEMTIMES, n, h.numbers, 0);
  const digests = arrayOf(h, TAG.FILEDIGESTS, n, h.strings, '');
  const links = arrayOf(h, TAG.FILELINKTOS, n, h.strings, '');
  const flags = arrayOf(h, TAG.FILEFLAGS, n, h.numbers, 0);
  const users = arrayOf(h, TAG.FILEUSERNAME, n, h.strings, 'root');
  const groups = arrayOf(h, TAG.FILEGROUPNAME, n, h.strings, 'root');
  const verify = arrayOf(h, TAG.FILEVERIFYFLAGS, n, h.numbers, 0xffffffff);
  const devices = arrayOf(h, TAG.FILEDEVICES, n, h.numbers, 0);
  const inodes = arrayOf(h, TAG.FILEINODES, n, h.numbers, 0);
  const langs = arrayOf(h, TAG.FILELANGS, n, h.strings, '');
  const colors = arrayOf(h, TAG.FILECOLORS, n, h.numbers, 0);
  const caps = arrayOf(h, TAG.FILECAPS, n, h.strings, '');
  return paths.map((path, i) => {
    const f = flags[i]!;
    // FILEMODES is INT16: rpm stores st_mode's low 16 bits, which hold the type too.
    return {
      path,
      size: sizes[i]!,
      mode: modes[i]!,
      mtime: mtimes[i]!,
      rdev: rdevs[i]!,
      digest: digests[i]!,
      user: users[i]!,
      group: groups[i]!,
      flags: f,
      config: !!(f & RPMFILE.CONFIG),
      noreplace: !!(f & RPMFILE.NOREPLACE),
      missingok: !!(f & RPMFILE.MISSINGOK),
      doc: !!(f & RPMFILE.DOC),
      license: !!(f & RPMFILE.LICENSE),
      readme: !!(f & RPMFILE.README),
      ghost: !!(f & RPMFILE.GHOST),
      artifact: !!(f & RPMFILE.ARTIFACT),
      linkTo: links[i]!,
      inode: inodes[i]!,
      device: devices[i]!,
      lang: langs[i]!,
      color: colors[i]!,
      verifyFlags: verify[i]!,
      caps: caps[i]!,
    };
  });
}

/** A *PROG tag: a STRING (`/bin/sh`) or a STRING_ARRAY (`/usr/bin/python3 -s`). */
function interpreter(h: RpmHeader, tag: number): string[] {
  return h.strings(tag) ?? ['/bin/sh'];
}

const SCRIPT_TAGS: [ScriptKind, number, number, number][] = [
  ['pretrans', TAG.PRETRANS, TAG.PRETRANSPROG, TAG.PRETRANSFLAGS],
  ['prein', TAG.PREIN, TAG.PREINPROG, TAG.PREINFLAGS],
  ['postin', TAG.POSTIN, TAG.POSTINPROG, TAG.POSTINFLAGS],
  ['preun', TAG.PREUN, TAG.PREUNPROG, TAG.PREUNFLAGS],
  ['postun', TAG.POSTUN, TAG.POSTUNPROG, TAG.POSTUNFLAGS],
  ['posttrans', TAG.POSTTRANS, TAG.POSTTRANSPROG, TAG.POSTTRANSFLAGS],
  ['verify', TAG.VERIFYSCRIPT, TAG.VERIFYSCRIPTPROG, TAG.VERIFYSCRIPTFLAGS],
];

function scripts(h: RpmHeader): RpmScript[] {
  const out: RpmScript[] = [];
  for (const [kind, bodyTag, progTag, flagsTag] of SCRIPT_TAGS) {
    // A scriptlet with only an interpreter (`%post -p /sbin/ldconfig`) has a PROG tag and no body.
    if (!h.has(bodyTag) && !h.has(progTag)) continue;
    out.push({ kind, body: h.string(bodyTag) ?? '', interpreter: interpreter(h, progTag), flags: h.number(flagsTag) ?? 0 });
  }
  return out;
}

function triggerKind(flags: number): TriggerKind | null {
  if (flags & RPMSENSE.TRIGGERPREIN) return 'triggerprein';
  if (flags & RPMSENSE.TRIGGERIN) return 'triggerin';
  if (flags & RPMSENSE.TRIGGERUN) return 'triggerun';
  if (flags & RPMSENSE.TRIGGERPOSTUN) return 'triggerpostun';
  return null;
}

interface TriggerTags {
  scripts: number;
  prog: number;
  flags: number;
  name: number;
  index: number;
  version: number;
  condFlags: number;
}

/** Triggers: the script arrays, and conditions each pointing at a script by index. */
function triggerSet(h: RpmHeader, t: TriggerTags): { body: string; interpreter: string[]; flags: number; conditions: RpmDependency[]; index: number }[] {
  const bodies = h.strings(t.scripts);
  if (!bodies) return [];
  const progs = arrayOf(h, t.prog, bodies.length, h.strings, '/bin/sh');
  const sflags = arrayOf(h, t.flags, bodies.length, h.numbers, 0);
  const conds = deps(h, t.name, t.condFlags, t.version);
  const index = arrayOf(h, t.index, conds.length, h.numbers, 0);
  const out = bodies.map((body, i) => ({ body, interpreter: [progs[i]!], flags: sflags[i]!, conditions: [] as RpmDependency[], index: i }));
  conds.forEach((c, i) => {
    const s = out[index[i]!];
    if (!s) throw malformed(h, t.index, `condition ${i} points at script ${index[i]} of ${bodies.length}`);
    s.conditions.push(c);
  });
  return out;
}

function triggers(h: RpmHeader): RpmTrigger[] {
  const set = triggerSet(h, {
    scripts: TAG.TRIGGERSCRIPTS, prog: TAG.TRIGGERSCRIPTPROG, flags: TAG.TRIGGERSCRIPTFLAGS,
    name: TAG.TRIGGERNAME, index: TAG.TRIGGERINDEX, version: TAG.TRIGGERVERSION, condFlags: TAG.TRIGGERFLAGS,
  });
  return set.map(({ index: _i, ...s }) => ({ ...s, kind: triggerKind(s.conditions[0]?.flags ?? 0) ?? 'triggerin' }));
}

function fileTriggers(h: RpmHeader): RpmFileTrigger[] {
  const out: RpmFileTrigger[] = [];
  for (const trans of [false, true]) {
    const t = trans
      ? { scripts: TAG.TRANSFILETRIGGERSCRIPTS, prog: TAG.TRANSFILETRIGGERSCRIPTPROG, flags: TAG.TRANSFILETRIGGERSCRIPTFLAGS, name: TAG.TRANSFILETRIGGERNAME, index: TAG.TRANSFILETRIGGERINDEX, version: TAG.TRANSFILETRIGGERVERSION, condFlags: TAG.TRANSFILETRIGGERFLAGS }
      : { scripts: TAG.FILETRIGGERSCRIPTS, prog: TAG.FILETRIGGERSCRIPTPROG, flags: TAG.FILETRIGGERSCRIPTFLAGS, name: TAG.FILETRIGGERNAME, index: TAG.FILETRIGGERINDEX, version: TAG.FILETRIGGERVERSION, condFlags: TAG.FILETRIGGERFLAGS };
    const set = triggerSet(h, t);
    const prios = arrayOf(h, trans ? TAG.TRANSFILETRIGGERPRIORITIES : TAG.FILETRIGGERPRIORITIES, set.length, h.numbers, 1000000);
    for (const s of set) {
      const kind = triggerKind(s.conditions[0]?.flags ?? 0);
      const base = kind === 'triggerun' ? 'filetriggerun' : kind === 'triggerpostun' ? 'filetriggerpostun' : 'filetriggerin';
      out.push({ kind: (trans ? `trans${base}` : base) as FileTriggerKind, body: s.body, interpreter: s.interpreter, flags: s.flags, priority: prios[s.index]!, conditions: s.conditions });
    }
  }
  return out;
}

function required(h: RpmHeader, tag: number, label: string): string {
  const v = h.string(tag);
  if (v === undefined) throw new UpdaterError('RPM_MALFORMED', `${h.what}: header lacks the ${label} tag (${tag})`);
  return v;
}

/** Formats NEVRA as dnf does: the epoch only when non-zero. */
export function formatNevra(p: Pick<RpmPackage, 'name' | 'epoch' | 'version' | 'release' | 'arch'>): string {
  return `${p.name}-${p.epoch ? `${p.epoch}:` : ''}${p.version}-${p.release}.${p.arch}`;
}

/** Decodes the main header of a package. */
export function decodePackage(h: RpmHeader): RpmPackage {
  const name = required(h, TAG.NAME, 'NAME');
  const version = required(h, TAG.VERSION, 'VERSION');
  const release = required(h, TAG.RELEASE, 'RELEASE');
  const sourcerpm = h.string(TAG.SOURCERPM) ?? null;
  // Source packages have no ARCH in some rpm versions and are "src" by convention.
  const arch = h.string(TAG.ARCH) ?? (sourcerpm === null ? 'src' : required(h, TAG.ARCH, 'ARCH'));
  const epoch = h.number(TAG.EPOCH) ?? null;
  const algoId = h.number(TAG.FILEDIGESTALGO) ?? 1;
  const fileDigestAlgo = DIGEST_ALGOS[algoId];
  if (!fileDigestAlgo) throw malformed(h, TAG.FILEDIGESTALGO, `unknown file digest algorithm ${algoId}`);
  const pkg: RpmPackage = {
    name, epoch, version, release, arch,
    nevra: formatNevra({ name, epoch, version, release, arch }),
    summary: h.string(TAG.SUMMARY) ?? '',
    description: h.string(TAG.DESCRIPTION) ?? '',
    license: h.string(TAG.LICENSE) ?? '',
    url: h.string(TAG.URL) ?? '',
    group: h.string(TAG.GROUP) ?? '',
    vendor: h.string(TAG.VENDOR) ?? '',
    buildtime: h.number(TAG.BUILDTIME) ?? 0,
    buildhost: h.string(TAG.BUILDHOST) ?? '',
    sourcerpm,
    size: h.number(TAG.LONGSIZE) ?? h.number(TAG.SIZE) ?? 0,
    provides: deps(h, TAG.PROVIDENAME, TAG.PROVIDEFLAGS, TAG.PROVIDEVERSION),
    requires: deps(h, TAG.REQUIRENAME, TAG.REQUIREFLAGS, TAG.REQUIREVERSION),
    conflicts: deps(h, TAG.CONFLICTNAME, TAG.CONFLICTFLAGS, TAG.CONFLICTVERSION),
    obsoletes: deps(h, TAG.OBSOLETENAME, TAG.OBSOLETEFLAGS, TAG.OBSOLETEVERSION),
    recommends: deps(h, TAG.RECOMMENDNAME, TAG.RECOMMENDFLAGS, TAG.RECOMMENDVERSION),
    suggests: deps(h, TAG.SUGGESTNAME, TAG.SUGGESTFLAGS, TAG.SUGGESTVERSION),
    supplements: deps(h, TAG.SUPPLEMENTNAME, TAG.SUPPLEMENTFLAGS, TAG.SUPPLEMENTVERSION),
    enhances: deps(h, TAG.ENHANCENAME, TAG.ENHANCEFLAGS, TAG.ENHANCEVERSION),
    fileDigestAlgo,
    files: files(h),
    scripts: scripts(h),
    triggers: triggers(h),
    fileTriggers: fileTriggers(h),
    payload: {
      format: h.string(TAG.PAYLOADFORMAT) ?? 'cpio',
      // Absent for uncompressed payloads written by rpm 4.18 (`w0.ufdio`); the reader sniffs then.
      compressor: h.string(TAG.PAYLOADCOMPRESSOR) ?? '',
      flags: h.string(TAG.PAYLOADFLAGS) ?? '',
    },
  };
  return pkg;
}
