// `npm run bench`: atomic against the real ostree on the same OS-like input, in
// the same run. Builds a tree from this machine's /usr (about 1 GB, ~55k files)
// and an update of it (3% of files changed, 1% removed, 1% added), then times each
// scenario for both tools and prints medians, ratios (ours/ostree) and peak memory.
// BENCH_REPS (default 3), BENCH_DIRS (colon-separated source dirs), BENCH_WORK.

import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync, readdirSync, rmSync, statSync, unlinkSync, writeFileSync, appendFileSync } from 'node:fs';
import { join } from 'node:path';

const ROOT = join(import.meta.dirname, '..');
const ATOMIC = join(ROOT, 'bin', 'atomic');
const WORK = process.env.BENCH_WORK ?? join(ROOT, 'bench', 'work');
const REPS = Number(process.env.BENCH_REPS ?? 3);
const DIRS = (process.env.BENCH_DIRS ?? '/usr/share:/usr/bin:/usr/include').split(':');
const TARGETS: Record<string, number> = {
  'commit cold (bare-user)': 0.5, 'commit cold (archive)': 0.5, 'commit update on top': 0.4, 'checkout -H': 0.8, fsck: 0.5,
};

function sh(cmd: string): void {
  const r = spawnSync('bash', ['-c', cmd], { stdio: ['ignore', 'ignore', 'inherit'] });
  if (r.status !== 0) throw new Error(`failed: ${cmd}`);
}

/** Runs a command under /usr/bin/time; returns seconds and peak RSS in MB. */
function timed(argv: string[]): { secs: number; rssMb: number } {
  const rssFile = join(WORK, '.rss');
  const t0 = process.hrtime.bigint();
  const r = spawnSync('/usr/bin/time', ['-f', '%M', '-o', rssFile, ...argv], { stdio: ['ignore', 'ignore', 'pipe'], maxBuffer: 1 << 26 });
  const secs = Number(process.hrtime.bigint() - t0) / 1e9;
  if (r.status !== 0) throw new Error(`${argv.join(' ')} failed: ${r.stderr.toString().slice(-2000)}`);
  return { secs, rssMb: Number(readFileSync(rssFile, 'utf8').trim().split('\n').pop()) / 1024 };
}

const median = (xs: number[]): number => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;

function walkFiles(dir: string, out: string[] = []): string[] {
  for (const e of readdirSync(dir, { withFileTypes: true })) {
    const p = join(dir, e.name);
    if (e.isDirectory()) walkFiles(p, out);
    else if (e.isFile()) out.push(p);
  }
  return out;
}

/** Deterministic pseudo-random choice, so both tools and every run see the same update. */
function pick<T>(xs: T[], fraction: number, salt: number): T[] {
  return xs.filter((_, i) => ((i * 2654435761 + salt) >>> 0) % 1000 < fraction * 1000);
}

function prepareTrees(): { v1: string; v2: string; files: number; bytes: number; changedBytes: number } {
  const v1 = join(WORK, 'tree-v1');
  const v2 = join(WORK, 'tree-v2');
  if (!existsSync(join(WORK, '.trees-ready'))) {
    rmSync(WORK, { recursive: true, force: true });
    mkdirSync(v1, { recursive: true });
    console.log(`building the OS-like tree from ${DIRS.join(', ')} …`);
    for (const d of DIRS) sh(`mkdir -p '${v1}${d}' && cp -a '${d}/.' '${v1}${d}/'`);
    // Device nodes, sockets and FIFOs cannot be committed by either tool.
    sh(`find '${v1}' ! -type f ! -type d ! -type l -delete`);
    sh(`cp -a '${v1}' '${v2}'`);
    const files = walkFiles(v2).sort();
    const rel = (f: string): string => f.slice(v2.length);
    const changed = pick(files, 0.03, 1);
    const removed = pick(files, 0.01, 7).filter((f) => !changed.includes(f));
    for (const f of changed) appendFileSync(f, `\nupdated ${f}\n`);
    for (const f of removed) unlinkSync(f);
    mkdirSync(join(v2, 'usr', 'share', 'bench-added'), { recursive: true });
    const added = pick(files, 0.01, 13).filter((f) => !removed.includes(f)).map((f, i) => {
      const dest = join(v2, 'usr', 'share', 'bench-added', `new-${i}`);
      writeFileSync(dest, readFileSync(f).subarray(0, 4096));
      return dest;
    });
    writeFileSync(join(WORK, 'update.json'), JSON.stringify({ changed: changed.map(rel), removed: removed.map(rel), added: added.map(rel) }));
    writeFileSync(join(WORK, '.trees-ready'), '');
  }
  const files = walkFiles(v1);
  const bytes = files.reduce((n, f) => n + statSync(f).size, 0);
  const u = JSON.parse(readFileSync(join(WORK, 'update.json'), 'utf8')) as { changed: string[] };
  const changedBytes = u.changed.reduce((n, f) => n + statSync(v2 + f).size, 0);
  return { v1, v2, files: files.length, bytes, changedBytes };
}

interface Row {
  name: string;
  ours: number;
  theirs: number;
  oursRss: number;
  theirsRss: number;
}

function scenario(name: string, setup: () => void, ours: string[], theirs: string[]): Row {
  const o: number[] = [];
  const t: number[] = [];
  const orss: number[] = [];
  const trss: number[] = [];
  // Each run after its setup and a global sync, so no run pays for the setup's dirty pages.
  for (let i = 0; i < REPS; i++) {
    setup();
    sh('sync');
    const a = timed(ours);
    o.push(a.secs);
    orss.push(a.rssMb);
    setup();
    sh('sync');
    const b = timed(theirs);
    t.push(b.secs);
    trss.push(b.rssMb);
  }
  const row = { name, ours: median(o), theirs: median(t), oursRss: Math.max(...orss), theirsRss: Math.max(...trss) };
  printRow(row);
  return row;
}

function printRow(r: Row): void {
  const ratio = r.ours / r.theirs;
  const target = TARGETS[r.name];
  const verdict = target === undefined ? '' : ratio <= target ? `  (target ≤ ${target}: met)` : `  (target ≤ ${target}: NOT met)`;
  console.log(`${r.name.padEnd(28)} atomic ${r.ours.toFixed(2).padStart(7)} s  ostree ${r.theirs.toFixed(2).padStart(7)} s  ratio ${ratio.toFixed(2)}  peak RSS ${r.oursRss.toFixed(0)} MB vs ${r.theirsRss.toFixed(0)} MB${verdict}`);
}

function main(): void {
  if (spawnSync('sh', ['-c', 'command -v ostree']).status !== 0) {
    console.error('bench: ostree is not installed (run scripts/setup.sh)');
    process.exit(1);
  }
  mkdirSync(WORK, { recursive: true });
  const { v1, v2, files, bytes, changedBytes } = prepareTrees();
  console.log(`input: ${files} files, ${(bytes / 1e6).toFixed(0)} MB; update changes ${(changedBytes / 1e6).toFixed(1)} MB; ${REPS} repetitions, medians\n`);
  const repo = (name: string): string => join(WORK, name);
  const fresh = (name: string, mode: string, tool: 'ours' | 'theirs') => (): void => {
    rmSync(repo(name), { recursive: true, force: true });
    sh(tool === 'ours' ? `'${ATOMIC}' repo init --repo '${repo(name)}' --mode ${mode}` : `ostree init --repo='${repo(name)}' --mode=${mode}`);
  };
  const freshBoth = (name: string, mode: string) => {
    let n = 0;
    return (): void => fresh(name, mode, n++ % 2 === 0 ? 'ours' : 'theirs')();
  };
  const commitArgs = ['--branch=bench', '--subject=bench', '--timestamp=2024-01-01T00:00:00Z'];

  scenario('commit cold (bare-user)', freshBoth('bu', 'bare-user'),
    [ATOMIC, 'repo', 'commit', `--repo=${repo('bu')}`, ...commitArgs, v1], ['ostree', 'commit', `--repo=${repo('bu')}`, ...commitArgs, v1]);
  scenario('commit cold (archive)', freshBoth('ar', 'archive'),
    [ATOMIC, 'repo', 'commit', `--repo=${repo('ar')}`, ...commitArgs, v1], ['ostree', 'commit', `--repo=${repo('ar')}`, ...commitArgs, v1]);

  // Shared base for the remaining scenarios: a bare-user repo with v1 (made by ostree, read by both).
  const base = repo('base');
  if (!existsSync(join(base, 'refs', 'heads', 'bench'))) {
    rmSync(base, { recursive: true, force: true });
    sh(`ostree init --repo='${base}' --mode=bare-user && ostree commit --repo='${base}' ${commitArgs.join(' ')} '${v1}' >/dev/null`);
  }
  const copyBase = (): void => {
    rmSync(repo('inc'), { recursive: true, force: true });
    sh(`cp -a '${base}' '${repo('inc')}'`);
    rmSync(repo('inc-co'), { recursive: true, force: true });
    // The update as compose makes it: a hardlink checkout of v1 with v2's changes applied.
    const co = repo('inc-co');
    sh(`ostree checkout --repo='${repo('inc')}' --user-mode -H bench '${co}'`);
    const u = JSON.parse(readFileSync(join(WORK, 'update.json'), 'utf8')) as { changed: string[]; removed: string[]; added: string[] };
    for (const f of [...u.changed, ...u.removed]) unlinkSync(co + f);
    mkdirSync(join(co, 'usr', 'share', 'bench-added'), { recursive: true });
    for (const f of [...u.changed, ...u.added]) writeFileSync(co + f, readFileSync(v2 + f), { mode: statSync(v2 + f).mode & 0o7777 });
  };
  const update = ['--branch=bench', '--subject=update', '--timestamp=2024-01-02T00:00:00Z'];
  scenario('commit update on top', copyBase,
    [ATOMIC, 'repo', 'commit', `--repo=${repo('inc')}`, ...update, repo('inc-co')],
    ['ostree', 'commit', `--repo=${repo('inc')}`, '--link-checkout-speedup', ...update, repo('inc-co')]);

  const clearCo = (): void => rmSync(repo('co'), { recursive: true, force: true });
  scenario('checkout -H', clearCo,
    [ATOMIC, 'repo', 'checkout', `--repo=${base}`, '-U', '-H', 'bench', repo('co')], ['ostree', 'checkout', `--repo=${base}`, '--user-mode', '-H', 'bench', repo('co')]);
  scenario('checkout copy', clearCo,
    [ATOMIC, 'repo', 'checkout', `--repo=${base}`, '-U', '-C', 'bench', repo('co')], ['ostree', 'checkout', `--repo=${base}`, '--user-mode', '--force-copy', 'bench', repo('co')]);
  clearCo();
  scenario('fsck', () => {}, [ATOMIC, 'repo', 'fsck', '-q', `--repo=${base}`], ['ostree', 'fsck', '--quiet', `--repo=${base}`]);

  const withTwo = (): void => {
    rmSync(repo('pr'), { recursive: true, force: true });
    sh(`cp -a '${base}' '${repo('pr')}' && ostree commit --repo='${repo('pr')}' ${update.join(' ')} '${v2}' >/dev/null`);
  };
  scenario('prune (refs-only, depth 0)', withTwo,
    [ATOMIC, 'repo', 'prune', `--repo=${repo('pr')}`, '--refs-only', '--depth=0'], ['ostree', 'prune', `--repo=${repo('pr')}`, '--refs-only', '--depth=0']);

  // The other benchmark groups, on the same trees (BENCH_ONLY=store skips them).
  if (process.env.BENCH_ONLY !== 'store') {
    for (const group of ['pull.ts', 'compose.ts', 'host.ts']) {
      const script = join(ROOT, 'bench', group);
      if (!existsSync(script)) continue;
      console.log(`\n== ${group.replace('.ts', '')} ==`);
      const r = spawnSync(process.execPath, [script], { stdio: 'inherit', env: { ...process.env, BENCH_TREES: WORK, BENCH_WORK: WORK, BENCH_REPS: String(REPS) } });
      if (r.status !== 0) process.exitCode = 1;
    }
  }
}

main();
