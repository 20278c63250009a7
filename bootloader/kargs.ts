// Kernel command lines: parse and render with the kernel's own quoting rules
// (lib/cmdline.c next_arg), and the edits of `rpm-ostree kargs` with ostree 2022.7's
// semantics (ostree-kernel-args.c). Order and duplicate keys are kept.

import { UpdaterError } from '../common/errors.ts';

/** One kernel argument. `value` is what the kernel sees: quotes removed; null for a bare `key`. */
export interface KernelArg {
  key: string;
  value: string | null;
}

// The kernel's isspace() for ASCII (it also counts Latin-1 0xA0; UTF-8 text never has a lone A0).
const SPACE = new Set([' ', '\t', '\n', '\v', '\f', '\r']);

/** Splits one token off `text` at `start` like the kernel's next_arg(); returns the arg and the next index. */
function nextArg(text: string, start: number): { arg: KernelArg; next: number } {
  let s = start;
  let inQuote = false;
  let quoted = false;
  if (text[s] === '"') {
    s++;
    inQuote = true;
    quoted = true;
  }
  let i = s;
  let equals = -1;
  for (; i < text.length; i++) {
    const c = text[i]!;
    if (SPACE.has(c) && !inQuote) break;
    // The kernel uses index 0 as "not found", so a leading '=' is part of the key.
    if (equals === -1 && c === '=' && i > s) equals = i;
    if (c === '"') inQuote = !inQuote;
  }
  // [s, end) is the token. The kernel drops at most one closing quote: it overwrites
  // args[i-1] with NUL when the value starts with '"', and checks that same byte again
  // when the whole token started with '"'.
  let end = i;
  let valueStart = -1;
  let stripped = false;
  if (equals !== -1) {
    valueStart = equals + 1;
    if (text[valueStart] === '"') {
      valueStart++;
      if (text[end - 1] === '"') {
        end--;
        stripped = true;
      }
    }
  }
  if (quoted && !stripped && end > s && text[end - 1] === '"') end--;
  const key = text.slice(s, equals === -1 ? end : equals);
  const value = equals === -1 ? null : text.slice(valueStart, Math.max(valueStart, end));
  let next = i < text.length ? i + 1 : i;
  while (next < text.length && SPACE.has(text[next]!)) next++;
  return { arg: { key, value }, next };
}

/** Parses a kernel command line (a BLS `options` value, /proc/cmdline) into its arguments, in order. */
export function parseKargs(text: string): KernelArg[] {
  const out: KernelArg[] = [];
  let i = 0;
  while (i < text.length && SPACE.has(text[i]!)) i++;
  while (i < text.length) {
    const { arg, next } = nextArg(text, i);
    // A lone `"` or `""` gives the kernel an empty parameter; it carries nothing.
    if (arg.key !== '' || arg.value !== null) out.push(arg);
    i = next;
  }
  return out;
}

function sameArg(a: KernelArg, b: KernelArg): boolean {
  return a.key === b.key && a.value === b.value;
}

/** Spells `arg` so that the kernel reads it back; `last` allows a quote left open at the end of the line. */
function spellKarg(arg: KernelArg, last: boolean): string {
  const { key, value } = arg;
  const plain = value === null ? key : `${key}=${value}`;
  // Preferred spelling first: bare, then the kernel-doc `key="a b"`; the odd ones
  // (an unclosed or a whole-token quote) only serve keys and values that hold quotes.
  const candidates = value === null
    ? [key, `"${key}"`, `"${key}`]
    : [plain, `${key}="${value}"`, `"${plain}"`, `${key}="${value}`, `"${plain}`, `"${key}="${value}"`, `"${key}="${value}`];
  if (value !== null && /\s/.test(value)) candidates.push(candidates.shift()!);
  for (const c of candidates) {
    if (c === '') continue;
    // Unless it ends the line, a trailing sentinel proves the token also stops where it should.
    const back = parseKargs(last ? c : `${c} x`);
    const want = last ? [arg] : [arg, { key: 'x', value: null }];
    if (back.length === want.length && back.every((got, i) => sameArg(got, want[i]!))) return c;
  }
  throw new UpdaterError('BOOT_KARGS_INVALID', `kernel argument ${JSON.stringify(plain)} cannot be written on a kernel command line`, {
    hint: 'the kernel has no escape for a double quote: quotes in an argument must pair up',
  });
}

/**
 * Writes one argument so that the kernel reads back exactly `arg`, quoting the value
 * (`key="a b"`) when it holds spaces. Throws BOOT_KARGS_INVALID when no spelling works
 * (the kernel cannot escape `"`, so some arguments with quotes are unrepresentable).
 */
export function renderKarg(arg: KernelArg): string {
  return spellKarg(arg, false);
}

/**
 * Renders arguments separated by single spaces; parseKargs(renderKargs(a)) deep-equals a
 * for every `a` it accepts, which includes every output of parseKargs.
 */
export function renderKargs(args: readonly KernelArg[]): string {
  return args.map((a, i) => spellKarg(a, i === args.length - 1)).join(' ');
}

/**
 * Parses one `KEY`, `KEY=VALUE` or `KEY="VALUE WITH SPACES"` operand (`kargs --append`
 * and friends). Throws BOOT_KARGS_INVALID unless it is exactly one argument.
 */
export function parseKargOperand(text: string): KernelArg {
  const args = parseKargs(text);
  if (args.length !== 1 || args[0]!.key === '') {
    throw new UpdaterError('BOOT_KARGS_INVALID', `invalid kernel argument ${JSON.stringify(text)}: expected one KEY or KEY=VALUE`, {
      hint: 'quote a value that contains spaces: KEY="A B"',
    });
  }
  return args[0]!;
}

function describe(arg: KernelArg): string {
  return arg.value === null ? arg.key : `${arg.key}=${arg.value}`;
}

/** The value of the last `key` argument (the one the kernel honours); undefined when absent. */
export function getKarg(args: readonly KernelArg[], key: string): string | null | undefined {
  for (let i = args.length - 1; i >= 0; i--) if (args[i]!.key === key) return args[i]!.value;
  return undefined;
}

/** Replaces every `key` argument by one `key=value` at the first one's position, else appends (ostree's replace_take). */
export function setKarg(args: readonly KernelArg[], key: string, value: string | null): KernelArg[] {
  const first = args.findIndex((a) => a.key === key);
  const out = args.filter((a) => a.key !== key);
  out.splice(first === -1 ? out.length : first, 0, { key, value });
  return out;
}

/** `--append=K[=V]`: always appends, even when the same argument is already there. */
export function appendKarg(args: readonly KernelArg[], operand: string): KernelArg[] {
  return [...args, parseKargOperand(operand)];
}

/** `--append-if-missing=K[=V]`: appends unless some argument has key K (ostree 2022.7 compares keys only). */
export function appendKargIfMissing(args: readonly KernelArg[], operand: string): KernelArg[] {
  const arg = parseKargOperand(operand);
  return args.some((a) => a.key === arg.key) ? [...args] : [...args, arg];
}

/**
 * `--delete=K[=V]`. A bare K deletes the key's only argument; with several it must
 * match a bare `K` argument. K=V deletes the first argument with that exact value.
 * Throws BOOT_KARGS_NOT_FOUND or BOOT_KARGS_AMBIGUOUS (ostree_kernel_args_delete).
 */
export function deleteKarg(args: readonly KernelArg[], operand: string): KernelArg[] {
  const arg = parseKargOperand(operand);
  const matches = args.flatMap((a, i) => (a.key === arg.key ? [i] : []));
  if (matches.length === 0) throw new UpdaterError('BOOT_KARGS_NOT_FOUND', `No key '${arg.key}' found`);
  let victim: number;
  if (matches.length === 1) {
    victim = matches[0]!;
    if (arg.value !== null && args[victim]!.value !== arg.value) {
      throw new UpdaterError('BOOT_KARGS_NOT_FOUND', `No karg '${describe(arg)}' found`);
    }
  } else {
    const found = matches.find((i) => args[i]!.value === arg.value);
    if (found === undefined) {
      if (arg.value === null) {
        throw new UpdaterError('BOOT_KARGS_AMBIGUOUS', `Multiple values for key '${arg.key}' found`, {
          hint: `name the value: --delete=${arg.key}=VALUE`,
        });
      }
      throw new UpdaterError('BOOT_KARGS_NOT_FOUND', `No karg '${describe(arg)}' found`);
    }
    victim = found;
  }
  return args.filter((_, i) => i !== victim);
}

/** `--delete-if-present=K[=V]`: deleteKarg when key K exists (so K=V with another value still throws, as in ostree). */
export function deleteKargIfPresent(args: readonly KernelArg[], operand: string): KernelArg[] {
  const arg = parseKargOperand(operand);
  return args.some((a) => a.key === arg.key) ? deleteKarg(args, operand) : [...args];
}

/**
 * `--replace=K=V` sets the value of K's only argument (`--replace=K` makes it bare);
 * `--replace=K=OLD=NEW` changes the first K=OLD. The value is split at its first '=',
 * as ostree_kernel_args_new_replace does, so `root=LABEL=x` reads as OLD=LABEL, NEW=x:
 * delete and append such arguments instead.
 */
export function replaceKarg(args: readonly KernelArg[], operand: string): KernelArg[] {
  const arg = parseKargOperand(operand);
  const matches = args.flatMap((a, i) => (a.key === arg.key ? [i] : []));
  if (matches.length === 0) throw new UpdaterError('BOOT_KARGS_NOT_FOUND', `No key '${arg.key}' found`);
  const out = [...args];
  const eq = arg.value === null ? -1 : arg.value.indexOf('=');
  if (eq !== -1) {
    const oldValue = arg.value!.slice(0, eq);
    const found = matches.find((i) => args[i]!.value === oldValue);
    if (found === undefined) throw new UpdaterError('BOOT_KARGS_NOT_FOUND', `No karg '${arg.key}=${oldValue}' found`);
    out[found] = { key: arg.key, value: arg.value!.slice(eq + 1) };
    return out;
  }
  if (matches.length > 1) {
    throw new UpdaterError('BOOT_KARGS_AMBIGUOUS', `Multiple values for key '${arg.key}' found`, {
      hint: `name the old value: --replace=${arg.key}=OLD=NEW`,
    });
  }
  out[matches[0]!] = arg;
  return out;
}

/** The edits of one `kargs` invocation, each a list of operands as typed. */
export interface KargsEdits {
  delete?: readonly string[];
  replace?: readonly string[];
  append?: readonly string[];
  appendIfMissing?: readonly string[];
  deleteIfPresent?: readonly string[];
}

/**
 * Applies edits in rpm-ostree's order: deletes, replaces, appends (as in
 * kernel_arg_transaction_execute), then append-if-missing and delete-if-present.
 * The first failing edit throws and nothing is applied.
 */
export function applyKargsEdits(args: readonly KernelArg[], edits: KargsEdits): KernelArg[] {
  let out = [...args];
  for (const o of edits.delete ?? []) out = deleteKarg(out, o);
  for (const o of edits.replace ?? []) out = replaceKarg(out, o);
  for (const o of edits.append ?? []) out = appendKarg(out, o);
  for (const o of edits.appendIfMissing ?? []) out = appendKargIfMissing(out, o);
  for (const o of edits.deleteIfPresent ?? []) out = deleteKargIfPresent(out, o);
  return out;
}

/** The parts of an `ostree=/ostree/boot.B/OS/BOOTCSUM/BOOTSERIAL` argument (format §9.1). */
export interface OstreeBootlink {
  /** B: which `/boot/loader.B` set the entry belongs to (0 or 1). */
  bootversion: 0 | 1;
  /** OS: the stateroot. */
  osname: string;
  /** BOOTCSUM: sha256 of kernel ‖ initramfs ‖ devicetree. */
  bootcsum: string;
  /** BOOTSERIAL: index among the deployments sharing this bootcsum. */
  bootserial: number;
}

// ostree-sysroot.c parse_bootlink() uses the same pattern.
const BOOTLINK_RE = /^\/ostree\/boot\.([01])\/([^/]+)\/([^/]+)\/([0-9]+)$/;

/** Formats the `ostree=` value that ostree-prepare-root resolves to the deployment. */
export function formatOstreeBootlink(link: OstreeBootlink): string {
  return `/ostree/boot.${link.bootversion}/${link.osname}/${link.bootcsum}/${link.bootserial}`;
}

/** Parses an `ostree=` value; throws BOOT_KARGS_INVALID naming `what` when it is not a bootlink. */
export function parseOstreeBootlink(value: string, what = 'ostree='): OstreeBootlink {
  const m = BOOTLINK_RE.exec(value);
  if (m === null) {
    throw new UpdaterError('BOOT_KARGS_INVALID', `${what}: '${value}' is not /ostree/boot.[01]/OS/BOOTCSUM/SERIAL`);
  }
  return { bootversion: m[1] === '1' ? 1 : 0, osname: m[2]!, bootcsum: m[3]!, bootserial: Number(m[4]) };
}

/** Sets `ostree=` in place (or appends it), dropping any other `ostree=`, as ostree does when it writes an entry. */
export function setOstreeKarg(args: readonly KernelArg[], link: OstreeBootlink): KernelArg[] {
  return setKarg(args, 'ostree', formatOstreeBootlink(link));
}
