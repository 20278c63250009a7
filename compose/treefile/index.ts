// Public surface of compose/treefile/: rpm-ostree treefiles (JSON/YAML, includes, variables,
// conditional includes) parsed into a normalised Treefile, plus automatic versioning.
// `loadTreefile(path)` is the only function that reads files; the rest is pure.

export type {
  AddFile, BootLocation, CheckGroups, CheckPasswd, Edition, ExternalFile, JsonValue, MetadataTarget, OptUsrlocal,
  RemoveFromPackage, RepoPackages, Rojig, RpmdbBackend, Treefile, TreefileConfig, TreefileFields, VarValue,
} from './types.ts';
export { hostBasearch, INCLUDE_MAX_DEPTH, loadTreefile, type LoadTreefileOptions } from './load.ts';
export {
  parseTreefileText, treefileFormatFor, type ConditionalInclude, type IncludeRef, type ParseTreefileOptions, type TreefileFormat,
  type TreefileLayer,
} from './parse.ts';
export { mergeTreefileConfig } from './merge.ts';
export { finalizeTreefile, serializeTreefileConfig, substituteTreefileConfig, type FinalizeInput } from './finalize.ts';
export { evaluateCondition, parseCondition, type ConditionOp, type IncludeCondition } from './conditions.ts';
export { splitPackageEntry } from './packages.ts';
export { addFilesDestIsValid } from './schema.ts';
export { nextAutomaticVersion, type NextVersionOptions } from './version.ts';
export { formatGDateTime } from './gdate-format.ts';
export { treefileChecksum, treefileExternalPaths } from './checksum.ts';
