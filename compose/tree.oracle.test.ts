// The demo OS composed end to end from packages built at test time (demo/build-repo.sh:
// rpmbuild + createrepo_c), checked against the real tools: dnf --installroot for the
// package set, rpm -qlp for the files, ostree fsck/ls/show for the commit, rpm -qa for
// the rpmdb; then a newer package version advances the stream, and the stream is
// published, served by nginx and pulled with both atomic and ostree.

import { cp, mkdir, readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { atomic, have, makeTmp, removeTmp, ROOT, run, runOk } from '../test-support/index.ts';
import { startNginx, type NginxServer } from '../test-support/nginx.ts';
import { Repo } from '../store/index.ts';
import { composeTree, publishStream, type ComposeTreeResult } from './index.ts';

const tools = have('rpmbuild') && have('createrepo_c') && have('dnf') && have('bwrap') && have('ostree') && have('rpm');
const REF = 'demo/x86_64/stable';

describe.skipIf(!tools || process.arch !== 'x64' || process.getuid?.() !== 0)('compose the demo OS (oracles: dnf, rpm, ostree)', () => {
  let tmp: string;
  let rpms: string;
  let treefile: string;
  let repoPath: string;
  let cache: string;
  let first: ComposeTreeResult;
  let second: ComposeTreeResult;
  const quiet = { log: () => {}, warn: () => {} };

  beforeAll(async () => {
    tmp = await makeTmp('compose-demo-');
    rpms = join(tmp, 'rpms');
    await runOk('bash', [join(ROOT, 'demo/build-repo.sh'), '1.0', rpms]);
    await cp(join(ROOT, 'treefiles'), join(tmp, 'treefiles'), { recursive: true });
    const repoFile = join(tmp, 'treefiles/atomic-demo.repo');
    await writeFile(repoFile, (await readFile(repoFile, 'utf8')).replace(/^baseurl=.*$/m, `baseurl=file://${rpms}/`));
    treefile = join(tmp, 'treefiles/atomic-demo.yaml');
    repoPath = join(tmp, 'repo');
    cache = join(tmp, 'cache');
    await Repo.init(repoPath, 'bare-user');
  }, 120_000);
  afterAll(async () => {
    if (tmp) await removeTmp(tmp);
  });

  it('--dry-run prints the package set and writes nothing', async () => {
    const r = await atomic(['compose', 'tree', '--repo', repoPath, '--cachedir', cache, '--dry-run', treefile]);
    expect(r.stderr).toBe('');
    expect(r.code).toBe(0);
    expect(r.stdout).toContain(`No previous commit for ${REF}`);
    expect(r.stdout).toMatch(/^rpm-md repo 'atomic-demo'; generated: \S+ solvables: 10$/m);
    expect(r.stdout).toContain('  demo-tools-1.0-1.noarch (atomic-demo)\n');
    expect(r.stdout).toMatch(/^Input state hash: [0-9a-f]{64}$/m);
    expect(r.stdout).toContain('--dry-run complete; exiting');
    expect(await (await Repo.open(repoPath)).readRef(REF)).toBeNull();
  });

  it('composes the demo treefile with the package set dnf --installroot resolves', async () => {
    const r = await atomic(['compose', 'tree', '--repo', repoPath, '--cachedir', cache, '--unified-core', treefile]);
    expect(r.stderr).toBe('');
    expect(r.code).toBe(0);
    for (const line of ['Checking out packages... 8 done', 'Running pre scripts... 1 done', 'Running post scripts... 1 done', 'Running posttrans scripts... 1 done', 'Writing rpmdb... done', 'Committing... done']) {
      expect(r.stdout).toContain(`${line}\n`);
    }
    const commit = /^demo\/x86_64\/stable => ([0-9a-f]{64})$/m.exec(r.stdout)?.[1];
    expect(commit).toBeDefined();
    first = await composeTree({ repo: repoPath, treefile, cachedir: cache, dryRun: true, ...quiet });
    expect(first.previous).toBe(commit);

    // dnf resolves the treefile's package list (recommends: false) against the same repo.
    const work = join(tmp, 'dnf');
    await mkdir(join(work, 'repos'), { recursive: true });
    await writeFile(join(work, 'repos/demo.repo'), `[atomic-demo]\nname=demo\nbaseurl=file://${rpms}/\ngpgcheck=0\n`);
    const d = await run('dnf', [
      `--installroot=${join(work, 'root')}`, '--releasever=1', '--noplugins', '--setopt=gpgcheck=0', `--setopt=reposdir=${join(work, 'repos')}`,
      `--setopt=cachedir=${join(work, 'cache')}`, '--setopt=install_weak_deps=False', '--assumeno',
      'install', 'demo-filesystem', 'demo-setup', 'demo-kernel', 'demo-systemd', 'demo-shell', 'demo-release', 'demo-tools >= 1.0', 'demo-bootloader',
    ]);
    const theirs = [...d.stdout.matchAll(/^ (demo-\S+)\s+(\S+)\s+(\S+)\s+atomic-demo\s/gm)].map((m) => `${m[1]}-${m[3]}.${m[2]}`).sort();
    expect(theirs.length).toBe(8);
    expect(first.packages.map((p) => p.nevra).sort()).toEqual(theirs);
  });

  it('holds exactly the files rpm -qlp lists, moved to the OSTree layout, plus what the compose adds', async () => {
    const rpmFiles = join(cache, 'rpms/atomic-demo');
    const expected = new Set<string>();
    for (const p of first.packages) {
      const out = await runOk('rpm', ['-qp', '--qf', '[%{FILENAMES}\\t%{FILEFLAGS}\\n]', join(rpmFiles, `${p.nevra}.rpm`)]);
      for (const line of out.trim().split('\n')) {
        const [path, flags] = line.split('\t') as [string, string];
        if (Number(flags) & (64 | 2)) continue; // %ghost, %doc (documentation: false)
        if (path === '/var' || path.startsWith('/var/')) continue; // becomes tmpfiles.d lines
        if (path === '/usr/share/info' || path.startsWith('/usr/share/info/')) continue; // remove-files
        if (path === '/etc') expected.add('/usr/etc');
        if (/^\/[^/]+$/.test(path)) continue; // toplevel: the OSTree layout decides
        expected.add(path.startsWith('/etc/') ? `/usr${path}` : path.startsWith('/boot/') ? `/usr/lib/ostree-boot${path.slice(5)}` : path);
      }
    }
    const composeMade = [
      '/usr/etc/machine-id', '/usr/etc/motd', '/usr/etc/systemd', '/usr/etc/systemd/system', '/usr/etc/systemd/system/multi-user.target.wants',
      '/usr/etc/systemd/system/multi-user.target.wants/demo-motd.service', '/usr/lib/passwd', '/usr/lib/group', '/usr/lib/atomic-build', '/usr/lib/atomic/build-date',
      '/usr/lib/modules/6.1.0-1.demo/initramfs.img', '/usr/lib/ostree-boot', '/usr/lib/rpm', '/usr/lib/rpm/macros.d', '/usr/lib/rpm/macros.d/macros.rpm-ostree',
      '/usr/lib/sysimage', '/usr/lib/sysimage/rpm', '/usr/lib/sysimage/rpm-ostree-base-db', '/usr/lib/sysimage/rpm-ostree-base-db/rpmdb.sqlite',
      '/usr/lib/systemd/system/default.target', '/usr/lib/tmpfiles.d', '/usr/lib/tmpfiles.d/atomic-0-integration-opt-usrlocal.conf',
      '/usr/lib/tmpfiles.d/atomic-0-integration.conf', '/usr/lib/tmpfiles.d/atomic-1-autovar.conf', '/usr/local', '/usr/share/demo-tools/posttrans.stamp',
      '/usr/share/rpm', '/usr/share/rpm/rpmdb.sqlite', '/usr/share/rpm-ostree', '/usr/share/rpm-ostree/treefile.json',
    ];
    const ls = await runOk('ostree', ['ls', '-R', `--repo=${repoPath}`, REF, '/usr']);
    const inTree = ls.trim().split('\n').map((l) => l.split(/\s+/)[4]!).filter((p) => p !== '/usr');
    expect(inTree.sort()).toEqual([...expected, ...composeMade].sort());
  });

  it('passes ostree fsck and has the OSTree layout: /usr/etc, an empty /var, tmpfiles.d for /var', async () => {
    const fsck = await run('ostree', ['fsck', `--repo=${repoPath}`]);
    expect(fsck.code, fsck.stderr).toBe(0);
    const top = await runOk('ostree', ['ls', `--repo=${repoPath}`, REF, '/']);
    const names = top.trim().split('\n').slice(1).map((l) => l.split(/\s+/).slice(4).join(' ')).sort();
    expect(names).toEqual([
      '/bin -> usr/bin', '/boot', '/dev', '/home -> var/home', '/lib -> usr/lib', '/lib64 -> usr/lib64', '/media -> run/media', '/mnt -> var/mnt',
      '/opt -> var/opt', '/ostree -> sysroot/ostree', '/proc', '/root -> var/roothome', '/run', '/sbin -> usr/sbin', '/srv -> var/srv', '/sys', '/sysroot',
      '/tmp', '/usr', '/var',
    ]);
    expect((await runOk('ostree', ['ls', `--repo=${repoPath}`, REF, '/var'])).trim().split('\n')).toHaveLength(1);
    const autovar = await runOk('ostree', ['cat', `--repo=${repoPath}`, REF, '/usr/lib/tmpfiles.d/atomic-1-autovar.conf']);
    expect(autovar).toContain('d /var/lib/demod 0750 demod demod - -\n');
    expect(autovar).toContain('d /var/tmp 1777 root root - -\n');
    expect(autovar).not.toContain('demod.log');
    // Owners from the user %pre created; the file capability; the hardlinked pair.
    const bin = await runOk('ostree', ['ls', '-X', `--repo=${repoPath}`, REF, '/usr/libexec/demod/demod', '/usr/bin/demo-ping']);
    expect(bin).toMatch(/^-00750 990 990 .* \/usr\/libexec\/demod\/demod$/m);
    expect(bin).toMatch(/security\.capability/);
    const pair = await runOk('ostree', ['ls', '-C', `--repo=${repoPath}`, REF, '/usr/bin/demo-hello', '/usr/bin/demo-hi']);
    const sums = [...pair.matchAll(/ ([0-9a-f]{64}) /g)].map((m) => m[1]);
    expect(sums).toHaveLength(2);
    expect(sums[0]).toBe(sums[1]);
    const passwd = await runOk('ostree', ['cat', `--repo=${repoPath}`, REF, '/usr/lib/passwd']);
    expect(passwd).toContain('demo:x:1000:1000:Demo User:/home/demo:/bin/sh\n');
    expect(await runOk('ostree', ['cat', `--repo=${repoPath}`, REF, '/usr/etc/passwd'])).toBe('root:x:0:0:root:/root:/bin/sh\n');
    expect(await runOk('ostree', ['cat', `--repo=${repoPath}`, REF, '/usr/share/demo-tools/posttrans.stamp'])).toBe('installed demo-tools 1.0\n');
  });

  it('records rpm-ostree commit metadata: version, pkglist, inputhash, bootable kernel', async () => {
    const pkglist = await runOk('ostree', ['show', `--repo=${repoPath}`, '--print-metadata-key=rpmostree.rpmdb.pkglist', REF]);
    for (const p of first.packages) expect(pkglist).toContain(`('${p.name}', '0', '${p.version}', '${p.release}', '${p.arch}')`);
    expect((await runOk('ostree', ['show', `--repo=${repoPath}`, '--print-metadata-key=version', REF])).trim()).toBe("'1'");
    expect((await runOk('ostree', ['show', `--repo=${repoPath}`, '--print-metadata-key=rpmostree.inputhash', REF])).trim()).toBe(`'${first.inputhash}'`);
    expect((await runOk('ostree', ['show', `--repo=${repoPath}`, '--print-metadata-key=ostree.linux', REF])).trim()).toBe("'6.1.0-1.demo'");
    expect((await runOk('ostree', ['show', `--repo=${repoPath}`, '--print-metadata-key=atomic.stream', REF])).trim()).toBe("'stable'");
  });

  it('has an rpm database that rpm -qa reads back as the composed set', async () => {
    const co = join(tmp, 'checkout');
    await runOk('ostree', ['checkout', `--repo=${repoPath}`, '-U', REF, co]);
    const qa = await runOk('rpm', ['--root', co, '--dbpath', '/usr/share/rpm', '-qa', '--qf', '%{NAME}-%{VERSION}-%{RELEASE}.%{ARCH}\\n']);
    expect(qa.trim().split('\n').sort()).toEqual(first.packages.map((p) => p.nevra).sort());
  });

  it('does nothing when the inputs are unchanged', async () => {
    const before = await (await Repo.open(repoPath)).readRef(REF);
    const lines: string[] = [];
    const r = await composeTree({ repo: repoPath, treefile, cachedir: cache, log: (l) => lines.push(l), warn: () => {} });
    expect(r.committed).toBe(false);
    expect(lines).toContain('No apparent changes since previous commit; use --force-nocache to override');
    expect(await (await Repo.open(repoPath)).readRef(REF)).toBe(before);
  });

  it('publishes the stream into an archive repo', async () => {
    const res = await publishStream({ from: repoPath, to: join(tmp, 'pub'), log: () => {} });
    expect(res.refs[0]!.delta).toBeNull();
    expect((await run('ostree', ['fsck', `--repo=${join(tmp, 'pub')}`])).code).toBe(0);
  });

  it('advances the ref to version 1.1, with the old commit as parent, when the repo gains newer packages', async () => {
    await runOk('bash', [join(ROOT, 'demo/build-repo.sh'), '2.0', rpms]);
    const lines: string[] = [];
    second = await composeTree({ repo: repoPath, treefile, cachedir: cache, log: (l) => lines.push(l), warn: () => {} });
    expect(second.committed).toBe(true);
    expect(second.version).toBe('1.1');
    expect(lines).toContain('Upgraded:');
    expect(lines).toContain('  demo-tools-1.0-1.noarch -> demo-tools-2.0-1.noarch');
    const repo = await Repo.open(repoPath);
    const c = await repo.loadCommit(second.commit!);
    expect(c.parent).toBe(first.previous);
    const osr = await runOk('ostree', ['cat', `--repo=${repoPath}`, REF, '/usr/lib/os-release']);
    expect(osr).toContain('VERSION="1.1"\n');
    expect(osr).toContain("OSTREE_VERSION='1.1'\n");
    // The users keep their ids (preserve-passwd seeds from the previous commit).
    expect(await runOk('ostree', ['cat', `--repo=${repoPath}`, REF, '/usr/lib/passwd'])).toBe(await runOk('ostree', ['cat', `--repo=${repoPath}`, first.previous!, '/usr/lib/passwd']));
    expect((await run('ostree', ['fsck', `--repo=${repoPath}`])).code).toBe(0);
  });

  describe('published over HTTP', () => {
    let nginx: NginxServer;
    beforeAll(async () => {
      const r = await atomic(['compose', 'publish', '--repo', repoPath, '--to', join(tmp, 'pub'), '--keep', '2']);
      expect(r.stderr).toBe('');
      expect(r.stdout).toMatch(/^Generated static delta [0-9a-f]{64}-[0-9a-f]{64} /m);
      expect(r.stdout).toContain(`${REF} => ${second.commit}`);
      nginx = await startNginx(join(tmp, 'pub'), join(tmp, 'nginx'));
    });
    afterAll(async () => {
      await nginx?.stop();
    });

    it('atomic repo pull fetches the new commit', async () => {
      const client = join(tmp, 'client-atomic');
      await runOk(join(ROOT, 'bin/atomic'), ['repo', 'init', '--repo', client, '--mode', 'bare-user']);
      await runOk(join(ROOT, 'bin/atomic'), ['repo', 'remote', 'add', '--repo', client, '--no-sign-verify', 'demo', nginx.url]);
      const r = await atomic(['repo', 'pull', '--repo', client, '--progress', 'none', 'demo', REF]);
      expect(r.code, r.stderr).toBe(0);
      expect((await runOk(join(ROOT, 'bin/atomic'), ['repo', 'rev-parse', '--repo', client, `demo:${REF}`])).trim()).toBe(second.commit);
      expect((await run('ostree', ['fsck', `--repo=${client}`])).code).toBe(0);
    });

    it('ostree pull fetches it too, and sees the delta in the summary', async () => {
      const client = join(tmp, 'client-ostree');
      await runOk('ostree', ['init', `--repo=${client}`, '--mode=bare-user']);
      await runOk('ostree', ['remote', 'add', `--repo=${client}`, '--no-gpg-verify', 'demo', nginx.url]);
      await runOk('ostree', ['pull', `--repo=${client}`, 'demo', REF]);
      expect((await runOk('ostree', ['rev-parse', `--repo=${client}`, `demo:${REF}`])).trim()).toBe(second.commit);
      expect((await run('ostree', ['fsck', `--repo=${client}`])).code).toBe(0);
      const summary = await runOk('ostree', ['summary', `--repo=${join(tmp, 'pub')}`, '--view']);
      expect(summary).toContain('Static Deltas');
    });
  });
});
