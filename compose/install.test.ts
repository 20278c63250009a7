// InstallRoot: unpacking RPMs built at test time into an install root, with the treefile's
// documentation and install-langs filters, owners resolved from the root's own passwd
// (deferred until %pre made them), symlinked directories followed inside the root only,
// and the rpmdb written by rpm.

import { lstat, mkdir, readFile, readlink, stat, symlink, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { getXattr } from '../common/libc.ts';
import { have, makeTmp, removeTmp, runOk } from '../test-support/index.ts';
import { buildRpm } from './rpm/testing.ts';
import { InstallRoot, langWanted, writeRpmdb } from './index.ts';

const SPEC = `
%global debug_package %{nil}
%global __os_install_post %{nil}
Name: unpackme
Version: 1.0
Release: 1
Summary: unpack test
License: MIT
BuildArch: noarch
%description
unpack test
%install
mkdir -p %{buildroot}/usr/share/doc/unpackme %{buildroot}/usr/share/unpackme %{buildroot}/usr/bin %{buildroot}/usr/lib/escape
echo readme > %{buildroot}/usr/share/doc/unpackme/README
echo hallo > %{buildroot}/usr/share/unpackme/de.txt
echo hello > %{buildroot}/usr/share/unpackme/en.txt
printf '#!/bin/sh\\n' > %{buildroot}/usr/bin/tool
ln %{buildroot}/usr/bin/tool %{buildroot}/usr/bin/tool2
echo owned > %{buildroot}/usr/share/unpackme/owned
echo inside > %{buildroot}/usr/lib/escape/file
ln -s ../share/unpackme/en.txt %{buildroot}/usr/bin/link
echo ping > %{buildroot}/usr/bin/pinger
%files
%doc /usr/share/doc/unpackme/README
%lang(de) /usr/share/unpackme/de.txt
%lang(en) /usr/share/unpackme/en.txt
%attr(4755,root,root) /usr/bin/tool
%attr(4755,root,root) /usr/bin/tool2
/usr/bin/link
%caps(cap_net_raw=ep) /usr/bin/pinger
%attr(0640,svc,svcgrp) /usr/share/unpackme/owned
/usr/lib/escape/file
`;

describe.skipIf(!have('rpmbuild') || !have('rpm') || process.getuid?.() !== 0)('InstallRoot', () => {
  let tmp: string;
  let rpm: string;
  beforeAll(async () => {
    tmp = await makeTmp('compose-install-');
    rpm = await buildRpm(join(tmp, 'build'), 'unpackme', SPEC);
  }, 60_000);
  afterAll(async () => {
    if (tmp) await removeTmp(tmp);
  });

  it('filters documentation and languages, keeps hardlinks, setuid modes and file caps', async () => {
    const root = join(tmp, 'r1');
    const r = new InstallRoot(root);
    const stats = await r.unpack(rpm, { documentation: false, installLangs: ['en'] });
    expect(stats.skippedDocs).toBe(1);
    expect(stats.skippedLangs).toBe(1);
    await expect(stat(join(root, 'usr/share/doc/unpackme/README'))).rejects.toThrow();
    await expect(stat(join(root, 'usr/share/unpackme/de.txt'))).rejects.toThrow();
    expect(await readFile(join(root, 'usr/share/unpackme/en.txt'), 'utf8')).toBe('hello\n');
    const a = await stat(join(root, 'usr/bin/tool'));
    const b = await stat(join(root, 'usr/bin/tool2'));
    expect(a.ino).toBe(b.ino);
    expect(a.mode & 0o7777).toBe(0o4755);
    expect(await readlink(join(root, 'usr/bin/link'))).toBe('../share/unpackme/en.txt');
    expect((await lstat(join(root, 'usr/bin/link'))).isSymbolicLink()).toBe(true);
    // %caps(cap_net_raw=ep): VFS capability revision 2, permitted = effective bit, cap_net_raw (13).
    const caps = getXattr(join(root, 'usr/bin/pinger'), 'security.capability');
    expect(caps?.toString('hex')).toBe('0100000200200000000000000000000000000000');
    const all = new InstallRoot(join(tmp, 'r1b'));
    const s2 = await all.unpack(rpm, {});
    expect(s2.skippedDocs + s2.skippedLangs).toBe(0);
  });

  it('applies owners unknown at unpack time once %pre has created them', async () => {
    const root = join(tmp, 'r2');
    await mkdir(join(root, 'etc'), { recursive: true });
    await writeFile(join(root, 'etc/passwd'), 'root:x:0:0:root:/root:/bin/sh\n');
    await writeFile(join(root, 'etc/group'), 'root:x:0:\n');
    const r = new InstallRoot(root);
    await r.unpack(rpm);
    expect((await stat(join(root, 'usr/share/unpackme/owned'))).uid).toBe(0);
    // What a %pre would do.
    await writeFile(join(root, 'etc/passwd'), 'root:x:0:0:root:/root:/bin/sh\nsvc:x:321:322::/:/sbin/nologin\n');
    await writeFile(join(root, 'etc/group'), 'root:x:0:\nsvcgrp:x:322:\n');
    const warnings: string[] = [];
    expect(r.applyDeferredOwners((w) => warnings.push(w))).toBe(1);
    const st = await stat(join(root, 'usr/share/unpackme/owned'));
    expect([st.uid, st.gid, st.mode & 0o7777]).toEqual([321, 322, 0o640]);
    expect(warnings).toEqual([]);
  });

  it('follows a symlinked directory only inside the root', async () => {
    const root = join(tmp, 'r3');
    const outside = join(tmp, 'outside');
    await mkdir(join(root, 'usr/lib'), { recursive: true });
    // An absolute link that would leave the root if followed on the host.
    await symlink(`${outside}/../../../../..${outside}`, join(root, 'usr/lib/escape'));
    await new InstallRoot(root).unpack(rpm);
    await expect(stat(join(outside, 'file'))).rejects.toThrow();
    expect(await readFile(join(root, outside, 'file'), 'utf8')).toBe('inside\n');
  });

  it('writes an rpm database that rpm reads back', async () => {
    const root = join(tmp, 'r4');
    await new InstallRoot(root).unpack(rpm);
    await writeRpmdb(root, [rpm]);
    expect((await runOk('rpm', ['--root', root, '--dbpath', '/usr/share/rpm', '-qa'])).trim()).toBe('unpackme-1.0-1.noarch');
  });

  it('matches languages the way rpm does', () => {
    expect(langWanted('', ['en'])).toBe(true);
    expect(langWanted('de', undefined)).toBe(true);
    expect(langWanted('de', ['en'])).toBe(false);
    expect(langWanted('en_GB', ['en'])).toBe(true);
    expect(langWanted('de', ['all'])).toBe(true);
  });
});
