// BLS entries: the six entries that real `ostree admin deploy` wrote in
// store/testdata/vectors/sysroot-trace.txt, parsed and re-rendered byte for byte and
// rebuilt from their parts; parser errors; parse(render(x)) round trips.

import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { errorOf } from '../test-support/index.ts';

import {
  blsEntryFileName, blsEntryVersion, bootEntryTitle, parseBlsEntry, renderBlsEntry, sortBlsEntries, type BootEntry,
} from './bls.ts';
import { parseKargs, renderKargs, setOstreeKarg } from './kargs.ts';

const TRACE = join(import.meta.dirname, '..', 'store', 'testdata', 'vectors', 'sysroot-trace.txt');
const CSUM1 = 'cf37c44f8c217f255369aef7eb5f5ec5d98dbd63e89b3cfac3413fff1fc07880';
const CSUM2 = '870a5512c126c7ffc60faaf11f86c0561e8d0f4a2845871a9442430322f2d4f3';

/** Every `--- sysroot/boot/loader/entries/NAME` block of the trace, in order, with its exact text. */
function traceEntries(): { name: string; text: string }[] {
  const lines = readFileSync(TRACE, 'utf8').split('\n');
  const out: { name: string; text: string }[] = [];
  for (let i = 0; i < lines.length; i++) {
    const m = /^--- sysroot\/boot\/loader\/entries\/(\S+)$/.exec(lines[i]!);
    if (m === null) continue;
    let text = '';
    for (i++; i < lines.length && lines[i] !== '' && !/^(---|\$|###) /.test(lines[i]!); i++) text += lines[i] + '\n';
    i--;
    out.push({ name: m[1]!, text });
  }
  return out;
}


describe('BLS entries from the ostree 2022.7 trace', () => {
  const entries = traceEntries();

  it('finds the six entries of the three deploys', () => {
    expect(entries.map((e) => e.name)).toEqual([
      'ostree-1-testos.conf',
      'ostree-1-testos.conf', 'ostree-2-testos.conf',
      'ostree-1-testos.conf', 'ostree-2-testos.conf', 'ostree-3-testos.conf',
    ]);
  });

  it('parses each and renders it back byte for byte', () => {
    for (const { name, text } of entries) {
      const e = parseBlsEntry(text, name);
      expect(e.extra).toBeUndefined();
      expect(renderBlsEntry(e)).toBe(text);
    }
  });

  it('rebuilds the third deploy (boot.1, three deployments) from its parts', () => {
    // [index 0: commit 2 serial .1, index 1: commit 2 serial .0, index 2: commit 1 (pinned)].
    // os-release is assumed to say PRETTY_NAME=TestOS; the commit version completes the title.
    const deployments = [
      { version: '2', bootcsum: CSUM2, bootserial: 0 },
      { version: '2', bootcsum: CSUM2, bootserial: 1 },
      { version: '1', bootcsum: CSUM1, bootserial: 0 },
    ];
    const base = parseKargs('root=LABEL=root quiet');
    const rebuilt = deployments.map((d, index): { name: string; text: string } => {
      const e: BootEntry = {
        title: bootEntryTitle({ osRelease: { PRETTY_NAME: 'TestOS' }, version: d.version, index, osname: 'testos', multipleStateroots: false }),
        version: blsEntryVersion(index, deployments.length),
        options: renderKargs(setOstreeKarg(base, { bootversion: 1, osname: 'testos', bootcsum: d.bootcsum, bootserial: d.bootserial })),
        linux: `/ostree/testos-${d.bootcsum}/vmlinuz-5.10.0-test`,
        initrd: `/ostree/testos-${d.bootcsum}/initramfs-5.10.0-test.img`,
      };
      return { name: blsEntryFileName(index, deployments.length, 'testos'), text: renderBlsEntry(e) };
    });
    expect(rebuilt.reverse()).toEqual(entries.slice(3));
  });

  it('sorts the trace entries into boot order: highest version first', () => {
    const parsed = entries.slice(3).map((e) => parseBlsEntry(e.text, e.name));
    expect(sortBlsEntries(parsed).map((e) => e.title)).toEqual(['TestOS 2 (ostree:0)', 'TestOS 2 (ostree:1)', 'TestOS 1 (ostree:2)']);
  });
});

describe('renderBlsEntry', () => {
  const full: BootEntry = {
    title: 'Fedora CoreOS 39 (ostree:0)',
    version: '2',
    options: 'root=UUID=1 rw ostree=/ostree/boot.1/fedora-coreos/abc/0',
    linux: '/ostree/fedora-coreos-abc/vmlinuz-6.5.6',
    initrd: '/ostree/fedora-coreos-abc/initramfs-6.5.6.img',
    overlayInitrds: ['/ostree/initramfs-overlays/aa.img', '/ostree/initramfs-overlays/bb.img'],
    devicetree: '/ostree/fedora-coreos-abc/devicetree-6.5.6',
    extra: [['architecture', 'x64'], ['machine-id', '0123456789abcdef']],
  };

  it('writes keys in ostree order: title version options devicetree linux initrd, overlays, then others', async () => {
    await expect(renderBlsEntry(full)).toMatchFileSnapshot('__snapshots__/bls-all-keys.conf');
    expect(parseBlsEntry(renderBlsEntry(full), 'x.conf')).toEqual(full);
  });

  it('rejects values that would not parse back', () => {
    expect(errorOf(() => renderBlsEntry({ ...full, title: 'a\nb' })).code).toBe('BOOT_ENTRY_INVALID');
    expect(errorOf(() => renderBlsEntry({ ...full, options: '' })).code).toBe('BOOT_ENTRY_INVALID');
    expect(errorOf(() => renderBlsEntry({ ...full, linux: ' /x' })).code).toBe('BOOT_ENTRY_INVALID');
    expect(errorOf(() => renderBlsEntry({ ...full, extra: [['linux', '/y']] })).message).toMatch(/'linux' belongs in its own field/);
    expect(errorOf(() => renderBlsEntry({ ...full, extra: [['bad key', 'v']] })).code).toBe('BOOT_ENTRY_INVALID');
    const { initrd: _i, ...noInitrd } = full;
    expect(errorOf(() => renderBlsEntry(noInitrd)).message).toMatch(/overlay initrds need a primary initrd/);
  });
});

describe('parseBlsEntry', () => {
  const minimal = 'title T\nversion 1\noptions quiet\nlinux /vmlinuz\n';

  it('accepts comments, blank lines, tabs, runs of spaces and CRLF', () => {
    const text = '# written by hand\r\n\r\ntitle\tMy  OS (ostree:0)\r\n  version   3\r\noptions a=b  c\r\nlinux /k\r\n';
    expect(parseBlsEntry(text, 'hand.conf')).toEqual({ title: 'My  OS (ostree:0)', version: '3', options: 'a=b  c', linux: '/k' });
  });

  it('keeps unknown keys in order and a second initrd as an overlay', () => {
    const e = parseBlsEntry(`${minimal}grub_users $u\ninitrd /a\ninitrd /b\nsort-key fedora\n`, 'e.conf');
    expect(e.extra).toEqual([['grub_users', '$u'], ['sort-key', 'fedora']]);
    expect(e.initrd).toBe('/a');
    expect(e.overlayInitrds).toEqual(['/b']);
  });

  it('names the file and line in errors', () => {
    expect(errorOf(() => parseBlsEntry(`${minimal}devicetree\n`, 'ostree-1-os.conf'))).toEqual({
      code: 'BOOT_ENTRY_INVALID', message: "ostree-1-os.conf:5: key 'devicetree' has no value",
    });
    expect(errorOf(() => parseBlsEntry(`${minimal}title again\n`, 'e.conf')).message).toBe("e.conf:5: duplicate key 'title'");
    expect(errorOf(() => parseBlsEntry('title T\nversion 1\noptions q\n', 'e.conf')).message).toBe("e.conf: missing required key 'linux'");
    expect(errorOf(() => parseBlsEntry(`${minimal}=x y\n`, 'e.conf')).message).toBe("e.conf:5: invalid key '=x'");
  });

  it('round-trips every renderable entry', () => {
    const value = fc.stringMatching(/^[!-~]([ -~]{0,20}[!-~])?$/);
    const key = fc.stringMatching(/^[a-z][a-z0-9_-]{0,8}$/).filter((k) => !['title', 'version', 'options', 'devicetree', 'linux', 'initrd'].includes(k));
    const entry = fc.record({
      title: value, version: value, options: value, linux: value,
      initrd: fc.option(value, { nil: undefined }),
      devicetree: fc.option(value, { nil: undefined }),
      extra: fc.option(fc.array(fc.tuple(key, value), { minLength: 1, maxLength: 3 }), { nil: undefined }),
    }, { requiredKeys: ['title', 'version', 'options', 'linux'] });
    fc.assert(fc.property(entry, (e) => {
      const clean = Object.fromEntries(Object.entries(e).filter(([, v]) => v !== undefined)) as unknown as BootEntry;
      expect(parseBlsEntry(renderBlsEntry(clean), 'p.conf')).toEqual(clean);
    }), { numRuns: 500 });
  });
});

describe('names, versions, order and titles', () => {
  it('numbers files and versions N - index', () => {
    expect([0, 1, 2].map((i) => blsEntryFileName(i, 3, 'testos'))).toEqual(['ostree-3-testos.conf', 'ostree-2-testos.conf', 'ostree-1-testos.conf']);
    expect(blsEntryVersion(0, 12)).toBe('12');
    expect(errorOf(() => blsEntryFileName(3, 3, 'os')).code).toBe('INTERNAL');
  });

  it('sorts by strverscmp, so version 10 boots before 9, and keeps ties in order', () => {
    const e = (version: string, title: string) => ({ version, title });
    const sorted = sortBlsEntries([e('9', 'nine'), e('10', 'ten'), e('2', 'two-a'), e('2', 'two-b'), e('1.10', 'a'), e('1.9', 'b')]);
    expect(sorted.map((x) => x.title)).toEqual(['ten', 'nine', 'two-a', 'two-b', 'a', 'b']);
  });

  it('builds titles as ostree does', () => {
    const t = (osRelease: Record<string, string>, version: string | null, index: number, multipleStateroots = false) =>
      bootEntryTitle({ osRelease, version, index, osname: 'fedora', multipleStateroots });
    expect(t({ PRETTY_NAME: 'TestOS' }, '2', 0)).toBe('TestOS 2 (ostree:0)');
    // The version is already part of PRETTY_NAME: not repeated (strstr).
    expect(t({ PRETTY_NAME: 'Fedora Linux 39.20231101.0 (CoreOS)' }, '39.20231101.0', 1)).toBe('Fedora Linux 39.20231101.0 (CoreOS) (ostree:1)');
    expect(t({ ID: 'fedora' }, null, 0)).toBe('fedora (ostree:0)');
    expect(t({ ID: 'fedora' }, '', 0)).toBe('fedora (ostree:0)');
    expect(t({ PRETTY_NAME: 'TestOS', ID: 'ignored' }, '3', 2, true)).toBe('TestOS 3 (ostree:fedora:2)');
    expect(errorOf(() => t({ NAME: 'x' }, '1', 0)).code).toBe('BOOT_OS_RELEASE_INVALID');
  });
});
