// Host benchmark: `atomic host` against the real ostree (`ostree admin`) on identical
// sysroots in the same run, on the OS-like tree and its update. Scenarios, one chain per
// repetition and tool, each step timed on its own:
//   first deploy    atomic host init + os-init + deploy   vs  ostree admin init-fs + os-init + deploy
//   upgrade deploy  atomic host upgrade -C                vs  ostree admin upgrade   (v2, /etc merge, swap)
//   rollback        atomic host rollback                  vs  libostree ostree_sysroot_write_deployments
//   cleanup         atomic host cleanup -r                vs  ostree admin undeploy 1 + ostree admin cleanup
// ostree 2022.7 has no rollback verb (`admin set-default` came later) and `admin deploy
// --retain` of the old commit would make a third deployment, so ostree's side of the
// rollback is a small C program that does what rpm-ostree's rollback does: load and lock
// the sysroot, move the rollback deployment first, ostree_sysroot_write_deployments (with
// its default cleanup, as ours). BENCH_HOST_UPGRADE=deploy times `atomic host deploy bench`
// against `ostree admin deploy bench` for the upgrade step instead.
//
// Also measured: the disk the second deployment adds (st_blocks of the inodes that are
// new in the sysroot after the upgrade deploy; the update's objects are already in the
// repo), plus the objects the update adds to the repo, against the update's changed bytes
// plus its directory inodes.
//
// Input: BENCH_TREES, a directory holding tree-v1/, tree-v2/ and update.json as
// bench/run.ts prepares them (default: BENCH_WORK or bench/work). Both trees are made
// bootable in hardlinked copies (a fake kernel and initramfs under usr/lib/modules/KVER,
// os-release, usr/etc from a few files of /etc) and committed once, by ostree, into a bare
// repo whose objects each sysroot then hardlinks. Writes under BENCH_TREES/host/. Run as
// root. BENCH_REPS (default 3) repetitions, medians.

import { spawnSync } from 'node:child_process';
import { createCipheriv } from 'node:crypto';
import { existsSync, lstatSync, mkdirSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync, copyFileSync, type Stats } from 'node:fs';
import { join } from 'node:path';

const ROOT = join(import.meta.dirname, '..');
const ATOMIC = join(ROOT, 'bin', 'atomic');
const TREES = process.env.BENCH_TREES ?? process.env.BENCH_WORK ?? join(ROOT, 'bench', 'work');
const REPS = Number(process.env.BENCH_REPS ?? 3);
const WORK = join(TREES, 'host');
const OS = 'bench';
const KVER = '6.1.0-bench';
const UPGRADE_VERB = process.env.BENCH_HOST_UPGRADE === 'deploy' ? 'deploy' : 'upgrade';
const TARGETS: Record<string, number> = { 'first deploy': 0.8, 'upgrade deploy': 0.8 };
/** Files of /etc copied into usr/etc (those that exist here). */
const ETC_FILES = ['passwd', 'group', 'shadow', 'gshadow', 'hosts', 'hostname', 'nsswitch.conf', 'profile', 'bash.bashrc', 'login.defs', 'services', 'protocols', 'ld.so.conf', 'issue'];

function sh(cmd: string): string {
  const r = spawnSync('bash', ['-c', cmd], { stdio: ['ignore', 'pipe', 'pipe'], maxBuffer: 1 << 26 });
  if (r.status !== 0) throw new Error(`failed (${r.status}): ${cmd}\n${r.stderr.toString().slice(-2000)}`);
  return r.stdout.toString();
}

const q = (s: string): string => `'${s.replace(/'/g, `'\\''`)}'`;

interface Timing {
  secs: number;
  rssMb: number;
  stdout: string;
}

/** Runs a command under /usr/bin/time after a global sync (so nobody pays for the setup's dirty pages). */
function timed(argv: string[]): Timing {
  sh('sync');
  const rssFile = join(WORK, '.rss');
  const t0 = process.hrtime.bigint();
  const r = spawnSync('/usr/bin/time', ['-f', '%M', '-o', rssFile, ...argv], { stdio: ['ignore', 'pipe', 'pipe'], maxBuffer: 1 << 26 });
  const secs = Number(process.hrtime.bigint() - t0) / 1e9;
  if (r.status !== 0) throw new Error(`${argv.join(' ')} failed (${r.status}):\n${r.stdout.toString().slice(-1000)}${r.stderr.toString().slice(-2000)}`);
  return { secs, rssMb: Number(readFileSync(rssFile, 'utf8').trim().split('\n').pop()) / 1024, stdout: r.stdout.toString() };
}

/** Several commands as one step: summed time, the largest peak RSS. */
function timedAll(argvs: string[][]): Timing {
  const ts = argvs.map(timed);
  return { secs: ts.reduce((n, t) => n + t.secs, 0), rssMb: Math.max(...ts.map((t) => t.rssMb)), stdout: ts.map((t) => t.stdout).join('') };
}

const median = (xs: number[]): number => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;
const mb = (n: number): string => `${(n / 1e6).toFixed(2)} MB`;

/** Deterministic incompressible bytes (AES-CTR of zeros), so both tools and every run see the same kernel. */
function pseudoRandom(n: number, seed: string): Buffer {
  const key = Buffer.alloc(16);
  key.write(seed);
  return createCipheriv('aes-128-ctr', key, Buffer.alloc(16)).update(Buffer.alloc(n));
}

/** Writes a file into a hardlinked copy without touching the inode it may share with the source tree. */
function put(path: string, data: string | Buffer, mode = 0o644): void {
  rmSync(path, { recursive: true, force: true });
  mkdirSync(join(path, '..'), { recursive: true });
  writeFileSync(path, data, { mode });
}

/** A hardlinked copy of `src` made bootable: kernel, initramfs, os-release, usr/etc, top-level dirs. */
function makeBootable(src: string, dest: string, version: string): void {
  rmSync(dest, { recursive: true, force: true });
  sh(`cp -al ${q(src)} ${q(dest)}`);
  const mod = join(dest, 'usr/lib/modules', KVER);
  put(join(mod, 'vmlinuz'), pseudoRandom(12 << 20, 'vmlinuz'));
  put(join(mod, 'initramfs.img'), pseudoRandom(32 << 20, 'initramfs'));
  put(join(dest, 'usr/lib/os-release'), `NAME="Bench OS"\nID=benchos\nVERSION_ID=${version}\nPRETTY_NAME="Bench OS ${version}"\n`);
  rmSync(join(dest, 'usr/etc'), { recursive: true, force: true });
  mkdirSync(join(dest, 'usr/etc'), { recursive: true });
  for (const f of ETC_FILES) {
    const from = join('/etc', f);
    if (existsSync(from) && lstatSync(from).isFile()) copyFileSync(from, join(dest, 'usr/etc', f));
  }
  // The /etc the update changes (a modified default and a new one), and one the admin edits.
  put(join(dest, 'usr/etc/bench.conf'), `version=${version}\n`);
  put(join(dest, 'usr/etc/edited-by-admin.conf'), 'default\n');
  if (version === '2') put(join(dest, 'usr/etc/bench-new.conf'), 'new in 2\n');
  for (const d of ['boot', 'dev', 'proc', 'run', 'sys', 'tmp', 'var', 'sysroot']) mkdirSync(join(dest, d), { recursive: true });
  rmSync(join(dest, 'ostree'), { force: true });
  sh(`ln -s sysroot/ostree ${q(join(dest, 'ostree'))}`);
}

interface Inode {
  blocks: number;
  dir: boolean;
  /** A path of it (the first seen), for BENCH_HOST_LIST_NEW. */
  path: string;
}

/** dev:ino → st_blocks of every inode under `dir` (each inode once). */
function inodes(dir: string, out = new Map<string, Inode>()): Map<string, Inode> {
  const st: Stats = lstatSync(dir);
  out.set(`${st.dev}:${st.ino}`, { blocks: st.blocks, dir: true, path: dir });
  for (const e of readdirSync(dir, { withFileTypes: true })) {
    const p = join(dir, e.name);
    if (e.isDirectory()) inodes(p, out);
    else {
      const s = lstatSync(p);
      const k = `${s.dev}:${s.ino}`;
      if (!out.has(k)) out.set(k, { blocks: s.blocks, dir: false, path: p });
    }
  }
  return out;
}

interface Added {
  bytes: number;
  /** Of `bytes`, those of directories. */
  dirBytes: number;
  dirs: number;
  files: number;
}

function added(before: Map<string, Inode>, after: Map<string, Inode>, list?: string): Added {
  const r = { bytes: 0, dirBytes: 0, dirs: 0, files: 0 };
  for (const [k, v] of after) {
    if (before.has(k)) continue;
    if (list !== undefined && !v.dir) console.log(`  new in ${list}: ${v.path} (${v.blocks * 512} bytes)`);
    r.bytes += v.blocks * 512;
    if (v.dir) {
      r.dirs++;
      r.dirBytes += v.blocks * 512;
    } else r.files++;
  }
  return r;
}

/** rpm-ostree's rollback through libostree: the rollback deployment (or the booted one, when not the default) moves first. */
const ROLLBACK_C = `
#include <stdio.h>
#include <string.h>
typedef int gboolean;
typedef struct { unsigned int domain; int code; char *message; } GError;
typedef struct { void **pdata; unsigned int len; } GPtrArray;
void *g_file_new_for_path(const char *path);
GPtrArray *g_ptr_array_new(void);
void g_ptr_array_add(GPtrArray *array, void *data);
void *ostree_sysroot_new(void *path);
gboolean ostree_sysroot_load(void *self, void *cancellable, GError **error);
gboolean ostree_sysroot_lock(void *self, GError **error);
void ostree_sysroot_unlock(void *self);
GPtrArray *ostree_sysroot_get_deployments(void *self);
void *ostree_sysroot_get_booted_deployment(void *self);
gboolean ostree_sysroot_write_deployments(void *self, GPtrArray *deployments, void *cancellable, GError **error);
const char *ostree_deployment_get_osname(void *self);
const char *ostree_deployment_get_csum(void *self);
int ostree_deployment_get_deployserial(void *self);
gboolean ostree_deployment_equal(const void *a, const void *b);

static int fail(const char *what, GError *e) {
  fprintf(stderr, "error: %s: %s\\n", what, e ? e->message : "failed");
  return 1;
}

int main(int argc, char **argv) {
  GError *e = NULL;
  if (argc != 2) { fprintf(stderr, "usage: %s SYSROOT\\n", argv[0]); return 2; }
  void *sysroot = ostree_sysroot_new(g_file_new_for_path(argv[1]));
  if (!ostree_sysroot_load(sysroot, NULL, &e)) return fail("loading the sysroot", e);
  if (!ostree_sysroot_lock(sysroot, &e)) return fail("locking the sysroot", e);
  if (!ostree_sysroot_load(sysroot, NULL, &e)) return fail("reloading the sysroot", e);
  GPtrArray *deps = ostree_sysroot_get_deployments(sysroot);
  if (deps->len == 0) return fail("nothing is deployed", NULL);
  void *booted = ostree_sysroot_get_booted_deployment(sysroot);
  void *target = NULL;
  if (booted != NULL && !ostree_deployment_equal(booted, deps->pdata[0])) target = booted;
  else {
    const char *os = ostree_deployment_get_osname(booted != NULL ? booted : deps->pdata[0]);
    for (unsigned int i = 1; i < deps->len && target == NULL; i++)
      if (strcmp(ostree_deployment_get_osname(deps->pdata[i]), os) == 0) target = deps->pdata[i];
  }
  if (target == NULL) return fail("no rollback deployment found", NULL);
  printf("Moving '%s.%d' to be first deployment\\n", ostree_deployment_get_csum(target), ostree_deployment_get_deployserial(target));
  GPtrArray *list = g_ptr_array_new();
  g_ptr_array_add(list, target);
  for (unsigned int i = 0; i < deps->len; i++)
    if (deps->pdata[i] != target) g_ptr_array_add(list, deps->pdata[i]);
  if (!ostree_sysroot_write_deployments(sysroot, list, NULL, &e)) return fail("writing the deployments", e);
  ostree_sysroot_unlock(sysroot);
  return 0;
}
`;

function buildRollbackTool(): string {
  const src = join(WORK, 'ostree-rollback.c');
  const bin = join(WORK, 'ostree-rollback');
  writeFileSync(src, ROLLBACK_C);
  sh(`gcc -O2 -o ${q(bin)} ${q(src)} -l:libostree-1.so.1 -l:libgio-2.0.so.0 -l:libgobject-2.0.so.0 -l:libglib-2.0.so.0`);
  return bin;
}

interface Prepared {
  base: string;
  c1: string;
  c2: string;
  /** The update's new content objects (.file) in the repo. */
  updateObjects: Added;
  /** Its new metadata objects (.dirtree, .dirmeta, .commit): the repo's directory records. */
  updateMeta: Added;
  changedBytes: number;
  /** changedBytes with each file rounded up to whole 4 KiB blocks, as any file store holds them. */
  changedBlockBytes: number;
}

/** The bootable trees and the bare repo with v1 (ref bench-v1) and v2 (ref bench2, child of v1), made once per input. */
function prepare(): Prepared {
  const stamp = String(statSync(join(TREES, 'update.json')).mtimeMs);
  const base = join(WORK, 'repo');
  const info = join(WORK, 'prepared.json');
  if (!existsSync(info) || (JSON.parse(readFileSync(info, 'utf8')) as { stamp: string }).stamp !== stamp) {
    console.log('making the trees bootable and committing them …');
    for (const d of ['boot-v1', 'boot-v2', 'repo']) rmSync(join(WORK, d), { recursive: true, force: true });
    makeBootable(join(TREES, 'tree-v1'), join(WORK, 'boot-v1'), '1');
    makeBootable(join(TREES, 'tree-v2'), join(WORK, 'boot-v2'), '2');
    sh(`ostree init --repo=${q(base)} --mode=bare`);
    const c1 = sh(`ostree commit --repo=${q(base)} --branch=bench-v1 --subject='Bench OS 1' --add-metadata-string=version=1 --timestamp=2024-01-01T00:00:00Z ${q(join(WORK, 'boot-v1'))}`).trim();
    const before = inodes(join(base, 'objects'));
    const c2 = sh(`ostree commit --repo=${q(base)} --branch=bench-v2 --parent=${c1} --subject='Bench OS 2' --add-metadata-string=version=2 --timestamp=2024-01-02T00:00:00Z ${q(join(WORK, 'boot-v2'))}`).trim();
    const after = inodes(join(base, 'objects'));
    const isContent = (_: Inode, k: string): boolean => after.get(k)!.path.endsWith('.file');
    const updateObjects = added(before, new Map([...after].filter(([k, v]) => isContent(v, k))));
    const updateMeta = added(before, new Map([...after].filter(([k, v]) => !v.dir && !isContent(v, k))));
    // What the update changes: the bytes of its changed and added files.
    const u = JSON.parse(readFileSync(join(TREES, 'update.json'), 'utf8')) as { changed: string[]; added: string[] };
    const v2 = join(TREES, 'tree-v2');
    const sizes = [...u.changed, ...u.added].map((f) => statSync(v2 + f).size);
    const changedBytes = sizes.reduce((n, x) => n + x, 0);
    const changedBlockBytes = sizes.reduce((n, x) => n + Math.ceil(x / 4096) * 4096, 0);
    writeFileSync(info, JSON.stringify({ stamp, c1, c2, updateObjects, updateMeta, changedBytes, changedBlockBytes }));
  }
  const p = JSON.parse(readFileSync(info, 'utf8')) as Omit<Prepared, 'base'>;
  return { base, ...p };
}

/** Removes a sysroot (deployment directories are immutable). */
function removeSysroot(s: string): void {
  if (!existsSync(s)) return;
  const deploy = join(s, 'ostree', 'deploy');
  if (existsSync(deploy)) {
    for (const os of readdirSync(deploy)) {
      const d = join(deploy, os, 'deploy');
      if (!existsSync(d)) continue;
      for (const n of readdirSync(d)) if (!n.endsWith('.origin')) sh(`chattr -i ${q(join(d, n))} 2>/dev/null || true`);
    }
  }
  rmSync(s, { recursive: true, force: true });
  if (existsSync(s)) throw new Error(`could not remove ${s}`);
}

/** Links the base repo's objects into the sysroot repo and points ref `bench` at `csum`. */
function importObjects(base: string, sysroot: string, csum: string): void {
  const repo = join(sysroot, 'ostree/repo');
  sh(`cp -al ${q(join(base, 'objects'))}/. ${q(join(repo, 'objects'))}/`);
  setRef(sysroot, 'bench-v2', readFileSync(join(base, 'refs/heads/bench-v2'), 'utf8').trim());
  setRef(sysroot, 'bench', csum);
}

function setRef(sysroot: string, ref: string, csum: string): void {
  put(join(sysroot, 'ostree/repo/refs/heads', ref), `${csum}\n`);
}

/** The deployments as `ostree admin status` lists them (the oracle for both sysroots): checksums in order. */
function ostreeStatus(sysroot: string): string[] {
  return sh(`ostree admin status --sysroot=${q(sysroot)}`).split('\n').flatMap((l) => {
    const m = /^[* ] \S+ ([0-9a-f]{64})\.\d+/.exec(l);
    return m ? [m[1]!] : [];
  });
}

function expectDeployments(tool: string, step: string, sysroot: string, want: string[]): void {
  const got = ostreeStatus(sysroot);
  if (got.join(' ') !== want.join(' ')) throw new Error(`${tool}, after ${step}: ostree admin status lists [${got.join(', ')}], expected [${want.join(', ')}]`);
}

function deploymentPath(sysroot: string, csum: string): string {
  const d = join(sysroot, 'ostree/deploy', OS, 'deploy');
  const n = readdirSync(d).find((x) => x.startsWith(`${csum}.`) && !x.endsWith('.origin'));
  if (n === undefined) throw new Error(`no deployment of ${csum} in ${d}`);
  return join(d, n);
}

type Tool = 'atomic' | 'ostree';
const STEPS = ['first deploy', '  init + os-init', 'upgrade deploy', 'rollback', 'cleanup'] as const;
type Step = (typeof STEPS)[number];

interface ChainResult {
  times: Record<Step, Timing>;
  second: Added;
  etcLine: string;
}

/** One full chain on a fresh sysroot: first deploy of v1, /etc edits, upgrade to v2, rollback, cleanup. */
function chain(tool: Tool, p: Prepared, rollbackTool: string): ChainResult {
  const s = join(WORK, `sysroot-${tool}`);
  removeSysroot(s);
  mkdirSync(s, { recursive: true });
  const ours = tool === 'atomic';
  const sys = ours ? ['--sysroot', s] : [`--sysroot=${s}`];
  const times = {} as Record<Step, Timing>;

  const init = ours
    ? timedAll([[ATOMIC, 'host', 'init', ...sys], [ATOMIC, 'host', 'os-init', OS, ...sys]])
    : timedAll([['ostree', 'admin', 'init-fs', s], ['ostree', 'admin', 'os-init', ...sys, OS]]);
  importObjects(p.base, s, p.c1);
  const first = timed(ours ? [ATOMIC, 'host', 'deploy', ...sys, '--os', OS, '--karg=root=LABEL=root', '--karg=quiet', 'bench'] : ['ostree', 'admin', 'deploy', ...sys, `--os=${OS}`, '--karg=root=LABEL=root', '--karg=quiet', 'bench']);
  times['first deploy'] = { secs: init.secs + first.secs, rssMb: Math.max(init.rssMb, first.rssMb), stdout: first.stdout };
  times['  init + os-init'] = init;
  expectDeployments(tool, 'the first deploy', s, [p.c1]);

  // The admin's edits to /etc, then the update arrives (its objects are in the repo already).
  const etc1 = join(deploymentPath(s, p.c1), 'etc');
  writeFileSync(join(etc1, 'edited-by-admin.conf'), 'edited\n');
  writeFileSync(join(etc1, 'added-by-admin.conf'), 'added\n');
  rmSync(join(etc1, 'issue'), { force: true });
  setRef(s, 'bench', p.c2);
  sh('sync');
  const before = inodes(s);
  times['upgrade deploy'] = timed(UPGRADE_VERB === 'deploy'
    ? (ours ? [ATOMIC, 'host', 'deploy', ...sys, '--os', OS, 'bench'] : ['ostree', 'admin', 'deploy', ...sys, `--os=${OS}`, 'bench'])
    : (ours ? [ATOMIC, 'host', 'upgrade', '-C', ...sys, '--os', OS] : ['ostree', 'admin', 'upgrade', ...sys, `--os=${OS}`]));
  const second = added(before, inodes(s), process.env.BENCH_HOST_LIST_NEW ? `${tool}'s second deployment` : undefined);
  expectDeployments(tool, 'the upgrade', s, [p.c2, p.c1]);
  const etc2 = join(deploymentPath(s, p.c2), 'etc');
  for (const [f, want] of [['edited-by-admin.conf', 'edited\n'], ['added-by-admin.conf', 'added\n'], ['bench.conf', 'version=2\n'], ['bench-new.conf', 'new in 2\n']]) {
    const got = existsSync(join(etc2, f!)) ? readFileSync(join(etc2, f!), 'utf8') : '(missing)';
    if (got !== want) throw new Error(`${tool}: after the upgrade, ${etc2}/${f} is ${JSON.stringify(got)}, expected ${JSON.stringify(want)}`);
  }
  if (existsSync(join(etc2, 'issue')) && !existsSync(join(etc1, 'issue'))) throw new Error(`${tool}: the admin's removal of /etc/issue was not carried over`);
  const etcLine = times['upgrade deploy'].stdout.split('\n').find((l) => l.startsWith('Copying /etc changes')) ?? '(no /etc summary printed)';

  times.rollback = timed(ours ? [ATOMIC, 'host', 'rollback', ...sys, '--os', OS] : [rollbackTool, s]);
  expectDeployments(tool, 'the rollback', s, [p.c1, p.c2]);

  times.cleanup = ours
    ? timed([ATOMIC, 'host', 'cleanup', '-r', ...sys, '--os', OS])
    : timedAll([['ostree', 'admin', 'undeploy', ...sys, '1'], ['ostree', 'admin', 'cleanup', ...sys]]);
  expectDeployments(tool, 'the cleanup', s, [p.c1]);
  if (existsSync(join(s, 'ostree/deploy', OS, 'deploy', `${p.c2}.0`))) throw new Error(`${tool}: the cleanup left the v2 deployment directory`);
  sh(`ostree fsck --quiet --repo=${q(join(s, 'ostree/repo'))}`);
  removeSysroot(s);
  return { times, second, etcLine };
}

function main(): void {
  if (process.getuid?.() !== 0) {
    console.error('bench/host: run as root (deployments keep file owners; ostree admin needs root)');
    process.exit(1);
  }
  for (const tool of ['ostree', 'gcc', 'chattr']) {
    if (spawnSync('sh', ['-c', `command -v ${tool}`]).status !== 0) {
      console.error(`bench/host: ${tool} is not installed`);
      process.exit(1);
    }
  }
  if (!['tree-v1', 'tree-v2', 'update.json'].every((f) => existsSync(join(TREES, f)))) {
    console.error(`bench/host: no prepared trees in ${TREES} (tree-v1, tree-v2, update.json); run \`npm run bench\` first or set BENCH_TREES`);
    process.exit(1);
  }
  mkdirSync(WORK, { recursive: true });
  const p = prepare();
  const rollbackTool = buildRollbackTool();
  const upgradeDesc = UPGRADE_VERB === 'deploy' ? 'atomic host deploy bench vs ostree admin deploy bench' : 'atomic host upgrade -C vs ostree admin upgrade';
  console.log(`host benchmark: ${TREES}; upgrade step: ${upgradeDesc}; ostree's rollback: ostree_sysroot_write_deployments (libostree ${sh('ostree --version').match(/Version: '([^']+)'/)?.[1] ?? '?'}); ${REPS} repetitions, medians\n`);

  const runs: Record<Tool, ChainResult[]> = { atomic: [], ostree: [] };
  for (let i = 0; i < REPS; i++) {
    for (const tool of (i % 2 === 0 ? ['atomic', 'ostree'] : ['ostree', 'atomic']) as Tool[]) runs[tool].push(chain(tool, p, rollbackTool));
  }
  for (const step of STEPS) {
    const o = median(runs.atomic.map((r) => r.times[step].secs));
    const t = median(runs.ostree.map((r) => r.times[step].secs));
    const orss = Math.max(...runs.atomic.map((r) => r.times[step].rssMb));
    const trss = Math.max(...runs.ostree.map((r) => r.times[step].rssMb));
    const ratio = o / t;
    const target = TARGETS[step];
    const verdict = target === undefined ? '' : `  (target ≤ ${target}: ${ratio <= target ? 'met' : 'NOT met'})`;
    console.log(`${step.padEnd(16)} atomic ${o.toFixed(2).padStart(7)} s  ostree ${t.toFixed(2).padStart(7)} s  ratio ${ratio.toFixed(2)}  peak RSS ${orss.toFixed(0)} MB vs ${trss.toFixed(0)} MB${verdict}`);
  }
  const startup = median(Array.from({ length: Math.max(REPS, 3) }, () => timed([ATOMIC, '--version']).secs));
  console.log(`(for reference: starting the atomic CLI, \`atomic --version\`, takes ${startup.toFixed(2)} s; ostree's admin verbs are one native process each)`);
  console.log(`\n/etc merge: atomic "${runs.atomic[0]!.etcLine}"; ostree "${runs.ostree[0]!.etcLine}"`);

  // Disk: the second deployment's new inodes, plus the update's new objects, against the update itself.
  const u = p.updateObjects;
  const m = p.updateMeta;
  console.log(`\nupdate: ${mb(p.changedBytes)} in changed or added files (${mb(p.changedBlockBytes)} in 4 KiB blocks); `
    + `its objects add ${mb(u.bytes)} of content (${u.files} files) and ${mb(m.bytes)} of dirtree/dirmeta/commit (${m.files}) to the repo`);
  for (const tool of ['atomic', 'ostree'] as Tool[]) {
    const a = runs[tool][0]!.second;
    const files = u.bytes + a.bytes - a.dirBytes;
    const verdict = tool === 'atomic' ? `  (target ≤ 1.05: ${files <= p.changedBlockBytes * 1.05 ? 'met' : 'NOT met'})` : '';
    console.log(`second deployment (${tool}): ${mb(a.bytes)} new: ${a.dirs} directories ${mb(a.dirBytes)}, ${a.files} files/links ${mb(a.bytes - a.dirBytes)}`);
    console.log(`  non-directory bytes (content objects + deployment files) ${mb(files)} / changed blocks ${mb(p.changedBlockBytes)} = ${(files / p.changedBlockBytes).toFixed(3)}${verdict}; `
      + `directory bytes (deployment directories + tree metadata objects) ${mb(a.dirBytes + m.bytes)}`);
  }
  const ours = runs.atomic[0]!.second.bytes;
  const theirs = runs.ostree[0]!.second.bytes;
  console.log(`atomic's second deployment adds ${(ours / theirs).toFixed(2)}× what ostree's adds`);
}

main();
