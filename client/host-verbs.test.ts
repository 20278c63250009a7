// The rpm-ostree verbs beyond deploy/upgrade/rollback, on sysroots in temp dirs: checks
// that run before any write (/etc merge plan, bootability, space), upgrade --check /
// --preview / --download-only / --reboot, deploy VERSION|CHECKSUM, rebase, db diff/list,
// and the status lines that come with package lists.

import { spawnSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { existsSync, readdirSync, readFileSync, readlinkSync } from 'node:fs';
import { mkdir, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { ATOMIC, have, isRoot, makeTmp, removeTmp, run, runOk } from '../test-support/index.ts';
import { addRemote, KeyFile, Repo, resolvePath } from '../store/index.ts';
import {
  checkSpace, checkUpdate, collectStatus, bootCountingState, dbDiff, deploy, deploymentDir, deployRevision, loadSysroot, rebase, renderStatus, upgrade,
} from './index.ts';
import { commitOsTree, makeSysroot } from './test-os.ts';

let tmp: string;
let sysroot: string;
let repoPath: string;
let n = 0;
const o = <T extends object>(extra?: T) => ({ sysroot, osname: 'testos', procCmdline: '/nonexistent', ...(extra ?? ({} as T)) });

async function commit(version: string, extra: Parameters<typeof commitOsTree>[3] extends infer T ? Partial<T> : never = {}, branch = 'testos/main'): Promise<string> {
  return commitOsTree(repoPath, branch, join(tmp, `tree${n++}`), { version, timestamp: 1700000000 + n, ...extra });
}

function cli(args: string[], env: Record<string, string> = {}): { status: number | null; signal: string | null; stdout: string; stderr: string } {
  const r = spawnSync(ATOMIC, [...args, '--sysroot', sysroot], { env: { ...process.env, ATOMIC_PROC_CMDLINE: '/nonexistent', ...env }, encoding: 'utf8' });
  return { status: r.status, signal: r.signal, stdout: r.stdout, stderr: r.stderr };
}

const deployDirs = (): string[] => readdirSync(join(sysroot, 'ostree/deploy/testos/deploy')).sort();
const csums = async (): Promise<string[]> => (await loadSysroot(sysroot, { procCmdline: '/nonexistent' })).deployments.map((d) => d.csum);

beforeEach(async () => {
  tmp = await makeTmp('atomic-host-verbs-');
  sysroot = await makeSysroot(tmp);
  repoPath = join(sysroot, 'ostree/repo');
});
afterEach(async () => {
  await removeTmp(tmp);
});

describe('checks before the first write', () => {
  it('finds every /etc conflict from the repo, before the checkout (kill at after-preflight is never reached)', async () => {
    const c1 = await commit('1', { etc: { 'a.conf': 'a\n', 'b.conf': 'b\n', 'keep/x.conf': 'x\n' } });
    await deploy(o({ revision: 'testos/main' }));
    const etc = join(deploymentDir(sysroot, { osname: 'testos', csum: c1, deployserial: 0 }), 'etc');
    await writeFile(join(etc, 'a.conf'), 'edited\n');
    await writeFile(join(etc, 'newdir'), 'a user file\n');
    await writeFile(join(etc, 'keep/x.conf'), 'edited\n');
    // v2: both user files now default to directories, and keep/ becomes a file.
    await commit('2', { etc: { 'a.conf/inner': '1\n', 'b.conf': 'b\n', 'newdir/inner.conf': 'd\n', keep: 'now a file\n' } });
    const before = deployDirs();
    const r = cli(['host', 'upgrade', '-C'], { ATOMIC_TEST_CRASH_AT: 'after-preflight' });
    expect(r.signal).toBeNull();
    expect(r.status).toBe(1);
    expect(r.stderr).toContain("error: during /etc merge: Modified config file newly defaults to directory 'a.conf', cannot merge");
    expect(r.stderr).toContain("Modified config file newly defaults to directory 'newdir', cannot merge");
    expect(r.stderr).toContain('/etc/keep is a directory in the current /etc but not in the new default configuration');
    expect(deployDirs()).toEqual(before);
    // The same plan, without conflicts, passes the checks and reaches the first write.
    await rm(join(etc, 'newdir'));
    await rm(join(etc, 'a.conf'));
    await writeFile(join(etc, 'keep/x.conf'), 'x\n');
    const ok = cli(['host', 'upgrade', '-C'], { ATOMIC_TEST_CRASH_AT: 'after-preflight' });
    expect(ok.signal).toBe('SIGKILL');
    expect(deployDirs()).toEqual(before);
  });

  it('refuses a commit without a kernel or os-release before the checkout', async () => {
    await commit('1');
    await deploy(o({ revision: 'testos/main' }));
    const work = join(tmp, 'nokernel');
    await commitOsTree(repoPath, 'testos/main', work, { version: '2' });
    await rm(join(work, 'usr/lib/modules'), { recursive: true });
    const repo = await Repo.open(repoPath);
    const { commitDirectory } = await import('../store/index.ts');
    await commitDirectory(repo, work, { branch: 'testos/main', timestamp: 1800000000 });
    const r = cli(['host', 'upgrade', '-C'], { ATOMIC_TEST_CRASH_AT: 'after-preflight' });
    expect(r.status).toBe(1);
    expect(r.stderr).toMatch(/error: commit [0-9a-f]{64} is not bootable: no kernel/);
  });

  it('refuses when the sysroot filesystem would dip into the repo reserve (min-free-space-size)', async () => {
    await commit('1');
    await deploy(o({ revision: 'testos/main' }));
    await commit('2');
    const repo = await Repo.open(repoPath);
    repo.config.set('core', 'min-free-space-size', '1000000TB');
    await repo.saveConfig();
    const before = deployDirs();
    await expect(upgrade(o({ cacheOnly: true }))).rejects.toMatchObject({
      code: 'DEPLOY_NO_SPACE', message: expect.stringMatching(/^not enough space on .*ostree\/repo for the new deployment of [0-9a-f]{64}: it needs .* are free and min-free-space-size=1000000TB must stay free$/),
    });
    expect(deployDirs()).toEqual(before);
    repo.config.set('core', 'min-free-space-size', '1MB');
    await repo.saveConfig();
    expect((await upgrade(o({ cacheOnly: true }))).changed).toBe(true);
  });

  it('checks /boot on its own filesystem for the kernel and initramfs', async () => {
    // A 64 KiB tmpfs as /boot: the first kernel fits, a 100 kB second one does not.
    const boot = join(sysroot, 'boot');
    const m = await run('mount', ['-t', 'tmpfs', '-o', 'size=64k', 'tmpfs', boot]);
    if (!isRoot || m.code !== 0) {
      console.log(`/boot space test skipped: cannot mount a tmpfs here (${m.stderr.trim()})`);
      return;
    }
    try {
      await commit('1');
      await deploy(o({ revision: 'testos/main' }));
      await commit('2', { kernel: `KERNEL B ${'x'.repeat(100_000)}\n` });
      const loader = readlinkSync(join(boot, 'loader'));
      await expect(upgrade(o({ cacheOnly: true }))).rejects.toMatchObject({
        code: 'DEPLOY_NO_SPACE', message: expect.stringContaining(`not enough space on ${boot} for the kernel and initramfs of the new deployment of`),
      });
      expect(readlinkSync(join(boot, 'loader'))).toBe(loader);
      expect(readdirSync(join(boot, 'ostree'))).toHaveLength(1);
    } finally {
      await run('umount', [boot]);
    }
  });

  it('checkSpace: bytes, inodes, the reserve, and /boot on the same filesystem', () => {
    const need = { sysrootBytes: 1000, sysrootInodes: 10, bootBytes: 500, bootInodes: 2 };
    const fs = (freeBytes: number, freeInodes: number | null = 100) => ({ path: '/x', freeBytes, freeInodes, blockSize: 4096 });
    const reserve = { bytes: 100, text: 'min-free-space-percent=3' };
    expect(() => checkSpace(need, fs(1600), null, reserve, 'd')).not.toThrow();
    expect(() => checkSpace(need, fs(1599), null, reserve, 'd')).toThrow(/needs 1.5 kB, 1.6 kB are free and min-free-space-percent=3 must stay free/);
    expect(() => checkSpace(need, fs(1100), fs(499), reserve, 'd')).toThrow(/not enough space on \/x for the kernel/);
    expect(() => checkSpace(need, fs(1100, 9), fs(500), reserve, 'd')).toThrow(/not enough inodes/);
    expect(() => checkSpace(need, fs(1100, null), fs(500, null), reserve, 'd')).not.toThrow();
  });
});

describe('regressions found by the kill -9 soak', () => {
  it('a kill while a deployment ref was written left refs/heads/ostree/B/S/.I.tmp-…, which broke the rerun', async () => {
    await commit('1');
    await deploy(o({ revision: 'testos/main' }));
    await commit('2', { kernel: 'KERNEL B\n' });
    const refdir = join(repoPath, 'refs/heads/ostree/1/1');
    await writeFile(join(refdir, '.1.tmp-0123456789ab'), 'half a check');
    expect((await upgrade(o({ cacheOnly: true }))).changed).toBe(true);
    expect(readdirSync(join(repoPath, 'refs/heads/ostree'), { recursive: true }).filter((n) => String(n).includes('.tmp-'))).toEqual([]);
    expect([...(await (await Repo.open(repoPath)).listRefs()).keys()].filter((r) => r.startsWith('ostree/'))).toHaveLength(2);
  });

  it.skipIf(!have('ostree'))('a kill during the prune left a commit without its dirtree (ostree fsck failed); the rerun prunes again', async () => {
    await commit('1');
    await deploy(o({ revision: 'testos/main' }));
    // What an interrupted prune leaves: an unreachable commit whose root dirtree is already deleted.
    const repo = await Repo.open(repoPath);
    const junk = await commit('junk', {}, 'testos/junk');
    const root = (await repo.loadCommit(junk)).rootTree;
    await repo.writeRef(null, 'testos/junk', null);
    await rm(repo.objectPath(root, 'dirtree'));
    await writeFile(join(sysroot, 'ostree/.atomic-cleanup-pending'), '1\n');
    expect((await run('ostree', ['fsck', '--quiet', `--repo=${repoPath}`])).code).not.toBe(0);
    expect((await upgrade(o({ cacheOnly: true }))).changed).toBe(false);
    expect(await repo.hasObject(junk, 'commit')).toBe(false);
    expect(existsSync(join(sysroot, 'ostree/.atomic-cleanup-pending'))).toBe(false);
    await runOk('ostree', ['fsck', '--quiet', `--repo=${repoPath}`]);
  });

  it('a kill during cleanup, after the old loader and deployments were gone, left stale deployment refs, kernels and objects that no rerun removed', async () => {
    const c1 = await commit('1');
    await deploy(o({ revision: 'testos/main' }));
    await commit('2', { kernel: 'KERNEL B\n' });
    await upgrade(o({ cacheOnly: true }));
    await commit('3', { kernel: 'KERNEL C\n' });
    // Killed once cleanup has removed the first unlisted deployment (v1): the other
    // loader is gone too, the refs of the old boot version, v1's kernel and objects not yet.
    const killed = cli(['host', 'upgrade', '-C'], { ATOMIC_TEST_CRASH_AT: 'during-cleanup' });
    expect(killed.signal, killed.stderr).toBe('SIGKILL');
    const repo = await Repo.open(repoPath);
    const ostreeRefs = async (): Promise<string[]> => [...(await repo.listRefs({ remotes: false })).keys()].filter((r) => r.startsWith('ostree/'));
    expect(await ostreeRefs()).toHaveLength(4);
    const rerun = cli(['host', 'upgrade', '-C']);
    expect([rerun.status, rerun.stdout], rerun.stderr).toEqual([0, 'Updating from: testos/main\nNo upgrade available.\n']);
    const s = await loadSysroot(sysroot, { procCmdline: '/nonexistent' });
    expect((await ostreeRefs()).sort()).toEqual([`ostree/${s.bootversion}/${s.subbootversion}/0`, `ostree/${s.bootversion}/${s.subbootversion}/1`]);
    expect(readdirSync(join(sysroot, 'boot/ostree'))).toHaveLength(2);
    expect(await repo.hasObject(c1, 'commit')).toBe(false);
    expect(existsSync(join(sysroot, 'ostree/.atomic-cleanup-pending'))).toBe(false);
  });

  it('a kill while the pull wrote the remote ref left refs/remotes/origin/testos/.main.tmp-… behind the rerun', async () => {
    const server = join(tmp, 'server');
    await Repo.init(server, 'archive');
    await commitOsTree(server, 'testos/main', join(tmp, 's1'), { version: '1', timestamp: 1700000001 });
    await addRemote(await Repo.open(repoPath), 'origin', `file://${server}`, { options: [['gpg-verify', 'false']] });
    await deploy(o({ revision: 'origin:testos/main' }));
    const temp = join(repoPath, 'refs/remotes/origin/testos/.main.tmp-0123456789ab');
    await writeFile(temp, 'half a che');
    const r = cli(['host', 'upgrade']);
    expect([r.status, r.stdout], r.stderr).toEqual([0, 'Updating from: origin:testos/main\nNo upgrade available.\n']);
    expect(existsSync(temp)).toBe(false);
    expect([...(await (await Repo.open(repoPath)).listRefs()).keys()].filter((n) => !n.startsWith('ostree/'))).toEqual(['origin:testos/main']);
  });

  it('a kill after the pull staged an object, before it dropped the partial download, left tmp/pull-partial files no later run removed', async () => {
    const server = join(tmp, 'server');
    await Repo.init(server, 'archive');
    await commitOsTree(server, 'testos/main', join(tmp, 's1'), { version: '1', timestamp: 1700000001 });
    await addRemote(await Repo.open(repoPath), 'origin', `file://${server}`, { options: [['gpg-verify', 'false']] });
    await deploy(o({ revision: 'origin:testos/main' }));
    const c2 = await commitOsTree(server, 'testos/main', join(tmp, 's2'), { version: '2', timestamp: 1700000002, files: { 'usr/share/big': randomBytes(8000) } });
    expect((await upgrade(o({ downloadOnly: true }))).to).toBe(c2);
    // What the kill leaves: the object is in, its download and unpacked copy still in tmp/pull-partial.
    const repo = await Repo.open(repoPath);
    const big = await resolvePath(repo, await repo.loadCommit(c2), 'usr/share/big');
    if (!('file' in big)) throw new Error('usr/share/big is not a file');
    const partials = join(repoPath, 'tmp/pull-partial');
    await writeFile(join(partials, `${big.file}.filez.part`), readFileSync((await Repo.open(server)).objectPath(big.file, 'file')));
    await writeFile(join(partials, `${big.file}.data`), 'half of it');
    // The download of an object the repo does not have stays, to be resumed.
    const missing = `${'ab'.repeat(32)}.filez.part`;
    await writeFile(join(partials, missing), 'the first bytes');
    const r = cli(['host', 'upgrade']);
    expect(r.status, r.stderr).toBe(0);
    expect(await csums()).toEqual([c2, expect.any(String)]);
    expect(readdirSync(partials)).toEqual([missing]);
  });
});

describe('upgrade --check, --preview, --download-only, --reboot', () => {
  it('reports the update with its package diff, exit 77 when there is none', async () => {
    await commit('1', { packages: ['bash-5.2.15-1.fc37.x86_64', 'kernel-6.1.8-200.fc37.x86_64', 'old-1.0-1.noarch'] });
    await deploy(o({ revision: 'testos/main' }));
    let r = cli(['host', 'upgrade', '--check']);
    expect(r.status).toBe(77);
    expect(r.stdout).toBe('No updates available.\n');
    const c2 = await commit('2', { packages: ['bash-5.2.15-1.fc37.x86_64', 'kernel-6.2.0-1.fc37.x86_64', 'new-2.0-1.noarch'] });
    const ts = new Date((await (await Repo.open(repoPath)).loadCommit(c2)).timestamp * 1000).toISOString().replace('.000', '');
    r = cli(['host', 'upgrade', '--check']);
    expect(r.status, r.stderr).toBe(0);
    expect(r.stdout).toBe(['AvailableUpdate:', `        Version: 2 (${ts})`, `         Commit: ${c2}`, '           Diff: 1 upgraded, 1 removed, 1 added', ''].join('\n'));
    r = cli(['host', 'upgrade', '--preview']);
    expect(r.stdout).toContain(['           Diff: 1 upgraded, 1 removed, 1 added', 'Upgraded:', '  kernel 6.1.8-200.fc37 -> 6.2.0-1.fc37',
      'Removed:', '  old-1.0-1.noarch', 'Added:', '  new-2.0-1.noarch', ''].join('\n'));
    expect(await csums()).toHaveLength(1);
    // The upgrade prints the same listing, then the reboot hint; --reboot runs the command.
    const mark = join(tmp, 'rebooted');
    r = cli(['host', 'upgrade', '--reboot'], { ATOMIC_REBOOT_COMMAND: `echo "reboot requested" > ${mark}` });
    expect(r.status, r.stderr).toBe(0);
    expect(r.stdout).toContain('Upgraded:\n  kernel 6.1.8-200.fc37 -> 6.2.0-1.fc37\n');
    expect(r.stdout).not.toContain('Run "systemctl reboot"');
    expect(readFileSync(mark, 'utf8')).toBe('reboot requested\n');
    r = cli(['host', 'upgrade', '--unchanged-exit-77']);
    expect([r.status, r.stdout]).toEqual([77, 'Updating from: testos/main\nNo upgrade available.\n']);
    // A failing reboot command is an error naming it, after the deployment is in place.
    await commit('3');
    r = cli(['host', 'upgrade', '-r'], { ATOMIC_REBOOT_COMMAND: 'exit 3' });
    expect(r.status).toBe(1);
    expect(r.stderr).toContain("the reboot command 'exit 3' failed (exit status 3)");
    expect((await csums())[0]).not.toBe(c2);
  });

  it('--preview without package lists lists the changed files; --download-only deploys nothing', async () => {
    await commit('1');
    await deploy(o({ revision: 'testos/main' }));
    await commit('2', { files: { 'usr/share/new.txt': 'new\n' } });
    const c = await checkUpdate(o({ preview: true }));
    expect(c.packages).toBeNull();
    expect(c.files).toEqual({ modified: ['/usr/bin/hello', '/usr/etc/os.conf'], removed: [], added: ['/usr/share', '/usr/share/new.txt'] });
    const r = cli(['host', 'upgrade', '--preview']);
    expect(r.stdout).toContain('Files: 2 modified, 0 removed, 2 added\nM    /usr/bin/hello\nM    /usr/etc/os.conf\nA    /usr/share\nA    /usr/share/new.txt\n');
    const d = cli(['host', 'upgrade', '--download-only']);
    expect(d.status, d.stderr).toBe(0);
    expect(d.stdout).toMatch(/^Updating from: testos\/main\nUpdate downloaded: testos\/main [0-9a-f]{64}\n$/);
    expect(await csums()).toHaveLength(1);
  });
});

describe('deploy VERSION|CHECKSUM, rebase', () => {
  it('deploys an older version by name, pins it with override-commit, and upgrade returns to the tip', async () => {
    // The history lives on a remote (file://): the sysroot's prune keeps only deployed commits.
    const server = join(tmp, 'server');
    await Repo.init(server, 'archive');
    const serverCommit = async (version: string, branch = 'testos/main'): Promise<string> =>
      commitOsTree(server, branch, join(tmp, `tree${n++}`), { version, timestamp: 1700000000 + n });
    for (let i = 0; i < 12; i++) await serverCommit(`0.${i}.a`);
    const c1 = await serverCommit('1.0');
    for (let i = 0; i < 12; i++) await serverCommit(`1.${i}.b`);
    const c2 = await serverCommit('2.0');
    await addRemote(await Repo.open(repoPath), 'origin', `file://${server}`, { options: [['gpg-verify', 'false']] });
    await deploy(o({ revision: 'origin:testos/main' }));
    expect(await csums()).toEqual([c2]);
    const log: string[] = [];
    const res = await deployRevision(o({ revision: '1.0', log: (l: string) => void log.push(l) }));
    expect(log[0]).toBe("Resolving version '1.0'");
    expect(res.csum).toBe(c1);
    let s = await loadSysroot(sysroot, { procCmdline: '/nonexistent' });
    expect(s.deployments.map((d) => d.csum)).toEqual([c1, c2]);
    expect(s.deployments[0]!.origin!.toString()).toBe(`[origin]\nrefspec=origin:testos/main\noverride-commit=${c1}\n`);
    expect((await deployRevision(o({ revision: c1 }))).changed).toBe(false);
    await expect(deployRevision(o({ revision: '9.9' }))).rejects.toMatchObject({ code: 'DEPLOY_VERSION_NOT_FOUND', message: 'Version 9.9 not found in origin:testos/main' });
    await expect(deployRevision(o({ revision: c2, disallowDowngrade: false, skipBranchCheck: false }))).resolves.toMatchObject({ csum: c2 });
    const other = await serverCommit('x', 'testos/other');
    await deploy(o({ revision: 'origin:testos/other', retain: true }));
    await deploy(o({ revision: 'origin:testos/main', retain: true }));
    await expect(deployRevision(o({ revision: other }))).rejects.toMatchObject({ code: 'DEPLOY_NOT_IN_BRANCH' });
    await deployRevision(o({ revision: '1.0' }));
    await expect(deployRevision(o({ revision: c2, disallowDowngrade: true }))).resolves.toMatchObject({ changed: true });
    await deployRevision(o({ revision: '1.0' }));
    await expect(deployRevision(o({ revision: '1.0', disallowDowngrade: true }))).resolves.toMatchObject({ changed: false });
    const up = await upgrade(o({ cacheOnly: true }));
    expect(up.to).toBe(c2);
    s = await loadSysroot(sysroot, { procCmdline: '/nonexistent' });
    expect(s.deployments[0]!.origin!.get('origin', 'override-commit')).toBeUndefined();
    expect(s.deployments[0]!.origin!.get('origin', 'refspec')).toBe('origin:testos/main');
    // Through the CLI: a version is told from a refspec by the origin it would follow.
    const r = cli(['host', 'deploy', '1.0']);
    expect(r.status, r.stderr).toBe(0);
    expect(r.stdout).toContain("Resolving version '1.0'\n");
    expect((await csums())[0]).toBe(c1);
    const same = cli(['host', 'deploy', '1.0', '--unchanged-exit-77']);
    expect([same.status, same.stdout.trim().split('\n').at(-1)]).toEqual([77, 'No change.']);
  });

  it('rebases to another ref, deletes the old ref, and says No change. when there is nothing to do', async () => {
    const repo = await Repo.open(repoPath);
    await commit('1');
    const b1 = await commit('b1', { kernel: 'KERNEL B\n' }, 'testos/beta');
    await repo.writeRef('origin', 'testos/main', (await repo.readRef('testos/main'))!);
    await repo.writeRef('origin', 'testos/beta', b1);
    await deploy(o({ revision: 'origin:testos/main', cacheOnly: true }));
    const res = await rebase(o({ refspec: 'testos/beta', cacheOnly: true }));
    expect(res).toMatchObject({ changed: true, from: 'origin:testos/main', to: 'origin:testos/beta', csum: b1 });
    const s = await loadSysroot(sysroot, { procCmdline: '/nonexistent' });
    expect(s.deployments[0]!.origin!.get('origin', 'refspec')).toBe('origin:testos/beta');
    expect(await repo.readRef('origin:testos/main')).toBeNull();
    expect((await rebase(o({ refspec: 'origin:', cacheOnly: true }))).changed).toBe(false);
    const r = cli(['host', 'rebase', '-C', 'origin:testos/beta', '--unchanged-exit-77']);
    expect([r.status, r.stdout]).toEqual([77, 'No change.\n']);
    await expect(rebase(o({ refspec: 'testos/nothing', cacheOnly: true }))).rejects.toMatchObject({ code: 'DEPLOY_REF_NOT_FOUND' });
  });
});

describe('db diff, db list, status', () => {
  it('diffs and lists the package lists of deployments and commits, and status shows the Diff of the pending one', async () => {
    const c1 = await commit('1', { packages: ['bash-5.2.15-1.fc37.x86_64', 'foo-2.0-1.noarch'] });
    await deploy(o({ revision: 'testos/main' }));
    await writeFile(join(tmp, 'cmdline'), `ostree=${(await loadSysroot(sysroot, { procCmdline: '/nonexistent' })).deployments[0]!.entry!.options.split('ostree=')[1]}\n`);
    const c2 = await commit('2', { packages: ['bash-5.2.21-1.fc37.x86_64', 'foo-1:1.0-1.noarch', 'zsh-5.9-5.fc37.x86_64'] });
    await upgrade(o({ cacheOnly: true, procCmdline: join(tmp, 'cmdline') }));
    const env = { ATOMIC_PROC_CMDLINE: join(tmp, 'cmdline') };
    let r = cli(['host', 'db', 'diff'], env);
    expect(r.status, r.stderr).toBe(0);
    expect(r.stdout).toBe([`ostree diff commit from: booted deployment (${c1})`, `ostree diff commit to:   pending deployment (${c2})`,
      'Upgraded:', '  bash 5.2.15-1.fc37 -> 5.2.21-1.fc37', '  foo 2.0-1 -> 1:1.0-1', 'Added:', '  zsh-5.9-5.fc37.x86_64', ''].join('\n'));
    r = cli(['host', 'db', 'diff', c2, c1, '--format=diff']);
    expect(r.stdout.split('\n').slice(2)).toEqual(['!bash-5.2.21-1.fc37.x86_64', '=bash-5.2.15-1.fc37.x86_64', '!foo-1:1.0-1.noarch', '=foo-2.0-1.noarch', '-zsh-5.9-5.fc37.x86_64', '']);
    r = cli(['host', 'db', 'list', 'testos/main']);
    expect(r.stdout).toBe(`ostree commit: testos/main (${c2})\n bash-5.2.21-1.fc37.x86_64\n foo-1:1.0-1.noarch\n zsh-5.9-5.fc37.x86_64\n`);
    const s = await loadSysroot(sysroot, { procCmdline: join(tmp, 'cmdline') });
    expect(renderStatus(await collectStatus(s, await bootCountingState(s)))).toContain(`                   Commit: ${c2}\n                     Diff: 2 upgraded, 1 added\n`);
    const plain = await commit('3');
    await expect(dbDiff({ sysroot, from: c2, to: plain })).rejects.toMatchObject({ code: 'DB_NO_PKGLIST', message: `commit ${plain} (${plain}) has no rpmostree.rpmdb.pkglist metadata and no rpmdb, so its packages are unknown` });
    expect(existsSync(join(tmp, 'cmdline.atomic-booted'))).toBe(true);
  });

  it('shows BaseCommit for a client-layered commit', async () => {
    const c1 = await commit('1');
    const { commitDirectory, variant } = await import('../store/index.ts');
    const work = join(tmp, 'layered');
    await commitOsTree(repoPath, 'testos/tmp', work, { version: '1' });
    await mkdir(join(work, 'usr/share/layered'), { recursive: true });
    const layered = (await commitDirectory(await Repo.open(repoPath), work, {
      branch: 'testos/layered', parent: c1, metadata: [['version', variant('s', '1')], ['rpmostree.clientlayer', variant('b', true)]],
    })).checksum;
    await deploy(o({ revision: layered }));
    const s = await loadSysroot(sysroot, { procCmdline: '/nonexistent' });
    const text = renderStatus(await collectStatus(s, { kind: 'inactive' }), { verbose: true });
    expect(text).toContain(`               BaseCommit: ${c1}\n                   Commit: ${layered}\n`);
    expect(KeyFile).toBeDefined();
  });

  it.skipIf(!have('rpmbuild') || !have('rpm'))('reads the packages of a tree without pkglist metadata from its rpmdb (usr/share/rpm)', async () => {
    // Two tiny RPMs built here, recorded in a real rpmdb.sqlite by rpm --justdb.
    const build = async (name: string, evr: string, arch: string): Promise<string> => {
      const [, epoch, version, release] = /^(?:(\d+):)?([^-]+)-(.+)$/.exec(evr)!;
      const spec = join(tmp, `${name}.spec`);
      await writeFile(spec, `Name: ${name}\nVersion: ${version}\nRelease: ${release}\n${epoch ? `Epoch: ${epoch}\n` : ''}Summary: t\nLicense: MIT\nBuildArch: ${arch}\n%description\nt\n%files\n`);
      await runOk('rpmbuild', ['-bb', '--define', `_topdir ${join(tmp, 'rpmbuild')}`, spec]);
      return join(tmp, 'rpmbuild/RPMS', arch, `${name}-${version}-${release}.${arch}.rpm`);
    };
    const rpmdbTree = async (version: string, rpms: string[]): Promise<string> => {
      const dbdir = join(tmp, `db-${version}`);
      await mkdir(dbdir, { recursive: true });
      await runOk('rpm', ['--dbpath', dbdir, '--initdb']);
      await runOk('rpm', ['--dbpath', dbdir, '-i', '--justdb', '--nodeps', '--nosignature', ...rpms]);
      const c = await commit(version, { files: { 'usr/share/rpm/rpmdb.sqlite': readFileSync(join(dbdir, 'rpmdb.sqlite')) } });
      const q = await runOk('rpm', ['--dbpath', dbdir, '-qa', '--qf', '%{NAME}-%|EPOCH?{%{EPOCH}:}|%{VERSION}-%{RELEASE}.%{ARCH}\\n']);
      return `${c} ${q.trim().split('\n').sort().join(' ')}`;
    };
    const a = await build('alpha', '1.0-1', 'noarch');
    const b1 = await build('beta', '2:0.9-1', 'noarch');
    const [c1, ...q1] = (await rpmdbTree('1', [a, b1])).split(' ');
    const b2 = await build('beta', '2:1.0-1', 'noarch');
    const g = await build('gamma', '3-1', 'noarch');
    const [c2] = (await rpmdbTree('2', [b2, g])).split(' ');
    let r = cli(['host', 'db', 'list', c1!]);
    expect(r.status, r.stderr).toBe(0);
    expect(r.stdout.split('\n').slice(1, -1).map((l) => l.trim())).toEqual(q1);
    r = cli(['host', 'db', 'diff', c1!, c2!]);
    expect(r.stdout.split('\n').slice(2).join('\n')).toBe('Upgraded:\n  beta 2:0.9-1 -> 2:1.0-1\nRemoved:\n  alpha-1.0-1.noarch\nAdded:\n  gamma-3-1.noarch\n');
  });
});

