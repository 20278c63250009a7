// Public surface of the RPM reader: open a package (headers, checked digests,
// decoded tags) and stream its payload entries for import into the store.

export { type RpmEntryType, type RpmPayloadEntry, entryType, readPayloadEntries } from './archive.ts';
export { CAPABILITY_NAMES, type CapSets, decodeFileCaps, encodeFileCaps, parseCapText } from './caps.ts';
export { ByteReader, type CpioHeader, normalizePayloadPath, readCpioHeader } from './cpio.ts';
export { createPayloadDecompressor, type PayloadCompressor, resolveCompressor, sniffCompressor } from './decompress.ts';
export { encodeHeader, encodeLead, parseHeader, parseLead, RpmHeader, type RpmHeaderInput, type RpmLead, type RpmTagValue } from './header.ts';
export {
  type DependencyKind, decodePackage, formatDependency, formatNevra, type FileTriggerKind, type RpmDependency, type RpmFileInfo,
  type RpmFileTrigger, type RpmPackage, type RpmScript, type RpmTrigger, type ScriptKind, type TriggerKind,
} from './package.ts';
export { type ReadPayloadOptions, type ReadRpmOptions, type RpmArchive, readRpm, readRpmPayload } from './read.ts';
export { DIGEST_ALGOS, type DigestAlgo, RPM_TYPE, RPMFILE, RPMSCRIPT_FLAG, RPMSENSE, SIGTAG, TAG } from './tags.ts';
