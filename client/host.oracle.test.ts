// Oracle tests against ostree 2022.7: the same commits and /etc edits deployed by the
// real `ostree admin deploy` on one copy of a sysroot and by ours on another must give
// the same /etc, BLS entries, symlink farm and refs; `ostree admin status` must list
// our deployments in our order; and we upgrade a sysroot ostree built.

import { lstatSync, readdirSync, readFileSync, readlinkSync } from 'node:fs';
import { chmod, chown, mkdir, rm, symlink, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { have, isRoot, makeTmp, removeTmp, runOk, snapshotTree } from '../test-support/index.ts';
import { deploy, deploymentDir, loadSysroot, rollback, upgrade } from './index.ts';
import { commitOsTree } from './test-os.ts';

const C1_ETC: Record<string, string> = {
  'keep.conf': 'keep v1\n', 'modified.conf': 'modified v1\n', 'removed-by-user.conf': 'removed v1\n', 'dropped-modified.conf': 'dropped-modified v1\n',
  'dropped-untouched.conf': 'dropped-untouched v1\n', 'perm.conf': 'perm v1\n', link: '->target1', 'dir1/x.conf': 'x1\n', 'dir3/y.conf': 'y1\n',
  tc: 'tc v1\n', 'owner.conf': 'owner v1\n',
};
const C2_ETC: Record<string, string> = {
  'keep.conf': 'keep v2\n', 'modified.conf': 'modified v2\n', 'removed-by-user.conf': 'removed v2\n', 'perm.conf': 'perm v2\n', link: '->target1',
  'dir1/x.conf': 'x2\n', 'dir3/y.conf': 'y2\n', tc: 'tc v2\n', 'owner.conf': 'owner v2\n', 'new-default.conf': 'new\n',
};

/** The admin's edits, as in vectors/sysroot-trace.txt plus owner and parent-directory cases. */
async function editEtc(etc: string): Promise<void> {
  await writeFile(join(etc, 'modified.conf'), 'modified user\n');
  await rm(join(etc, 'removed-by-user.conf'));
  await writeFile(join(etc, 'dropped-modified.conf'), 'dropped-modified user\n');
  await chmod(join(etc, 'perm.conf'), 0o600);
  await rm(join(etc, 'link'));
  await symlink('target2', join(etc, 'link'));
  await chmod(join(etc, 'dir1'), 0o700); // alone: lost
  await chmod(join(etc, 'dir3'), 0o700); // with a changed child: kept
  await writeFile(join(etc, 'dir3/y.conf'), 'y user\n');
  await mkdir(join(etc, 'dir2'));
  await writeFile(join(etc, 'dir2/file.conf'), 'added\n');
  await writeFile(join(etc, 'added.conf'), 'added\n');
  await rm(join(etc, 'tc'));
  await mkdir(join(etc, 'tc'));
  await writeFile(join(etc, 'tc/inner'), 'inner\n');
  await chown(join(etc, 'owner.conf'), 1234, 5678);
  await mkdir(join(etc, 'tcdir2/sub'), { recursive: true });
  await chmod(join(etc, 'tcdir2'), 0o711);
  await writeFile(join(etc, 'tcdir2/sub/f'), 'f\n');
}

function farm(sysroot: string): Record<string, string> {
  const out: Record<string, string> = {};
  const B = readlinkSync(join(sysroot, 'boot/loader'));
  const bootB = `boot.${B.slice(-1)}`;
  out[bootB] = readlinkSync(join(sysroot, 'ostree', bootB));
  const walk = (rel: string): void => {
    const p = join(sysroot, 'ostree', rel);
    if (lstatSync(p).isSymbolicLink()) out[rel] = readlinkSync(p);
    else for (const n of readdirSync(p).sort()) walk(`${rel}/${n}`);
  };
  walk(out[bootB]!);
  return out;
}

function entries(sysroot: string): Record<string, string> {
  const dir = join(sysroot, 'boot/loader/entries');
  return Object.fromEntries(readdirSync(dir).sort().map((n) => [n, readFileSync(join(dir, n), 'utf8')]));
}

/** `ostree admin status` deployments as `OS CSUM.SERIAL`, in its order. */
async function ostreeStatus(sysroot: string): Promise<string[]> {
  const out = await runOk('ostree', ['admin', 'status', `--sysroot=${sysroot}`]);
  return out.split('\n').flatMap((l) => {
    const m = /^[* ] (\S+) ([0-9a-f]{64}\.\d+)/.exec(l);
    return m ? [`${m[1]} ${m[2]}`] : [];
  });
}

async function ourList(sysroot: string): Promise<string[]> {
  const s = await loadSysroot(sysroot, { procCmdline: '/nonexistent' });
  return s.deployments.map((d) => `${d.osname} ${d.csum}.${d.deployserial}`);
}

const refsOf = async (sysroot: string): Promise<string> => runOk('ostree', ['refs', `--repo=${join(sysroot, 'ostree/repo')}`]);

describe.skipIf(!have('ostree') || !isRoot)('against ostree admin (2022.7)', () => {
  let tmp: string;
  let A: string; // deployed by ostree
  let B: string; // same start, deployed by us
  let c1: string;
  let c2: string;
  const log: string[] = [];
  let ostreeOut = '';

  beforeAll(async () => {
    tmp = await makeTmp('atomic-host-oracle-');
    A = join(tmp, 'A');
    B = join(tmp, 'B');
    await mkdir(A);
    await runOk('ostree', ['admin', 'init-fs', A]);
    await runOk('ostree', ['admin', 'os-init', `--sysroot=${A}`, 'testos']);
    const repo = join(A, 'ostree/repo');
    c1 = await commitOsTree(repo, 'testos/main', join(tmp, 't1'), { version: '1', etc: C1_ETC, timestamp: 1700000001 });
    await runOk('ostree', ['admin', 'deploy', `--sysroot=${A}`, '--os=testos', '--karg=root=LABEL=root', '--karg=quiet', 'testos/main']);
    await editEtc(join(deploymentDir(A, { osname: 'testos', csum: c1, deployserial: 0 }), 'etc'));
    c2 = await commitOsTree(repo, 'testos/main', join(tmp, 't2'), { version: '2', etc: C2_ETC, kernel: 'KERNEL B\n', timestamp: 1700000002 });
    await runOk('cp', ['-a', A, B]);
    ostreeOut = await runOk('ostree', ['admin', 'deploy', `--sysroot=${A}`, '--os=testos', 'testos/main']);
    await upgrade({ sysroot: B, osname: 'testos', cacheOnly: true, procCmdline: '/nonexistent', log: (l) => void log.push(l) });
  }, 120_000);
  afterAll(async () => {
    await removeTmp(tmp);
  });

  it('reads the sysroot ostree built and upgrades it: same /etc merge result', async () => {
    const etcA = join(deploymentDir(A, { osname: 'testos', csum: c2, deployserial: 0 }), 'etc');
    const etcB = join(deploymentDir(B, { osname: 'testos', csum: c2, deployserial: 0 }), 'etc');
    const [sa, sb] = await Promise.all([snapshotTree(etcA), snapshotTree(etcB)]);
    expect(sb).toEqual(sa);
    // The corner cases, spelled out (the oracle agrees on each).
    const byPath = new Map(sb.map((e) => [e.path, e]));
    expect(byPath.get('/dir1')!.mode).toBe(0o755);
    expect(byPath.get('/dir3')!.mode).toBe(0o700);
    expect(byPath.get('/link')!.target).toBe('target2');
    expect(byPath.get('/perm.conf')!.mode).toBe(0o600);
    expect(byPath.get('/owner.conf')).toMatchObject({ uid: 1234, gid: 5678 });
    expect(byPath.get('/tc')!.type).toBe('d');
    expect(byPath.has('/removed-by-user.conf')).toBe(false);
    expect(byPath.has('/dropped-untouched.conf')).toBe(false);
    expect(byPath.get('/tcdir2')!.mode).toBe(0o711);
    const line = ostreeOut.split('\n').find((l) => l.startsWith('Copying /etc changes'));
    expect(log).toContain(line);
  });

  it('writes the same BLS entries, symlink farm and deployment refs', async () => {
    expect(entries(B)).toEqual(entries(A));
    expect(farm(B)).toEqual(farm(A));
    expect(readlinkSync(join(B, 'boot/loader'))).toBe(readlinkSync(join(A, 'boot/loader')));
    expect(await refsOf(B)).toBe(await refsOf(A));
    expect(await ourList(A)).toEqual(await ostreeStatus(A));
  });

  it('ostree admin status lists our deployments in our order, after rollback and a --retain redeploy', async () => {
    expect(await ostreeStatus(B)).toEqual(await ourList(B));
    await rollback({ sysroot: B, procCmdline: '/nonexistent' });
    expect(await ostreeStatus(B)).toEqual([`testos ${c1}.0`, `testos ${c2}.0`]);
    await deploy({ sysroot: B, osname: 'testos', revision: c2, retain: true, procCmdline: '/nonexistent' });
    expect(await ostreeStatus(B)).toEqual([`testos ${c2}.1`, `testos ${c1}.0`, `testos ${c2}.0`]);
    expect(await ourList(B)).toEqual(await ostreeStatus(B));
    await runOk('ostree', ['fsck', `--repo=${join(B, 'ostree/repo')}`]);
  });

  it('fails like ostree when a modified config file newly defaults to a directory', async () => {
    const c3etc = { ...C2_ETC, 'modified.conf/inner': 'now a directory\n' };
    delete (c3etc as Record<string, string>)['modified.conf'];
    const repoA = join(A, 'ostree/repo');
    const repoB = join(B, 'ostree/repo');
    const c3 = await commitOsTree(repoA, 'testos/conflict', join(tmp, 't3'), { version: '3', etc: c3etc, timestamp: 1700000003 });
    const c3b = await commitOsTree(repoB, 'testos/conflict', join(tmp, 't3b'), { version: '3', etc: c3etc, timestamp: 1700000003 });
    expect(c3b).toBe(c3);
    const before = await ourList(B);
    const r = await import('../test-support/index.ts').then((m) => m.run('ostree', ['admin', 'deploy', `--sysroot=${A}`, '--os=testos', c3]));
    expect(r.code).not.toBe(0);
    expect(r.stderr).toContain("Modified config file newly defaults to directory 'modified.conf'");
    await expect(deploy({ sysroot: B, osname: 'testos', revision: c3, procCmdline: '/nonexistent' }))
      .rejects.toMatchObject({ code: 'ETC_MERGE_CONFLICT', message: expect.stringContaining("Modified config file newly defaults to directory 'modified.conf'") });
    expect(await ourList(B)).toEqual(before);
  });
});
