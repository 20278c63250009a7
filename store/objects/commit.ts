// commit objects: `(a{sv}aya(say)sstayay)` =
//   metadata a{sv} (insertion order kept), parent (empty or 32 bytes),
//   related a(say) (unused, empty), subject, body, timestamp (u64 big-endian,
//   seconds UTC), root dirtree checksum, root dirmeta checksum.
// Commit id = sha256(bytes). Detached metadata (.commitmeta) is a bare a{sv}.

import { UpdaterError } from '../../common/errors.ts';
import { bswap64, deserialize, serialize, type GValue, type VarDict } from '../gvariant/index.ts';
import { checksumFromBytes, checksumToBytes, sha256Hex } from './checksum.ts';

export const COMMIT_TYPE = '(a{sv}aya(say)sstayay)';
export const VARDICT_TYPE = 'a{sv}';

export interface Commit {
  metadata: VarDict;
  parent: string | null;
  subject: string;
  body: string;
  /** Seconds since the epoch, UTC. */
  timestamp: number;
  rootTree: string;
  rootMeta: string;
}

export function encodeCommit(c: Commit): Uint8Array {
  return serialize(COMMIT_TYPE, [
    c.metadata as unknown as GValue,
    c.parent === null ? new Uint8Array(0) : checksumToBytes(c.parent),
    [],
    c.subject,
    c.body,
    bswap64(BigInt(c.timestamp)),
    checksumToBytes(c.rootTree),
    checksumToBytes(c.rootMeta),
  ]);
}

export function decodeCommit(bytes: Uint8Array, what = 'commit'): Commit {
  const [metadata, parent, , subject, body, ts, tree, meta] = deserialize(COMMIT_TYPE, bytes, { what }) as [
    VarDict, Uint8Array, unknown, string, string, bigint, Uint8Array, Uint8Array,
  ];
  if (parent.length !== 0 && parent.length !== 32) throw new UpdaterError('STORE_OBJECT_INVALID', `${what}: parent checksum has ${parent.length} bytes`);
  return {
    metadata,
    parent: parent.length === 0 ? null : checksumFromBytes(parent, `${what}: parent`),
    subject,
    body,
    timestamp: Number(bswap64(ts)),
    rootTree: checksumFromBytes(tree, `${what}: root dirtree`),
    rootMeta: checksumFromBytes(meta, `${what}: root dirmeta`),
  };
}

/** `ostree log`'s ContentChecksum: sha256(root dirtree bytes32 ‖ root dirmeta bytes32). */
export function contentChecksum(c: Commit): string {
  return sha256Hex(checksumToBytes(c.rootTree), checksumToBytes(c.rootMeta));
}

export function encodeVarDict(d: VarDict): Uint8Array {
  return serialize(VARDICT_TYPE, d as unknown as GValue);
}

export function decodeVarDict(bytes: Uint8Array, what = 'a{sv}'): VarDict {
  if (bytes.length === 0) return [];
  return deserialize(VARDICT_TYPE, bytes, { what }) as VarDict;
}
