// Oracles from Debian's grub-common 2.06: grub-script-check accepts every grub.cfg and
// stub we generate, and grub-editenv reads and extends the blocks we write (and we read
// its). Skipped, visibly, when the tools are missing (`apt-get install grub-common`).

import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import fc from 'fast-check';
import { afterAll, describe, expect, it } from 'vitest';
import type { BootEntry } from './bls.ts';
import { renderGrubConfig, renderGrubStub } from './grub.ts';
import { armBootCounting, parseGrubEnv, renderGrubEnv } from './grubenv.ts';
import { TRACE_ENTRIES } from './testdata/trace-entries.ts';

function have(tool: string): boolean {
  return spawnSync(tool, ['--version'], { stdio: 'ignore' }).status === 0;
}

const dir = mkdtempSync(join(tmpdir(), 'atomic-grub-oracle-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

function scriptCheck(text: string): { status: number | null; output: string } {
  const file = join(dir, 'check.cfg');
  writeFileSync(file, text);
  const r = spawnSync('grub-script-check', [file], { encoding: 'utf8' });
  return { status: r.status, output: r.stdout + r.stderr };
}

function editenv(file: string, ...args: string[]): string {
  const r = spawnSync('grub-editenv', [file, ...args], { encoding: 'utf8' });
  if (r.status !== 0) throw new Error(`grub-editenv ${args.join(' ')}: ${r.stderr}`);
  return r.stdout;
}

describe.skipIf(!have('grub-script-check'))('grub-script-check (GRUB 2.06)', () => {
  it('rejects a broken script, so a pass means something', () => {
    expect(scriptCheck('if [ x ]; then\n').status).not.toBe(0);
  });

  it('accepts the generated grub.cfg in every layout', () => {
    const variants = [
      renderGrubConfig(TRACE_ENTRIES, { bootIsSeparate: true, bootDeviceId: 'abcd-1234' }),
      renderGrubConfig(TRACE_ENTRIES, { bootIsSeparate: false, timeout: 0 }),
      renderGrubConfig(TRACE_ENTRIES.slice(0, 1), { bootIsSeparate: true }),
      renderGrubConfig(TRACE_ENTRIES, { bootIsSeparate: true, bootCounting: false }),
      renderGrubConfig([], { bootIsSeparate: true }),
    ];
    for (const cfg of variants) expect(scriptCheck(cfg)).toEqual({ status: 0, output: '' });
  });

  it('accepts the stub in every layout', () => {
    for (const bootIsSeparate of [true, false]) {
      for (const command of ['configfile', 'source'] as const) {
        const stub = renderGrubStub({ bootIsSeparate, command, search: { by: 'fs-uuid', value: '3b1f5b36-6a5c' } });
        expect(scriptCheck(stub)).toEqual({ status: 0, output: '' });
      }
    }
    expect(scriptCheck(renderGrubStub({ bootIsSeparate: true })).status).toBe(0);
  });

  it('accepts menus with hostile titles, paths and kernel arguments', () => {
    const text = fc.stringMatching(/^[ -~]{1,30}$/).map((s) => s.trim()).filter((s) => s !== '');
    const word = fc.stringMatching(/^[!#-&(-[\]-~]{1,12}$/); // printable, no quote or backslash
    const entry = fc.record({
      title: text,
      version: fc.constant('1'),
      options: fc.array(fc.oneof(word, word.map((w) => `k="${w} ${w}"`)), { maxLength: 5 }).map((a) => a.join(' ')),
      linux: word.map((w) => `/ostree/${w}`),
      initrd: fc.option(word.map((w) => `/ostree/${w} x`), { nil: undefined }),
    }, { requiredKeys: ['title', 'version', 'options', 'linux'] });
    fc.assert(fc.property(fc.array(entry, { minLength: 1, maxLength: 3 }), fc.boolean(), (entries, bootIsSeparate) => {
      const clean = entries.map((e) => Object.fromEntries(Object.entries(e).filter(([, v]) => v !== undefined)) as unknown as BootEntry);
      expect(scriptCheck(renderGrubConfig(clean, { bootIsSeparate }))).toEqual({ status: 0, output: '' });
    }), { numRuns: 60 });
  });
});

describe.skipIf(!have('grub-editenv'))('grub-editenv (GRUB 2.06)', () => {
  it('lists what renderGrubEnv wrote, escapes included', () => {
    const file = join(dir, 'ours');
    writeFileSync(file, renderGrubEnv({ ...armBootCounting({}, '/ostree/boot.1/os/c/0'), path: 'C:\\dir', two: 'a\nb' }));
    expect(editenv(file, 'list')).toBe('boot_counter=3\nboot_success=0\nboot_counter_entry=/ostree/boot.1/os/c/0\npath=C:\\dir\ntwo=a\nb\n');
  });

  it('writes blocks parseGrubEnv reads, after set and unset on our block', () => {
    const file = join(dir, 'theirs');
    writeFileSync(file, renderGrubEnv(armBootCounting({ saved_entry: 'ostree-0' }, '/ostree/boot.1/os/c/0')));
    editenv(file, 'set', 'boot_success=1', 'menu_auto_hide=1');
    editenv(file, 'unset', 'boot_counter', 'boot_counter_entry');
    const bytes = new Uint8Array(readFileSync(file));
    expect(parseGrubEnv(bytes)).toEqual({ saved_entry: 'ostree-0', boot_success: '1', menu_auto_hide: '1' });
    // Same variables, same order: our rendering of the result is grub-editenv's, byte for byte.
    expect(renderGrubEnv(parseGrubEnv(bytes))).toEqual(bytes);
  });

  it('agrees with grub-editenv create', () => {
    const file = join(dir, 'created');
    rmSync(file, { force: true });
    editenv(file, 'create');
    expect(renderGrubEnv({})).toEqual(new Uint8Array(readFileSync(file)));
  });
});
