// Kernel command lines: the kernel's tokenizer (lib/cmdline.c next_arg) on its edge
// cases, quoting that always round-trips, and `rpm-ostree kargs` edits with the results
// and error messages of ostree 2022.7's ostree-kernel-args.c.

import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { errorOf } from '../test-support/index.ts';

import {
  appendKarg, appendKargIfMissing, applyKargsEdits, deleteKarg, deleteKargIfPresent, formatOstreeBootlink, getKarg,
  parseKargOperand, parseKargs, parseOstreeBootlink, renderKarg, renderKargs, replaceKarg, setKarg, setOstreeKarg,
  type KernelArg,
} from './kargs.ts';

const k = (key: string, value: string | null = null): KernelArg => ({ key, value });
const edit = (cmdline: string, fn: (a: KernelArg[]) => KernelArg[]): string => renderKargs(fn(parseKargs(cmdline)));


describe('parseKargs (kernel next_arg semantics)', () => {
  it('splits on any whitespace and keeps order and duplicates', () => {
    expect(parseKargs('  root=LABEL=root\tquiet\n console=tty0 console=ttyS0,115200n8  ')).toEqual([
      k('root', 'LABEL=root'), k('quiet'), k('console', 'tty0'), k('console', 'ttyS0,115200n8'),
    ]);
    expect(parseKargs('')).toEqual([]);
    expect(parseKargs('   ')).toEqual([]);
  });

  it('tells a bare key from an empty value', () => {
    expect(parseKargs('quiet quiet=')).toEqual([k('quiet'), k('quiet', '')]);
  });

  it('removes the quotes the kernel removes', () => {
    expect(parseKargs('foo="a b" "bar=c d" "x y" e="')).toEqual([k('foo', 'a b'), k('bar', 'c d'), k('x y'), k('e', '')]);
    // Quotes in the middle of a value stay, but still protect spaces.
    expect(parseKargs('dyndbg=file a"b c"')).toEqual([k('dyndbg', 'file'), k('a"b c"')]);
    expect(parseKargs('x=a"b c" y')).toEqual([k('x', 'a"b c"'), k('y')]);
    // An unclosed quote swallows the rest of the line.
    expect(parseKargs('a="b c d')).toEqual([k('a', 'b c d')]);
  });

  it('splits key and value at the first = after the first character', () => {
    expect(parseKargs('=foo =a=b a==b')).toEqual([k('=foo'), k('=a', 'b'), k('a', '=b')]);
  });

  it('drops the empty parameter of a lone quote', () => {
    expect(parseKargs('"')).toEqual([]);
    expect(parseKargs('"" quiet')).toEqual([k('quiet')]);
    // Only one closing quote is removed.
    expect(parseKargs('" a ""')).toEqual([k(' a "')]);
  });
});

describe('renderKargs', () => {
  it('writes plain arguments as they are and quotes values with spaces', () => {
    expect(renderKargs([k('root', 'LABEL=root'), k('quiet'), k('foo', 'a b'), k('empty', '')])).toBe('root=LABEL=root quiet foo="a b" empty=');
    expect(renderKarg(k('a b'))).toBe('"a b"');
  });

  it('finds a spelling for values holding quotes', () => {
    expect(renderKarg(k('x', 'a"b c"'))).toBe('x=a"b c"');
    expect(renderKarg(k('x', '"q"'))).toBe('x=""q""');
    expect(renderKarg(k('x', 'a"b'))).toBe('x="a"b');
  });

  it('rejects arguments the kernel cannot read back, unless they end the line', () => {
    // An odd quote in a key swallows the space after it.
    expect(errorOf(() => renderKarg(k('a"'))).code).toBe('BOOT_KARGS_INVALID');
    expect(renderKargs([k('y'), k('a"')])).toBe('y a"');
    expect(errorOf(() => renderKargs([k('a"'), k('y')])).code).toBe('BOOT_KARGS_INVALID');
    // A key can only hold '=' first.
    expect(errorOf(() => renderKarg(k('a=b'))).code).toBe('BOOT_KARGS_INVALID');
  });

  it('round-trips everything parseKargs produces', () => {
    const text = fc.array(fc.constantFrom('a', 'b', '=', '"', ' ', '\t', 'x=y', '""', '"a b"'), { maxLength: 10 }).map((p) => p.join(''));
    fc.assert(fc.property(text, (t) => {
      const args = parseKargs(t);
      expect(parseKargs(renderKargs(args))).toEqual(args);
    }), { numRuns: 5000 });
  });

  it('round-trips arguments built from arbitrary keys and quote-free values', () => {
    const key = fc.stringMatching(/^[A-Za-z0-9_.=-][A-Za-z0-9_.-]{0,6}$/);
    const value = fc.option(fc.stringMatching(/^[ -!#-~]{0,8}$/), { nil: null });
    fc.assert(fc.property(fc.array(fc.record({ key, value }), { maxLength: 6 }), (args) => {
      expect(parseKargs(renderKargs(args))).toEqual(args);
    }), { numRuns: 2000 });
  });
});

describe('kargs edits (rpm-ostree kargs, ostree 2022.7 semantics)', () => {
  it('--append always appends, duplicates included', () => {
    expect(edit('quiet console=tty0', (a) => appendKarg(a, 'console=ttyS0'))).toBe('quiet console=tty0 console=ttyS0');
    expect(edit('quiet', (a) => appendKarg(a, 'quiet'))).toBe('quiet quiet');
    expect(edit('quiet', (a) => appendKarg(a, 'foo="a b"'))).toBe('quiet foo="a b"');
  });

  it('--append-if-missing looks at the key only', () => {
    expect(edit('quiet', (a) => appendKargIfMissing(a, 'rw'))).toBe('quiet rw');
    expect(edit('console=tty0', (a) => appendKargIfMissing(a, 'console=ttyS0'))).toBe('console=tty0');
  });

  it('--delete removes a single key, or the exact value among several', () => {
    expect(edit('a quiet b', (a) => deleteKarg(a, 'quiet'))).toBe('a b');
    expect(edit('a foo=1 b', (a) => deleteKarg(a, 'foo'))).toBe('a b');
    expect(edit('a foo=1 b', (a) => deleteKarg(a, 'foo=1'))).toBe('a b');
    expect(edit('c=1 c=2 c=1', (a) => deleteKarg(a, 'c=1'))).toBe('c=2 c=1');
    expect(edit('c=1 c c=2', (a) => deleteKarg(a, 'c'))).toBe('c=1 c=2');
  });

  it('--delete errors like ostree', () => {
    const args = parseKargs('foo=1 c=1 c=2');
    expect(errorOf(() => deleteKarg(args, 'bar'))).toEqual({ code: 'BOOT_KARGS_NOT_FOUND', message: "No key 'bar' found" });
    expect(errorOf(() => deleteKarg(args, 'foo=2'))).toEqual({ code: 'BOOT_KARGS_NOT_FOUND', message: "No karg 'foo=2' found" });
    expect(errorOf(() => deleteKarg(args, 'c'))).toEqual({ code: 'BOOT_KARGS_AMBIGUOUS', message: "Multiple values for key 'c' found" });
    expect(errorOf(() => deleteKarg(args, 'c=3'))).toEqual({ code: 'BOOT_KARGS_NOT_FOUND', message: "No karg 'c=3' found" });
    // `foo` and `foo=` differ.
    expect(errorOf(() => deleteKarg(parseKargs('foo'), 'foo=')).code).toBe('BOOT_KARGS_NOT_FOUND');
  });

  it('--delete-if-present skips a missing key but still checks the value', () => {
    expect(edit('quiet', (a) => deleteKargIfPresent(a, 'rhgb'))).toBe('quiet');
    expect(edit('rhgb quiet', (a) => deleteKargIfPresent(a, 'rhgb'))).toBe('quiet');
    expect(errorOf(() => deleteKargIfPresent(parseKargs('foo=1'), 'foo=2')).code).toBe('BOOT_KARGS_NOT_FOUND');
  });

  it('--replace sets the only value, or OLD=NEW among several, in place', () => {
    expect(edit('a foo=1 b', (a) => replaceKarg(a, 'foo=2'))).toBe('a foo=2 b');
    expect(edit('a foo=1 b', (a) => replaceKarg(a, 'foo'))).toBe('a foo b');
    expect(edit('c=1 c=2', (a) => replaceKarg(a, 'c=2=3'))).toBe('c=1 c=3');
    // OLD=NEW is one argument's value: quote all of it when NEW has spaces.
    expect(edit('a foo=1', (a) => replaceKarg(a, 'foo="1=x y"'))).toBe('a foo="x y"');
  });

  it('--replace errors like ostree, including its split of values holding =', () => {
    const args = parseKargs('c=1 c=2 root=LABEL=root');
    expect(errorOf(() => replaceKarg(args, 'nope=1'))).toEqual({ code: 'BOOT_KARGS_NOT_FOUND', message: "No key 'nope' found" });
    expect(errorOf(() => replaceKarg(args, 'c=5'))).toEqual({ code: 'BOOT_KARGS_AMBIGUOUS', message: "Multiple values for key 'c' found" });
    expect(errorOf(() => replaceKarg(args, 'c=9=1'))).toEqual({ code: 'BOOT_KARGS_NOT_FOUND', message: "No karg 'c=9' found" });
    expect(errorOf(() => replaceKarg(args, 'root=LABEL=other'))).toEqual({ code: 'BOOT_KARGS_NOT_FOUND', message: "No karg 'root=LABEL' found" });
  });

  it('applies deletes, then replaces, then appends, and stops at the first error', () => {
    const out = applyKargsEdits(parseKargs('quiet rhgb console=tty0 x=1'), {
      append: ['console=ttyS0', 'x=3'], replace: ['x=1=2'], delete: ['rhgb'], appendIfMissing: ['quiet', 'rw'], deleteIfPresent: ['nosmt'],
    });
    expect(renderKargs(out)).toBe('quiet console=tty0 x=2 console=ttyS0 x=3 rw');
    // The append runs after the delete, so deleting and re-adding a key moves it to the end.
    expect(edit('a=1 b', (a) => applyKargsEdits(a, { delete: ['a'], append: ['a=2'] }))).toBe('b a=2');
    expect(errorOf(() => applyKargsEdits(parseKargs('a'), { delete: ['a', 'a'] })).code).toBe('BOOT_KARGS_NOT_FOUND');
  });

  it('rejects operands that are not exactly one argument', () => {
    expect(errorOf(() => parseKargOperand('a b')).code).toBe('BOOT_KARGS_INVALID');
    expect(errorOf(() => parseKargOperand('')).code).toBe('BOOT_KARGS_INVALID');
    expect(parseKargOperand('foo="a b"')).toEqual(k('foo', 'a b'));
  });
});

describe('ostree= and single-valued keys', () => {
  const link = { bootversion: 1 as const, osname: 'testos', bootcsum: '870a5512c126c7ffc60faaf11f86c0561e8d0f4a2845871a9442430322f2d4f3', bootserial: 1 };

  it('formats and parses the bootlink', () => {
    const value = formatOstreeBootlink(link);
    expect(value).toBe('/ostree/boot.1/testos/870a5512c126c7ffc60faaf11f86c0561e8d0f4a2845871a9442430322f2d4f3/1');
    expect(parseOstreeBootlink(value)).toEqual(link);
    expect(errorOf(() => parseOstreeBootlink('/ostree/boot.2/os/x/0')).code).toBe('BOOT_KARGS_INVALID');
    expect(errorOf(() => parseOstreeBootlink('/ostree/boot.0/os/x/y')).code).toBe('BOOT_KARGS_INVALID');
  });

  it('replaces ostree= in place, collapsing duplicates, or appends it', () => {
    const old = 'root=LABEL=root ostree=/ostree/boot.0/testos/cf37/0 quiet ostree=/stale';
    expect(edit(old, (a) => setOstreeKarg(a, link))).toBe(`root=LABEL=root ostree=${formatOstreeBootlink(link)} quiet`);
    expect(edit('root=LABEL=root quiet', (a) => setOstreeKarg(a, link))).toBe(`root=LABEL=root quiet ostree=${formatOstreeBootlink(link)}`);
  });

  it('reads the last value of a key, as the kernel honours it', () => {
    const args = parseKargs('console=tty0 quiet console=ttyS0');
    expect(getKarg(args, 'console')).toBe('ttyS0');
    expect(getKarg(args, 'quiet')).toBeNull();
    expect(getKarg(args, 'nope')).toBeUndefined();
    expect(renderKargs(setKarg(args, 'console', 'hvc0'))).toBe('console=hvc0 quiet');
  });
});
