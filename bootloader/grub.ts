// GRUB 2.06 configuration text: `/boot/loader.N/grub.cfg` with one plain `menuentry` per
// BLS entry (Debian 12's GRUB has no `blscfg`; ostree's grub2-generate, format §9.8),
// bounded boot attempts via grubenv, and the static `/boot/grub/grub.cfg` that loads it.
//
// BOOT COUNTING PROTOCOL (Fedora's 08_fallback_counting, without its `decrement` command,
// which upstream GRUB lacks: the countdown is an if/elif chain up to BOOT_COUNTER_MAX).
// Variables in `/boot/grub/grubenv` (grubenv.ts):
//   boot_counter        attempts left for entry 0; -1 once GRUB fell back to entry 1
//   boot_success        0 while entry 0 is on probation, 1 once userspace saw a good boot
//   boot_counter_entry  which entry 0 is on probation: its `ostree=` value (our addition;
//                       it names the bootversion, so it matches one loader.N menu only)
// GRUB, on every boot, only while boot_counter is set, boot_success=0 and
// boot_counter_entry names this menu's entry 0:
//   1..9 -> decrement, save_env, boot entry 0;
//   0, -1 or anything else -> default=1, boot_counter=-1, save_env, boot entry 1.
//   Otherwise GRUB only reads grubenv: a boot without counting never writes to /boot.
// The client rewrites grubenv in place (same inode and size, then fdatasync), as
// save_env does; tmp + rename only to create it. Then:
//   1. deploy/upgrade/kargs with >= 2 entries: write armBootCounting(env,
//      bootCountingEntryId(new entry 0)) BEFORE the /boot/loader rename, so the swap's
//      syncfs + FIFREEZE flushes it (GRUB cannot replay the journal). A crash before the
//      rename leaves the old menu, whose entry 0 does not match: nothing is counted.
//   2. `atomic host boot-complete`, after a good boot: s = readBootCounting(env,
//      bootCountingEntryId(current entry 0)).
//      'fell-back': the booted deployment is entry 1; roll back first (it becomes entry 0
//      of a new menu, which the counter does not match, so a crash here still boots it)
//      and report the failed update. 'trying' while booted from entry 1 (picked by hand):
//      leave grubenv alone. Otherwise write markBootSuccessful(env) when it changes
//      anything; that also clears counters left over from older menus.
//   3. rollback and other menu changes write nothing: the counter goes stale with its menu.
// GRUB's save_env writes through block lists: grubenv must sit on a plain filesystem
// (ext4, not btrfs/LVM/RAID/LUKS), or the counter never decreases.

import { UpdaterError } from '../common/errors.ts';
import type { BootEntry } from './bls.ts';
import { BOOT_COUNTER_MAX } from './grubenv.ts';
import { getKarg, parseKargs } from './kargs.ts';

/** Where the environment block lives, relative to the root of the /boot filesystem. */
export const GRUBENV_PATH = '/grub/grubenv';

/** Options of renderGrubConfig. */
export interface GrubConfigOptions {
  /** /boot is its own filesystem: BLS paths are used as they are; else they get a `/boot` prefix. */
  bootIsSeparate: boolean;
  /** Seconds the menu waits (`set timeout`); -1 waits forever. Default 5. */
  timeout?: number;
  /** Suffix of the menu entry ids, `ostree-I-SUFFIX`; ostree uses the /boot filesystem UUID. */
  bootDeviceId?: string;
  /** Emit the boot-counting block (default true; it needs two entries and `ostree=` in entry 0). */
  bootCounting?: boolean;
}

/** Options of renderGrubStub. */
export interface GrubStubOptions {
  /** /boot is its own filesystem: load `($root)/loader/grub.cfg`, else `($root)/boot/loader/grub.cfg`. */
  bootIsSeparate: boolean;
  /** `configfile` (a fresh menu, the default) or `source` (inline into the stub's context). */
  command?: 'configfile' | 'source';
  /** Finds the /boot filesystem first: `search --no-floppy --set=root --BY VALUE`. */
  search?: { by: 'fs-uuid' | 'label' | 'file'; value: string };
}

/** Quotes a GRUB script word: bare when plainly safe, else single quotes (`'\''` for a quote). */
export function grubQuote(word: string): string {
  if (/^[A-Za-z0-9_.\/:,=+@%-]+$/.test(word)) return word;
  return `'${word.replace(/'/g, `'\\''`)}'`;
}

/** g_shell_quote style, as ostree writes titles and ids: always single-quoted. */
function singleQuote(word: string): string {
  return `'${word.replace(/'/g, `'\\''`)}'`;
}

/**
 * GRUB's `linux` joins its arguments with spaces and wraps one holding a space in `"`,
 * which the kernel reads back. GRUB 2.06 also backslash-escapes `"`, `'` and `\`, which
 * the kernel does not undo, and leaves tabs bare; such arguments cannot pass through.
 */
function grubKernelWords(options: string, what: string): string[] {
  return parseKargs(options).map((a) => {
    const text = a.value === null ? a.key : `${a.key}=${a.value}`;
    if (/["'\\]|[^\S ]/.test(text)) {
      throw new UpdaterError('BOOT_GRUB_UNSUPPORTED', `${what}: kernel argument ${JSON.stringify(text)} cannot pass through GRUB's linux command`, {
        hint: 'GRUB 2.06 escapes quotes and backslashes, which the kernel keeps literally',
      });
    }
    return grubQuote(text);
  });
}

function bootPath(path: string, prefix: string, what: string): string {
  if (!path.startsWith('/')) throw new UpdaterError('BOOT_ENTRY_INVALID', `${what}: path '${path}' is not absolute`);
  return grubQuote(prefix + path);
}

function renderMenuEntry(e: BootEntry, index: number, prefix: string, opts: GrubConfigOptions): string {
  const what = `boot entry ${index} (${e.title})`;
  const id = opts.bootDeviceId === undefined ? `ostree-${index}` : `ostree-${index}-${opts.bootDeviceId}`;
  const linux = ['linux', bootPath(e.linux, prefix, what), ...grubKernelWords(e.options, what)].join(' ');
  let out = `menuentry ${singleQuote(e.title)} --class gnu-linux --class gnu --class os --unrestricted ${singleQuote(id)} {\n`;
  out += `\t${linux}\n`;
  const initrds = [e.initrd, ...(e.overlayInitrds ?? [])].filter((p): p is string => p !== undefined);
  if (initrds.length > 0) out += `\tinitrd ${initrds.map((p) => bootPath(p, prefix, what)).join(' ')}\n`;
  if (e.devicetree !== undefined) out += `\tdevicetree ${bootPath(e.devicetree, prefix, what)}\n`;
  return out + '}\n';
}

/**
 * The identity a boot counter is tied to: the entry's `ostree=` value. It names the
 * bootversion, so the counter armed for one loader.N menu never applies to entry 0 of
 * the other, whichever menu a crash leaves in place. Null without `ostree=`: such a menu
 * gets no counting block.
 */
export function bootCountingEntryId(e: BootEntry): string | null {
  return getKarg(parseKargs(e.options), 'ostree') || null;
}

function renderBootCounting(envFile: string, entryId: string): string {
  const env = grubQuote(envFile);
  let chain = '';
  for (let n = BOOT_COUNTER_MAX; n >= 1; n--) {
    chain += `  ${n === BOOT_COUNTER_MAX ? 'if' : 'elif'} [ "\${boot_counter}" = "${n}" ]; then\n    set boot_counter=${n - 1}\n`;
  }
  return [
    '# Boot counting (bootloader/grub.ts): while boot_counter is set, boot_success=0 and',
    '# boot_counter_entry is entry 0 below, each boot of entry 0 uses one attempt; with',
    '# none left, entry 1 (the previous deployment) boots instead.',
    `if [ -s ${env} ]; then`,
    `  load_env -f ${env} boot_counter boot_success boot_counter_entry`,
    'fi',
    `if [ -n "\${boot_counter}" -a "\${boot_success}" = "0" -a "\${boot_counter_entry}" = ${grubQuote(entryId)} ]; then`,
    chain + '  else',
    '    # 0 (attempts used up), -1 (already fell back) or a value this file cannot count down',
    '    set default=1',
    '    set fallback=0',
    '    set boot_counter=-1',
    '  fi',
    `  save_env -f ${env} boot_counter`,
    '  echo "atomic: boot_counter=${boot_counter} default=${default}"',
    'fi',
    '',
  ].join('\n');
}

/**
 * Renders `/boot/loader.N/grub.cfg` for GRUB 2.06: timeout, `default=0` (entries must
 * already be in order, see sortBlsEntries), `fallback=1`, the boot-counting block, and
 * one menuentry per entry with `linux`, `initrd` and `devicetree`.
 */
export function renderGrubConfig(entries: readonly BootEntry[], opts: GrubConfigOptions): string {
  const timeout = opts.timeout ?? 5;
  if (!Number.isInteger(timeout) || timeout < -1) throw new UpdaterError('BOOT_GRUB_UNSUPPORTED', `invalid GRUB timeout ${timeout}`);
  if (opts.bootDeviceId !== undefined && !/^[A-Za-z0-9_.:-]+$/.test(opts.bootDeviceId)) {
    throw new UpdaterError('BOOT_GRUB_UNSUPPORTED', `invalid boot device id '${opts.bootDeviceId}'`);
  }
  const prefix = opts.bootIsSeparate ? '' : '/boot';
  const header = [
    `# Generated by atomic from ${entries.length} BLS ${entries.length === 1 ? 'entry' : 'entries'} for GRUB 2.06 (no blscfg); do not edit.`,
    '# Entry 0 is the default deployment. A deployment change writes a new loader.N/grub.cfg',
    '# and swaps the /boot/loader symlink to it.',
    `set timeout=${timeout}`,
    'set default=0',
  ];
  // A previous deployment to fall back to: when entry 0 fails inside GRUB (say, a
  // missing kernel), and when its boot attempts run out.
  const hasFallback = entries.length >= 2;
  if (hasFallback) header.push('set fallback=1');
  let out = header.join('\n') + '\n\n';
  const entryId = hasFallback && (opts.bootCounting ?? true) ? bootCountingEntryId(entries[0]!) : null;
  if (entryId !== null) out += renderBootCounting(prefix + GRUBENV_PATH, entryId) + '\n';
  return out + entries.map((e, i) => renderMenuEntry(e, i, prefix, opts)).join('\n');
}

/**
 * Renders the static `/boot/grub/grub.cfg`, written once at install time: it finds the
 * current `loader/grub.cfg` through the `/boot/loader` symlink, which every update swaps
 * atomically, so this file itself never changes.
 */
export function renderGrubStub(opts: GrubStubOptions): string {
  const cfg = opts.bootIsSeparate ? '($root)/loader/grub.cfg' : '($root)/boot/loader/grub.cfg';
  const lines = [
    '# Static GRUB entry point written by atomic at install time; updates never rewrite it.',
    '# It loads the current boot menu through the /boot/loader -> loader.N symlink.',
  ];
  if (opts.search !== undefined) {
    lines.push(`search --no-floppy --set=root --${opts.search.by} ${grubQuote(opts.search.value)}`);
  }
  lines.push(
    `if [ -f ${cfg} ]; then`,
    `  ${opts.command ?? 'configfile'} ${cfg}`,
    'else',
    `  echo "atomic: ${cfg} not found"`,
    'fi',
    '',
  );
  return lines.join('\n');
}
