// GRUB environment block: byte-exact against blocks made by grub-editenv 2.06
// (testdata/README.md), escapes, limits, round trips, and the boot-counting helpers.

import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { errorOf } from '../test-support/index.ts';

import {
  armBootCounting, BOOT_COUNTER_MAX, GRUBENV_SIZE, markBootSuccessful, parseGrubEnv, readBootCounting, renderGrubEnv,
} from './grubenv.ts';

const vector = (name: string): Uint8Array => new Uint8Array(readFileSync(join(import.meta.dirname, 'testdata', name)));


describe('grubenv vectors from grub-editenv 2.06', () => {
  it('renders exactly the bytes grub-editenv writes', () => {
    expect(renderGrubEnv({})).toEqual(vector('grubenv-empty'));
    expect(renderGrubEnv({ boot_counter: '3', boot_success: '0' })).toEqual(vector('grubenv-counting'));
    expect(renderGrubEnv({ path: 'C:\\dir', two: 'line one\nline two', boot_success: '1' })).toEqual(vector('grubenv-escapes'));
  });

  it('parses them', () => {
    expect(parseGrubEnv(vector('grubenv-empty'))).toEqual({});
    expect(parseGrubEnv(vector('grubenv-counting'))).toEqual({ boot_counter: '3', boot_success: '0' });
    expect(parseGrubEnv(vector('grubenv-escapes'))).toEqual({ path: 'C:\\dir', two: 'line one\nline two', boot_success: '1' });
  });

  it('is always exactly 1024 bytes, starting with the signature and padded with #', () => {
    const bytes = renderGrubEnv({ boot_counter: '3' });
    expect(bytes.length).toBe(GRUBENV_SIZE);
    expect(new TextDecoder().decode(bytes.subarray(0, 25))).toBe('# GRUB Environment Block\n');
    expect(bytes[GRUBENV_SIZE - 1]).toBe(0x23);
  });
});

describe('renderGrubEnv / parseGrubEnv', () => {
  it('round-trips names and values, escapes and UTF-8 included', () => {
    const name = fc.stringMatching(/^[A-Za-z_][A-Za-z0-9_]{0,15}$/).filter((n) => n !== '__proto__');
    const value = fc.string({ maxLength: 40 }).filter((v) => !v.includes('\0'));
    fc.assert(fc.property(fc.dictionary(name, value, { maxKeys: 6 }), (vars) => {
      expect(parseGrubEnv(renderGrubEnv(vars))).toEqual(vars);
    }), { numRuns: 1000 });
  });

  it('keeps a variable named __proto__ as an ordinary key', () => {
    const text = '# GRUB Environment Block\n__proto__=x\n';
    const vars = parseGrubEnv(new TextEncoder().encode(text));
    expect(Object.keys(vars)).toEqual(['__proto__']);
    expect(Object.getPrototypeOf(vars)).toBe(Object.prototype);
  });

  it('refuses blocks that would overflow, and names GRUB cannot read back', () => {
    expect(errorOf(() => renderGrubEnv({ big: 'x'.repeat(1000) })).code).toBe('BOOT_GRUBENV_FULL');
    expect(renderGrubEnv({ big: 'x'.repeat(1000) }, 2048).length).toBe(2048);
    for (const bad of ['', 'a=b', '#x', 'a\nb', 'a\\b']) {
      expect(errorOf(() => renderGrubEnv({ [bad]: 'v' })).code).toBe('BOOT_GRUBENV_INVALID');
    }
    expect(errorOf(() => renderGrubEnv({ a: 'nul\0' })).code).toBe('BOOT_GRUBENV_INVALID');
  });

  it('reports damaged blocks with the offset', () => {
    const enc = (s: string) => new TextEncoder().encode(s);
    expect(errorOf(() => parseGrubEnv(enc('# GRUB Env\n'), '/boot/grub/grubenv')).message).toBe(
      "/boot/grub/grubenv: no '# GRUB Environment Block' signature at offset 0");
    expect(errorOf(() => parseGrubEnv(enc('# GRUB Environment Block\nnoequals\n'))).message).toBe("grubenv: line at offset 25 has no '='");
    expect(errorOf(() => parseGrubEnv(enc('# GRUB Environment Block\na=unterminated'))).message).toMatch(/runs past the end/);
    expect(errorOf(() => parseGrubEnv(Uint8Array.of(...enc('# GRUB Environment Block\na='), 0xff, 0x0a))).code).toBe('BOOT_GRUBENV_INVALID');
  });

  it('reads a block that grub-editenv repacked: comments anywhere, last duplicate wins', () => {
    const text = '# GRUB Environment Block\n# note\na=1\n\nb=2\na=3\n####';
    expect(parseGrubEnv(new TextEncoder().encode(text))).toEqual({ a: '3', b: '2' });
  });
});

describe('boot counting variables', () => {
  const ID = '/ostree/boot.1/testos/870a/0';

  it('arms counting for a new default, keeping other variables', () => {
    const env = armBootCounting({ saved_entry: 'x', boot_success: '1' }, ID);
    expect(env).toEqual({ saved_entry: 'x', boot_success: '0', boot_counter: '3', boot_counter_entry: ID });
    expect(armBootCounting({}, ID, BOOT_COUNTER_MAX).boot_counter).toBe('9');
    for (const tries of [0, 10, 1.5]) expect(errorOf(() => armBootCounting({}, ID, tries)).code).toBe('BOOT_COUNTING_INVALID');
    expect(errorOf(() => armBootCounting({}, '')).code).toBe('BOOT_COUNTING_INVALID');
  });

  it('marks a boot successful by unsetting the counter and its entry', () => {
    expect(markBootSuccessful({ boot_counter: '2', boot_success: '0', boot_counter_entry: ID, other: 'y' })).toEqual({ boot_success: '1', other: 'y' });
  });

  it('reads the state GRUB left for userspace', () => {
    const armed = (boot_counter: string) => ({ boot_counter, boot_success: '0', boot_counter_entry: ID });
    expect(readBootCounting({}, ID)).toEqual({ kind: 'inactive' });
    expect(readBootCounting({ ...armed('2'), boot_success: '1' }, ID)).toEqual({ kind: 'inactive' });
    expect(readBootCounting(armed(''), ID)).toEqual({ kind: 'inactive' });
    expect(readBootCounting(armed('2'), ID)).toEqual({ kind: 'trying', remaining: 2 });
    expect(readBootCounting(armed('0'), ID)).toEqual({ kind: 'trying', remaining: 0 });
    expect(readBootCounting(armed('-1'), ID)).toEqual({ kind: 'fell-back' });
    expect(readBootCounting(armed('12'), ID)).toEqual({ kind: 'invalid', value: '12' });
    // Armed for the other loader.N menu (a crash before the swap, or after a rollback): ignored.
    expect(readBootCounting(armed('-1'), '/ostree/boot.0/testos/870a/0')).toEqual({ kind: 'inactive' });
    expect(readBootCounting(armed('2'), null)).toEqual({ kind: 'inactive' });
  });

  it('follows an armed block through three failed boots to the fallback', () => {
    // What the generated grub.cfg does on each boot (see grub.ts), applied to the block.
    const grubBoot = (env: Record<string, string>, entry0: string): { env: Record<string, string>; entry: number } => {
      const c = env['boot_counter'];
      if (c === undefined || env['boot_success'] !== '0' || env['boot_counter_entry'] !== entry0) return { env, entry: 0 };
      if (/^[1-9]$/.test(c)) return { env: { ...env, boot_counter: String(Number(c) - 1) }, entry: 0 };
      return { env: { ...env, boot_counter: '-1' }, entry: 1 };
    };
    let env = parseGrubEnv(renderGrubEnv(armBootCounting({}, ID)));
    const seen: [number, string][] = [];
    for (let boot = 0; boot < 4; boot++) {
      const r = grubBoot(env, ID);
      env = parseGrubEnv(renderGrubEnv(r.env));
      const s = readBootCounting(env, ID);
      seen.push([r.entry, s.kind === 'trying' ? `trying ${s.remaining}` : s.kind]);
    }
    expect(seen).toEqual([[0, 'trying 2'], [0, 'trying 1'], [0, 'trying 0'], [1, 'fell-back']]);
    // After the rollback the new menu's entry 0 is another bootlink: GRUB boots it, whatever grubenv says.
    expect(grubBoot(env, '/ostree/boot.0/testos/cf37/0').entry).toBe(0);
    expect(readBootCounting(markBootSuccessful(env), ID)).toEqual({ kind: 'inactive' });
  });
});
