// Oracle: the set libsolv resolves here equals what `dnf --installroot … install` resolves
// for the same repos and package list (dnf 4 / libdnf on the same libsolv). The repos are
// built at test time with rpmbuild and createrepo_c.

import { mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { isUpdaterError } from '../../common/errors.ts';
import { buildTestRpms, have, makeTmp, removeTmp, run, runOk, type TestRpm } from '../../test-support/index.ts';
import { syncRepos, type RepoConfig, type RepoMetadata } from '../repos/index.ts';
import { depsolve, type DepsolveRequest } from './index.ts';

const MAIN: TestRpm[] = [
  { name: 'base', provides: ['base-api = 1'] },
  { name: 'app', requires: ['base', '(libfoo or libbar)', 'data >= 2.0', '/usr/share/data/file'], recommends: ['helper'] },
  { name: 'data', version: '1.0', files: { '/usr/share/data/file': 'one\n' } },
  { name: 'data', version: '2.0', files: { '/usr/share/data/file': 'two\n' } },
  { name: 'helper', recommends: ['helper-extra'] },
  { name: 'helper-extra' },
  { name: 'libfoo' },
  { name: 'libbar' },
  { name: 'grub2-pc', version: '2.06', provides: ['grub2'] },
  { name: 'skopeo', epoch: 2, version: '1.8.0' },
  { name: 'skopeo', epoch: 1, version: '9.0' },
  { name: 'langpack-app', supplements: ['app'] },
  { name: 'richweak', recommends: ['(helper-extra if app)'] },
  { name: 'conflictor', conflicts: ['base'] },
  { name: 'broken', requires: ['does-not-exist'] },
  { name: 'needs-broken', requires: ['broken'] },
  { name: 'webserver' },
  { name: 'alt-webserver', version: '9.0', provides: ['webserver = 9.0'] },
  { name: 'archy', arch: 'x86_64' },
  { name: 'archy', arch: 'i686' },
  { name: 'archy', arch: 'aarch64' },
];
const EXTRA: TestRpm[] = [{ name: 'data', version: '1.5', files: { '/usr/share/data/file': 'one and a half\n' } }];

const tools = have('rpmbuild') && have('createrepo_c') && have('dnf');

describe.skipIf(!tools || process.arch !== 'x64')('depsolve against dnf (oracle)', () => {
  let tmp: string;
  let main: RepoMetadata;
  let extra: RepoMetadata;
  const configs: Record<string, RepoConfig> = {};

  const config = (id: string, dir: string, priority = 99): RepoConfig => ({
    id, name: id, baseurl: [`file://${dir}`], enabled: true, gpgcheck: false, gpgkey: [], repoGpgcheck: false,
    priority, cost: 1000, excludePackages: [], includePackages: [], sslverify: true, skipIfUnavailable: false, file: `${id}.repo`,
  });

  beforeAll(async () => {
    tmp = await makeTmp('depsolve-oracle-');
    await buildTestRpms(MAIN, join(tmp, 'main'));
    await buildTestRpms(EXTRA, join(tmp, 'extra'));
    await runOk('createrepo_c', ['-q', '--no-database', join(tmp, 'main')]);
    await runOk('createrepo_c', ['-q', '--no-database', join(tmp, 'extra')]);
    configs['os'] = config('os', join(tmp, 'main'));
    configs['extra'] = config('extra', join(tmp, 'extra'), 10);
    [main, extra] = (await syncRepos([configs['os'], configs['extra']], join(tmp, 'cache'))) as [RepoMetadata, RepoMetadata];
  });
  afterAll(async () => {
    if (tmp) await removeTmp(tmp);
  });

  let dnfRuns = 0;
  /** What dnf would install: sorted `name-[epoch:]version-release.arch@repo`, or its error output. */
  async function dnf(repos: RepoConfig[], args: string[], opts: { weak?: boolean; exclude?: string[] } = {}): Promise<{ ok: true; set: string[] } | { ok: false; out: string }> {
    const work = join(tmp, `dnf${dnfRuns++}`);
    await mkdir(join(work, 'repos'), { recursive: true });
    for (const r of repos) {
      await writeFile(join(work, 'repos', `${r.id}.repo`), `[${r.id}]\nname=${r.id}\nbaseurl=${r.baseurl[0]}\ngpgcheck=0\npriority=${r.priority}\n`);
    }
    // best=False: libsolv's default, and rpm-ostree's (it does not ask for SOLVER_FORCEBEST).
    const r = await run('dnf', [
      `--installroot=${join(work, 'root')}`, '--releasever=1', '--noplugins', '--setopt=best=False', '--setopt=gpgcheck=0',
      `--setopt=reposdir=${join(work, 'repos')}`, `--setopt=cachedir=${join(work, 'cache')}`,
      `--setopt=install_weak_deps=${opts.weak === false ? 'False' : 'True'}`,
      ...(opts.exclude?.length ? [`--setopt=excludepkgs=${opts.exclude.join(',')}`] : []),
      '--assumeno', ...args,
    ]);
    const out = r.stdout + r.stderr;
    if (!out.includes('Transaction Summary')) return { ok: false, out };
    // Rows of the "Installing…" sections: name arch [epoch:]version-release repo size.
    const set: string[] = [];
    let inInstall = false;
    let pending = '';
    for (const line of r.stdout.split('\n')) {
      if (/^Installing( dependencies| weak dependencies)?:$/.test(line)) { inInstall = true; continue; }
      if (!line.startsWith(' ')) { inInstall = false; continue; }
      if (!inInstall) continue;
      const cols = (pending + line).trim().split(/\s+/);
      if (cols.length === 1) { pending = line; continue; } // dnf wraps long names onto their own line
      pending = '';
      const [name, arch, evr, repo] = cols as [string, string, string, string];
      set.push(`${name}-${evr}.${arch}@${repo}`);
    }
    return { ok: true, set: set.sort() };
  }

  const ours = (req: Omit<DepsolveRequest, 'repos'>, repos = [main]): string[] =>
    depsolve({ ...req, repos, arch: 'x86_64' }).packages.map((p) => `${p.nevra}@${p.repo}`).sort();

  async function expectSame(req: Omit<DepsolveRequest, 'repos'>, repos = [main]): Promise<string[]> {
    const cfgs = repos.map((r) => configs[r.id]!);
    const theirs = await dnf(cfgs, ['install', ...req.packages], { weak: req.recommends !== false, exclude: req.excludePackages ?? [] });
    expect(theirs.ok, theirs.ok ? '' : theirs.out).toBe(true);
    const got = ours(req, repos);
    expect(got).toEqual((theirs as { set: string[] }).set);
    return got;
  }

  it('a requires/recommends/rich/versioned/file-dependency set equals dnf install (weak deps on)', async () => {
    const got = await expectSame({ packages: ['app'] });
    // Recommends (and their Recommends), Supplements, the rich dep's choice, the newest matching data.
    expect(got).toEqual(expect.arrayContaining(['helper-1.0-1.noarch@os', 'helper-extra-1.0-1.noarch@os', 'langpack-app-1.0-1.noarch@os', 'data-2.0-1.noarch@os']));
  });

  it('recommends: false drops weak dependencies, as install_weak_deps=False', async () => {
    const got = await expectSame({ packages: ['app'], recommends: false });
    expect(got.some((p) => p.startsWith('helper'))).toBe(false);
  });

  it('specs match provides, versions with epochs, and the host arch policy', async () => {
    const got = await expectSame({ packages: ['grub2', 'skopeo >= 2:1.7.0', 'archy'] });
    expect(got).toEqual(['archy-1.0-1.x86_64@os', 'grub2-pc-2.06-1.noarch@os', 'skopeo-2:1.8.0-1.noarch@os']);
    expect(await expectSame({ packages: ['skopeo < 2:0'] })).toEqual(['skopeo-1:9.0-1.noarch@os']);
    expect(await expectSame({ packages: ['data = 1.0-1'] })).toEqual(['data-1.0-1.noarch@os']);
  });

  it('a name match wins over other packages providing that name, as in dnf', async () => {
    expect(await expectSame({ packages: ['webserver'] })).toEqual(['webserver-1.0-1.noarch@os']);
    expect(await expectSame({ packages: ['webserver > 1'] })).toEqual(['alt-webserver-9.0-1.noarch@os']);
  });

  it('a file path spec resolves through filelists', async () => {
    expect(await expectSame({ packages: ['/usr/share/data/file'] })).toEqual(['data-2.0-1.noarch@os']);
  });

  it('exclude-packages hides a package: the rich dependency takes the other branch', async () => {
    const got = await expectSame({ packages: ['app'], excludePackages: ['libbar'] });
    expect(got).toContain('libfoo-1.0-1.noarch@os');
    // An excluded Recommends is silently dropped.
    const noHelper = await expectSame({ packages: ['app'], excludePackages: ['helper*'] });
    expect(noHelper.some((p) => p.startsWith('helper'))).toBe(false);
  });

  it('conditional weak dependencies and several packages at once', async () => {
    await expectSame({ packages: ['richweak'] });
    await expectSame({ packages: ['richweak', 'app', 'grub2'] });
  });

  it('repo priority wins over a newer version, as dnf priority=', async () => {
    const got = await expectSame({ packages: ['data'] }, [main, extra]);
    expect(got).toEqual(['data-1.5-1.noarch@extra']);
  });

  it('repo-packages takes the package from the named repo', async () => {
    const theirs = await dnf([configs['os']!, configs['extra']!], ['repository-packages', 'os', 'install', 'data']);
    expect(theirs.ok).toBe(true);
    const got = ours({ packages: [], repoPackages: [{ repo: 'os', packages: ['data'] }] }, [main, extra]);
    expect(got).toEqual((theirs as { set: string[] }).set);
    expect(got).toEqual(['data-2.0-1.noarch@os']);
  });

  it('the install set is in transaction order and carries location, checksum and size', () => {
    const res = depsolve({ repos: [main], packages: ['app'], arch: 'x86_64' });
    const names = res.packages.map((p) => p.name);
    for (const dep of ['base', 'data', 'libbar']) expect(names.indexOf(dep)).toBeLessThan(names.indexOf('app'));
    const app = res.packages.find((p) => p.name === 'app')!;
    expect(app).toMatchObject({ epoch: 0, version: '1.0', release: '1', arch: 'noarch', repo: 'os', location: 'app-1.0-1.noarch.rpm' });
    expect(app.checksum?.type).toBe('sha256');
    expect(app.checksum?.value).toMatch(/^[0-9a-f]{64}$/);
    expect(app.size).toBeGreaterThan(1000);
    expect(res.solvables).toEqual({ os: MAIN.length });
  });

  it('unsatisfiable sets fail with libsolv\'s explanation of each problem, as dnf fails', async () => {
    const theirs = await dnf([configs['os']!], ['install', 'needs-broken']);
    expect(theirs.ok).toBe(false);
    expect((theirs as { out: string }).out).toContain('nothing provides does-not-exist needed by broken-1.0-1.noarch');
    let err: unknown;
    try {
      depsolve({ repos: [main], packages: ['needs-broken', 'app', 'conflictor'], arch: 'x86_64' });
    } catch (e) {
      err = e;
    }
    expect(isUpdaterError(err, 'DEPSOLVE_UNSATISFIABLE')).toBe(true);
    const msg = (err as Error).message;
    expect(msg).toContain('nothing provides does-not-exist needed by broken-1.0-1.noarch');
    expect(msg).toMatch(/conflictor-1\.0-1\.noarch conflicts with base/);
    expect(msg).toMatch(/Problem 1: .*\n[\s\S]*Problem 2: /);
  });

  it('a hard dependency on an excluded package is fatal', async () => {
    const theirs = await dnf([configs['os']!], ['install', 'app'], { exclude: ['base'] });
    expect(theirs.ok).toBe(false);
    expect(() => depsolve({ repos: [main], packages: ['app'], excludePackages: ['base'], arch: 'x86_64' })).toThrow(/nothing provides base needed by app-1\.0-1\.noarch/);
  });

  it('unknown packages are reported together, like dnf\'s "No match for argument"', async () => {
    const theirs = await dnf([configs['os']!], ['install', 'nope', 'app']);
    expect(theirs.ok).toBe(false);
    expect((theirs as { out: string }).out).toContain('No match for argument: nope');
    let err: unknown;
    try {
      depsolve({ repos: [main], packages: ['nope', 'app', 'also-nope >= 1'], arch: 'x86_64' });
    } catch (e) {
      err = e;
    }
    expect(isUpdaterError(err, 'DEPSOLVE_PACKAGE_NOT_FOUND')).toBe(true);
    expect((err as Error).message).toBe('Packages not found: nope, also-nope >= 1');
    // A known name with no matching version is libsolv's problem, not "not found".
    expect(() => depsolve({ repos: [main], packages: ['app >= 3'], arch: 'x86_64' })).toThrow(/nothing provides requested app >= 3/);
  });

  it('native memory is released between calls (RSS flat over 1000 solves)', async () => {
    // In a child with --expose-gc, so garbage collection cannot hide or fake growth.
    const script = `
      import { depsolve } from ${JSON.stringify(join(import.meta.dirname, 'index.ts'))};
      const repos = JSON.parse(process.argv[1]);
      const once = () => depsolve({ repos, packages: ['app', 'grub2'], excludePackages: ['libbar'], arch: 'x86_64' });
      const rss = () => { globalThis.gc(); return process.memoryUsage().rss; };
      for (let i = 0; i < 200; i++) once();
      const a = rss();
      for (let i = 0; i < 500; i++) once();
      const b = rss();
      for (let i = 0; i < 500; i++) once();
      const c = rss();
      console.log(JSON.stringify({ first: b - a, second: c - b }));`;
    const out = await runOk(process.execPath, ['--expose-gc', '--input-type=module', '-e', script, JSON.stringify([main, extra])]);
    const { second } = JSON.parse(out) as { first: number; second: number };
    // A leak of even 2 KiB per solve would show as 1 MB here.
    expect(second).toBeLessThan(1024 * 1024);
  });
});
