// grub.cfg text: file snapshots for the trace's entries (separate and non-separate
// /boot, with and without boot counting), the static stub, quoting, and kernel
// arguments surviving GRUB's `linux` re-quoting. grub.oracle.test.ts runs grub-script-check.

import { describe, expect, it } from 'vitest';
import { errorOf } from '../test-support/index.ts';

import type { BootEntry } from './bls.ts';
import { bootCountingEntryId, grubQuote, renderGrubConfig, renderGrubStub } from './grub.ts';
import { BOOT_COUNTER_MAX } from './grubenv.ts';
import { parseKargs } from './kargs.ts';
import { CSUM1, CSUM2, TRACE_ENTRIES } from './testdata/trace-entries.ts';


/** Undoes grubQuote for the two forms it produces: a bare word or one single-quoted word. */
function unquoteGrubWord(word: string): string {
  return word.startsWith("'") ? word.slice(1, -1).replace(/'\\''/g, "'") : word;
}

/** GRUB 2.06's grub_create_loader_cmdline for arguments without quotes or backslashes. */
function grubLoaderCmdline(argv: string[]): string {
  return argv.map((a) => (a.includes(' ') ? `"${a}"` : a)).join(' ');
}

describe('renderGrubConfig', () => {
  it('renders two entries on a separate /boot with boot counting', async () => {
    const cfg = renderGrubConfig(TRACE_ENTRIES, { bootIsSeparate: true, bootDeviceId: '3b1f5b36-6a5c-4f3e-9d8a-2f1e5c7d9a01' });
    await expect(cfg).toMatchFileSnapshot('__snapshots__/grub-two-entries.cfg');
    expect(cfg).toContain("menuentry 'TestOS 2 (ostree:0)' --class gnu-linux --class gnu --class os --unrestricted 'ostree-0-3b1f5b36-6a5c-4f3e-9d8a-2f1e5c7d9a01' {\n");
    expect(cfg).toContain(`\tlinux /ostree/testos-${CSUM2}/vmlinuz-5.10.0-test root=LABEL=root quiet ostree=/ostree/boot.0/testos/${CSUM2}/0\n`);
    expect(cfg).toContain('load_env -f /grub/grubenv boot_counter boot_success boot_counter_entry\n');
    expect(cfg.indexOf("'TestOS 2 (ostree:0)'")).toBeLessThan(cfg.indexOf("'TestOS 1 (ostree:1)'"));
  });

  it('renders paths under /boot when /boot is part of the root filesystem', async () => {
    const cfg = renderGrubConfig(TRACE_ENTRIES, { bootIsSeparate: false, timeout: 1 });
    await expect(cfg).toMatchFileSnapshot('__snapshots__/grub-boot-on-root.cfg');
    expect(cfg).toContain(`\tinitrd /boot/ostree/testos-${CSUM1}/initramfs-5.10.0-test.img\n`);
    expect(cfg).toContain('save_env -f /boot/grub/grubenv boot_counter\n');
    expect(cfg).toContain("'ostree-1' {");
  });

  it('counts down every value up to BOOT_COUNTER_MAX and falls back to entry 1 otherwise', () => {
    const cfg = renderGrubConfig(TRACE_ENTRIES, { bootIsSeparate: true });
    for (let n = 1; n <= BOOT_COUNTER_MAX; n++) {
      expect(cfg).toContain(`[ "\${boot_counter}" = "${n}" ]; then\n    set boot_counter=${n - 1}\n`);
    }
    expect(cfg).toMatch(/  else\n(.*\n)    set default=1\n    set fallback=0\n    set boot_counter=-1\n  fi\n/);
    expect(cfg).toContain(
      `if [ -n "\${boot_counter}" -a "\${boot_success}" = "0" -a "\${boot_counter_entry}" = /ostree/boot.0/testos/${CSUM2}/0 ]; then\n`);
  });

  it('ties the counter to entry 0 through its ostree= value, and needs one', () => {
    expect(bootCountingEntryId(TRACE_ENTRIES[0]!)).toBe(`/ostree/boot.0/testos/${CSUM2}/0`);
    expect(bootCountingEntryId({ ...TRACE_ENTRIES[0]!, options: 'quiet ostree' })).toBeNull();
    const noOstree = TRACE_ENTRIES.map((e) => ({ ...e, options: 'root=LABEL=root' }));
    const cfg = renderGrubConfig(noOstree, { bootIsSeparate: true });
    expect(cfg).toContain('set fallback=1\n');
    expect(cfg).not.toContain('boot_counter');
  });

  it('leaves out fallback and counting with a single entry, and counting when disabled', async () => {
    const one = renderGrubConfig(TRACE_ENTRIES.slice(0, 1), { bootIsSeparate: true });
    await expect(one).toMatchFileSnapshot('__snapshots__/grub-one-entry.cfg');
    expect(one).not.toContain('fallback');
    expect(one).not.toContain('boot_counter');
    const off = renderGrubConfig(TRACE_ENTRIES, { bootIsSeparate: true, bootCounting: false });
    expect(off).toContain('set fallback=1\n');
    expect(off).not.toContain('boot_counter');
  });

  it('writes devicetree and overlay initrds, and quotes titles and odd paths', async () => {
    const e: BootEntry = {
      ...TRACE_ENTRIES[0]!,
      title: "Bob's OS $HOME (ostree:0)",
      linux: '/ostree/os-x/vmlinuz 6.1',
      overlayInitrds: ['/ostree/initramfs-overlays/aa.img'],
      devicetree: '/ostree/os-x/devicetree-6.1',
      options: 'root=LABEL=root foo="a b" ostree=/ostree/boot.1/os/x/0',
    };
    const cfg = renderGrubConfig([e], { bootIsSeparate: true, timeout: -1 });
    await expect(cfg).toMatchFileSnapshot('__snapshots__/grub-quoting.cfg');
    expect(cfg).toContain("menuentry 'Bob'\\''s OS $HOME (ostree:0)'");
    expect(cfg).toContain("\tlinux '/ostree/os-x/vmlinuz 6.1' root=LABEL=root 'foo=a b' ostree=/ostree/boot.1/os/x/0\n");
    expect(cfg).toContain(`\tinitrd /ostree/testos-${CSUM2}/initramfs-5.10.0-test.img /ostree/initramfs-overlays/aa.img\n`);
    expect(cfg).toContain('\tdevicetree /ostree/os-x/devicetree-6.1\n');
  });

  it('passes kernel arguments through GRUB so the kernel reads the BLS options back', () => {
    const options = 'root=LABEL=root foo="a b" "spaced key" empty= ostree=/ostree/boot.1/os/x/0 console=ttyS0,115200n8 $x=%y';
    const cfg = renderGrubConfig([{ ...TRACE_ENTRIES[0]!, options }], { bootIsSeparate: true });
    const line = cfg.split('\n').find((l) => l.startsWith('\tlinux '))!;
    const words = line.trim().match(/'(?:[^']|'\\'')*'|\S+/g)!.map(unquoteGrubWord);
    expect(words.slice(0, 2)).toEqual(['linux', TRACE_ENTRIES[0]!.linux]);
    expect(parseKargs(grubLoaderCmdline(words.slice(2)))).toEqual(parseKargs(options));
  });

  it('refuses kernel arguments that GRUB 2.06 would corrupt', () => {
    for (const bad of ['x=it\'s', 'x="a\\"b"', 'x=c:\\\\y', 'x=a"b']) {
      const err = errorOf(() => renderGrubConfig([{ ...TRACE_ENTRIES[0]!, options: bad }], { bootIsSeparate: true }));
      expect(err.code).toBe('BOOT_GRUB_UNSUPPORTED');
      expect(err.message).toMatch(/^boot entry 0 \(TestOS 2 \(ostree:0\)\): kernel argument/);
    }
    expect(errorOf(() => renderGrubConfig(TRACE_ENTRIES, { bootIsSeparate: true, timeout: 1.5 })).code).toBe('BOOT_GRUB_UNSUPPORTED');
    expect(errorOf(() => renderGrubConfig(TRACE_ENTRIES, { bootIsSeparate: true, bootDeviceId: "a'b" })).code).toBe('BOOT_GRUB_UNSUPPORTED');
    expect(errorOf(() => renderGrubConfig([{ ...TRACE_ENTRIES[0]!, linux: 'vmlinuz' }], { bootIsSeparate: true })).code).toBe('BOOT_ENTRY_INVALID');
  });
});

describe('renderGrubStub', () => {
  it('loads loader/grub.cfg from a separate /boot', async () => {
    const stub = renderGrubStub({ bootIsSeparate: true });
    await expect(stub).toMatchFileSnapshot('__snapshots__/grub-stub-separate.cfg');
    expect(stub).toContain('  configfile ($root)/loader/grub.cfg\n');
  });

  it('loads boot/loader/grub.cfg from the root filesystem, optionally finding it first', async () => {
    const stub = renderGrubStub({ bootIsSeparate: false, command: 'source', search: { by: 'label', value: 'root fs' } });
    await expect(stub).toMatchFileSnapshot('__snapshots__/grub-stub-root-search.cfg');
    expect(stub).toContain("search --no-floppy --set=root --label 'root fs'\n");
    expect(stub).toContain('  source ($root)/boot/loader/grub.cfg\n');
  });
});

describe('grubQuote', () => {
  it('leaves safe words bare and single-quotes the rest', () => {
    expect(grubQuote('root=LABEL=root')).toBe('root=LABEL=root');
    expect(grubQuote('console=ttyS0,115200n8')).toBe('console=ttyS0,115200n8');
    expect(grubQuote('a b')).toBe("'a b'");
    expect(grubQuote('$root')).toBe("'$root'");
    expect(grubQuote("it's")).toBe("'it'\\''s'");
    expect(grubQuote('')).toBe("''");
  });
});
