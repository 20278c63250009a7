import { describe, expect, it } from 'vitest';
import { bootReport, qemuArgs } from './qemu.ts';

describe('bootReport', () => {
  it('takes facts and commands from the report port, failures from the console', () => {
    const consoleText = 'ATOMIC-REPORT kernel-cmdline=root=LABEL=root rww\n[ 3.0] Kernel panic - not syncing: Attempted to kill init!\n';
    const port = 'ATOMIC-REPORT kernel-cmdline=root=LABEL=root rw\nATOMIC-DONE rc=0\n';
    const r = bootReport(consoleText, port);
    expect(r.facts['kernel-cmdline']).toBe('root=LABEL=root rw');
    expect(r.done).toBe(0);
    expect(r.panic).toBe('Attempted to kill init!');
  });

  it('falls back to the console when the port stayed empty', () => {
    expect(bootReport('ATOMIC-REPORT version=3\n', '').facts).toEqual({ version: '3' });
  });
});

describe('qemuArgs', () => {
  const base = { name: 'm-1', runDir: '/r', timeoutMs: 1000 };

  it('boots OVMF with virtio disks, the action over fw_cfg and the report port', () => {
    const a = qemuArgs({ ...base, disks: [{ path: '/r/disk.img' }, { path: '/w/tools.img', readonly: true }], action: 'true' }, '/r/m-1.serial.log').join(' ');
    expect(a).toContain('-no-reboot');
    expect(a).toContain('-drive if=pflash,format=raw,file=/r/OVMF_VARS.fd');
    expect(a).toContain('-drive file=/r/disk.img,format=raw,if=virtio,cache=writeback ');
    expect(a).toContain('-drive file=/w/tools.img,format=raw,if=virtio,cache=writeback,readonly=on');
    expect(a).toContain('-fw_cfg name=opt/vmtest/action,file=/r/action.sh');
    expect(a).toContain('-chardev file,id=report,path=/r/m-1.report.log');
    expect(a).toContain('logfile=/r/m-1.serial.log');
  });

  it('records writes through blklogwrites when asked', () => {
    const a = qemuArgs({ ...base, disks: [{ path: '/r/disk.img', writeLog: '/r/w.log' }] }, '/r/s.log').join(' ');
    expect(a).toContain('-blockdev driver=blklogwrites,node-name=w0,file=disk0,log=log0,log-sector-size=512 -device virtio-blk-pci,drive=w0');
    expect(a).not.toContain('fw_cfg');
  });
});
