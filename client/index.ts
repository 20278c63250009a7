// Public surface of the host client: the sysroot, deployments, the /etc merge, the
// boot-configuration swap, and the verbs of `atomic host`.

export {
  deploymentDir, deploymentName, findBooted, getBootloader, initStateroot, initSysroot, loadSysroot, lockSysroot, mergeDeployment, openSysrootRepo,
  originPath, parseBootloaderKind, pendingAndRollback, readBootversion, readOrigin, readSubbootversion, resolveOsname, sameDeployment, setBootloader,
  type BootloaderKind, type Deployment, type LoadOptions, type Sysroot,
} from './sysroot.ts';
export { newOrigin, originRefspec, isPinned, deriveUpgradeOrigin } from './origin.ts';
export { diffEtc, mergeEtc, formatEtcMergeSummary, type EtcDiff } from './etc-merge.ts';
export { findKernel, computeBootcsum, type KernelLayout } from './kernel.ts';
export { prepareDeployment, type PreparedDeployment } from './deploy.ts';
export { writeDeployments, type WriteResult } from './swap.ts';
export { cleanupSysroot, type CleanupResult } from './cleanup.ts';
export { collectStatus, renderStatus, renderStatusTable, statusJson, formatTimestamp, type HostStatus, type DeploymentStatus } from './status.ts';
export {
  deploy, upgrade, kargs, rollback, removePendingRollback, setPinned, retainDeployments, withSysroot,
  type DeployOptions, type UpgradeOptions, type KargsOptions, type HostOptions, type DeployResult,
} from './upgrade.ts';
export { bootComplete, bootCountingState, type BootCompleteResult } from './bootcount.ts';
export { downloadUpdate } from './download.ts';
export { CRASH_POINTS, type CrashPoint } from './crash.ts';
export { preflightDeployment, type Preflight } from './preflight.ts';
export { checkSpace, repoReserve, fsSpace, type SpaceNeed, type FsSpace, type Reserve } from './space.ts';
export {
  rpmvercmp, compareEvr, diffPackages, parsePkglist, formatEvr, formatNevra, renderPackageDiff, renderPackageDiffDiff, packageDiffJson, summarizePackageDiff,
  isEmptyDiff, PKGLIST_KEY, type RpmPackage, type PackageDiff,
} from './pkgdiff.ts';
export {
  deployRevision, rebase, checkUpdate, classifyDeployRevision, resolveRebaseRefspec, findInHistory,
  type DeployRevisionOptions, type RebaseOptions, type UpdateCheck,
} from './revision.ts';
export { renderAvailableUpdate, renderFileDiff, renderPreview } from './update-render.ts';
export { dbDiff, dbList, packageDiffBetween, renderDbDiffHeader, resolveDbRev, type DbDiffResult, type DbRev } from './db.ts';
export { rebootCommand, runReboot, DEFAULT_REBOOT_COMMAND } from './reboot.ts';
export { commitSignature, formatSignature, type SignatureState } from './signature.ts';
export { mergeWithOrigin } from './upgrade.ts';
