// Public surface of the object store: codecs, the repository, and the
// operations on it (commit, checkout, fsck, prune, inspection).
export * from './objects/index.ts';
export * as gvariant from './gvariant/index.ts';
export { dictGet, variant, printGVariant, type VarDict, type Variant, type GValue } from './gvariant/index.ts';
export { Repo, REPO_MODES, type RepoMode, type ContentInfo } from './repo/repo.ts';
export { KeyFile } from './repo/keyfile.ts';
export { Transaction, type ContentSource } from './repo/transaction.ts';
export { lockRepo, type RepoLock } from './repo/lock.ts';
export { validateRef, validateRemoteName, parseRefspec, formatRefspec } from './repo/refs.ts';
export { commitDirectory, type CommitOptions, type CommitResult } from './commit-dir.ts';
export { checkoutCommit, type CheckoutOptions, type CheckoutStats } from './checkout.ts';
export { fsckRepo, computeContentChecksum, type FsckResult, type FsckProblem } from './fsck.ts';
export { pruneRepo, type PruneOptions, type PruneResult } from './prune.ts';
export { traverseCommit, traverseTree, objectKey } from './traverse.ts';
export { listTree, formatLsEntry, diffCommits, formatCommitLog, resolvePath, type TreeEntry, type TreeDiff } from './inspect.ts';
export * from './publish/index.ts';
export * from './remote/index.ts';
export * from './pull/index.ts';
