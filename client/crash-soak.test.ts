// Soak: kill -9 `atomic host upgrade` at random moments, hundreds of times, over a chain
// of upgrades pulled from a remote (file:// or http through nginx). Each upgrade is a
// sequence: a new commit on the server (and sometimes an /etc edit on the host), then
// runs of the same `atomic host upgrade`, each killed at a random moment, until one
// completes. The client reports the phase it enters (ATOMIC_TEST_PHASE_FD, client/crash.ts),
// so every kill is attributed to start, pull, deploy, etc-merge, kernel-install, swap,
// cleanup, prune or done, and every phase must have been hit.
//
// Kill moments: most are uniform over the measured length of an uninterrupted run that
// starts from the same situation (from its `start` to its exit: each phase in proportion
// to its length); the rest aim at the least-hit phase, at a uniform moment within its
// measured length after it begins.
//
// After every kill: the boot configuration names only complete deployments (kernel,
// initramfs, ostree= target, the commit's whole tree, /etc, origin), the set is the old
// one or the new one, status works (through the library), `ostree admin status` lists
// the same deployments, and the repo fscks clean (ours and `ostree fsck`); these last two
// can be thinned out to every Nth kill (below). After every sequence: the last run completed
// (most of these reruns go through the library, the code the CLI runs, to save the CLI's
// start-up), the new deployment is the default with the /etc edits carried over, and
// there are no temporary files, stray deployments, kernels or refs.
//
// ATOMIC_SOAK_KILLS: the number of kills (default 300); ATOMIC_SOAK_SEED: the seed;
// ATOMIC_SOAK_FULL_CHECK_EVERY: N to run those only after every Nth kill (default 1).

import { spawn, spawnSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { readdirSync, readFileSync } from 'node:fs';
import { rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ATOMIC, have, makeTmp, removeTmp, runOk } from '../test-support/index.ts';
import { NGINX_BIN, startNginx, type NginxServer } from '../test-support/nginx.ts';
import { addRemote, fsckRepo, Repo } from '../store/index.ts';
import { bootCountingState, collectStatus, deploy, deploymentDir, loadSysroot, renderStatusTable, statusJson, upgrade } from './index.ts';
import { PHASES, type Phase } from './crash.ts';
import { assertBootable, commitOsTree, leftovers, makeSysroot } from './test-os.ts';

const KILLS = Number(process.env.ATOMIC_SOAK_KILLS ?? 300);
const FULL_CHECK_EVERY = Math.max(1, Number(process.env.ATOMIC_SOAK_FULL_CHECK_EVERY ?? 1));
let seed = Number(process.env.ATOMIC_SOAK_SEED ?? Date.now() % 100000);
const firstSeed = seed;

/** mulberry32: a small seeded generator, so a failing run can be replayed. */
function random(): number {
  seed = (seed + 0x6d2b79f5) | 0;
  let t = seed;
  t = Math.imul(t ^ (t >>> 15), t | 1);
  t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
  return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
}

// Objects from 4 kB up are downloaded resumably (tmp/pull-partial), so kills interrupt those
// too; the reruns through the library resume them with the same threshold.
const PARTIAL_MIN = '4096';
const ENV = { ...process.env, ATOMIC_PROC_CMDLINE: '/nonexistent', ATOMIC_PULL_PARTIAL_MIN: PARTIAL_MIN, ATOMIC_TEST_PHASE_FD: '3' };
const savedPartialMin = process.env.ATOMIC_PULL_PARTIAL_MIN;
const NO_BOOT = { procCmdline: '/nonexistent' };

/** When to kill: `delayMs` after the client reports entering `phase` (never, if it does not). */
interface KillPlan {
  phase: Phase;
  delayMs: number;
}

interface Run {
  killed: boolean;
  /** The phase the client was in when it died (the last one it reported). */
  last: Phase | null;
  /** Phases entered, with the client's clock. */
  marks: Array<{ phase: Phase; ms: number }>;
  /** From `start` to exit, on our clock. */
  ms: number;
}

/** Runs the upgrade, SIGKILLs it as planned (unless it finished first). */
function runUpgrade(sysroot: string, plan: KillPlan | null): Promise<Run> {
  return new Promise((resolve, reject) => {
    const child = spawn(ATOMIC, ['host', 'upgrade', '--sysroot', sysroot], { env: ENV, stdio: ['ignore', 'ignore', 'pipe', 'pipe'] });
    let stderr = '';
    let buf = '';
    let started = 0;
    let timer: NodeJS.Timeout | undefined;
    const marks: Run['marks'] = [];
    const kill = (): void => void child.kill('SIGKILL');
    child.stderr!.on('data', (d) => (stderr += String(d)));
    child.stdio[3]!.on('data', (d) => {
      buf += String(d);
      for (let i = buf.indexOf('\n'); i >= 0; i = buf.indexOf('\n')) {
        const [p, ms] = buf.slice(0, i).split(' ');
        buf = buf.slice(i + 1);
        marks.push({ phase: p as Phase, ms: Number(ms) });
        if (p === 'start') started = performance.now();
        if (plan !== null && p === plan.phase && timer === undefined) {
          if (plan.delayMs < 1) kill();
          else timer = setTimeout(kill, plan.delayMs);
        }
      }
    });
    child.on('error', reject);
    child.on('close', (code, signal) => {
      clearTimeout(timer);
      if (signal === null && code !== 0) reject(new Error(`upgrade failed by itself (exit ${code}): ${stderr}`));
      else resolve({ killed: signal === 'SIGKILL', last: marks.at(-1)?.phase ?? null, marks, ms: started === 0 ? 0 : performance.now() - started });
    });
  });
}

/**
 * What a run starts from: a new commit to pull and deploy (fresh), the leftovers of a run
 * killed before the swap (it deploys again, the download mostly done), or a swapped
 * set whose cleanup was interrupted (it only cleans up).
 */
type Situation = 'fresh' | 'again' | 'swapped';

/** Sliding medians of what runs measured: a whole run, and each phase. */
class Estimates {
  private readonly samples = new Map<string, number[]>();
  add(key: string, v: number): void {
    const a = this.samples.get(key) ?? [];
    a.push(v);
    if (a.length > 15) a.shift();
    this.samples.set(key, a);
  }
  get(key: string): number {
    const a = [...(this.samples.get(key) ?? [0])].sort((x, y) => x - y);
    return a[Math.floor(a.length / 2)]!;
  }
  /** `situation`: what the run starts from (see Situation). */
  learn(r: Run, situation: Situation): void {
    for (let i = 0; i + 1 < r.marks.length; i++) this.add(r.marks[i]!.phase, r.marks[i + 1]!.ms - r.marks[i]!.ms);
    // Uninterrupted runs give the span kill moments cover, for runs that start alike.
    if (!r.killed && r.marks.length > 0) {
      this.add(situation, r.ms);
      const done = r.marks.find((m) => m.phase === 'done');
      if (done !== undefined) this.add('done', Math.max(0, r.ms - (done.ms - r.marks[0]!.ms)));
    }
  }
  /** The length of an uninterrupted run in this situation (a fresh one's until others are measured). */
  runMs(situation: Situation): number {
    return this.samples.has(situation) ? this.get(situation) : this.get('fresh');
  }
}

/** Where the time goes (ms), for the summary. */
const spent = { runs: 0, libraryReruns: 0, checks: 0, fsck: 0, commits: 0, sequenceChecks: 0 };
async function timed<T>(bucket: keyof typeof spent, fn: () => Promise<T>): Promise<T> {
  const t = performance.now();
  try {
    return await fn();
  } finally {
    spent[bucket] += performance.now() - t;
  }
}

let tmp: string;
let server: string;
let sysroot: string;
let nginx: NginxServer | null = null;
let version = 0;

/** A new commit on the server: new kernel, some /etc defaults and data files changed, some resumable-sized. */
async function serverCommit(): Promise<string> {
  const v = ++version;
  const etc: Record<string, string> = { 'os.conf': `version ${v}\n`, 'hosts.d/local.conf': '127.0.0.1 localhost\n' };
  for (let k = 0; k < 8; k++) etc[`conf.d/${String(k).padStart(2, '0')}.conf`] = `setting ${k} = ${Math.floor(v / (k + 1))}\n`;
  const files: Record<string, string | Uint8Array> = {};
  for (let k = 0; k < 4; k++) files[`usr/share/testos/data-${k}`] = k < 2 ? randomBytes(6000 + 1000 * k) : `constant ${k}\n`.repeat(50);
  const work = join(tmp, `t${v}`);
  const csum = await commitOsTree(server, 'testos/main', work, { version: String(v), kernel: `KERNEL ${v}\n`, etc, files, timestamp: 1700000000 + v });
  await rm(work, { recursive: true, force: true });
  return csum;
}

/** The deployments `ostree admin status` lists, in order. */
async function ostreeDeployments(): Promise<string[]> {
  const out = await runOk('ostree', ['admin', 'status', `--sysroot=${sysroot}`]);
  return out.split('\n').flatMap((l) => /^[* ] \S+ ([0-9a-f]{64}\.\d+)/.exec(l)?.slice(1, 2) ?? []);
}

async function fsckClean(what: string): Promise<void> {
  const repo = await Repo.open(join(sysroot, 'ostree/repo'));
  const ours = await fsckRepo(repo);
  expect(ours.problems, `atomic repo fsck ${what}`).toEqual([]);
  const theirs = spawnSync('ostree', ['fsck', '--quiet', `--repo=${repo.path}`], { encoding: 'utf8' });
  expect(theirs.status, `ostree fsck ${what}: ${theirs.stdout}${theirs.stderr}`).toBe(0);
}

/**
 * The invariants that hold after any kill; with `full` also what takes other processes
 * (`ostree admin status`) or reads the whole repo (fsck). Returns the deployed checksums.
 */
async function checkAfterKill(what: string, full: boolean): Promise<string[]> {
  const after = await assertBootable(sysroot);
  // status works, from the library as `atomic host status` renders it, and ostree reads the same list.
  const s = await loadSysroot(sysroot, NO_BOOT);
  const st = await collectStatus(s, await bootCountingState(s));
  expect(st.deployments.map((d) => d.checksum)).toEqual(after);
  expect(renderStatusTable(st).trimEnd().split('\n')).toHaveLength(after.length + 1);
  expect(JSON.stringify(statusJson(st))).toContain(after[0]!);
  if (full) {
    expect(await ostreeDeployments(), `ostree admin status ${what}`).toEqual(s.deployments.map((d) => `${d.csum}.${d.deployserial}`));
    await timed('fsck', () => fsckClean(what));
  }
  return after;
}

beforeAll(async () => {
  process.env.ATOMIC_PULL_PARTIAL_MIN = PARTIAL_MIN;
  tmp = await makeTmp('atomic-host-soak-');
  server = join(tmp, 'server');
  await Repo.init(server, 'archive');
  sysroot = await makeSysroot(tmp);
  await serverCommit();
  await addRemote(await Repo.open(join(sysroot, 'ostree/repo')), 'origin', `file://${server}`, { options: [['gpg-verify', 'false']] });
  await deploy({ sysroot, osname: 'testos', revision: 'origin:testos/main', karg: ['root=LABEL=root'], ...NO_BOOT });
  if (NGINX_BIN !== undefined) nginx = await startNginx(server, join(tmp, 'nginx'));
}, 60_000);
afterAll(async () => {
  if (savedPartialMin === undefined) delete process.env.ATOMIC_PULL_PARTIAL_MIN;
  else process.env.ATOMIC_PULL_PARTIAL_MIN = savedPartialMin;
  await nginx?.stop();
  await removeTmp(tmp);
});

describe.skipIf(!have('ostree'))('kill -9 at random moments during upgrades pulled from a remote', () => {
  it(`${KILLS} kills over pull, deploy, /etc merge, kernel install, swap and cleanup: old or new set, complete; ostree agrees; fsck clean; the rerun completes`, async () => {
    console.log(`soak seed ${firstSeed} (replay with ATOMIC_SOAK_SEED=${firstSeed})${nginx === null ? '; nginx missing: file:// only' : ''}`);
    const t0 = performance.now();
    const repo = await Repo.open(join(sysroot, 'ostree/repo'));
    const est = new Estimates();
    const hits = Object.fromEntries(PHASES.map((p) => [p, 0])) as Record<Phase, number>;
    const states = { old: 0, new: 0 };
    const transports = { file: 0, http: 0 };
    let kills = 0;
    let runs = 0;
    let libraryReruns = 0;
    let aimed = 0;
    let sequences = 0;
    let osConf: string | null = null; // the user's edit, once there is one
    let list = (await loadSysroot(sysroot, NO_BOOT)).deployments.map((d) => d.csum);
    // Three uninterrupted upgrades measure a run and its phases before the first kill.
    for (let calibrate = 3; kills < KILLS; calibrate--) {
      const prev = list[0]!;
      const next = await timed('commits', serverCommit);
      const http = nginx !== null && random() < 0.5;
      transports[http ? 'http' : 'file']++;
      repo.config.set('remote "origin"', 'url', http ? nginx!.url : `file://${server}`);
      await repo.saveConfig();
      const s = await loadSysroot(sysroot, NO_BOOT);
      if (random() < 0.4) {
        // A user edit to merge: os.conf (its default changes every time, the edit wins) and a new file.
        osConf = `edited before ${next.slice(0, 8)}\n`;
        await writeFile(join(deploymentDir(sysroot, s.deployments[0]!), 'etc/os.conf'), osConf);
        await writeFile(join(deploymentDir(sysroot, s.deployments[0]!), 'etc/local.conf'), osConf);
      }
      // Kill runs of the upgrade until one completes: two to eight kills, at most one of
      // them after the swap (the reruns that follow it only clean up), then let it finish.
      let maxKills = calibrate > 0 ? 0 : 2 + Math.floor(random() * 7);
      let seqKills = 0;
      let swapped = false;
      for (;;) {
        let plan: KillPlan | null = null;
        const situation: Situation = swapped ? 'swapped' : seqKills === 0 ? 'fresh' : 'again';
        if (seqKills < maxKills && kills < KILLS) {
          // Which phases this run passes: after the swap, a rerun only cleans up.
          const ahead = swapped ? PHASES.filter((p) => ['start', 'pull', 'cleanup', 'prune', 'done'].includes(p)) : PHASES;
          if (random() < 0.35) {
            const fewest = Math.min(...ahead.map((p) => hits[p]));
            const candidates = ahead.filter((p) => hits[p] === fewest);
            const p = candidates[Math.floor(random() * candidates.length)]!;
            plan = { phase: p, delayMs: 0.9 * random() * est.get(p) };
            aimed++;
          } else {
            plan = { phase: 'start', delayMs: 0.9 * random() * est.runMs(situation) };
          }
        }
        if (plan === null && calibrate <= 0 && random() < 0.75) {
          // Most reruns that finish a sequence are the same upgrade through the library
          // (the code the CLI runs, without its start-up), the others through the CLI.
          const res = await timed('libraryReruns', () => upgrade({ sysroot, ...NO_BOOT }));
          // It deploys what the killed runs did not swap in, or only finishes their cleanup.
          expect([res.to, res.changed]).toEqual([next, !swapped]);
          libraryReruns++;
          break;
        }
        const r = await timed('runs', () => runUpgrade(sysroot, plan));
        runs++;
        est.learn(r, situation);
        if (!r.killed) break;
        kills++;
        seqKills++;
        hits[r.last ?? 'start']++;
        const what = `after kill ${kills} (run ${runs}, over ${http ? 'http' : 'file://'}, in ${r.last}, aimed at ${plan!.phase} + ${plan!.delayMs.toFixed(1)} ms)`;
        const after = await timed('checks', () => checkAfterKill(what, kills % FULL_CHECK_EVERY === 0));
        if (after[0] === prev) expect(after, what).toEqual(list);
        else {
          expect(after, what).toEqual([next, prev]);
          if (!swapped) maxKills = Math.min(maxKills, seqKills + 1);
          swapped = true;
        }
        states[after[0] === prev ? 'old' : 'new']++;
      }
      // The run that completed: the new set, the edits carried over, nothing left behind.
      sequences++;
      const what = `after sequence ${sequences} (${seqKills} kills)`;
      const seqStart = performance.now();
      list = await checkAfterKill(what, true);
      expect(list, what).toEqual([next, prev]);
      const s2 = await loadSysroot(sysroot, NO_BOOT);
      const etc = join(deploymentDir(sysroot, s2.deployments[0]!), 'etc');
      expect(readFileSync(join(etc, 'os.conf'), 'utf8'), what).toBe(osConf ?? `version ${version}\n`);
      if (osConf !== null) expect(readFileSync(join(etc, 'local.conf'), 'utf8'), what).toBe(osConf);
      expect(leftovers(sysroot), what).toEqual([]);
      expect(readdirSync(join(sysroot, 'ostree/deploy/testos/deploy')).sort(), what)
        .toEqual(s2.deployments.flatMap((d) => [`${d.csum}.${d.deployserial}`, `${d.csum}.${d.deployserial}.origin`]).sort());
      expect(readdirSync(join(sysroot, 'boot/ostree')).sort(), what).toEqual([...new Set(s2.deployments.map((d) => `testos-${d.bootcsum}`))].sort());
      expect([...(await repo.listRefs({ remotes: false })).keys()].filter((n) => n.startsWith('ostree/')).sort(), what)
        .toEqual(s2.deployments.map((_, i) => `ostree/${s2.bootversion}/${s2.subbootversion}/${i}`));
      if (sequences % 25 === 0) {
        const st = spawnSync(ATOMIC, ['host', 'status', '--sysroot', sysroot], { env: ENV, encoding: 'utf8' });
        expect(st.status, st.stderr).toBe(0);
        expect(st.stdout).toContain(next.slice(0, 10));
      }
      spent.sequenceChecks += performance.now() - seqStart;
    }
    const secs = (performance.now() - t0) / 1000;
    console.log(`${kills} kills in ${runs} runs of the CLI and ${libraryReruns} reruns through the library over ${sequences} upgrades (${transports.file} file://, ${transports.http} http) in ${secs.toFixed(1)} s; ${aimed} aimed at a phase, the rest uniform over a run of ~${est.runMs('fresh').toFixed(0)} ms (~${est.runMs('again').toFixed(0)} ms after a kill before the swap, ~${est.runMs('swapped').toFixed(0)} after it)`);
    console.log(`killed in: ${PHASES.map((p) => `${p} ${hits[p]}`).join(', ')}`);
    console.log(`time (s): ${Object.entries(spent).map(([k, v]) => `${k} ${(v / 1000).toFixed(1)}`).join(', ')} (checks and sequenceChecks include fsck; ostree admin status and fsck after every ${FULL_CHECK_EVERY === 1 ? 'kill' : `${FULL_CHECK_EVERY} kills`} and every sequence)`);
    console.log(`after the kill: ${states.old} booted the old set, ${states.new} the new (killed after the swap)`);
    // Aimed kills fill the phases with the fewest hits: from a hundred kills on, every
    // phase has been hit, and kills have left both the old and the new set.
    if (KILLS >= 100) {
      for (const p of PHASES) expect(hits[p], `kills in ${p}`).toBeGreaterThan(0);
      expect(states.old).toBeGreaterThan(0);
      expect(states.new).toBeGreaterThan(0);
    }
  }, Math.max(300_000, KILLS * 2_000));
});
