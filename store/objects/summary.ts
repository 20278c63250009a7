// The repository `summary` file: `(a(s(taya{sv}))a{sv})` — refs sorted by name,
// each with (commit size — little-endian, unlike the rest —, commit checksum,
// per-ref metadata such as the big-endian `ostree.commit.timestamp`), then
// repository metadata (`ostree.summary.last-modified` big-endian, deltas, mode…).

import { deserialize, serialize, type GValue, type VarDict } from '../gvariant/index.ts';
import { checksumFromBytes, checksumToBytes } from './checksum.ts';
import { compareNames } from './dirtree.ts';

export const SUMMARY_TYPE = '(a(s(taya{sv}))a{sv})';

export interface SummaryRef {
  name: string;
  /** Byte length of the `.commit` object. */
  commitSize: number;
  checksum: string;
  metadata: VarDict;
}

export interface Summary {
  refs: SummaryRef[];
  metadata: VarDict;
}

export function encodeSummary(s: Summary): Uint8Array {
  const refs = [...s.refs].sort((a, b) => compareNames(a.name, b.name));
  return serialize(SUMMARY_TYPE, [
    refs.map((r) => [r.name, [BigInt(r.commitSize), checksumToBytes(r.checksum), r.metadata as unknown as GValue]]),
    s.metadata as unknown as GValue,
  ]);
}

export function decodeSummary(bytes: Uint8Array, what = 'summary'): Summary {
  const [refs, metadata] = deserialize(SUMMARY_TYPE, bytes, { what }) as [[string, [bigint, Uint8Array, VarDict]][], VarDict];
  return {
    refs: refs.map(([name, [size, csum, md]]) => ({
      name,
      commitSize: Number(size),
      checksum: checksumFromBytes(csum, `${what}: ref ${name}`),
      metadata: md,
    })),
    metadata,
  };
}
