// Boot Loader Specification entries as ostree 2022.7 writes them (format §9.2):
// `/boot/loader.B/entries/ostree-N-OS.conf`, `key value` lines in a fixed key order,
// sorted by `version` with strverscmp (ostree-bootconfig-parser.c, ostree-sysroot.c).

import { UpdaterError } from '../common/errors.ts';
import { strverscmp } from './strverscmp.ts';

/** One BLS entry; the only thing the bootloader backends look at. */
export interface BootEntry {
  /** `title`: the menu label, see bootEntryTitle(). */
  title: string;
  /** `version`: N − index in decimal; the sort key (strverscmp, highest first). */
  version: string;
  /** `options`: the kernel command line, `ostree=` included (see kargs.ts). */
  options: string;
  /** `linux`: kernel path relative to the root of the /boot filesystem. */
  linux: string;
  /** `initrd`: the initramfs, same convention as `linux`. */
  initrd?: string;
  /** Further `initrd` lines (ostree's overlay initrds), written right after `initrd`. */
  overlayInitrds?: string[];
  /** `devicetree`: device tree blob, same convention as `linux`. */
  devicetree?: string;
  /** Other keys, written last in this order (ostree writes them in hash order). */
  extra?: [string, string][];
}

// ostree_bootconfig_parser_write() writes these first, in this order, then the rest.
const SINGLE_KEYS = ['title', 'version', 'options', 'devicetree', 'linux'] as const;
const REQUIRED_KEYS = ['title', 'version', 'options', 'linux'] as const;
const KEY_RE = /^[A-Za-z][A-Za-z0-9_-]*$/;

function checkLine(key: string, value: string, what: string): string {
  if (!KEY_RE.test(key)) throw new UpdaterError('BOOT_ENTRY_INVALID', `${what}: invalid key '${key}'`);
  if (value === '' || /[\r\n]/.test(value) || value.trim() !== value) {
    throw new UpdaterError('BOOT_ENTRY_INVALID', `${what}: value of '${key}' is empty, has a line break or surrounding spaces`);
  }
  return `${key} ${value}\n`;
}

/**
 * Writes an entry as ostree 2022.7 does: `title, version, options, devicetree, linux,
 * initrd`, the overlay initrds, then `extra`, as `key value\n` lines. Throws
 * BOOT_ENTRY_INVALID for values that would not parse back to the same entry.
 */
export function renderBlsEntry(e: BootEntry, what = 'boot entry'): string {
  let out = '';
  for (const key of SINGLE_KEYS) {
    const value = e[key];
    if (value !== undefined) out += checkLine(key, value, what);
  }
  if (e.initrd !== undefined) out += checkLine('initrd', e.initrd, what);
  const overlays = e.overlayInitrds ?? [];
  if (overlays.length > 0 && e.initrd === undefined) {
    throw new UpdaterError('BOOT_ENTRY_INVALID', `${what}: overlay initrds need a primary initrd`);
  }
  for (const o of overlays) out += checkLine('initrd', o, what);
  for (const [key, value] of e.extra ?? []) {
    if ((SINGLE_KEYS as readonly string[]).includes(key) || key === 'initrd') {
      throw new UpdaterError('BOOT_ENTRY_INVALID', `${what}: '${key}' belongs in its own field, not in extra`);
    }
    out += checkLine(key, value, what);
  }
  return out;
}

/**
 * Parses a BLS entry: `key value` lines (key and value separated by spaces or tabs),
 * `#` comments and blank lines. A second `initrd` becomes an overlay initrd; other
 * repeated known keys are errors (ostree keeps the last, a BLS loader may join them).
 * Errors are BOOT_ENTRY_INVALID and name `what` (the file) and the line.
 */
export function parseBlsEntry(text: string, what: string): BootEntry {
  const seen = new Map<string, string>();
  const overlays: string[] = [];
  const extra: [string, string][] = [];
  const lines = text.split('\n');
  for (let n = 0; n < lines.length; n++) {
    const line = lines[n]!.trim();
    if (line === '' || line.startsWith('#')) continue;
    const m = /^(\S+)[ \t]+(.+)$/s.exec(line);
    const where = `${what}:${n + 1}`;
    if (m === null) throw new UpdaterError('BOOT_ENTRY_INVALID', `${where}: key '${line}' has no value`);
    const [, key, value] = m as unknown as [string, string, string];
    if (!KEY_RE.test(key)) throw new UpdaterError('BOOT_ENTRY_INVALID', `${where}: invalid key '${key}'`);
    if (key === 'initrd' && seen.has('initrd')) overlays.push(value);
    else if ((SINGLE_KEYS as readonly string[]).includes(key) || key === 'initrd') {
      if (seen.has(key)) throw new UpdaterError('BOOT_ENTRY_INVALID', `${where}: duplicate key '${key}'`);
      seen.set(key, value);
    } else extra.push([key, value]);
  }
  for (const key of REQUIRED_KEYS) {
    if (!seen.has(key)) throw new UpdaterError('BOOT_ENTRY_INVALID', `${what}: missing required key '${key}'`);
  }
  const e: BootEntry = {
    title: seen.get('title')!,
    version: seen.get('version')!,
    options: seen.get('options')!,
    linux: seen.get('linux')!,
  };
  if (seen.has('initrd')) e.initrd = seen.get('initrd')!;
  if (overlays.length > 0) e.overlayInitrds = overlays;
  if (seen.has('devicetree')) e.devicetree = seen.get('devicetree')!;
  if (extra.length > 0) e.extra = extra;
  return e;
}

function checkIndex(index: number, count: number): void {
  if (!Number.isInteger(index) || !Number.isInteger(count) || index < 0 || index >= count) {
    throw new UpdaterError('INTERNAL', `boot entry index ${index} out of range for ${count} deployments`);
  }
}

/** The `version` of the entry at `index` (0 = default) among `count`: N − index, so the default sorts first. */
export function blsEntryVersion(index: number, count: number): string {
  checkIndex(index, count);
  return String(count - index);
}

/** ostree 2022.7's entry file name: `ostree-${count - index}-${osname}.conf`. */
export function blsEntryFileName(index: number, count: number, osname: string): string {
  checkIndex(index, count);
  return `ostree-${count - index}-${osname}.conf`;
}

/**
 * Orders entries as ostree and BLS loaders do: by `version` with strverscmp, highest
 * first, so index 0 is the default. Returns a new array; ties keep their order.
 */
export function sortBlsEntries<T extends Pick<BootEntry, 'version'>>(entries: readonly T[]): T[] {
  return [...entries].sort((a, b) => strverscmp(b.version, a.version));
}

/** What the title is made of (install_deployment_kernel in ostree-sysroot-deploy.c). */
export interface BootEntryTitleInput {
  /** The deployment's os-release (usr/lib/os-release, else etc/os-release), already parsed. */
  osRelease: Readonly<Record<string, string>>;
  /** The commit's `version` metadata, if any. */
  version?: string | null;
  /** The deployment's index in the new list (0 = default). */
  index: number;
  /** The stateroot. */
  osname: string;
  /** True when deployments of more than one stateroot are listed. */
  multipleStateroots: boolean;
}

/**
 * `PRETTY_NAME` (else `ID`), then ` VERSION` unless the name already contains it, then
 * ` (ostree:INDEX)`, or ` (ostree:OS:INDEX)` with several stateroots: `TestOS 2 (ostree:0)`.
 * Throws BOOT_OS_RELEASE_INVALID when os-release has neither key.
 */
export function bootEntryTitle(input: BootEntryTitleInput): string {
  const name = input.osRelease['PRETTY_NAME'] ?? input.osRelease['ID'];
  if (name === undefined) {
    throw new UpdaterError('BOOT_OS_RELEASE_INVALID', `os-release of stateroot ${input.osname} has no PRETTY_NAME or ID`);
  }
  let title = name;
  // strstr(): a version that is a substring of the name is not repeated.
  if (input.version && !name.includes(input.version)) title += ` ${input.version}`;
  title += input.multipleStateroots ? ` (ostree:${input.osname}:${input.index})` : ` (ostree:${input.index})`;
  return title;
}
