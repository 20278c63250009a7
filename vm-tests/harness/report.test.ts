import { describe, expect, it } from 'vitest';
import { commandText, consoleLines, describeBoot, parseBootReport, stripTerminalCodes } from './report.ts';

// A console log as the guest produces it: OVMF/GRUB escapes and CRs, kernel lines, ours.
const LOG = [
  '\x1b[2J\x1b[01;01H\x1b[=3h\x1b[2J\x1b[01;01HBdsDxe: loading Boot0001',
  '\x1b[0m\x1b[30m\x1b[40m  Booting `Atomic Test OS 1 (ostree:0)\'\r',
  'ATOMIC-REPORT version=1',
  'ATOMIC-REPORT kernel-cmdline=root=LABEL=root rw ostree=/ostree/boot.1/testos/abc/0 x=a=b',
  'ATOMIC-REPORT etc-marker=',
  'ATOMIC-OUT status: {',
  'ATOMIC-OUT status:   "deployments": []',
  'ATOMIC-OUT status: }',
  'ATOMIC-EXIT status rc=0',
  'ATOMIC-OUT upgrade: error: no remote',
  'ATOMIC-EXIT upgrade rc=1',
  'ATOMIC-DONE rc=1',
  '[   11.199198] reboot: Power down',
].join('\n');

describe('parseBootReport', () => {
  it('reads facts, command outputs, exit statuses and the final status', () => {
    const r = parseBootReport(LOG);
    expect(r.facts).toEqual({
      version: '1',
      'kernel-cmdline': 'root=LABEL=root rw ostree=/ostree/boot.1/testos/abc/0 x=a=b',
      'etc-marker': '',
    });
    expect(r.commands.status).toEqual({ lines: ['{', '  "deployments": []', '}'], rc: 0 });
    expect(JSON.parse(commandText(r, 'status'))).toEqual({ deployments: [] });
    expect(r.commands.upgrade).toEqual({ lines: ['error: no remote'], rc: 1 });
    expect(r.done).toBe(1);
    expect(r.initramfsFailure).toBeNull();
    expect(r.panic).toBeNull();
  });

  it('leaves done and rc null when the guest stopped early (power cut, timeout)', () => {
    const r = parseBootReport('ATOMIC-REPORT version=2\nATOMIC-OUT upgrade: Receiving objects: 10%\nATOMIC-OUT upgr');
    expect(r.done).toBeNull();
    expect(r.commands.upgrade).toEqual({ lines: ['Receiving objects: 10%'], rc: null });
    expect(describeBoot(r)).toBe('version=2, deployment=?, done=never, upgrade rc=none');
  });

  it('reports initramfs failures and kernel panics', () => {
    const r = parseBootReport('ATOMIC-INITRAMFS-FAIL ostree=/ostree/boot.0/x does not resolve under /sysroot\n'
      + '[    2.1] Kernel panic - not syncing: Attempted to kill init! exitcode=0x00000100\n');
    expect(r.initramfsFailure).toBe('ostree=/ostree/boot.0/x does not resolve under /sysroot');
    expect(r.panic).toBe('Attempted to kill init! exitcode=0x00000100');
    expect(describeBoot(r)).toContain('initramfs failure: ostree=/ostree/boot.0/x');
  });

  it('ignores prefixes that do not start a line, and names a missing command', () => {
    const r = parseBootReport('kernel: ATOMIC-REPORT version=9\nATOMIC-REPORTversion=8\n');
    expect(r.facts).toEqual({});
    expect(() => commandText(r, 'status')).toThrow(/did not run 'status' \(commands seen: none\)/);
  });
});

describe('stripTerminalCodes', () => {
  it('removes CSI sequences, charset selections and carriage returns', () => {
    expect(stripTerminalCodes('\x1b[1;33mA\x1b[0m\x1b(B\r\nB\x1b[?25l')).toBe('A\nB');
    expect(consoleLines('a\r\nb')).toEqual(['a', 'b']);
  });
});
