// Public surface of compose/rootfs/: turning an installed root into an OSTree tree, step by
// step as rpm-ostree does (§1.5, §2.6, §2.7), plus the commit metadata and input hash (§2.8,
// §2.11). Every function takes the tree's directory; docs/compose-rootfs.md gives the order.

export { assembleRootfs, COMPAT_VARLIB, ensureSymlink, initRootfs, prepareRootfsLinks, toplevelSymlinks, type LayoutOptions } from './layout.ts';
export { applyMachineIdCompat, moveEtcToUsrEtc, PWGRP_LOCK_AND_BACKUP_FILES } from './etc.ts';
export { BASE_RPMDB, relocateRpmdb, RPM_MACROS_FILE, RPMDB_LOCATION, SYSIMAGE_RPMDB, TRADITIONAL_RPMDB_LOCATION } from './rpmdb.ts';
export {
  AUTOVAR_CONF, convertVarToTmpfiles, INTEGRATION_CONF, INTEGRATION_OPT_USRLOCAL_CONF, integrationConf, integrationOptUsrlocalConf,
  isPostprocessed, TMPFILES_DIR, tmpfilesLine, tmpfilesPath, writeTmpfilesIntegration, type VarConversion,
} from './tmpfiles.ts';
export {
  addAltfiles, checkPasswdGroup, formatGroup, formatPasswd, nsswitchAltfiles, parseGroup, parsePasswd, patchUseraddHome, previousPasswdGroup,
  readIdNames, seedPasswdGroup, splitPasswdGroup, type GroupEntry, type PasswdCheckInput, type PasswdCheckReport, type PasswdEntry, type PasswdGroupSeed,
} from './passwd.ts';
export { enableUnits, ETC_UNIT_DIR, parseInstallSection, setDefaultTarget, SYSTEM_UNIT_DIR } from './units.ts';
export {
  addFiles, mutateOsRelease, mutateOsReleaseContents, removeFiles, runPostprocessScripts, TREEFILE_JSON, writeTreefileJson, type PostprocessOptions,
} from './treefile-post.ts';
export {
  DRACUT, findKernel, INITRAMFS_GENERATOR, initramfsGenerator, MODULES, moveBootToUsr, OSTREE_BOOT, processKernel,
  type FoundKernel, type KernelOptions, type KernelResult,
} from './kernel.ts';
export {
  composeCommitMetadata, computeInputHash, jsonToVariant, pkglistVariant, rpmmdReposVariant, sortPkgList,
  type CommitMetadata, type CommitMetadataInput, type InputHashPackage, type PkgListEntry, type RpmmdRepo,
} from './metadata.ts';
