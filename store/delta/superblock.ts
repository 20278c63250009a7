// Static-delta superblocks, names and index files (ostree-format.md §8):
//   superblock (a{sv}tayay(a{sv}aya(say)sstayay)aya(uayttay)a(yaytt)) =
//     metadata (ostree.endianness, inline parts, deltas/…/commitmeta, user keys),
//     timestamp (BE), from (32 bytes or empty), to, the TO commit object itself,
//     recursive deltas (always empty), part headers, fallback objects;
//   part header (uayttay) = version 0, sha256 of the part file, size, usize,
//     objects (33-byte records: objtype ‖ checksum); sizes in the declared endianness;
//   fallback (yaytt) = objtype, checksum, compressed size, uncompressed size;
//   signed wrapper (taya{sv}) = magic "OSTSGNDT", superblock bytes, signatures.

import { UpdaterError } from '../../common/errors.ts';
import { bswap64, deserialize, dictGet, hashOrderedDict, serialize, variant, type GValue, type VarDict, type Variant } from '../gvariant/index.ts';
import {
  checksumFromBytes, checksumToBytes, COMMIT_TYPE, fromModifiedBase64, isChecksum, ObjectType, sha256Hex, toModifiedBase64,
} from '../objects/index.ts';

export const SUPERBLOCK_TYPE = `(a{sv}tayay${COMMIT_TYPE}aya(uayttay)a(yaytt))`;
export const SIGNED_SUPERBLOCK_TYPE = '(taya{sv})';
export const DELTA_INDEX_TYPE = 'a{sv}';
/** "OSTSGNDT" as the big-endian u64 ostree stores first in a signed superblock. */
const SIGNED_MAGIC = Buffer.from('OSTSGNDT', 'latin1');
/** Summary / index key listing deltas (name → sha256 of the superblock). */
export const STATIC_DELTAS_KEY = 'ostree.static-deltas';
export const ENDIANNESS_KEY = 'ostree.endianness';

/** One object a part produces, in op order. */
export interface DeltaObject {
  type: ObjectType;
  checksum: string;
}

export interface DeltaPartHeader {
  version: number;
  /** sha256 of the whole part file (compression byte included). */
  checksum: string;
  /** Bytes of the part file. */
  size: number;
  /** Sum of the uncompressed sizes of the part's objects. */
  usize: number;
  objects: DeltaObject[];
}

export interface DeltaFallback {
  type: ObjectType;
  checksum: string;
  /** Size of the object as served (`.filez`). */
  size: number;
  usize: number;
}

export interface Superblock {
  /** Delta metadata, in file order. */
  metadata: VarDict;
  /** Generation time, seconds since the epoch. */
  timestamp: number;
  from: string | null;
  to: string;
  /** The TO commit object's bytes. */
  commit: Uint8Array;
  parts: DeltaPartHeader[];
  fallbacks: DeltaFallback[];
  /** Byte order of the part/fallback sizes; 'invalid' when undeclared and not guessable. */
  endianness: 'little' | 'big' | 'invalid';
  /** True when the endianness was guessed (no ostree.endianness key). */
  endiannessHeuristic: boolean;
}

// ---- names and paths ----

/** `FROM-TO`, or `TO` for a from-scratch delta. */
export function deltaName(from: string | null, to: string): string {
  return from === null ? to : `${from}-${to}`;
}

export function parseDeltaName(name: string): { from: string | null; to: string } {
  const parts = name.split('-');
  const ok = (parts.length === 1 || parts.length === 2) && parts.every(isChecksum);
  if (!ok) throw new UpdaterError('DELTA_BAD_NAME', `invalid delta name '${name}': expected TO or FROM-TO (64-character checksums)`);
  return parts.length === 1 ? { from: null, to: parts[0]! } : { from: parts[0]!, to: parts[1]! };
}

/** Repo-relative directory of a delta: deltas/XX/REST[-TO] in modified base64. */
export function deltaRelDir(from: string | null, to: string): string {
  const t = toModifiedBase64(to);
  if (from === null) return `deltas/${t.slice(0, 2)}/${t.slice(2)}`;
  const f = toModifiedBase64(from);
  return `deltas/${f.slice(0, 2)}/${f.slice(2)}-${t}`;
}

/** Parses `XX` + `REST` directory names back into a delta (null when they are not one). */
export function deltaFromDirNames(prefix: string, rest: string): { from: string | null; to: string } | null {
  try {
    const parts = (prefix + rest).split('-');
    if (parts.length === 1) return { from: null, to: fromModifiedBase64(parts[0]!) };
    if (parts.length === 2) return { from: fromModifiedBase64(parts[0]!), to: fromModifiedBase64(parts[1]!) };
  } catch {
    return null;
  }
  return null;
}

/** Repo-relative path of the delta index for TO. */
export function deltaIndexRelPath(to: string): string {
  const t = toModifiedBase64(to);
  return `delta-indexes/${t.slice(0, 2)}/${t.slice(2)}.index`;
}

/** Superblock metadata key of an inline part: the part's relative path. */
export function inlinePartKey(from: string | null, to: string, index: number): string {
  return `${deltaRelDir(from, to)}/${index}`;
}

export function commitmetaKey(from: string | null, to: string): string {
  return `${deltaRelDir(from, to)}/commitmeta`;
}

// ---- superblock codec ----

function objectsToBytes(objects: DeltaObject[]): Uint8Array {
  const out = new Uint8Array(objects.length * 33);
  objects.forEach((o, i) => {
    out[i * 33] = o.type;
    out.set(checksumToBytes(o.checksum), i * 33 + 1);
  });
  return out;
}

function objectsFromBytes(b: Uint8Array, what: string): DeltaObject[] {
  if (b.length % 33 !== 0) throw new UpdaterError('DELTA_CORRUPT', `${what}: object list of ${b.length} bytes is not a multiple of 33`);
  const out: DeltaObject[] = [];
  for (let i = 0; i < b.length; i += 33) {
    const type = b[i]!;
    if (type !== ObjectType.FILE && type !== ObjectType.DIR_TREE && type !== ObjectType.DIR_META && type !== ObjectType.COMMIT) {
      throw new UpdaterError('DELTA_CORRUPT', `${what}: object ${i / 33} has invalid type ${type}`);
    }
    out.push({ type: type as ObjectType, checksum: checksumFromBytes(b.subarray(i + 1, i + 33), `${what}: object ${i / 33}`) });
  }
  return out;
}

const swap32 = (v: number): number => ((v & 0xff) << 24 | (v & 0xff00) << 8 | (v >>> 8) & 0xff00 | v >>> 24) >>> 0;
const toNum = (v: bigint, what: string): number => {
  if (v > BigInt(Number.MAX_SAFE_INTEGER)) throw new UpdaterError('DELTA_CORRUPT', `${what}: size ${v} out of range`);
  return Number(v);
};

export interface EncodeSuperblockInput {
  metadata: VarDict;
  timestamp: number;
  from: string | null;
  to: string;
  commit: Uint8Array;
  parts: DeltaPartHeader[];
  fallbacks: DeltaFallback[];
}

/** Serialises a superblock; sizes are written little-endian and declared so (`ostree.endianness` = 'l' must be in metadata). */
export function encodeSuperblock(s: EncodeSuperblockInput): Uint8Array {
  const commitValue = deserialize(COMMIT_TYPE, s.commit, { what: `commit ${s.to}` });
  return serialize(SUPERBLOCK_TYPE, [
    s.metadata as unknown as GValue,
    bswap64(BigInt(s.timestamp)),
    s.from === null ? new Uint8Array(0) : checksumToBytes(s.from),
    checksumToBytes(s.to),
    commitValue,
    new Uint8Array(0),
    s.parts.map((p) => [p.version, checksumToBytes(p.checksum), BigInt(p.size), BigInt(p.usize), objectsToBytes(p.objects)]),
    s.fallbacks.map((f) => [f.type, checksumToBytes(f.checksum), BigInt(f.size), BigInt(f.usize)]),
  ]);
}

/** True when the bytes are a signed superblock wrapper. */
export function isSignedSuperblock(bytes: Uint8Array): boolean {
  return bytes.length >= 8 && Buffer.from(bytes.buffer, bytes.byteOffset, 8).equals(SIGNED_MAGIC);
}

/** Unwraps a signed superblock: the inner superblock bytes and the signatures dict. */
export function unwrapSignedSuperblock(bytes: Uint8Array, what = 'superblock'): { superblock: Uint8Array; signatures: VarDict } {
  const [, inner, sigs] = deserialize(SIGNED_SUPERBLOCK_TYPE, bytes, { what, normal: false }) as [bigint, Uint8Array, VarDict];
  return { superblock: inner, signatures: sigs };
}

/** Wraps superblock bytes with signatures (e.g. `ostree.sign.ed25519` → aay). */
export function wrapSignedSuperblock(superblock: Uint8Array, signatures: VarDict): Uint8Array {
  const magic = new DataView(SIGNED_MAGIC.buffer, SIGNED_MAGIC.byteOffset, 8).getBigUint64(0, true);
  return serialize(SIGNED_SUPERBLOCK_TYPE, [magic, superblock, signatures as unknown as GValue]);
}

/** Decodes a superblock (plain or signed); `what` names the file for errors. */
export function decodeSuperblock(raw: Uint8Array, what = 'superblock'): Superblock & { signed: boolean; signatures: VarDict } {
  const signed = isSignedSuperblock(raw);
  let bytes = raw;
  let signatures: VarDict = [];
  if (signed) ({ superblock: bytes, signatures } = unwrapSignedSuperblock(raw, what));
  let v: GValue[];
  try {
    v = deserialize(SUPERBLOCK_TYPE, bytes, { what, normal: false }) as GValue[];
  } catch (err) {
    throw new UpdaterError('DELTA_CORRUPT', `${what}: not a static-delta superblock`, { cause: err });
  }
  const [metadata, ts, fromB, toB, commitV, , partsV, fallbacksV] = v as [
    VarDict, bigint, Uint8Array, Uint8Array, GValue, Uint8Array, [number, Uint8Array, bigint, bigint, Uint8Array][], [number, Uint8Array, bigint, bigint][],
  ];
  if (fromB.length !== 0 && fromB.length !== 32) throw new UpdaterError('DELTA_CORRUPT', `${what}: from checksum has ${fromB.length} bytes`);
  const from = fromB.length === 0 ? null : checksumFromBytes(fromB, `${what}: from`);
  const to = checksumFromBytes(toB, `${what}: to`);
  const commit = serialize(COMMIT_TYPE, commitV);
  if (sha256Hex(commit) !== to) throw new UpdaterError('DELTA_CORRUPT', `${what}: embedded commit does not match ${to}`);

  let endianness: Superblock['endianness'];
  let heuristic = false;
  const e = dictGet(metadata, ENDIANNESS_KEY, 'y');
  if (e !== undefined) endianness = e === 0x6c ? 'little' : e === 0x42 ? 'big' : 'invalid';
  else {
    // ostree's guess: a part "compressed" to >1.2× its usize, or objects averaging
    // over 4 GiB, means the sizes were written in the other byte order.
    heuristic = true;
    let swapped = false;
    let total = 0n;
    let nobj = 0;
    for (const [, , size, usize, objs] of partsV) {
      total += size;
      nobj += Math.floor(objs.length / 33);
      if (size > usize && Number(size) / Number(usize) > 1.2) swapped = true;
    }
    if (!swapped && nobj > 0 && total / BigInt(nobj) > 0xffffffffn) swapped = true;
    endianness = swapped ? 'big' : 'invalid';
  }
  const swap = endianness === 'big';
  const fix = (x: bigint): bigint => (swap ? bswap64(x) : x);
  const parts = partsV.map(([ver, csum, size, usize, objs], i) => ({
    version: swap ? swap32(ver) : ver,
    checksum: checksumFromBytes(csum, `${what}: part ${i} checksum`),
    size: toNum(fix(size), `${what}: part ${i}`),
    usize: toNum(fix(usize), `${what}: part ${i}`),
    objects: objectsFromBytes(objs, `${what}: part ${i}`),
  }));
  const fallbacks = fallbacksV.map(([type, csum, size, usize], i) => ({
    type: type as ObjectType,
    checksum: checksumFromBytes(csum, `${what}: fallback ${i}`),
    size: toNum(fix(size), `${what}: fallback ${i}`),
    usize: toNum(fix(usize), `${what}: fallback ${i}`),
  }));
  return {
    metadata, timestamp: Number(bswap64(ts)), from, to, commit, parts, fallbacks,
    endianness, endiannessHeuristic: heuristic, signed, signatures,
  };
}

// ---- delta index ----

/** A delta in a repository: its name (`TO` or `FROM-TO`, hex) and the sha256 of its superblock file. */
export interface DeltaDigest {
  name: string;
  superblockSha256: string;
}

/**
 * The `ostree.static-deltas` value of a summary or delta index: name → sha256 of the
 * superblock as `ay`, in the order g_variant_dict_end() emits it for entries inserted
 * in `deltas` order (ostree builds both through a GVariantDict).
 */
export function staticDeltasValue(deltas: readonly DeltaDigest[]): Variant {
  return variant('a{sv}', hashOrderedDict(deltas.map((d): [string, Variant] => [d.name, variant('ay', checksumToBytes(d.superblockSha256))])));
}

/** Encodes a delta index file: `{ostree.static-deltas: {name: digest}}` (ostree_repo_static_delta_reindex). */
export function encodeDeltaIndex(deltas: readonly DeltaDigest[]): Uint8Array {
  return serialize(DELTA_INDEX_TYPE, [[STATIC_DELTAS_KEY, staticDeltasValue(deltas)]] as unknown as GValue);
}

/** Decodes a delta index file, entries in file order. */
export function decodeDeltaIndex(bytes: Uint8Array, what = 'delta index'): DeltaDigest[] {
  const dict = deserialize(DELTA_INDEX_TYPE, bytes, { what, normal: false }) as VarDict;
  const inner = dictGet(dict, STATIC_DELTAS_KEY, 'a{sv}') as VarDict | undefined;
  if (!inner) return [];
  return inner.map(([name, v]) => ({ name, superblockSha256: checksumFromBytes(v.value as Uint8Array, `${what}: ${name}`) }));
}
