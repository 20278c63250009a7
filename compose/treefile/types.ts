// The treefile data model: the per-key values of rpm-ostree's schema (kebab-case names, as
// written in treefiles), and the normalised `Treefile` that compose code consumes
// (camelCase, defaults applied). Follows rpm-ostree's rust/src/treefile.rs field by field.

/** A JSON value (metadata, add-commit-metadata). */
export type JsonValue = string | number | boolean | null | JsonValue[] | { [key: string]: JsonValue };

/** A `variables` value: rpm-ostree accepts booleans, non-negative integers and strings. */
export type VarValue = boolean | number | string;

/** A file named by a treefile key, resolved against the directory of the file that names it. */
export interface ExternalFile {
  /** The path as written in the treefile. */
  name: string;
  /** Absolute path of the file on disk. */
  path: string;
}

/** One `add-files` entry: copy `source` into the tree at `dest`. */
export interface AddFile {
  /** Source as written (relative to the treefile that lists it). */
  name: string;
  /** Absolute path of the source file. */
  path: string;
  /** Destination in the tree (under /usr, /etc, /bin, /sbin, /lib or /lib64). */
  dest: string;
}

/** `check-passwd`: what the compose verifies about users after installing packages. */
export type CheckPasswd =
  | { type: 'none' }
  | { type: 'previous' }
  | { type: 'file'; filename: string; path: string }
  /** name → [uid, gid]; a single id in the treefile means uid = gid. */
  | { type: 'data'; entries: Record<string, [number, number]> };

/** `check-groups`: like check-passwd, entries are name → gid. */
export type CheckGroups =
  | { type: 'none' }
  | { type: 'previous' }
  | { type: 'file'; filename: string; path: string }
  | { type: 'data'; entries: Record<string, number> };

export interface RepoPackages {
  repo: string;
  /** Sorted, unique, whitespace-split like `packages`. */
  packages: string[];
}

/** One `remove-from-packages` entry: delete files of `package` matching any of `patterns`. */
export interface RemoveFromPackage {
  package: string;
  /** Regular expressions matched against absolute paths. */
  patterns: string[];
}

export interface Rojig {
  name: string;
  summary: string;
  license: string;
  description?: string;
}

export type Edition = '2014' | '2024';
export type BootLocation = 'new' | 'modules' | 'kernel-install';
export type OptUsrlocal = 'var' | 'root' | 'stateoverlay';
export type RpmdbBackend = 'bdb' | 'sqlite' | 'ndb' | 'target' | 'host';
export type MetadataTarget = 'inline' | 'detached' | 'disabled';

/**
 * The value of each treefile key after parsing one file (kebab-case names as written).
 * Keys consumed while reading (include, arch-include, conditional-include, packages-$arch,
 * bootstrap-packages and the legacy snake_case spellings) do not appear here.
 */
export interface TreefileFields {
  // identity / versioning
  'ref': string;
  'edition': Edition;
  'basearch': string;
  'releasever': string | number;
  'variables': Record<string, VarValue>;
  'repovars': Record<string, string>;
  'automatic-version-prefix': string;
  'automatic-version-suffix': string;
  'mutate-os-release': string;
  'add-commit-metadata': Record<string, JsonValue>;
  'metadata': Record<string, JsonValue>;
  'gpg-key': string;
  'rojig': Rojig;
  // package selection
  'repos': string[];
  'lockfile-repos': string[];
  'repo-packages': RepoPackages[];
  'packages': string[];
  'exclude-packages': string[];
  'recommends': boolean;
  'documentation': boolean;
  'install-langs': string[];
  'platform-module': string;
  // filesystem policy
  'selinux': boolean;
  'selinux-label-version': number;
  'ignore-devices': boolean;
  'ima': boolean;
  'boot-location': BootLocation;
  'tmp-is-dir': boolean;
  'opt-usrlocal': OptUsrlocal;
  'machineid-compat': boolean;
  'readonly-executables': boolean;
  'container': boolean;
  'no-initramfs': boolean;
  'initramfs-args': string[];
  'units': string[];
  'default-target': string;
  'remove-files': string[];
  'remove-from-packages': RemoveFromPackage[];
  'add-files': AddFile[];
  'ostree-layers': string[];
  'ostree-override-layers': string[];
  'rpmdb': RpmdbBackend;
  'rpmdb-normalize': boolean;
  'cliwrap': boolean;
  'cliwrap-binaries': string[];
  'container-cmd': string[];
  'repo-metadata': MetadataTarget;
  'advisories-metadata': MetadataTarget;
  'sysusers': string;
  // users and groups
  'etc-group-members': string[];
  'preserve-passwd': boolean;
  'check-passwd': CheckPasswd;
  'check-groups': CheckGroups;
  'ignore-removed-users': string[];
  'ignore-removed-groups': string[];
  // scripts
  'postprocess-script': ExternalFile;
  'postprocess': string[];
}

/** A (partial) treefile configuration: what one file sets, or the merge of several. */
export type TreefileConfig = { [K in keyof TreefileFields]?: TreefileFields[K] };

/** The normalised result of loading a treefile and everything it includes. */
export interface Treefile {
  /** Absolute path of the top-level treefile. */
  path: string;
  /** Its directory: `.repo` files are looked up here. */
  directory: string;
  /** Every treefile that contributed, absolute paths, in the order they were read. */
  sources: string[];
  /** The compose architecture (rpm basearch, e.g. x86_64). */
  basearch: string;

  ref?: string;
  edition: Edition;
  releasever?: string;
  /** All variables after merging, including the built-in `basearch` and `releasever`. */
  variables: Record<string, VarValue>;
  repovars: Record<string, string>;
  automaticVersionPrefix?: string;
  /** Exactly one ASCII character (default "."). */
  automaticVersionSuffix: string;
  mutateOsRelease?: string;
  addCommitMetadata: Record<string, JsonValue>;
  metadata: Record<string, JsonValue>;
  gpgKey?: string;
  rojig?: Rojig;

  /** Undefined when the treefile names no repos (then the repos enabled by default are used). */
  repos?: string[];
  lockfileRepos: string[];
  repoPackages: RepoPackages[];
  /** Sorted and unique; entries may be provides or version queries (`'foo >= 1.2'`). */
  packages: string[];
  excludePackages: string[];
  recommends: boolean;
  documentation: boolean;
  installLangs?: string[];
  platformModule?: string;

  selinux: boolean;
  selinuxLabelVersion: number;
  ignoreDevices: boolean;
  ima: boolean;
  bootLocation: BootLocation;
  tmpIsDir: boolean;
  optUsrlocal: OptUsrlocal;
  machineidCompat: boolean;
  readonlyExecutables: boolean;
  container: boolean;
  noInitramfs: boolean;
  /** Undefined when unset (dracut then runs with `--no-hostonly`). */
  initramfsArgs?: string[];
  units: string[];
  defaultTarget?: string;
  removeFiles: string[];
  removeFromPackages: RemoveFromPackage[];
  addFiles: AddFile[];
  ostreeLayers: string[];
  ostreeOverrideLayers: string[];
  rpmdb: RpmdbBackend;
  rpmdbNormalize: boolean;
  cliwrap: boolean;
  cliwrapBinaries: string[];
  containerCmd?: string[];
  repoMetadata: MetadataTarget;
  advisoriesMetadata: MetadataTarget;
  sysusers: string;

  etcGroupMembers: string[];
  preservePasswd: boolean;
  checkPasswd: CheckPasswd;
  checkGroups: CheckGroups;
  ignoreRemovedUsers: string[];
  ignoreRemovedGroups: string[];

  /** Inline scripts, in run order. */
  postprocess: string[];
  postprocessScript?: ExternalFile;

  /** The merged treefile as rpm-ostree serialises it (kebab-case, only keys that were set). */
  flattened: Record<string, JsonValue>;
  /** Deprecation notices rpm-ostree prints for this treefile. */
  warnings: string[];
}
