// Public surface of publishing: the `summary` file (build, regenerate, view), delta
// indexes, and ed25519 signing of commits in a repository (`ostree summary` / `ostree sign`).
export { parseGVariantText } from './gvariant-text.ts';
export {
  buildMetadataCommit, buildSummary, emptyRootObjects, METADATA_REF, SUMMARY_KEYS, summaryRefEntry, type RefCommit, type SummaryInput,
} from './summary-build.ts';
export { readSummaryFiles, regenerateSummary, type RegenerateSummaryOptions, type RegenerateSummaryResult } from './summary-file.ts';
export { isoLocal, renderSummaryRaw, renderSummaryView } from './summary-view.ts';
export {
  formatVerifySuccess, generateKeyFiles, loadKeysFile, loadVerificationKeys, signCommitInRepo, verifyCommitInRepo,
  type SignCommitResult, type VerifyKeySources,
} from './sign-repo.ts';
