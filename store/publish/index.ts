// Public surface of publishing: the `summary` file (build, regenerate, view), delta
// indexes, and ed25519 signing of commits in a repository (`ostree summary` / `ostree sign`).
export { GHashOrder, gStrHash } from './ghash-order.ts';
export { parseGVariantText } from './gvariant-text.ts';
export {
  appendDetachedSignature, buildDeltaIndex, buildMetadataCommit, buildSummary, emptyRootObjects, hashOrderedDict, METADATA_REF,
  SUMMARY_KEYS, summaryRefEntry, type DeltaDigest, type RefCommit, type SummaryInput,
} from './summary-build.ts';
export { deltaIndexRelPath, listStaticDeltas, reindexStaticDeltas } from './deltas.ts';
export { readSummaryFiles, regenerateSummary, type RegenerateSummaryOptions, type RegenerateSummaryResult } from './summary-file.ts';
export { isoLocal, renderSummaryRaw, renderSummaryView } from './summary-view.ts';
export {
  formatVerifySuccess, generateKeyFiles, loadKeysFile, loadVerificationKeys, signCommitInRepo, verifyCommitInRepo,
  type SignCommitResult, type VerifyKeySources,
} from './sign-repo.ts';
export { formatGVariant } from './gvariant-print.ts';
