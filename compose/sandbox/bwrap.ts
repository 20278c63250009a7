// Runs a command inside an install root with bubblewrap, set up the way rpm-ostree's
// rust/src/bwrap.rs sets up its containers: a tmpfs root with the tree's /usr, /etc and /var
// bound in, fresh /proc and /dev, /tmp and /run on tmpfs, no network, its own pid/uts/ipc
// namespaces, a reduced capability set, and PATH=/usr/sbin:/usr/bin.
//
// Output (stdout and stderr, interleaved as written) goes to one temporary file, as
// rpm-ostree buffers it outside the journal, and is returned; failures carry its tail.

import { spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdtemp, open, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { isErrno, UpdaterError } from '../../common/errors.ts';
import { lstatOrNull } from '../../common/fs.ts';

/** How much of the tree a sandboxed command may change (rpm-ostree's BubblewrapMutability). */
export type Mutability = 'immutable' | 'mutable';

export interface SandboxBind {
  /** Host path. */
  src: string;
  /** Path inside the sandbox. */
  dest: string;
  rw?: boolean;
}

export interface SandboxOptions {
  /** argv of the command to run inside the root. */
  argv: string[];
  /** Human name used in messages and as the output prefix, e.g. `foo.post` or `postprocess[0]`. */
  label: string;
  /** `immutable` binds /usr and /etc read-only; `mutable` read-write. Default `mutable`. */
  mutability?: Mutability;
  /**
   * /var: `ro` (scriptlets: read-only, with a tmpfs /var/tmp), `rw`, or `none` (not bound).
   * Default `ro`.
   */
  var?: 'ro' | 'rw' | 'none';
  /** A tmpfs on /run with an empty /run/ostree-booted (scriptlets). Default true. */
  ostreeBooted?: boolean;
  /** Hide /usr/share/rpm (the base rpmdb) behind an empty directory, as for scriptlets. */
  maskRpmdb?: boolean;
  /** Extra bind mounts, applied after the standard ones. */
  binds?: SandboxBind[];
  /** Extra environment (on top of LANG, PATH and SOURCE_DATE_EPOCH when set). */
  env?: Record<string, string>;
  /** Content made readable to the command as /proc/self/fd/5 (rpm-ostree passes scripts so). */
  script?: string;
  /** Standard input (file triggers read their matched paths from it). Default: none. */
  stdin?: string;
  /** Kill the command after this many milliseconds. Default 10 minutes. */
  timeoutMs?: number;
  /** Called with each output line, already prefixed with `<label>: `. */
  onOutput?: (line: string) => void;
  /** Lines of output to quote in a failure message. Default 20. */
  tailLines?: number;
}

export interface SandboxResult {
  /** stdout and stderr as written, interleaved. */
  output: string;
  durationMs: number;
}

/** Links in the root that point into /usr, recreated inside the sandbox (bwrap.rs USR_LINKS). */
const USR_LINKS = ['lib', 'lib32', 'lib64', 'bin', 'sbin'];
/** Capabilities kept for root: Docker's default set minus net_raw, mknod, audit_write, net_bind_service. */
const KEPT_CAPS = ['cap_chown', 'cap_dac_override', 'cap_fowner', 'cap_fsetid', 'cap_kill', 'cap_setgid', 'cap_setuid', 'cap_setpcap', 'cap_sys_chroot', 'cap_setfcap'];
/** Host sysfs parts bound read-only, as rpm-ostree does. */
const RO_SYS = ['/sys/block', '/sys/bus', '/sys/class', '/sys/dev', '/sys/devices'];
export const DEFAULT_TIMEOUT_MS = 10 * 60 * 1000;
/** Largest amount of output kept in memory; earlier output is dropped. */
const MAX_OUTPUT = 1 << 20;

/** The directory of the root shown as /etc: `etc` when present, else `usr/etc` (ostree layout). */
export function etcDirOf(rootfs: string): string | null {
  if (lstatOrNull(join(rootfs, 'etc'))?.isDirectory()) return join(rootfs, 'etc');
  if (lstatOrNull(join(rootfs, 'usr/etc'))?.isDirectory()) return join(rootfs, 'usr/etc');
  return null;
}

/** bwrap's arguments for `opts` in `rootfs` (fd 3: empty file for /run/ostree-booted). */
export function bwrapArgs(rootfs: string, opts: SandboxOptions): string[] {
  const rw = (opts.mutability ?? 'mutable') === 'mutable';
  const a = [
    '--dev', '/dev', '--proc', '/proc', '--tmpfs', '/tmp', '--chdir', '/',
    '--die-with-parent', '--unshare-pid', '--unshare-uts', '--unshare-ipc', '--unshare-cgroup-try', '--unshare-net',
  ];
  for (const d of RO_SYS) if (existsSync(d)) a.push('--ro-bind', d, d);
  if (process.getuid?.() === 0) {
    a.push('--cap-drop', 'ALL');
    for (const c of KEPT_CAPS) a.push('--cap-add', c);
  }
  a.push(rw ? '--bind' : '--ro-bind', join(rootfs, 'usr'), '/usr');
  const etc = etcDirOf(rootfs);
  if (etc !== null) a.push(rw ? '--bind' : '--ro-bind', etc, '/etc');
  for (const name of USR_LINKS) {
    const st = lstatOrNull(join(rootfs, name));
    if (st?.isSymbolicLink()) a.push('--symlink', `usr/${name}`, `/${name}`);
    else if (st?.isDirectory()) a.push(rw ? '--bind' : '--ro-bind', join(rootfs, name), `/${name}`);
  }
  const varMode = opts.var ?? 'ro';
  if (varMode !== 'none' && lstatOrNull(join(rootfs, 'var'))?.isDirectory()) {
    a.push(varMode === 'rw' ? '--bind' : '--ro-bind', join(rootfs, 'var'), '/var');
    if (varMode === 'ro' && lstatOrNull(join(rootfs, 'var/tmp'))?.isDirectory()) a.push('--tmpfs', '/var/tmp');
  }
  if (lstatOrNull(join(rootfs, 'usr/lib/opt'))?.isDirectory()) a.push('--symlink', 'usr/lib/opt', '/opt');
  if (opts.maskRpmdb && lstatOrNull(join(rootfs, 'usr/share/rpm'))?.isDirectory()) {
    a.push('--tmpfs', '/usr/share/rpm', '--remount-ro', '/usr/share/rpm');
  }
  if (opts.ostreeBooted ?? true) a.push('--tmpfs', '/run', '--ro-bind-data', '3', '/run/ostree-booted');
  else a.push('--dir', '/run');
  for (const b of opts.binds ?? []) a.push(b.rw ? '--bind' : '--ro-bind', b.src, b.dest);
  return a;
}

function environment(opts: SandboxOptions): Record<string, string> {
  const env: Record<string, string> = { LANG: process.env.LANG ?? 'C', PATH: '/usr/sbin:/usr/bin' };
  if (process.env.SOURCE_DATE_EPOCH !== undefined) env.SOURCE_DATE_EPOCH = process.env.SOURCE_DATE_EPOCH;
  return { ...env, ...opts.env };
}

/** The last `n` lines of `text`, each prefixed. */
export function tailOf(text: string, n: number, prefix: string): string {
  const lines = text.split('\n');
  if (lines.at(-1) === '') lines.pop();
  return lines.slice(-n).map((l) => `${prefix}: ${l}`).join('\n');
}

/**
 * Runs `opts.argv` in `rootfs` under bubblewrap. A non-zero exit is SCRIPT_FAILED, running
 * past the timeout SCRIPT_TIMEOUT (the whole process group is killed); both quote the tail
 * of the output. A missing bwrap is SANDBOX_UNAVAILABLE.
 */
export async function runSandboxed(rootfs: string, opts: SandboxOptions): Promise<SandboxResult> {
  if (!lstatOrNull(join(rootfs, 'usr'))?.isDirectory()) {
    throw new UpdaterError('SANDBOX_BAD_ROOT', `cannot run ${opts.label}: ${rootfs} has no usr directory`);
  }
  const work = await mkdtemp(join(tmpdir(), 'atomic-sandbox-'));
  const handles: Array<{ close(): Promise<void> }> = [];
  try {
    const emptyPath = join(work, 'empty');
    const outPath = join(work, 'output');
    const scriptPath = join(work, 'script');
    const stdinPath = join(work, 'stdin');
    await writeFile(emptyPath, '');
    await writeFile(stdinPath, opts.stdin ?? '');
    await writeFile(scriptPath, opts.script ?? '', { mode: 0o755 });
    const empty = await open(emptyPath, 'r');
    handles.push(empty);
    const out = await open(outPath, 'w');
    handles.push(out);
    const script = await open(scriptPath, 'r');
    handles.push(script);
    const stdin = opts.stdin === undefined ? null : await open(stdinPath, 'r');
    if (stdin) handles.push(stdin);

    const args = [...bwrapArgs(rootfs, opts), '--', ...opts.argv];
    const timeoutMs = opts.timeoutMs ?? DEFAULT_TIMEOUT_MS;
    const started = Date.now();
    const { code, signal, timedOut } = await new Promise<{ code: number | null; signal: NodeJS.Signals | null; timedOut: boolean }>((resolve, reject) => {
      const child = spawn('bwrap', args, {
        stdio: [stdin?.fd ?? 'ignore', out.fd, out.fd, empty.fd, 'ignore', script.fd],
        env: environment(opts),
        // Own process group, so a timeout can kill bwrap and everything under it.
        detached: true,
      });
      let timedOut = false;
      const timer = setTimeout(() => {
        timedOut = true;
        try {
          process.kill(-child.pid!, 'SIGKILL');
        } catch {
          child.kill('SIGKILL');
        }
      }, timeoutMs);
      child.on('error', (err) => {
        clearTimeout(timer);
        if (isErrno(err, 'ENOENT')) {
          reject(new UpdaterError('SANDBOX_UNAVAILABLE', `cannot run ${opts.label}: bwrap (bubblewrap) is not installed`, { hint: 'install bubblewrap', cause: err }));
        } else reject(err);
      });
      child.on('exit', (c, s) => {
        clearTimeout(timer);
        resolve({ code: c, signal: s, timedOut });
      });
    });
    const durationMs = Date.now() - started;
    await out.close();
    handles.splice(handles.indexOf(out), 1);
    let output = await readFile(outPath, 'utf8');
    if (output.length > MAX_OUTPUT) output = output.slice(-MAX_OUTPUT);
    if (opts.onOutput) {
      const lines = output.split('\n');
      if (lines.at(-1) === '') lines.pop();
      for (const l of lines) opts.onOutput(`${opts.label}: ${l}`);
    }
    const tail = tailOf(output, opts.tailLines ?? 20, opts.label);
    const shown = tail === '' ? ' (no output)' : `; last output:\n${tail}`;
    if (timedOut) {
      throw new UpdaterError('SCRIPT_TIMEOUT', `${opts.label} did not finish within ${Math.round(timeoutMs / 1000)} s and was killed${shown}`);
    }
    if (code !== 0) {
      const how = code === null ? `was killed by ${signal}` : `exited with status ${code}`;
      throw new UpdaterError('SCRIPT_FAILED', `${opts.label} ${how}${shown}`);
    }
    return { output, durationMs };
  } finally {
    for (const h of handles) await h.close().catch(() => {});
    await rm(work, { recursive: true, force: true });
  }
}
