// Compose benchmark: `atomic compose tree` against the practical alternative here, a fresh
// `dnf --installroot … install` of the same package set followed by `ostree commit` of the
// result, on a generated rpm-md repository of BENCH_COMPOSE_PKGS (default 300) small
// packages. Scenarios: a cold compose (empty cache and repo), a recompose with no change
// (no-op detection), and a recompose after one package changed (a newer version of it in
// the repository). The repositories are built once and kept under BENCH_WORK/compose.
// Run as root (the compose sets file owners). BENCH_REPS (default 1) repetitions, medians.

import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, readdirSync, rmSync, writeFileSync, copyFileSync } from 'node:fs';
import { join } from 'node:path';
import { buildTestRpms, type TestRpm } from '../test-support/index.ts';

const ROOT = join(import.meta.dirname, '..');
const ATOMIC = join(ROOT, 'bin', 'atomic');
const WORK = join(process.env.BENCH_WORK ?? join(ROOT, 'bench', 'work'), 'compose');
const N = Number(process.env.BENCH_COMPOSE_PKGS ?? 300);
const REPS = Number(process.env.BENCH_REPS ?? 1);
const CHANGED = `bench${String(Math.floor(N / 2)).padStart(4, '0')}`;

function sh(argv: string[], what = argv.join(' ')): string {
  const r = spawnSync(argv[0]!, argv.slice(1), { stdio: ['ignore', 'pipe', 'pipe'], maxBuffer: 1 << 26 });
  if (r.status !== 0) throw new Error(`${what} failed (${r.status}): ${r.stderr.toString().slice(-2000)}`);
  return r.stdout.toString();
}

function timed(argv: string[]): { secs: number; stdout: string } {
  const t0 = process.hrtime.bigint();
  const stdout = sh(argv);
  return { secs: Number(process.hrtime.bigint() - t0) / 1e9, stdout };
}

const median = (xs: number[]): number => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;

function pkgName(i: number): string {
  return `bench${String(i).padStart(4, '0')}`;
}

function pkg(i: number, version: string): TestRpm {
  const name = pkgName(i);
  const files: Record<string, string> = {};
  for (let j = 0; j < 6; j++) files[`/usr/share/${name}/data${j}.txt`] = `${name} ${version} file ${j}\n`.repeat(20 + ((i * 7 + j) % 60));
  files[`/usr/lib/${name}/lib.txt`] = `${name} ${version} library\n`.repeat(200);
  files[`/etc/${name}.conf`] = `${name}=1\n`;
  return { name, version, requires: i > 0 ? [pkgName(Math.floor(i / 2))] : [], files };
}

/** Builds (once) repo-v1 with N packages and repo-v2 = v1 plus a newer version of one of them. */
async function prepareRepos(): Promise<{ v1: string; v2: string }> {
  const v1 = join(WORK, `repo-v1-${N}`);
  const v2 = join(WORK, `repo-v2-${N}`);
  if (existsSync(join(v2, 'repodata', 'repomd.xml'))) return { v1, v2 };
  rmSync(v1, { recursive: true, force: true });
  rmSync(v2, { recursive: true, force: true });
  console.log(`building ${N} packages …`);
  await buildTestRpms(Array.from({ length: N }, (_, i) => pkg(i, '1.0')), v1);
  sh(['createrepo_c', '-q', '--no-database', v1]);
  mkdirSync(v2, { recursive: true });
  for (const f of readdirSync(v1)) if (f.endsWith('.rpm')) copyFileSync(join(v1, f), join(v2, f));
  await buildTestRpms([pkg(Math.floor(N / 2), '1.1')], v2);
  sh(['createrepo_c', '-q', '--no-database', v2]);
  return { v1, v2 };
}

function treefileDir(name: string, repo: string): string {
  const dir = join(WORK, name);
  mkdirSync(dir, { recursive: true });
  writeFileSync(join(dir, 'bench.repo'), `[bench]\nname=bench\nbaseurl=file://${repo}/\ngpgcheck=0\n`);
  writeFileSync(join(dir, 'bench.yaml'), [
    'ref: bench/${basearch}/compose', 'repos: [bench]', 'selinux: false', 'automatic-version-prefix: "1"',
    `packages: [${Array.from({ length: N }, (_, i) => pkgName(i)).join(', ')}]`, '',
  ].join('\n'));
  return join(dir, 'bench.yaml');
}

/** The alternative: dnf installs the set into a fresh root, ostree commits it. */
function alternative(repo: string, tag: string): number {
  const root = join(WORK, `alt-root-${tag}`);
  const altRepo = join(WORK, 'alt-repo');
  rmSync(root, { recursive: true, force: true });
  if (!existsSync(altRepo)) sh(['ostree', 'init', `--repo=${altRepo}`, '--mode=bare-user']);
  const t0 = process.hrtime.bigint();
  sh(['dnf', '-q', '-y', `--installroot=${root}`, '--releasever=1', '--setopt=reposdir=/nonexistent', `--setopt=cachedir=${join(WORK, 'dnf-cache')}`,
    '--setopt=install_weak_deps=False', '--nogpgcheck', `--repofrompath=bench,file://${repo}`, '--repo=bench', 'install',
    ...Array.from({ length: N }, (_, i) => pkgName(i))]);
  sh(['ostree', 'commit', `--repo=${altRepo}`, '--branch=alt', `--tree=dir=${root}`]);
  const secs = Number(process.hrtime.bigint() - t0) / 1e9;
  rmSync(root, { recursive: true, force: true });
  return secs;
}

interface Row {
  name: string;
  ours: number;
  theirs: number;
  target: string;
  ok: boolean;
  /** Every repetition, to show the spread on a noisy machine. */
  runs: [number[], number[]];
}

async function main(): Promise<void> {
  if (process.getuid?.() !== 0) throw new Error('the compose benchmark runs as root (the compose sets file owners)');
  mkdirSync(WORK, { recursive: true });
  const { v1, v2 } = await prepareRepos();
  const tf1 = treefileDir('tf-v1', v1);
  const tf2 = treefileDir('tf-v2', v2);
  console.log(`compose: ${N} packages; changed package ${CHANGED}; ${REPS} repetition(s), medians\n`);
  const cold: number[] = [];
  const noop: number[] = [];
  const one: number[] = [];
  const altCold: number[] = [];
  const altOne: number[] = [];
  for (let rep = 0; rep < REPS; rep++) {
    const repo = join(WORK, 'repo');
    const cache = join(WORK, 'cache');
    rmSync(repo, { recursive: true, force: true });
    rmSync(cache, { recursive: true, force: true });
    sh([ATOMIC, 'repo', 'init', '--repo', repo, '--mode', 'bare-user']);
    const compose = (tf: string): { secs: number; stdout: string } => timed([ATOMIC, 'compose', 'tree', '--repo', repo, '--cachedir', cache, tf]);
    cold.push(compose(tf1).secs);
    const n = compose(tf1);
    if (!n.stdout.includes('No apparent changes')) throw new Error('the no-op recompose committed');
    noop.push(n.secs);
    const o = compose(tf2);
    if (!/Importing packages\.\.\. 1 imported/.test(o.stdout)) throw new Error(`the one-package recompose did not import exactly one package:\n${o.stdout}`);
    one.push(o.secs);
    altCold.push(alternative(v1, 'v1'));
    altOne.push(alternative(v2, 'v2'));
  }
  const rows: Row[] = [
    { name: 'compose cold', ours: median(cold), theirs: median(altCold), target: '-', ok: true, runs: [cold, altCold] },
    { name: 'recompose, no change', ours: median(noop), theirs: median(altCold), target: '< 2 s', ok: median(noop) < 2, runs: [noop, altCold] },
    {
      name: 'recompose, one package', ours: median(one), theirs: median(altOne), target: '≤ 0.3× and < 10 s',
      ok: median(one) <= 0.3 * median(altOne) && median(one) < 10, runs: [one, altOne],
    },
  ];
  for (const r of rows) {
    const verdict = r.target === '-' ? '' : `  target ${r.target}: ${r.ok ? 'met' : 'MISSED'}`;
    console.log(`${r.name.padEnd(24)} atomic ${r.ours.toFixed(2).padStart(7)} s  dnf+ostree ${r.theirs.toFixed(2).padStart(7)} s  ratio ${(r.ours / r.theirs).toFixed(2)}${verdict}`);
  }
  if (REPS > 1) {
    console.log('\nevery repetition (s):');
    const list = (xs: number[]): string => xs.map((x) => x.toFixed(2)).join(' ');
    for (const r of rows) console.log(`  ${r.name.padEnd(24)} atomic ${list(r.runs[0])}  dnf+ostree ${list(r.runs[1])}`);
  }
}

await main();
