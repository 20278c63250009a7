// Deploy, upgrade, rollback, kargs, cleanup and status on a sysroot in a temp dir
// (ostree's admin-test.sh shapes; layout and entry text from vectors/sysroot-trace.txt).

import { existsSync, lstatSync, readdirSync, readFileSync, readlinkSync, statSync } from 'node:fs';
import { mkdir, readFile, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { makeTmp, removeTmp } from '../test-support/index.ts';
import { parseGrubEnv } from '../bootloader/index.ts';
import {
  bootComplete, bootCountingState, cleanupSysroot, collectStatus, deploy, deploymentDir, kargs, loadSysroot, removePendingRollback,
  renderStatus, renderStatusTable, rollback, setPinned, statusJson, upgrade,
} from './index.ts';
import { isImmutable } from './sys.ts';
import { bootDefault, commitOsTree, makeSysroot } from './test-os.ts';

let tmp: string;
let sysroot: string;
let repoPath: string;
let n = 0;
const log: string[] = [];
const o = <T extends object>(extra?: T) => ({ sysroot, osname: 'testos', procCmdline: join(tmp, 'cmdline'), log: (l: string): void => void log.push(l), ...(extra ?? ({} as T)) });

async function commit(version: string, extra: Parameters<typeof commitOsTree>[3] extends infer T ? Partial<T> : never = {}): Promise<string> {
  return commitOsTree(repoPath, 'testos/main', join(tmp, `tree${n++}`), { version, timestamp: 1700000000 + n, ...extra });
}

const BOOTCSUM_A = 'cf37c44f8c217f255369aef7eb5f5ec5d98dbd63e89b3cfac3413fff1fc07880';
const BOOTCSUM_B = '870a5512c126c7ffc60faaf11f86c0561e8d0f4a2845871a9442430322f2d4f3';

beforeEach(async () => {
  tmp = await makeTmp('atomic-host-');
  sysroot = await makeSysroot(tmp);
  repoPath = join(sysroot, 'ostree/repo');
  log.length = 0;
});
afterEach(async () => {
  await removeTmp(tmp);
});

describe('the /boot flush', () => {
  it('freezes and thaws /boot when asked (the real-host path), and the swap still completes', async () => {
    // ATOMIC_FREEZE_BOOT=1 forces the path a host with a separate /boot takes; here it
    // freezes the filesystem under /var/tmp for an instant (another freezer: EBUSY → syncfs).
    await commit('1');
    process.env.ATOMIC_FREEZE_BOOT = '1';
    try {
      const res = await deploy(o({ revision: 'testos/main' }));
      console.log(`FIFREEZE of ${sysroot}/boot: ${res.write!.froze ? 'frozen and thawed' : 'not possible here, syncfs used'}`);
      expect(typeof res.write!.froze).toBe('boolean');
      expect(readlinkSync(join(sysroot, 'boot/loader'))).toBe('loader.1');
    } finally {
      delete process.env.ATOMIC_FREEZE_BOOT;
    }
  });
});

describe('deploy', () => {
  it('lays out a first deployment as ostree 2022.7 does', async () => {
    const c1 = await commit('1');
    const res = await deploy(o({ revision: 'testos/main', karg: ['root=LABEL=root', 'quiet'] }));
    expect(res.write!.bootconfigSwap).toBe(true);
    // A sysroot in a directory shares the machine's filesystem: /boot is not frozen.
    expect(res.write!.froze).toBe(false);
    expect(log).toContain('Bootloader updated; bootconfig swap: yes; bootversion: boot.1.1, deployment count change: 1');
    expect(readlinkSync(join(sysroot, 'boot/loader'))).toBe('loader.1');
    expect(readlinkSync(join(sysroot, 'boot/boot'))).toBe('.');
    expect(readlinkSync(join(sysroot, 'ostree/boot.1'))).toBe('boot.1.1');
    expect(readlinkSync(join(sysroot, `ostree/boot.1.1/testos/${BOOTCSUM_A}/0`))).toBe(`../../../deploy/testos/deploy/${c1}.0`);
    expect(readFileSync(join(sysroot, 'boot/loader/entries/ostree-1-testos.conf'), 'utf8')).toBe([
      'title TestOS 1 (ostree:0)',
      'version 1',
      `options root=LABEL=root quiet ostree=/ostree/boot.1/testos/${BOOTCSUM_A}/0`,
      `linux /ostree/testos-${BOOTCSUM_A}/vmlinuz-5.10.0-test`,
      `initrd /ostree/testos-${BOOTCSUM_A}/initramfs-5.10.0-test.img`,
      '',
    ].join('\n'));
    expect(readFileSync(join(sysroot, `boot/ostree/testos-${BOOTCSUM_A}/vmlinuz-5.10.0-test`), 'utf8')).toBe('KERNEL A\n');
    expect(readFileSync(`${deploymentDir(sysroot, { osname: 'testos', csum: c1, deployserial: 0 })}.origin`, 'utf8')).toBe('[origin]\nrefspec=testos/main\n');
    expect(readFileSync(join(repoPath, 'refs/heads/ostree/1/1/0'), 'utf8').trim()).toBe(c1);
    const dir = deploymentDir(sysroot, { osname: 'testos', csum: c1, deployserial: 0 });
    // Hardlinks into the repo (mtime 0), /etc a real copy, the root immutable.
    const hello = statSync(join(dir, 'usr/bin/hello'));
    expect(hello.nlink).toBeGreaterThan(1);
    expect(hello.mtimeMs).toBe(0);
    expect(statSync(join(dir, 'etc/os.conf')).nlink).toBe(1);
    expect(readFileSync(join(dir, 'etc/os.conf'), 'utf8')).toBe('version 1\n');
    expect(isImmutable(dir)).toBe(true);
  });

  it('deploys the same commit again with the next serial, and keeps all with --retain', async () => {
    const c1 = await commit('1');
    await deploy(o({ revision: c1 }));
    await deploy(o({ revision: c1, retain: true }));
    const s = await loadSysroot(sysroot, { procCmdline: '/nonexistent' });
    expect(s.deployments.map((d) => `${d.csum}.${d.deployserial}`)).toEqual([`${c1}.1`, `${c1}.0`]);
    expect(s.deployments.map((d) => d.bootserial)).toEqual([0, 1]);
    expect(s.deployments[0]!.origin!.get('origin', 'refspec')).toBe(c1);
  });

  it('refuses bad input before writing anything', async () => {
    const c1 = await commit('1');
    await deploy(o({ revision: c1 }));
    const before = readlinkSync(join(sysroot, 'boot/loader'));
    const entries = readdirSync(join(sysroot, 'ostree/deploy/testos/deploy')).sort();
    const noKernel = await commitOsTree(repoPath, 'testos/nokernel', join(tmp, 'nk'), { version: 'x' }).then(async () => {
      const { Repo, commitDirectory } = await import('../store/index.ts');
      await rm(join(tmp, 'nk/usr/lib/modules'), { recursive: true });
      return (await commitDirectory(await Repo.open(repoPath), join(tmp, 'nk'), { branch: 'testos/nokernel' })).checksum;
    });
    await expect(deploy(o({ revision: noKernel }))).rejects.toMatchObject({ code: 'DEPLOY_NO_KERNEL' });
    await expect(deploy(o({ revision: 'testos/missing' }))).rejects.toMatchObject({ code: 'DEPLOY_REF_NOT_FOUND' });
    await expect(deploy(o({ revision: 'f'.repeat(64) }))).rejects.toMatchObject({ code: 'DEPLOY_COMMIT_NOT_FOUND' });
    const both = await commitOsTree(repoPath, 'testos/both', join(tmp, 'both'), { version: 'b', files: { 'etc/x.conf': 'x\n' } });
    await expect(deploy(o({ revision: both }))).rejects.toMatchObject({ code: 'DEPLOY_TREE_INVALID' });
    await expect(deploy({ sysroot: join(tmp, 'nothing'), revision: c1 })).rejects.toMatchObject({ code: 'DEPLOY_NOT_A_SYSROOT' });
    expect(readlinkSync(join(sysroot, 'boot/loader'))).toBe(before);
    expect(readdirSync(join(sysroot, 'ostree/deploy/testos/deploy')).sort()).toEqual(entries);
  });
});

describe('upgrade', () => {
  it('carries /etc changes, alternates loader.0/loader.1 and keeps the previous default', async () => {
    const c1 = await commit('1');
    await deploy(o({ revision: 'testos/main', karg: ['root=LABEL=root', 'quiet'] }));
    const d1 = deploymentDir(sysroot, { osname: 'testos', csum: c1, deployserial: 0 });
    await writeFile(join(d1, 'etc/os.conf'), 'edited by the admin\n');
    await writeFile(join(d1, 'etc/added.conf'), 'added\n');
    const c2 = await commit('2', { kernel: 'KERNEL B\n' });
    const res = await upgrade(o({ cacheOnly: true }));
    expect(res.changed).toBe(true);
    expect(log).toContain('Copying /etc changes: 1 modified, 0 removed, 1 added');
    expect(readlinkSync(join(sysroot, 'boot/loader'))).toBe('loader.0');
    expect(existsSync(join(sysroot, 'boot/loader.1'))).toBe(false);
    expect(readFileSync(join(sysroot, 'boot/loader/entries/ostree-2-testos.conf'), 'utf8')).toBe([
      'title TestOS 2 (ostree:0)', 'version 2', `options root=LABEL=root quiet ostree=/ostree/boot.0/testos/${BOOTCSUM_B}/0`,
      `linux /ostree/testos-${BOOTCSUM_B}/vmlinuz-5.10.0-test`, `initrd /ostree/testos-${BOOTCSUM_B}/initramfs-5.10.0-test.img`, '',
    ].join('\n'));
    expect(readFileSync(join(sysroot, 'boot/loader/entries/ostree-1-testos.conf'), 'utf8')).toContain('title TestOS 1 (ostree:1)\n');
    const d2 = deploymentDir(sysroot, { osname: 'testos', csum: c2, deployserial: 0 });
    expect(readFileSync(join(d2, 'etc/os.conf'), 'utf8')).toBe('edited by the admin\n');
    expect(readFileSync(join(d2, 'etc/added.conf'), 'utf8')).toBe('added\n');
    expect(readdirSync(join(repoPath, 'refs/heads/ostree'))).toEqual(['0']);

    // Nothing new: no change at all.
    expect((await upgrade(o({ cacheOnly: true }))).changed).toBe(false);

    // A third commit: without a booted deployment the list is [new, merge (previous default)].
    const c3 = await commit('3');
    await upgrade(o({ cacheOnly: true }));
    const s = await loadSysroot(sysroot, { procCmdline: '/nonexistent' });
    expect(s.deployments.map((d) => d.csum)).toEqual([c3, c2]);
    expect(existsSync(d1)).toBe(false);
    expect(existsSync(join(sysroot, `boot/ostree/testos-${BOOTCSUM_B}`))).toBe(true);
    expect(readdirSync(join(sysroot, 'boot/ostree')).sort()).toEqual([`testos-${BOOTCSUM_A}`, `testos-${BOOTCSUM_B}`].sort());
  });

  it('keeps the booted deployment (ostree= of the command line) and marks it in status', async () => {
    const c1 = await commit('1');
    await deploy(o({ revision: 'testos/main' }));
    await bootDefault(sysroot, join(tmp, 'cmdline'));
    const c2 = await commit('2');
    await upgrade(o({ cacheOnly: true }));
    const c3 = await commit('3');
    await upgrade(o({ cacheOnly: true }));
    const s = await loadSysroot(sysroot, { procCmdline: join(tmp, 'cmdline') });
    // The booted c1 survives two upgrades; c2 (neither booted nor merge) is dropped.
    expect(s.deployments.map((d) => d.csum)).toEqual([c3, c1]);
    expect(s.booted?.csum).toBe(c1);
    expect(c2).not.toBe(c3);
    const text = renderStatus(await collectStatus(s, await bootCountingState(s)));
    expect(text).toBe([
      'State: idle',
      'Deployments:',
      '  testos/main',
      `                  Version: 3 (${new Date((await s.repo.loadCommit(c3)).timestamp * 1000).toISOString().replace('.000', '')})`,
      `                   Commit: ${c3}`,
      '',
      '● testos/main',
      `                  Version: 1 (${new Date((await s.repo.loadCommit(c1)).timestamp * 1000).toISOString().replace('.000', '')})`,
      `                   Commit: ${c1}`,
      '',
    ].join('\n'));
    // The default table: columns padded to the widest cell + 5, * on the booted row.
    const day = (c: string): Promise<string> => s.repo.loadCommit(c).then((x) => new Date(x.timestamp * 1000).toISOString().slice(0, 19).replace('T', ' '));
    expect(renderStatusTable(await collectStatus(s, await bootCountingState(s)))).toBe([
      '  TIMESTAMP (UTC)         VERSION     ID             OSNAME     REFSPEC',
      `  ${await day(c3)}     3           ${c3.slice(0, 10)}     testos     testos/main`,
      `* ${await day(c1)}     1           ${c1.slice(0, 10)}     testos     testos/main`,
      '',
    ].join('\n'));
    const json = statusJson(await collectStatus(s, { kind: 'inactive' })) as { deployments: Record<string, unknown>[] };
    expect(json.deployments[1]).toMatchObject({ id: `testos-${c1}.0`, osname: 'testos', serial: 0, checksum: c1, booted: true, staged: false, pinned: false, origin: 'testos/main', version: '1' });
    expect((json.deployments[0]!['base-commit-meta'] as Record<string, unknown>)['version']).toBe('3');
  });

  it('refuses a downgrade unless allowed, and a corrupt origin', async () => {
    const c1 = await commit('1');
    await deploy(o({ revision: 'testos/main' }));
    const { Repo } = await import('../store/index.ts');
    const older = await commitOsTree(repoPath, 'testos/old', join(tmp, 'old'), { version: '0', timestamp: 1600000000 });
    await (await Repo.open(repoPath)).writeRef(null, 'testos/main', older);
    await expect(upgrade(o({ cacheOnly: true }))).rejects.toMatchObject({ code: 'DEPLOY_DOWNGRADE' });
    expect((await upgrade(o({ cacheOnly: true, allowDowngrade: true }))).changed).toBe(true);
    const s = await loadSysroot(sysroot, { procCmdline: '/nonexistent' });
    await writeFile(`${deploymentDir(sysroot, s.deployments[0]!)}.origin`, 'this is not a key file\n');
    await expect(upgrade(o({ cacheOnly: true }))).rejects.toMatchObject({ code: 'DEPLOY_ORIGIN_INVALID' });
    expect(c1).toBeTruthy();
  });

  it('without --cache-only: a local refspec needs no download; a missing remote is a clear error', async () => {
    await commit('1');
    await deploy(o({ revision: 'testos/main' }));
    await commit('2');
    expect((await upgrade(o({}))).changed).toBe(true);
    const { Repo } = await import('../store/index.ts');
    const repo = await Repo.open(repoPath);
    const c3 = await commit('3');
    await repo.writeRef('nowhere', 'testos/main', c3);
    await deploy(o({ revision: 'nowhere:testos/main' }));
    await expect(upgrade(o({}))).rejects.toMatchObject({ code: 'DEPLOY_NO_REMOTE' });
    expect((await upgrade(o({ cacheOnly: true }))).changed).toBe(false);
  });

  it('fails on an /etc conflict and leaves the sysroot as it was', async () => {
    const c1 = await commit('1');
    await deploy(o({ revision: 'testos/main' }));
    const d1 = deploymentDir(sysroot, { osname: 'testos', csum: c1, deployserial: 0 });
    await writeFile(join(d1, 'etc/newdir'), 'a user file\n');
    const c2 = await commit('2', { etc: { 'os.conf': 'v2\n', 'newdir/inner.conf': 'default\n' } });
    await expect(upgrade(o({ cacheOnly: true }))).rejects.toMatchObject({ code: 'ETC_MERGE_CONFLICT', message: expect.stringContaining("Modified config file newly defaults to directory 'newdir'") });
    expect(existsSync(deploymentDir(sysroot, { osname: 'testos', csum: c2, deployserial: 0 }))).toBe(false);
    const s = await loadSysroot(sysroot, { procCmdline: '/nonexistent' });
    expect(s.deployments.map((d) => d.csum)).toEqual([c1]);
  });
});

describe('rollback, kargs, pin, cleanup', () => {
  it('rolls back with a bootversion swap, and with a subbootversion swap when only the links change', async () => {
    const c1 = await commit('1');
    await deploy(o({ revision: 'testos/main' }));
    const c2 = await commit('2', { kernel: 'KERNEL B\n' });
    await upgrade(o({ cacheOnly: true }));
    const r = await rollback(o());
    expect(r.write.bootconfigSwap).toBe(true);
    let s = await loadSysroot(sysroot, { procCmdline: '/nonexistent' });
    expect(s.deployments.map((d) => d.csum)).toEqual([c1, c2]);
    // Same commit twice: entries are identical, only ostree/boot.B -> boot.B.S' changes.
    await deploy(o({ revision: c1, retain: true }));
    s = await loadSysroot(sysroot, { procCmdline: '/nonexistent' });
    const loader = readlinkSync(join(sysroot, 'boot/loader'));
    const before = s.subbootversion;
    const entriesBefore = readdirSync(join(sysroot, 'boot/loader/entries')).map((f) => readFileSync(join(sysroot, 'boot/loader/entries', f), 'utf8'));
    const r2 = await rollback(o());
    expect(r2.write.bootconfigSwap).toBe(false);
    expect(log.at(-1)).toMatch(/bootconfig swap: no/);
    s = await loadSysroot(sysroot, { procCmdline: '/nonexistent' });
    expect(readlinkSync(join(sysroot, 'boot/loader'))).toBe(loader);
    expect(s.subbootversion).toBe(before === 0 ? 1 : 0);
    expect(s.deployments.map((d) => `${d.csum}.${d.deployserial}`)).toEqual([`${c1}.0`, `${c1}.1`, `${c2}.0`]);
    expect(readdirSync(join(sysroot, 'boot/loader/entries')).map((f) => readFileSync(join(sysroot, 'boot/loader/entries', f), 'utf8'))).toEqual(entriesBefore);
  });

  it('edits kernel arguments in a new deployment of the same commit', async () => {
    const c1 = await commit('1');
    await deploy(o({ revision: 'testos/main', karg: ['root=LABEL=root', 'quiet'] }));
    expect((await kargs(o())).kargs).toBe('root=LABEL=root quiet');
    const res = await kargs(o({ append: ['console=ttyS0'], delete: ['quiet'] }));
    expect(res.changed).toBe(true);
    const s = await loadSysroot(sysroot, { procCmdline: '/nonexistent' });
    expect(s.deployments.map((d) => `${d.csum}.${d.deployserial}`)).toEqual([`${c1}.1`, `${c1}.0`]);
    expect(s.deployments[0]!.entry!.options).toBe(`root=LABEL=root console=ttyS0 ostree=/ostree/boot.0/testos/${BOOTCSUM_A}/0`);
    await expect(kargs(o({ delete: ['nosuch'] }))).rejects.toMatchObject({ code: 'BOOT_KARGS_NOT_FOUND' });
  });

  it('pins, removes the rollback deployment, and cleans interrupted leftovers', async () => {
    await commit('1');
    await deploy(o({ revision: 'testos/main' }));
    await commit('2', { kernel: 'KERNEL B\n' });
    await upgrade(o({ cacheOnly: true }));
    await setPinned(o({ index: 1, pinned: true }));
    expect(await removePendingRollback(o({ rollback: true }))).toEqual([]);
    await setPinned(o({ index: 1, pinned: false }));
    const dropped = await removePendingRollback(o({ rollback: true }));
    expect(dropped).toHaveLength(1);
    // Leftovers of an interrupted run: a stale deployment dir, a kernel dir, temp links.
    const stale = join(sysroot, 'ostree/deploy/testos/deploy', `${'e'.repeat(64)}.0`);
    await mkdir(join(stale, 'usr'), { recursive: true });
    await mkdir(join(sysroot, `boot/ostree/testos-${'d'.repeat(64)}`));
    await writeFile(join(sysroot, 'boot/loader.tmp'), '');
    const res = await cleanupSysroot(sysroot);
    expect(res.removedDeployments).toEqual([`testos/${'e'.repeat(64)}.0`]);
    expect(res.removedBootDirs).toEqual([`testos-${'d'.repeat(64)}`]);
    expect(existsSync(join(sysroot, 'boot/loader.tmp'))).toBe(false);
    // The dropped deployment's commit (the parent of testos/main) was pruned: refs-only, depth 0.
    const { Repo } = await import('../store/index.ts');
    expect(await (await Repo.open(repoPath)).hasObject(dropped[0]!.csum, 'commit')).toBe(false);
    expect(res.freedBytes).toBeGreaterThanOrEqual(0);
  });
});

describe('grub2 and boot counting', () => {
  beforeEach(async () => {
    await removeTmp(tmp);
    tmp = await makeTmp('atomic-host-grub-');
    sysroot = await makeSysroot(tmp, { bootloader: 'grub2' });
    repoPath = join(sysroot, 'ostree/repo');
  });

  it('writes loader.N/grub.cfg, arms counting on upgrade, and recovers from a fallback with boot-complete', async () => {
    const c1 = await commit('1');
    await deploy(o({ revision: 'testos/main' }));
    expect(readFileSync(join(sysroot, 'boot/loader/grub.cfg'), 'utf8')).toContain(`menuentry 'TestOS 1 (ostree:0)'`);
    expect(readFileSync(join(sysroot, 'boot/grub/grub.cfg'), 'utf8')).toContain('configfile ($root)/boot/loader/grub.cfg');
    await bootDefault(sysroot, join(tmp, 'cmdline'));
    const c2 = await commit('2', { kernel: 'KERNEL B\n' });
    await upgrade(o({ cacheOnly: true }));
    const env = parseGrubEnv(await readFile(join(sysroot, 'boot/grub/grubenv')));
    expect(env).toMatchObject({ boot_counter: '3', boot_success: '0', boot_counter_entry: `/ostree/boot.0/testos/${BOOTCSUM_B}/0` });
    let s = await loadSysroot(sysroot, { procCmdline: join(tmp, 'cmdline') });
    expect(await bootCountingState(s)).toEqual({ kind: 'trying', remaining: 3 });
    // GRUB used up the attempts (what its script writes) and booted entry 1, the old deployment.
    const { renderGrubEnv } = await import('../bootloader/index.ts');
    await writeFile(join(sysroot, 'boot/grub/grubenv'), renderGrubEnv({ ...env, boot_counter: '-1' }));
    await bootDefault(sysroot, join(tmp, 'cmdline'), 1);
    s = await loadSysroot(sysroot, { procCmdline: join(tmp, 'cmdline') });
    expect(s.booted?.csum).toBe(c1);
    expect(renderStatus(await collectStatus(s, await bootCountingState(s)))).toContain('ran out of boot attempts');
    const res = await bootComplete(o());
    expect(res).toEqual({ fellBack: true, marked: true, inactive: false });
    s = await loadSysroot(sysroot, { procCmdline: join(tmp, 'cmdline') });
    expect(s.deployments.map((d) => d.csum)).toEqual([c1, c2]);
    expect(parseGrubEnv(await readFile(join(sysroot, 'boot/grub/grubenv')))).toMatchObject({ boot_success: '1' });
    expect(await bootCountingState(s)).toEqual({ kind: 'inactive' });
  });
});

describe('sysroot lock', () => {
  it('a second transaction waits for the first', async () => {
    await commit('1');
    const { spawn } = await import('node:child_process');
    // Hold the lock from another process for a moment.
    const script = `const { lockSysroot } = await import(${JSON.stringify(new URL('./sysroot.ts', import.meta.url).href)});
      const l = await lockSysroot(${JSON.stringify(sysroot)});
      console.log('locked');
      setTimeout(async () => { await l.release(); process.exit(0); }, 700);`;
    const holder = spawn(process.execPath, ['--input-type=module', '-e', script], { stdio: ['ignore', 'pipe', 'inherit'] });
    await new Promise((r) => holder.stdout.once('data', r));
    let waited = false;
    const t0 = Date.now();
    await deploy(o({ revision: 'testos/main', onLockWait: () => (waited = true) }));
    expect(waited).toBe(true);
    expect(Date.now() - t0).toBeGreaterThan(300);
    expect(lstatSync(join(sysroot, 'boot/loader')).isSymbolicLink()).toBe(true);
  });
});
