// Layout, /etc, rpmdb and /var steps on small trees in temp dirs.

import { existsSync, lstatSync, readdirSync, readFileSync, readlinkSync, statSync } from 'node:fs';
import { chown, mkdir, symlink, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { errorOf, isRoot, makeTmp, removeTmp } from '../../test-support/index.ts';
import {
  applyMachineIdCompat, assembleRootfs, AUTOVAR_CONF, BASE_RPMDB, convertVarToTmpfiles, INTEGRATION_CONF, INTEGRATION_OPT_USRLOCAL_CONF,
  isPostprocessed, moveEtcToUsrEtc, prepareRootfsLinks, relocateRpmdb, tmpfilesLine, TMPFILES_DIR, writeTmpfilesIntegration,
} from './index.ts';

let tmp: string;
beforeEach(async () => { tmp = await makeTmp('atomic-rootfs-'); });
afterEach(async () => { await removeTmp(tmp); });

async function put(root: string, rel: string, content = ''): Promise<void> {
  await mkdir(join(root, rel, '..'), { recursive: true });
  await writeFile(join(root, rel), content);
}

const listTop = (root: string) => Object.fromEntries(readdirSync(root).sort().map((n) => {
  const st = lstatSync(join(root, n));
  return [n, st.isSymbolicLink() ? `-> ${readlinkSync(join(root, n))}` : st.isDirectory() ? `dir ${(st.mode & 0o7777).toString(8)}` : 'file'];
}));

describe('assembleRootfs', () => {
  it('builds the OSTree toplevel and moves only usr, boot, var and the compat links', async () => {
    const src = join(tmp, 'install');
    await put(src, 'usr/bin/sh', 'sh');
    await put(src, 'boot/vmlinuz-6.1', 'k');
    await put(src, 'var/lib/foo/state', '');
    await put(src, 'home/someone/file', '');
    await put(src, 'etc/hostname', 'h');
    await symlink('usr/bin', join(src, 'bin'));
    await symlink('usr/lib64', join(src, 'lib64'));
    const dest = join(tmp, 'tree');
    assembleRootfs(src, dest, { tmpIsDir: false });
    expect(listTop(dest)).toEqual({
      bin: '-> usr/bin', boot: 'dir 755', dev: 'dir 755', home: '-> var/home', lib64: '-> usr/lib64', media: '-> run/media', mnt: '-> var/mnt',
      opt: '-> var/opt', ostree: '-> sysroot/ostree', proc: 'dir 755', root: '-> var/roothome', run: 'dir 755', srv: '-> var/srv', sys: 'dir 755',
      sysroot: 'dir 755', tmp: '-> sysroot/tmp', usr: 'dir 755', var: 'dir 755',
    });
    expect(existsSync(join(dest, 'var/lib/foo/state'))).toBe(true);
    expect(existsSync(join(src, 'home/someone/file'))).toBe(true);
    // /etc is handled separately (moveEtcToUsrEtc runs on the install root first).
    expect(existsSync(join(src, 'etc/hostname'))).toBe(true);
  });

  it('tmp-is-dir makes a 1777 /tmp; opt-usrlocal root a plain /opt', async () => {
    const src = join(tmp, 'install');
    await put(src, 'usr/bin/sh');
    const dest = join(tmp, 'tree');
    assembleRootfs(src, dest, { tmpIsDir: true, optUsrlocal: 'root' });
    expect(statSync(join(dest, 'tmp')).mode & 0o7777).toBe(0o1777);
    expect(lstatSync(join(dest, 'opt')).isDirectory()).toBe(true);
  });

  it('refuses an install root without /usr and an existing destination', async () => {
    await mkdir(join(tmp, 'empty'));
    expect(errorOf(() => assembleRootfs(join(tmp, 'empty'), join(tmp, 'tree'), { tmpIsDir: false })).code).toBe('ROOTFS_INVALID');
    await put(tmp, 'src/usr/x');
    expect(errorOf(() => assembleRootfs(join(tmp, 'src'), join(tmp, 'empty'), { tmpIsDir: false })).message).toContain('already exists');
  });
});

describe('prepareRootfsLinks', () => {
  it('replaces /usr/local with a link into /var and moves /var/lib/alternatives to /usr/lib', async () => {
    await put(tmp, 'usr/local/bin/old');
    await put(tmp, 'var/lib/alternatives/editor');
    prepareRootfsLinks(tmp);
    expect(readlinkSync(join(tmp, 'usr/local'))).toBe('../var/usrlocal');
    expect(readlinkSync(join(tmp, 'var/lib/alternatives'))).toBe('../../usr/lib/alternatives');
    expect(existsSync(join(tmp, 'usr/lib/alternatives/editor'))).toBe(true);
    prepareRootfsLinks(tmp);
    expect(readlinkSync(join(tmp, 'usr/local'))).toBe('../var/usrlocal');
  });
});

describe('moveEtcToUsrEtc', () => {
  it('moves /etc to /usr/etc, merging with what packages put there, and drops backup files', async () => {
    await put(tmp, 'etc/passwd', 'root:x:0:0::/root:/bin/sh\n');
    await put(tmp, 'etc/passwd-', 'old');
    await put(tmp, 'etc/.pwd.lock');
    await put(tmp, 'etc/sub/a', 'a');
    await put(tmp, 'usr/etc/sub/b', 'b');
    await put(tmp, 'usr/etc/os-release', 'x');
    expect(moveEtcToUsrEtc(tmp)).toBe(true);
    expect(existsSync(join(tmp, 'etc'))).toBe(false);
    expect(readdirSync(join(tmp, 'usr/etc')).sort()).toEqual(['os-release', 'passwd', 'sub']);
    expect(readdirSync(join(tmp, 'usr/etc/sub')).sort()).toEqual(['a', 'b']);
  });

  it('a path in both /etc and /usr/etc is an error naming it', async () => {
    await put(tmp, 'etc/hosts', '1');
    await put(tmp, 'usr/etc/hosts', '2');
    expect(errorOf(() => moveEtcToUsrEtc(tmp)).message).toBe('/etc/hosts exists in both /etc and /usr/etc');
  });

  it('machineid-compat ships an empty machine-id, or none', async () => {
    await mkdir(join(tmp, 'usr/etc'), { recursive: true });
    applyMachineIdCompat(tmp, true);
    expect(readFileSync(join(tmp, 'usr/etc/machine-id'), 'utf8')).toBe('');
    applyMachineIdCompat(tmp, false);
    expect(existsSync(join(tmp, 'usr/etc/machine-id'))).toBe(false);
  });
});

describe('relocateRpmdb', () => {
  it('moves /var/lib/rpm to /usr/share/rpm with the links, macro and base copy', async () => {
    await put(tmp, 'var/lib/rpm/rpmdb.sqlite', 'db');
    await put(tmp, 'var/lib/rpm/.rpm.lock');
    await put(tmp, 'var/lib/rpm/__db.001');
    relocateRpmdb(tmp);
    expect(readdirSync(join(tmp, 'usr/share/rpm'))).toEqual(['rpmdb.sqlite']);
    expect(readlinkSync(join(tmp, 'var/lib/rpm'))).toBe('../../usr/share/rpm');
    expect(readlinkSync(join(tmp, 'usr/lib/sysimage/rpm'))).toBe('../../share/rpm');
    expect(readFileSync(join(tmp, 'usr/lib/rpm/macros.d/macros.rpm-ostree'), 'utf8')).toBe('%_dbpath /usr/share/rpm\n');
    expect(statSync(join(tmp, BASE_RPMDB, 'rpmdb.sqlite')).ino).toBe(statSync(join(tmp, 'usr/share/rpm/rpmdb.sqlite')).ino);
  });

  it('takes the db from /usr/lib/sysimage/rpm when rpm wrote it there (var/lib/rpm a link)', async () => {
    await put(tmp, 'usr/lib/sysimage/rpm/rpmdb.sqlite', 'db');
    await put(tmp, 'usr/lib/sysimage/rpm/.rpmdbdirsymlink_created');
    await mkdir(join(tmp, 'var/lib'), { recursive: true });
    await symlink('../../usr/lib/sysimage/rpm', join(tmp, 'var/lib/rpm'));
    relocateRpmdb(tmp);
    expect(readFileSync(join(tmp, 'usr/share/rpm/rpmdb.sqlite'), 'utf8')).toBe('db');
    expect(readlinkSync(join(tmp, 'usr/lib/sysimage/rpm'))).toBe('../../share/rpm');
  });
});

describe('/var → tmpfiles.d', () => {
  it('formats lines like rpm-ostree', () => {
    expect(tmpfilesLine({ path: '/var/lib/foo', type: 'd', mode: 0o750, user: 'foo', group: 'bar' })).toBe('d /var/lib/foo 0750 foo bar - -');
    expect(tmpfilesLine({ path: '/var/run/foo', type: 'd' })).toBe('d /run/foo 0755 root root - -');
    expect(tmpfilesLine({ path: '/var/a b', type: 'L', target: '../x' })).toBe("L '/var/a b' - - - - ../x");
  });

  it.skipIf(!isRoot)('converts directories and symlinks with owner names, drops files, and empties /var', async () => {
    await put(tmp, 'usr/etc/passwd', 'root:x:0:0::/root:/bin/sh\n');
    await put(tmp, 'usr/etc/group', 'root:x:0:\n');
    await put(tmp, 'usr/lib/passwd', 'svc:x:990:990::/var/lib/svc:/sbin/nologin\n');
    await put(tmp, 'usr/lib/group', 'svc:x:990:\n');
    await put(tmp, 'var/lib/svc/cache.db', 'x');
    await put(tmp, 'var/lib/systemd/random-seed', 'x');
    await symlink('../run', join(tmp, 'var/run'));
    await symlink('/usr/share/data', join(tmp, 'var/lib/data'));
    if (isRoot) await chown(join(tmp, 'var/lib/svc'), 990, 990);
    const r = convertVarToTmpfiles(tmp);
    expect(r.dropped).toEqual(['/var/lib/svc/cache.db']);
    expect(r.lines).toEqual([
      'L /var/lib/data - - - - /usr/share/data',
      'd /var/lib 0755 root root - -',
      'd /var/lib/svc 0755 svc svc - -',
      'd /var/lib/systemd 0755 root root - -',
    ].sort());
    expect(readdirSync(join(tmp, 'var'))).toEqual([]);
    expect(readFileSync(join(tmp, TMPFILES_DIR, AUTOVAR_CONF), 'utf8')).toBe(r.lines.map((l) => `${l}\n`).join(''));
  });

  it('writes the integration files (the postprocessing marker)', async () => {
    expect(isPostprocessed(tmp)).toBe(false);
    writeTmpfilesIntegration(tmp);
    expect(isPostprocessed(tmp)).toBe(true);
    const conf = readFileSync(join(tmp, TMPFILES_DIR, INTEGRATION_CONF), 'utf8');
    expect(conf).toContain('d /var/roothome 0700 root root -\n');
    expect(conf).toContain('L /var/lib/rpm - - - - ../../usr/share/rpm\n');
    expect(readFileSync(join(tmp, TMPFILES_DIR, INTEGRATION_OPT_USRLOCAL_CONF), 'utf8')).toContain('d /var/usrlocal 0755 root root -\n');
    writeTmpfilesIntegration(tmp, 'root');
    expect(existsSync(join(tmp, TMPFILES_DIR, INTEGRATION_OPT_USRLOCAL_CONF))).toBe(false);
  });
});
