// Commit metadata of a base compose (rpm-ostree §2.8: rpmostree-composeutil.cxx
// finalize_metadata, rpmostree-rpm-util.cxx pkglist) and the input hash (§2.11). Pure:
// everything comes in as arguments. Like rpm-ostree, the metadata is canonicalised to
// big-endian, so integers are stored byte-swapped through our little-endian codec.

import { createHash } from 'node:crypto';
import { UpdaterError } from '../../common/errors.ts';
import { bswap64, variant, type GValue, type Variant, type VarDict } from '../../store/gvariant/index.ts';
import type { JsonValue, MetadataTarget } from '../treefile/index.ts';

/** One installed package, as the pkglist records it. */
export interface PkgListEntry {
  name: string;
  /** null or 0 when unset: recorded as "0" (libdnf does not tell them apart). */
  epoch: number | null;
  version: string;
  release: string;
  arch: string;
}

/** One enabled rpm-md repository: its id and the `generated` timestamp of its metadata. */
export interface RpmmdRepo {
  id: string;
  /** Seconds since the epoch. */
  timestamp: number;
}

const cmp = (a: string, b: string): number => (a < b ? -1 : a > b ? 1 : 0);

/** Packages sorted by name, epoch, version, release, arch (plain string order, reproducible). */
export function sortPkgList(pkgs: PkgListEntry[]): PkgListEntry[] {
  return [...pkgs].sort((a, b) => cmp(a.name, b.name) || cmp(String(a.epoch ?? 0), String(b.epoch ?? 0))
    || cmp(a.version, b.version) || cmp(a.release, b.release) || cmp(a.arch, b.arch));
}

/** `rpmostree.rpmdb.pkglist`: a(sssss) of (name, epoch, version, release, arch). */
export function pkglistVariant(pkgs: PkgListEntry[]): Variant {
  return variant('a(sssss)', sortPkgList(pkgs).map((p) => [p.name, String(p.epoch ?? 0), p.version, p.release, p.arch]));
}

/** `rpmostree.rpmmd-repos`: aa{sv} of {id: s, timestamp: t}, sorted by id. */
export function rpmmdReposVariant(repos: RpmmdRepo[]): Variant {
  return variant('aa{sv}', [...repos].sort((a, b) => cmp(a.id, b.id)).map((r) => [
    ['id', variant('s', r.id)],
    ['timestamp', variant('t', bswap64(BigInt(r.timestamp)))],
  ] as GValue));
}

/**
 * A JSON value as a GVariant, the way json-glib's json_gvariant_deserialize maps it
 * without a signature (rpm-ostree's route for add-commit-metadata / --add-metadata-from-json):
 * string → s, boolean → b, integer → x, other number → d, array → av, object → a{sv},
 * null → mv (nothing). Integers are byte-swapped (big-endian metadata).
 */
export function jsonToVariant(v: JsonValue, where = 'value'): Variant {
  if (typeof v === 'string') return variant('s', v);
  if (typeof v === 'boolean') return variant('b', v);
  if (typeof v === 'number') {
    if (Number.isInteger(v)) {
      if (!Number.isSafeInteger(v)) throw new UpdaterError('ROOTFS_METADATA_INVALID', `${where}: integer ${v} is out of range`);
      return variant('x', bswap64(BigInt(v)));
    }
    // A double is 8 bytes: byte-swap its bit pattern like any other 64-bit value.
    const buf = new DataView(new ArrayBuffer(8));
    buf.setFloat64(0, v, false);
    return variant('d', buf.getFloat64(0, true));
  }
  if (v === null) return variant('mv', null);
  if (Array.isArray(v)) return variant('av', v.map((x, i) => jsonToVariant(x, `${where}[${i}]`)));
  return variant('a{sv}', Object.keys(v).sort(cmp).map((k) => [k, jsonToVariant(v[k]!, `${where}.${k}`)] as GValue));
}

export interface CommitMetadataInput {
  /** `version` (automatic or given); omitted when undefined. */
  version?: string;
  /** `rpmostree.inputhash`. */
  inputhash: string;
  packages: PkgListEntry[];
  repos: RpmmdRepo[];
  /** `repo-metadata` [inline]: `inline` puts rpmmd-repos in the commit, `detached` in detached metadata. */
  repoMetadata?: MetadataTarget;
  /** `initramfs-args` when set: `rpmostree.initramfs-args`. */
  initramfsArgs?: string[];
  /** `container-cmd`: `ostree.container-cmd`. */
  containerCmd?: string[];
  /** Treefile `add-commit-metadata`. */
  addCommitMetadata?: Record<string, JsonValue>;
  /** From the kernel step: ostree.bootable and ostree.linux. */
  bootable?: VarDict;
  /** `--add-metadata-string` and friends: win over everything else. */
  extra?: VarDict;
}

export interface CommitMetadata {
  /** The commit's a{sv}, sorted by key (reproducible). */
  metadata: VarDict;
  /** Detached metadata (`repo-metadata: detached`). */
  detached: VarDict;
}

/**
 * Assembles a base compose's commit metadata. Later sources win on a key conflict:
 * add-commit-metadata, then the compose's own keys, then `extra` (as in rpm-ostree, where
 * --add-metadata-string overrides the treefile and `version` can be given on the command line).
 */
export function composeCommitMetadata(input: CommitMetadataInput): CommitMetadata {
  const m = new Map<string, Variant>();
  for (const [k, v] of Object.entries(input.addCommitMetadata ?? {})) m.set(k, jsonToVariant(v, `add-commit-metadata.${k}`));
  if (input.version !== undefined) m.set('version', variant('s', input.version));
  m.set('rpmostree.inputhash', variant('s', input.inputhash));
  m.set('rpmostree.rpmdb.pkglist', pkglistVariant(input.packages));
  const detached: VarDict = [];
  const repoMode = input.repoMetadata ?? 'inline';
  if (repoMode === 'inline') m.set('rpmostree.rpmmd-repos', rpmmdReposVariant(input.repos));
  else if (repoMode === 'detached') detached.push(['rpmostree.rpmmd-repos', rpmmdReposVariant(input.repos)]);
  if (input.initramfsArgs !== undefined) m.set('rpmostree.initramfs-args', variant('as', input.initramfsArgs));
  if (input.containerCmd !== undefined) m.set('ostree.container-cmd', variant('as', input.containerCmd));
  for (const [k, v] of input.bootable ?? []) m.set(k, v);
  for (const [k, v] of input.extra ?? []) m.set(k, v);
  return { metadata: [...m.entries()].sort(([a], [b]) => cmp(a, b)), detached };
}

/** One resolved package for the input hash. */
export interface InputHashPackage {
  /** `name-[epoch:]version-release.arch`: the sort key. */
  nevra: string;
  /** What the transaction does with it; a base compose only installs. */
  action?: 'install' | 'update' | 'downgrade';
  /** The checksum repository metadata gives the package, as `type:hex` (e.g. `sha256:…`). */
  checksum: string;
}

/**
 * `rpmostree.inputhash`: SHA-256 over the treefile checksum (hex, from compose/treefile's
 * treefileChecksum), then for each package in NEVRA order its action and its repo-metadata
 * checksum. Same inputs, same hash; a GPG re-sign changes the checksum and so the hash.
 * (Follows rpm-ostree's recipe; the bytes are not identical to rpm-ostree's own hash.)
 */
export function computeInputHash(treefileChecksum: string, packages: InputHashPackage[]): string {
  const h = createHash('sha256');
  h.update(treefileChecksum);
  for (const p of [...packages].sort((a, b) => cmp(a.nevra, b.nevra))) {
    if (!/^[a-z0-9]+:[0-9a-f]+$/.test(p.checksum)) {
      throw new UpdaterError('ROOTFS_METADATA_INVALID', `package ${p.nevra}: checksum ${JSON.stringify(p.checksum)} is not in type:hex form`);
    }
    h.update(p.action ?? 'install');
    h.update(p.checksum);
  }
  return h.digest('hex');
}
