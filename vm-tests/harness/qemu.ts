// Runs one QEMU guest (x86_64, q35, OVMF, virtio disks) as the vm-tests need it: a
// timeout around every boot, the serial console read live (and logged to a file), the
// guest's report parsed when QEMU exits, and SIGKILL on demand, which models a power cut
// (vm-boot-notes.md: with raw images every write QEMU issued is kept).

import { spawn } from 'node:child_process';
import { copyFileSync, existsSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { consoleLines, parseBootReport, type BootReport } from './report.ts';

export const OVMF_CODE = '/usr/share/OVMF/OVMF_CODE_4M.fd';
export const OVMF_VARS = '/usr/share/OVMF/OVMF_VARS_4M.fd';

/** One virtio disk. */
export interface DiskSpec {
  /** Image file. */
  path: string;
  /** Default raw. A qcow2 overlay (backing file: the base image) keeps runs independent and cheap. */
  format?: 'raw' | 'qcow2';
  readonly?: boolean;
  /**
   * Record every write to this dm-log-writes file (QEMU's blklogwrites driver), for
   * replaying a run to each flush point. The file is created empty when missing.
   */
  writeLog?: string;
}

export interface VmOptions {
  /** Names the boot in logs and timings. */
  name: string;
  /** The first disk is the boot disk. */
  disks: DiskSpec[];
  /** Directory for the serial log, the action file and the NVRAM copy (kept between boots). */
  runDir: string;
  /** Shell script the guest's init runs this boot (fw_cfg file opt/vmtest/action). */
  action?: string;
  /** QEMU is killed (SIGKILL) after this long; the result says timedOut. */
  timeoutMs: number;
  memoryMiB?: number;
  /** Called with each console line (terminal codes stripped) as it arrives. */
  onLine?: (line: string) => void;
}

export interface VmResult {
  name: string;
  /** QEMU's exit status; 0 after the guest powered off. Null when killed. */
  exitCode: number | null;
  signal: NodeJS.Signals | null;
  timedOut: boolean;
  /** kill() was called (a power cut). */
  killed: boolean;
  /** From QEMU start to QEMU exit. */
  durationMs: number;
  serialLog: string;
  serial: string;
  report: BootReport;
  /** QEMU's own stderr (bad options, missing files). */
  stderr: string;
}

export interface RunningVm {
  pid: number;
  /** Resolves with the first console line (past or future) matching `pattern`; rejects when QEMU exits first or after timeoutMs. */
  waitForLine(pattern: RegExp, timeoutMs?: number): Promise<string>;
  /** SIGKILL: the guest loses power at once. */
  kill(): void;
  result: Promise<VmResult>;
}

/**
 * TCG unless KVM is really usable (vm-boot-notes.md): /dev/kvm present, vmx or svm in
 * /proc/cpuinfo and not the PVM module, under which stock guests crawl and then fail.
 */
export function accelerator(): 'kvm' | 'tcg' {
  if (process.env.ATOMIC_VM_ACCEL === 'tcg' || process.env.ATOMIC_VM_ACCEL === 'kvm') return process.env.ATOMIC_VM_ACCEL;
  try {
    if (!existsSync('/dev/kvm') || existsSync('/sys/module/kvm_pvm')) return 'tcg';
    return /\b(vmx|svm)\b/.test(readFileSync('/proc/cpuinfo', 'utf8')) ? 'kvm' : 'tcg';
  } catch {
    return 'tcg';
  }
}

/** Where the report port's output goes. */
export function reportLogPath(o: Pick<VmOptions, 'runDir' | 'name'>): string {
  return join(o.runDir, `${o.name}.report.log`);
}

/**
 * The boot's report: from the virtio report port when the guest wrote there (a UART under
 * TCG occasionally duplicates a character), else from the console; failures of the
 * initramfs and kernel panics only ever appear on the console.
 */
export function bootReport(consoleText: string, reportPort: string): BootReport {
  const fromConsole = parseBootReport(consoleText);
  if (reportPort.trim() === '') return fromConsole;
  return { ...parseBootReport(reportPort), initramfsFailure: fromConsole.initramfsFailure, panic: fromConsole.panic };
}

/** The QEMU command line for `o` (exported for tests and for printing a reproducer). */
export function qemuArgs(o: VmOptions, serialLog: string): string[] {
  const vars = join(o.runDir, 'OVMF_VARS.fd');
  const args = [
    '-accel', accelerator(), '-machine', 'q35', '-m', String(o.memoryMiB ?? 1024),
    '-nodefaults', '-display', 'none', '-no-reboot',
    '-chardev', `stdio,id=ser0,signal=off,logfile=${serialLog}`, '-serial', 'chardev:ser0',
    '-drive', `if=pflash,format=raw,readonly=on,file=${OVMF_CODE}`,
    '-drive', `if=pflash,format=raw,file=${vars}`,
  ];
  o.disks.forEach((d, i) => {
    if (d.writeLog !== undefined) {
      args.push(
        '-blockdev', `driver=file,filename=${d.path},node-name=disk${i}`,
        '-blockdev', `driver=file,filename=${d.writeLog},node-name=log${i}`,
        '-blockdev', `driver=blklogwrites,node-name=w${i},file=disk${i},log=log${i},log-sector-size=512`,
        '-device', `virtio-blk-pci,drive=w${i}`,
      );
    } else {
      args.push('-drive', `file=${d.path},format=${d.format ?? 'raw'},if=virtio,cache=writeback${d.readonly ? ',readonly=on' : ''}`);
    }
  });
  if (o.action !== undefined) args.push('-fw_cfg', `name=opt/vmtest/action,file=${join(o.runDir, 'action.sh')}`);
  // The report channel: a virtio serial port the guest's init copies its protocol lines to.
  args.push(
    '-device', 'virtio-serial-pci,id=vser0',
    '-chardev', `file,id=report,path=${reportLogPath(o)}`,
    '-device', 'virtserialport,bus=vser0.0,chardev=report,name=vmtest.report',
  );
  return args;
}

/** Starts QEMU. The NVRAM copy in runDir is made on first use and kept, like a machine's. */
export function startVm(o: VmOptions): RunningVm {
  const vars = join(o.runDir, 'OVMF_VARS.fd');
  if (!existsSync(vars)) copyFileSync(OVMF_VARS, vars);
  if (o.action !== undefined) writeFileSync(join(o.runDir, 'action.sh'), o.action);
  for (const d of o.disks) if (d.writeLog !== undefined && !existsSync(d.writeLog)) writeFileSync(d.writeLog, '');
  const serialLog = join(o.runDir, `${o.name}.serial.log`);
  const started = performance.now();
  const child = spawn('qemu-system-x86_64', qemuArgs(o, serialLog), { stdio: ['pipe', 'pipe', 'pipe'] });

  let serial = '';
  let partial = '';
  let stderr = '';
  const lines: string[] = [];
  let exited = false;
  let killed = false;
  let timedOut = false;
  const waiters = new Set<{ pattern: RegExp; resolve: (l: string) => void; reject: (e: Error) => void }>();

  const onLine = (line: string): void => {
    lines.push(line);
    o.onLine?.(line);
    for (const w of waiters) {
      if (w.pattern.test(line)) {
        waiters.delete(w);
        w.resolve(line);
      }
    }
  };
  child.stdout.setEncoding('utf8');
  child.stdout.on('data', (chunk: string) => {
    serial += chunk;
    const parts = consoleLines(partial + chunk);
    partial = parts.pop()!;
    for (const l of parts) onLine(l);
  });
  child.stderr.setEncoding('utf8');
  child.stderr.on('data', (chunk: string) => {
    stderr += chunk;
  });
  const timer = setTimeout(() => {
    timedOut = true;
    child.kill('SIGKILL');
  }, o.timeoutMs);

  const result = new Promise<VmResult>((resolve, reject) => {
    child.once('error', (err) => {
      clearTimeout(timer);
      reject(new Error(`cannot start qemu-system-x86_64: ${err.message} (install qemu-system-x86)`));
    });
    child.once('close', (code, signal) => {
      exited = true;
      clearTimeout(timer);
      if (partial !== '') onLine(partial);
      for (const w of waiters) w.reject(new Error(`${o.name}: QEMU exited before a console line matched ${w.pattern}`));
      waiters.clear();
      resolve({
        name: o.name, exitCode: code, signal, timedOut, killed, durationMs: performance.now() - started,
        serialLog, serial, report: bootReport(serial, readFileOr(reportLogPath(o))), stderr,
      });
    });
  });

  return {
    pid: child.pid ?? -1,
    kill() {
      killed = true;
      child.kill('SIGKILL');
    },
    waitForLine(pattern: RegExp, timeoutMs = o.timeoutMs): Promise<string> {
      const seen = lines.find((l) => pattern.test(l));
      if (seen !== undefined) return Promise.resolve(seen);
      if (exited) return Promise.reject(new Error(`${o.name}: QEMU has exited; no console line matched ${pattern}`));
      return new Promise((resolve, reject) => {
        const w = {
          pattern,
          resolve: (l: string) => {
            clearTimeout(t);
            resolve(l);
          },
          reject: (e: Error) => {
            clearTimeout(t);
            reject(e);
          },
        };
        const t = setTimeout(() => {
          waiters.delete(w);
          reject(new Error(`${o.name}: no console line matched ${pattern} within ${timeoutMs} ms`));
        }, timeoutMs);
        waiters.add(w);
      });
    },
    result,
  };
}

function readFileOr(path: string): string {
  try {
    return readFileSync(path, 'utf8');
  } catch {
    return '';
  }
}

/** Boots until QEMU exits (power-off, panic, or timeout). */
export function runVm(o: VmOptions): Promise<VmResult> {
  return startVm(o).result;
}
