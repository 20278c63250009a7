// Pull benchmark: atomic against `ostree pull` on the OS-like tree and its update,
// served by nginx on loopback. Scenarios: full pull (archive → bare-user), upgrade pull
// by objects, upgrade pull with a static delta (each tool its own delta), and delta
// generation. Prints median times, ratios (ours/ostree), the bytes on the wire from
// nginx's access log, and both deltas against the compressed size of the changed files.
//
// Input: BENCH_TREES, a directory holding tree-v1/, tree-v2/ and update.json as
// bench/run.ts prepares them in its work directory (default: BENCH_WORK or bench/work).
// BENCH_REPS (default 3). Writes its repositories under BENCH_TREES/pull/.

import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync, rmSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { gzipSync } from 'node:zlib';
import { startNginx, type NginxServer } from '../test-support/nginx.ts';

const ROOT = join(import.meta.dirname, '..');
const ATOMIC = join(ROOT, 'bin', 'atomic');
const TREES = process.env.BENCH_TREES ?? process.env.BENCH_WORK ?? join(ROOT, 'bench', 'work');
const REPS = Number(process.env.BENCH_REPS ?? 3);
const WORK = join(TREES, 'pull');
const TARGETS: Record<string, number> = { 'full pull': 0.7, 'upgrade by objects': 0.8, 'upgrade with delta': 0.8 };

function sh(cmd: string): string {
  const r = spawnSync('bash', ['-c', cmd], { stdio: ['ignore', 'pipe', 'inherit'], maxBuffer: 1 << 26 });
  if (r.status !== 0) throw new Error(`failed: ${cmd}`);
  return r.stdout.toString();
}

function timed(argv: string[]): number {
  const t0 = process.hrtime.bigint();
  const r = spawnSync(argv[0]!, argv.slice(1), { stdio: ['ignore', 'ignore', 'pipe'], maxBuffer: 1 << 26 });
  const secs = Number(process.hrtime.bigint() - t0) / 1e9;
  if (r.status !== 0) throw new Error(`${argv.join(' ')} failed: ${r.stderr.toString().slice(-2000)}`);
  return secs;
}

const median = (xs: number[]): number => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;
const mb = (n: number): string => `${(n / 1e6).toFixed(2)} MB`;

interface Side {
  secs: number;
  wire: number;
}

/**
 * Runs each tool REPS times, alternating (so drift in the machine's speed hits both),
 * each run after its setup and a global sync (so no run pays for the setup's dirty
 * pages); returns the median times and the bytes nginx sent in each tool's last run.
 */
async function measure(nginx: NginxServer, ours: [() => void, string[]], theirs: [() => void, string[]]): Promise<[Side, Side]> {
  const times: [number[], number[]] = [[], []];
  const wire = [0, 0];
  for (let i = 0; i < REPS; i++) {
    for (const [k, [setup, argv]] of [ours, theirs].entries()) {
      setup();
      sh('sync');
      const before = (await nginx.accessLog()).length;
      times[k]!.push(timed(argv));
      wire[k] = (await nginx.accessLog()).slice(before).reduce((n, e) => n + e.bytes, 0);
    }
  }
  return [{ secs: median(times[0]), wire: wire[0]! }, { secs: median(times[1]), wire: wire[1]! }];
}

function row(name: string, ours: Side, theirs: Side): void {
  const ratio = ours.secs / theirs.secs;
  const target = TARGETS[name];
  const verdict = target === undefined ? '' : `  (target ≤ ${target}: ${ratio <= target ? 'met' : 'NOT met'})`;
  console.log(`${name.padEnd(22)} atomic ${ours.secs.toFixed(2).padStart(7)} s ${mb(ours.wire).padStart(11)}   ostree ${theirs.secs.toFixed(2).padStart(7)} s ${mb(theirs.wire).padStart(11)}   ratio ${ratio.toFixed(2)}${verdict}`);
}

async function main(): Promise<void> {
  const v1 = join(TREES, 'tree-v1');
  const v2 = join(TREES, 'tree-v2');
  if (!existsSync(v1) || !existsSync(v2) || !existsSync(join(TREES, 'update.json'))) {
    console.error(`bench/pull: no prepared trees in ${TREES} (tree-v1, tree-v2, update.json); run \`npm run bench\` first or set BENCH_TREES`);
    process.exit(1);
  }
  rmSync(WORK, { recursive: true, force: true });
  mkdirSync(join(WORK, 'www'), { recursive: true });
  const theirsSrv = join(WORK, 'www', 'theirs');
  const oursSrv = join(WORK, 'www', 'ours');
  const commit = (repo: string, ref: string, ts: string, tree: string): string =>
    sh(`ostree commit --repo='${repo}' --branch=${ref} --subject=bench --timestamp=${ts} '${tree}'`).trim();

  // One archive repo made by ostree: v1 on bench-v1, v2 (child of v1) on bench.
  sh(`ostree init --repo='${theirsSrv}' --mode=archive`);
  const c1 = commit(theirsSrv, 'bench-v1', '2024-01-01T00:00:00Z', v1);
  sh(`ostree commit --repo='${theirsSrv}' --branch=bench --parent=${c1} --subject=bench --timestamp=2024-01-02T00:00:00Z '${v2}' >/dev/null`);
  const c2 = sh(`ostree rev-parse --repo='${theirsSrv}' bench`).trim();
  sh(`cp -a '${theirsSrv}' '${oursSrv}'`);

  // Delta generation, each tool in its own copy (the delta stays for the pulls below).
  const gen = { ours: [] as number[], theirs: [] as number[] };
  for (let i = 0; i < REPS; i++) {
    rmSync(join(theirsSrv, 'deltas'), { recursive: true, force: true });
    rmSync(join(oursSrv, 'deltas'), { recursive: true, force: true });
    gen.theirs.push(timed(['ostree', 'static-delta', 'generate', `--repo=${theirsSrv}`, `--from=${c1}`, `--to=${c2}`]));
    gen.ours.push(timed([ATOMIC, 'repo', 'static-delta', 'generate', '--repo', oursSrv, '--from', c1, '--to', c2]));
  }
  sh(`ostree summary --repo='${theirsSrv}' -u`);
  sh(`'${ATOMIC}' repo summary --repo '${oursSrv}' -u`);
  const deltaBytes = (repo: string, name: string): number => {
    const show = sh(name === 'ours' ? `'${ATOMIC}' repo static-delta show --repo '${repo}' ${c1}-${c2}` : `ostree static-delta show --repo='${repo}' ${c1}-${c2}`);
    const superblock = statSync(join(repo, sh(`ls -d '${repo}'/deltas/*/*`).trim().slice(repo.length + 1), 'superblock')).size;
    return superblock + Number(/Total Size: (\d+)/.exec(show)![1]);
  };
  const ourDelta = deltaBytes(oursSrv, 'ours');
  const theirDelta = deltaBytes(theirsSrv, 'theirs');

  // What the update changes, compressed: gzip -6 of each changed and added file (what .filez objects hold).
  const u = JSON.parse(readFileSync(join(TREES, 'update.json'), 'utf8')) as { changed: string[]; added: string[] };
  let changedRaw = 0;
  let changedGz = 0;
  for (const f of [...u.changed, ...u.added]) {
    const p = v2 + f;
    if (!existsSync(p)) continue;
    const b = readFileSync(p);
    changedRaw += b.length;
    changedGz += gzipSync(b, { level: 6 }).length;
  }

  const nginx = await startNginx(join(WORK, 'www'), join(WORK, 'nginx'));
  try {
    const client = (tool: 'ours' | 'theirs', name: string, srv: string): string => {
      const repo = join(WORK, name);
      rmSync(repo, { recursive: true, force: true });
      if (tool === 'ours') {
        sh(`'${ATOMIC}' repo init --repo '${repo}' --mode bare-user && '${ATOMIC}' repo remote add --repo '${repo}' --no-sign-verify origin ${nginx.url}/${srv}`);
      } else {
        sh(`ostree init --repo='${repo}' --mode=bare-user && ostree remote add --repo='${repo}' --no-gpg-verify origin ${nginx.url}/${srv}`);
      }
      return repo;
    };
    const pullOurs = (repo: string, ref: string, extra: string[] = []): string[] => [ATOMIC, 'repo', 'pull', '--repo', repo, '--progress', 'none', ...extra, 'origin', ref];
    const pullTheirs = (repo: string, ref: string, extra: string[] = []): string[] => ['ostree', 'pull', `--repo=${repo}`, ...extra, 'origin', ref];

    console.log(`pull benchmark: ${TREES}; update changes ${mb(changedRaw)} (${mb(changedGz)} gzip -6); ${REPS} repetitions each, alternating, medians; bytes = nginx body bytes\n`);
    const [fullOurs, fullTheirs] = await measure(nginx,
      [() => void client('ours', 'full-ours', 'ours'), pullOurs(join(WORK, 'full-ours'), 'bench-v1')],
      [() => void client('theirs', 'full-theirs', 'theirs'), pullTheirs(join(WORK, 'full-theirs'), 'bench-v1')]);
    row('full pull', fullOurs, fullTheirs);

    // Upgrades start from a copy of the repo each tool made in its full pull.
    const fromBase = (name: string, base: string) => (): void => {
      rmSync(join(WORK, name), { recursive: true, force: true });
      sh(`cp -a '${join(WORK, base)}' '${join(WORK, name)}'`);
    };
    const [objOurs, objTheirs] = await measure(nginx,
      [fromBase('up-ours', 'full-ours'), pullOurs(join(WORK, 'up-ours'), 'bench', ['--disable-static-deltas'])],
      [fromBase('up-theirs', 'full-theirs'), pullTheirs(join(WORK, 'up-theirs'), 'bench', ['--disable-static-deltas'])]);
    row('upgrade by objects', objOurs, objTheirs);
    const [dOurs, dTheirs] = await measure(nginx,
      [fromBase('up-ours', 'full-ours'), pullOurs(join(WORK, 'up-ours'), 'bench', ['--require-static-deltas'])],
      [fromBase('up-theirs', 'full-theirs'), pullTheirs(join(WORK, 'up-theirs'), 'bench', ['--require-static-deltas'])]);
    row('upgrade with delta', dOurs, dTheirs);
    for (const [name, repo] of [['atomic', 'up-ours'], ['ostree', 'up-theirs']] as const) {
      const got = sh(`ostree rev-parse --repo='${join(WORK, repo)}' origin:bench`).trim();
      if (got !== c2) throw new Error(`${name}'s upgrade ended at ${got}, expected ${c2}`);
    }
    const g = { ours: median(gen.ours), theirs: median(gen.theirs) };
    console.log(`${'delta generation'.padEnd(22)} atomic ${g.ours.toFixed(2).padStart(7)} s ${' '.repeat(11)}   ostree ${g.theirs.toFixed(2).padStart(7)} s ${' '.repeat(11)}   ratio ${(g.ours / g.theirs).toFixed(2)}`);
    console.log(`\ndelta size: atomic ${mb(ourDelta)}, ostree ${mb(theirDelta)} (ratio ${(ourDelta / theirDelta).toFixed(2)}; target ≤ 1: ${ourDelta <= theirDelta ? 'met' : 'NOT met'})`);
    console.log(`changed files compressed (gzip -6): ${mb(changedGz)}; atomic's delta is ${(ourDelta / changedGz).toFixed(2)}×, ostree's ${(theirDelta / changedGz).toFixed(2)}× that`);
  } finally {
    await nginx.stop();
  }
}

await main();
