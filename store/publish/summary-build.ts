// Pure builders for what `ostree summary -u` writes (libostree 2022.7, ostree-format.md §6.1,
// §8): the `summary` file, the `ostree-metadata` commit of a collection repo, delta-index
// files and detached metadata with an appended signature. Every a{sv} that ostree builds
// through a GVariantDict is emitted in GLib's hash-table order (gvariant/ghash-order.ts), so the
// bytes match ostree's for the same inputs.

import { staticDeltasValue, type DeltaDigest } from '../delta/index.ts';
import { bswap64, hashOrderedDict, variant, type VarDict, type Variant } from '../gvariant/index.ts';
import {
  checksumToBytes, compareNames, decodeCommit, encodeCommit, encodeDirmeta, encodeDirtree, encodeSummary,
  encodeVarDict, type SummaryRef,
} from '../objects/index.ts';

/** Well-known summary metadata keys (ostree-repo-private.h). */
export const SUMMARY_KEYS = {
  lastModified: 'ostree.summary.last-modified',
  expires: 'ostree.summary.expires',
  collectionId: 'ostree.summary.collection-id',
  collectionMap: 'ostree.summary.collection-map',
  mode: 'ostree.summary.mode',
  tombstoneCommits: 'ostree.summary.tombstone-commits',
  indexedDeltas: 'ostree.summary.indexed-deltas',
  staticDeltas: 'ostree.static-deltas',
  commitTimestamp: 'ostree.commit.timestamp',
  commitVersion: 'ostree.commit.version',
} as const;

/** The ref a collection repo's summary update commits to (OSTREE_REPO_METADATA_REF). */
export const METADATA_REF = 'ostree-metadata';

/** GLib's g_date_time_new_from_unix_utc accepts nothing past 9999-12-31T23:59:59Z. */
const MAX_DATETIME_SECS = 253402300799;

/** One ref as it goes into the summary: its name, commit checksum and the `.commit` bytes. */
export interface RefCommit {
  name: string;
  checksum: string;
  commitBytes: Uint8Array;
}

/**
 * A summary ref entry: `(ref, (commit size, checksum, metadata))` with the commit's
 * timestamp (big-endian, only if GLib can represent it as a date) and its `version`
 * string, inserted in that order into a GVariantDict as ostree's summary_add_ref_entry does.
 */
export function summaryRefEntry(r: RefCommit): SummaryRef {
  const commit = decodeCommit(r.commitBytes, `commit ${r.checksum} of ref ${r.name}`);
  const meta: [string, Variant][] = [];
  if (commit.timestamp <= MAX_DATETIME_SECS) meta.push([SUMMARY_KEYS.commitTimestamp, variant('t', bswap64(BigInt(commit.timestamp)))]);
  const version = commit.metadata.find(([k]) => k === 'version');
  if (version !== undefined && version[1].type === 's') meta.push([SUMMARY_KEYS.commitVersion, variant('s', version[1].value)]);
  return { name: r.name, commitSize: r.commitBytes.length, checksum: r.checksum, metadata: hashOrderedDict(meta) };
}

/** Everything the summary depends on, gathered by the I/O layer. */
export interface SummaryInput {
  /** Refs of the main collection (refs/heads, plus refs/mirrors/<collection-id>). */
  refs: RefCommit[];
  /** Refs of other collections (refs/mirrors/<other-id>/…), by collection id. */
  collectionMap: Map<string, RefCommit[]>;
  /** Deltas in directory-listing order (the order ostree inserts them in). */
  deltas: DeltaDigest[];
  /** `core.mode` as written in the config (default `bare`). */
  mode: string;
  tombstoneCommits: boolean;
  /** `core.no-deltas-in-summary`. */
  noDeltasInSummary: boolean;
  /** `core.collection-id`, or null. */
  collectionId: string | null;
  /** Caller's extra keys (`-m KEY=VALUE`), in the order given; ostree's keys are inserted after them. */
  additionalMetadata: VarDict;
  /** `ostree.summary.last-modified`, seconds since the epoch. */
  lastModified: number;
}

function sortedEntries(refs: RefCommit[]): SummaryRef[] {
  return [...refs].sort((a, b) => compareNames(a.name, b.name)).map(summaryRefEntry);
}

/**
 * Builds the `summary` bytes. Insertion order into the metadata GVariantDict, as in
 * libostree 2022.7 (and confirmed against its output): the caller's keys, then
 * static-deltas, last-modified, mode, tombstone-commits, indexed-deltas, collection-id,
 * collection-map.
 */
export function buildSummary(input: SummaryInput): Uint8Array {
  const meta: [string, Variant][] = [...input.additionalMetadata];
  if (!input.noDeltasInSummary && input.deltas.length > 0) meta.push([SUMMARY_KEYS.staticDeltas, staticDeltasValue(input.deltas)]);
  meta.push([SUMMARY_KEYS.lastModified, variant('t', bswap64(BigInt(input.lastModified)))]);
  meta.push([SUMMARY_KEYS.mode, variant('s', input.mode)]);
  meta.push([SUMMARY_KEYS.tombstoneCommits, variant('b', input.tombstoneCommits)]);
  meta.push([SUMMARY_KEYS.indexedDeltas, variant('b', true)]);
  if (input.collectionId !== null) meta.push([SUMMARY_KEYS.collectionId, variant('s', input.collectionId)]);
  if (input.collectionMap.size > 0) {
    // Collection ids sorted with strcmp, each one's refs sorted too.
    const ids = [...input.collectionMap.keys()].sort((a, b) => compareNames(a, b));
    const map = ids.map((id) => [id, sortedEntries(input.collectionMap.get(id)!).map(refTuple)]);
    meta.push([SUMMARY_KEYS.collectionMap, variant('a{sa(s(taya{sv}))}', map as never)]);
  }
  return encodeSummary({ refs: sortedEntries(input.refs), metadata: hashOrderedDict(meta) });
}

function refTuple(r: SummaryRef): unknown {
  return [r.name, [BigInt(r.commitSize), checksumToBytes(r.checksum), r.metadata]];
}

/** An empty root: the dirtree with no entries and a root-owned 0755 directory's dirmeta. */
export function emptyRootObjects(): { dirtree: Uint8Array; dirmeta: Uint8Array } {
  return {
    dirtree: encodeDirtree({ files: [], dirs: [] }),
    dirmeta: encodeDirmeta({ uid: 0, gid: 0, mode: 0o040755, xattrs: [] }),
  };
}

/**
 * The commit `ostree summary -u` makes on `ostree-metadata` in a repo with a collection
 * id: an empty tree, no subject or body, the caller's extra metadata plus the collection
 * and ref bindings (GVariantDict order), parented on the previous `ostree-metadata` commit.
 */
export function buildMetadataCommit(opts: {
  collectionId: string;
  additionalMetadata: VarDict;
  parent: string | null;
  timestamp: number;
  rootTree: string;
  rootMeta: string;
}): Uint8Array {
  const metadata = hashOrderedDict([
    ...opts.additionalMetadata,
    ['ostree.collection-binding', variant('s', opts.collectionId)],
    ['ostree.ref-binding', variant('as', [METADATA_REF])],
  ]);
  return encodeCommit({
    metadata, parent: opts.parent, subject: '', body: '', timestamp: opts.timestamp, rootTree: opts.rootTree, rootMeta: opts.rootMeta,
  });
}
