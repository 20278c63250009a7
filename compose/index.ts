// Public surface of compose/: `atomic compose tree` (treefile + rpm-md repos → a commit on
// the treefile's ref) and `atomic compose publish` (compose repo → archive repo with
// signatures, static deltas and summary). The building blocks live in the sub-modules
// (treefile, repos, depsolve, rpm, sandbox, rootfs), each with its own index.ts.

export {
  commitPkglist, composeTimestamp, composeTree, diffPkglists, formatPkgDiff, parseMetadataString,
  type ComposeTreeOptions, type ComposeTreeResult, type PackageDiff,
} from './tree.ts';
export {
  downloadPackages, InstallRoot, langWanted, packageCachePath, TREE_DBPATH, writeRpmdb,
  type DownloadOptions, type FetchedPackage, type UnpackOptions, type UnpackStats,
} from './install.ts';
export {
  cachedPackage, escapeRefComponent, importPackage, openPkgCache, pkgCacheRef, recoverPkgCache, UNPACK_VERSION,
  type ImportSettings, type PkgCacheEntry,
} from './pkgcache.ts';
export { TreeAssembly, type AssemblyStats, type DamagedObject } from './assemble.ts';
export { GIT_REVISION_KEY, treefileGitRevision } from './git.ts';
export { publishStream, pullLocal, type PublishedRef, type PublishOptions, type PublishResult } from './publish.ts';
