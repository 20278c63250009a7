// Public surface of static deltas (ostree-format.md §8): the pure codecs
// (superblock, parts, opcodes, varints, bsdiff), generation, application, and
// the repository's deltas/ and delta-indexes/.
export { bsdiff, bspatch, copySpans, suffixArray, type CopySpan } from './bsdiff.ts';
export { readVarint, writeVarint } from './varint.ts';
export {
  countOps, decodeOps, decodePartFile, decodePartPayload, encodeOps, encodePartFile, encodePartPayload, OP, PART_PAYLOAD_TYPE,
  type DeltaOp, type OpStats, type PartCompression, type PartMode, type PartPayload,
} from './part.ts';
export {
  commitmetaKey, decodeDeltaIndex, decodeSuperblock, deltaFromDirNames, deltaIndexRelPath, deltaName, deltaRelDir, encodeDeltaIndex,
  encodeSuperblock, inlinePartKey, isSignedSuperblock, parseDeltaName, STATIC_DELTAS_KEY, SUPERBLOCK_TYPE, unwrapSignedSuperblock,
  wrapSignedSuperblock, staticDeltasValue, type DeltaDigest, type DeltaFallback, type DeltaObject, type DeltaPartHeader, type Superblock,
} from './superblock.ts';
export { pairModifiedFiles, versionShape, type PairReason, type Pairing, type PathFile } from './pairing.ts';
export { formatDeltaShow } from './show.ts';
export { generateStaticDelta, type GenerateOptions, type GenerateResult } from './generate.ts';
export { applyStaticDelta, type ApplyOptions, type ApplyResult } from './apply.ts';
export {
  applyDeltaDirectory, deleteDelta, listDeltaDigests, listDeltaIndexes, listDeltas, readDeltaIndex, readSuperblock, readSuperblockFile, reindexDeltas, showDelta,
  type ReindexResult,
} from './repo-deltas.ts';
export { verifySuperblockSignature } from './verify.ts';
