// Public surface of bootloader/: pure text and byte codecs for BLS entries, kernel
// command lines, GRUB 2.06 configuration and the GRUB environment block. No I/O here.

export {
  blsEntryFileName, blsEntryVersion, bootEntryTitle, parseBlsEntry, renderBlsEntry, sortBlsEntries,
  type BootEntry, type BootEntryTitleInput,
} from './bls.ts';
export {
  appendKarg, appendKargIfMissing, applyKargsEdits, deleteKarg, deleteKargIfPresent, formatOstreeBootlink, getKarg,
  parseKargOperand, parseKargs, parseOstreeBootlink, renderKarg, renderKargs, replaceKarg, setKarg, setOstreeKarg,
  type KargsEdits, type KernelArg, type OstreeBootlink,
} from './kargs.ts';
export {
  bootCountingEntryId, GRUBENV_PATH, grubQuote, renderGrubConfig, renderGrubStub, type GrubConfigOptions, type GrubStubOptions,
} from './grub.ts';
export {
  armBootCounting, BOOT_COUNTER_MAX, DEFAULT_BOOT_TRIES, GRUBENV_SIZE, markBootSuccessful, parseGrubEnv, readBootCounting,
  renderGrubEnv, type BootCountingState,
} from './grubenv.ts';
export { strverscmp } from './strverscmp.ts';
