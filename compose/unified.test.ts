// The unified core of `atomic compose tree`: packages imported once into commits of the
// package cache (`rpmostree/pkg/NAME/EVR.ARCH`), the tree a hardlinked union of them, a %post
// that appends to a file in /usr never reaching the cache (oracle: ostree fsck and ostree cat
// on the cache), one package re-imported when its checksum changes, reproducible commits,
// the treefile's git revision, and recovery of a cache damaged by an interrupted compose.

import { appendFile, cp, mkdir, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { dictGet, Repo } from '../store/index.ts';
import { have, makeTmp, removeTmp, run, runOk } from '../test-support/index.ts';
import { composeTree, type ComposeTreeOptions } from './index.ts';
import { escapeRefComponent, markInUse, openPkgCache, pkgCacheRef } from './pkgcache.ts';
import { GIT_REVISION_KEY } from './git.ts';

const BUSYBOX = ['/usr/bin/busybox', '/bin/busybox'].find((p) => have(p));
const tools = have('rpmbuild') && have('createrepo_c') && have('ostree') && have('rpm') && have('bwrap') && BUSYBOX !== undefined;
const REF = 'test/x86_64/unified';

describe('package cache refs', () => {
  it('escapes as rpm-ostree does: alnum . - kept, _ doubled, other bytes _XX, no 0: epoch', () => {
    expect(pkgCacheRef({ name: 'perl', epoch: 4, version: '5.16.3', release: '291.el7', arch: 'x86_64' })).toBe('rpmostree/pkg/perl/4_3A5.16.3-291.el7.x86__64');
    expect(pkgCacheRef({ name: 'git', epoch: 0, version: '1.8.3.1', release: '6.el7_2.1', arch: 'x86_64' })).toBe('rpmostree/pkg/git/1.8.3.1-6.el7__2.1.x86__64');
    expect(escapeRefComponent('gcc-c++')).toBe('gcc-c_2B_2B');
    expect(escapeRefComponent('a~b^c')).toBe('a_7Eb_5Ec');
  });
});

/** One spec: a busybox shell, a data package, and an app whose %post appends to the data file. */
function spec(dataContent: string, release = '1'): string {
  return [
    '%global debug_package %{nil}', '%global __os_install_post %{nil}', '%define _build_id_links none', '%define _binaries_in_noarch_packages_terminate_build 0',
    'Name: unified', 'Version: 1.0', `Release: ${release}`, 'Summary: t', 'License: MIT', 'BuildArch: noarch', 'AutoReqProv: no',
    '%description', 't',
    '%package -n shell', 'Summary: shell', 'Provides: /bin/sh', '%description -n shell', 'shell',
    '%package -n data', 'Summary: data', '%description -n data', 'data',
    '%package -n app', 'Summary: app', 'Requires: data', 'Requires(post): shell', '%description -n app', 'app',
    '%install',
    `install -D -m 0755 ${BUSYBOX} %{buildroot}/usr/bin/busybox`,
    'ln -s busybox %{buildroot}/usr/bin/sh', 'ln -s usr/bin %{buildroot}/bin',
    'mkdir -p %{buildroot}/usr/share/foo %{buildroot}/usr/bin',
    `printf '${dataContent}' > %{buildroot}/usr/share/foo/data`,
    "printf 'other\\n' > %{buildroot}/usr/share/foo/other",
    "printf '#!/bin/sh\\n' > %{buildroot}/usr/bin/app",
    'mkdir -p %{buildroot}/etc %{buildroot}/usr/share/owned',
    "printf 'root:x:0:0:root:/root:/bin/sh\\nnobody:x:65534:65534::/:/bin/sh\\n' > %{buildroot}/etc/passwd",
    "printf 'root:x:0:\\nnobody:x:65534:\\n' > %{buildroot}/etc/group",
    "printf 'secret\\n' > %{buildroot}/usr/share/owned/file",
    '%files -n shell', '/bin', '/usr/bin/busybox', '/usr/bin/sh', '/etc/passwd', '/etc/group',
    '%files -n data', '/usr/share/foo', '%attr(0640, nobody, nobody) /usr/share/owned/file',
    '%files -n app', '/usr/bin/app',
    '%post -n app', 'echo appended >> /usr/share/foo/data',
    '',
  ].join('\n');
}

async function buildRepo(dir: string, dataContent: string, top: string): Promise<void> {
  await mkdir(dir, { recursive: true });
  await writeFile(join(top, 'u.spec'), spec(dataContent));
  await runOk('rpmbuild', ['-bb', '--quiet', '--define', `_topdir ${join(top, 'top')}`, '--define', `_rpmdir ${dir}`, '--define', '_build_name_fmt %%{NAME}-%%{VERSION}-%%{RELEASE}.%%{ARCH}.rpm', join(top, 'u.spec')]);
  await runOk('createrepo_c', ['-q', '--no-database', dir]);
}

describe.skipIf(!tools || process.getuid?.() !== 0)('compose tree: unified core', () => {
  let tmp: string;
  let tfDir: string;
  let cachedir: string;
  let repoPath: string;
  const warnings: string[] = [];
  const lines: string[] = [];
  const opts = (extra: Partial<ComposeTreeOptions> = {}): ComposeTreeOptions => ({
    repo: repoPath, treefile: join(tfDir, 'u.yaml'), cachedir, log: (l) => lines.push(l), warn: (l) => warnings.push(l), ...extra,
  });
  const pkgcache = (): string => join(cachedir, 'pkgcache-repo');
  const fsck = async (repo: string): Promise<number> => (await run('ostree', ['fsck', '-q', `--repo=${repo}`])).code;
  const treefile = (dir: string, rpms: string): Promise<void[]> => Promise.all([
    writeFile(join(dir, 'test.repo'), `[test]\nname=test\nbaseurl=file://${rpms}/\ngpgcheck=0\n`),
    writeFile(join(dir, 'u.yaml'), 'ref: test/${basearch}/unified\nrepos: [test]\npackages: [app]\nselinux: false\nautomatic-version-prefix: "1"\n'),
  ]);

  beforeAll(async () => {
    delete process.env.SOURCE_DATE_EPOCH;
    tmp = await makeTmp('compose-unified-');
    await mkdir(join(tmp, 'build'));
    await buildRepo(join(tmp, 'rpms'), 'original\\n', join(tmp, 'build'));
    tfDir = join(tmp, 'tf');
    await mkdir(tfDir);
    await treefile(tfDir, join(tmp, 'rpms'));
    cachedir = join(tmp, 'cache');
    repoPath = join(tmp, 'repo');
    await Repo.init(repoPath, 'bare-user');
  }, 60_000);
  afterAll(async () => {
    if (tmp) await removeTmp(tmp);
  });

  it('imports each package into its own cached commit; a %post append reaches the tree, never the cache', async () => {
    const r = await composeTree(opts());
    expect(r.committed).toBe(true);
    expect(lines).toContain('Importing packages... 3 imported, 0 cached');
    const refs = (await runOk('ostree', ['refs', `--repo=${pkgcache()}`])).trim().split('\n').sort();
    expect(refs).toEqual(['rpmostree/pkg/app/1.0-1.noarch', 'rpmostree/pkg/data/1.0-1.noarch', 'rpmostree/pkg/shell/1.0-1.noarch']);
    expect(await runOk('ostree', ['cat', `--repo=${repoPath}`, REF, '/usr/share/foo/data'])).toBe('original\nappended\n');
    // The file was hardlinked to the cache and written in place: the compose noticed and
    // restored the cached object.
    expect(warnings.join('\n')).toMatch(/a script changed a file of data-1\.0-1\.noarch in place/);
    // A file with another owner is copied before it is given that owner: the cache keeps root.
    expect(warnings.filter((w) => w.includes('in place'))).toHaveLength(1);
    expect((await runOk('ostree', ['ls', `--repo=${repoPath}`, REF, '/usr/share/owned/file'])).trim()).toMatch(/^-00640 65534 65534\s+7 \/usr\/share\/owned\/file$/);
    expect((await runOk('ostree', ['ls', `--repo=${pkgcache()}`, 'rpmostree/pkg/data/1.0-1.noarch', '/usr/share/owned/file'])).trim()).toMatch(/^-00640 0 0\s+7 /);
    expect(await runOk('ostree', ['cat', `--repo=${pkgcache()}`, 'rpmostree/pkg/data/1.0-1.noarch', '/usr/share/foo/data'])).toBe('original\n');
    expect(await fsck(pkgcache())).toBe(0);
    expect(await fsck(repoPath)).toBe(0);
    // The package commit records the RPM's repository checksum.
    const cache = await Repo.open(pkgcache());
    const pc = await cache.loadCommit((await cache.readRef('rpmostree/pkg/data/1.0-1.noarch'))!);
    expect(dictGet(pc.metadata, 'rpmostree.repodata_checksum', 's')).toBe(`sha256:${r.packages.find((p) => p.name === 'data')!.checksum!.value}`);
    expect(dictGet(pc.metadata, 'rpmostree.nevra', 's')).toBe('data-1.0-1.noarch');
  });

  it('a recompose imports nothing and the append is in that compose only', async () => {
    lines.length = 0;
    const r = await composeTree(opts({ forceNocache: true }));
    expect(r.committed).toBe(true);
    expect(lines).toContain('Importing packages... 0 imported, 3 cached');
    expect(await runOk('ostree', ['cat', `--repo=${repoPath}`, REF, '/usr/share/foo/data'])).toBe('original\nappended\n');
    expect(await fsck(pkgcache())).toBe(0);
  });

  it('a package rebuilt under the same NEVRA is imported again, and only it', async () => {
    const rpms2 = join(tmp, 'rpms2');
    await rm(join(tmp, 'build', 'top'), { recursive: true, force: true });
    await buildRepo(rpms2, 'changed\\n', join(tmp, 'build'));
    // Only data differs in content; shell and app keep the first build's files.
    for (const n of ['shell', 'app']) await cp(join(tmp, 'rpms', `${n}-1.0-1.noarch.rpm`), join(rpms2, `${n}-1.0-1.noarch.rpm`));
    await runOk('createrepo_c', ['-q', '--no-database', rpms2]);
    const tf2 = join(tmp, 'tf2');
    await mkdir(tf2);
    await treefile(tf2, rpms2);
    lines.length = 0;
    const r = await composeTree(opts({ treefile: join(tf2, 'u.yaml') }));
    expect(r.committed).toBe(true);
    expect(lines).toContain('Importing packages... 1 imported, 2 cached');
    expect(await runOk('ostree', ['cat', `--repo=${repoPath}`, REF, '/usr/share/foo/data'])).toBe('changed\nappended\n');
    expect(await runOk('ostree', ['cat', `--repo=${pkgcache()}`, 'rpmostree/pkg/data/1.0-1.noarch', '/usr/share/foo/data'])).toBe('changed\n');
    expect(await fsck(pkgcache())).toBe(0);
  });

  it('package manifests that are missing, torn or of an older format are rebuilt, and the packages stay cached', async () => {
    const dir = join(pkgcache(), 'atomic-manifests');
    // The manifests of the three package commits the next compose uses.
    const cache = await Repo.open(pkgcache());
    const names: string[] = [];
    for (const n of ['shell', 'data', 'app']) names.push(`${await cache.readRef(`rpmostree/pkg/${n}/1.0-1.noarch`)}.json`);
    expect((await readdir(dir)).filter((f) => names.includes(f))).toHaveLength(3);
    await rm(join(dir, names[0]!));
    await writeFile(join(dir, names[1]!), '{"version": 2, "commit": ');
    const old = JSON.parse(await readFile(join(dir, names[2]!), 'utf8')) as Record<string, unknown>;
    await writeFile(join(dir, names[2]!), JSON.stringify({ ...old, version: 1, repodataChecksum: undefined, importSettings: undefined }));
    lines.length = 0;
    const r = await composeTree(opts({ treefile: join(tmp, 'tf2', 'u.yaml'), forceNocache: true }));
    expect(r.committed).toBe(true);
    expect(lines).toContain('Importing packages... 0 imported, 3 cached');
    expect(await runOk('ostree', ['cat', `--repo=${repoPath}`, REF, '/usr/share/foo/data'])).toBe('changed\nappended\n');
    for (const n of names.slice(0, 3)) {
      const m = JSON.parse(await readFile(join(dir, n), 'utf8')) as { version: number; repodataChecksum: string };
      expect(m.version).toBe(2);
      expect(m.repodataChecksum).toMatch(/^sha256:[0-9a-f]{64}$/);
    }
  });

  it('composing the same inputs into fresh repos gives the same commit, timestamped with the newest build time', async () => {
    const commits: string[] = [];
    for (const n of [1, 2]) {
      const repo = join(tmp, `fresh${n}`);
      await Repo.init(repo, 'bare-user');
      const r = await composeTree(opts({ repo, cachedir: join(tmp, `freshcache${n}`) }));
      commits.push(r.commit!);
    }
    expect(commits[0]).toBe(commits[1]);
    const c = await (await Repo.open(join(tmp, 'fresh1'))).loadCommit(commits[0]!);
    const buildtimes = (await runOk('rpm', ['-qp', '--qf', '%{BUILDTIME}\n', ...['shell', 'data', 'app'].map((n) => join(tmp, 'rpms', `${n}-1.0-1.noarch.rpm`))])).trim().split('\n').map(Number);
    expect(c.timestamp).toBe(Math.max(...buildtimes));
    // The rpm database is part of it: rpm wrote it with SOURCE_DATE_EPOCH.
    const qa = await runOk('ostree', ['ls', `--repo=${join(tmp, 'fresh1')}`, '-C', REF, '/usr/share/rpm/rpmdb.sqlite']);
    const qb = await runOk('ostree', ['ls', `--repo=${join(tmp, 'fresh2')}`, '-C', REF, '/usr/share/rpm/rpmdb.sqlite']);
    expect(qa).toBe(qb);
  });

  it('records the git revision of the treefile directory', async () => {
    const gitDir = join(tmp, 'gittf');
    await cp(tfDir, gitDir, { recursive: true });
    const env = ['-c', 'user.name=t', '-c', 'user.email=t@example.com'];
    await runOk('git', ['init', '-q', gitDir]);
    await runOk('git', ['-C', gitDir, 'add', '.']);
    await runOk('git', ['-C', gitDir, ...env, 'commit', '-q', '-m', 'treefile']);
    const head = (await runOk('git', ['-C', gitDir, 'rev-parse', 'HEAD'])).trim();
    const repo = join(tmp, 'gitrepo');
    await Repo.init(repo, 'bare-user');
    const r = await composeTree(opts({ repo, treefile: join(gitDir, 'u.yaml') }));
    const c = await (await Repo.open(repo)).loadCommit(r.commit!);
    expect(dictGet(c.metadata, GIT_REVISION_KEY, 's')).toBe(head);
    const plain = await (await Repo.open(join(tmp, 'fresh1'))).loadCommit((await (await Repo.open(join(tmp, 'fresh1'))).readRef(REF))!);
    expect(dictGet(plain.metadata, GIT_REVISION_KEY, 's')).toBeUndefined();
  });

  it('after an interrupted compose, objects damaged meanwhile are found and their packages imported again', async () => {
    const cache = await openPkgCache(pkgcache());
    const commit = (await cache.readRef(pkgCacheRef({ name: 'shell', epoch: null, version: '1.0', release: '1', arch: 'noarch' })))!;
    await markInUse(cache);
    // What a script writing through a hardlink would have done before the compose was killed.
    const c = await cache.loadCommit(commit);
    const usr = (await cache.loadDirtree(c.rootTree)).dirs.find((d) => d.name === 'usr')!;
    const bin = (await cache.loadDirtree(usr.treeChecksum)).dirs.find((d) => d.name === 'bin')!;
    const busybox = (await cache.loadDirtree(bin.treeChecksum)).files.find((f) => f.name === 'busybox')!;
    await appendFile(cache.objectPath(busybox.checksum, 'file'), 'garbage');
    expect(await fsck(pkgcache())).not.toBe(0);
    warnings.length = 0;
    lines.length = 0;
    const r = await composeTree(opts({ forceNocache: true }));
    expect(r.committed).toBe(true);
    expect(warnings.join('\n')).toMatch(/Package cache: 1 object\(s\) changed by an interrupted compose/);
    expect(lines).toContain('Importing packages... 1 imported, 2 cached');
    expect(await fsck(pkgcache())).toBe(0);
    expect(await readFile(join(cachedir, 'pkgcache-repo', 'atomic-tree-in-use'), 'utf8').catch(() => null)).toBeNull();
  });
});
