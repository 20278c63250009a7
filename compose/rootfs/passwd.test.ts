// passwd/group split, nsswitch altfiles, seeding, and check-passwd / check-groups.

import { existsSync, readFileSync } from 'node:fs';
import { chown, mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { errorOf, isRoot, makeTmp, removeTmp } from '../../test-support/index.ts';
import { addAltfiles, checkPasswdGroup, parsePasswd, patchUseraddHome, previousPasswdGroup, seedPasswdGroup, splitPasswdGroup, type PasswdCheckInput } from './index.ts';

let tmp: string;
beforeEach(async () => { tmp = await makeTmp('atomic-passwd-'); });
afterEach(async () => { await removeTmp(tmp); });

async function put(rel: string, content: string): Promise<void> {
  await mkdir(join(tmp, rel, '..'), { recursive: true });
  await writeFile(join(tmp, rel), content);
}
const read = (rel: string) => readFileSync(join(tmp, rel), 'utf8');

const PASSWD = 'root:x:0:0:Super User:/root:/bin/bash\nbin:x:1:1:bin:/bin:/sbin/nologin\nsvc:x:990:985::/var/lib/svc:/sbin/nologin\n';
const GROUP = 'root:x:0:\nbin:x:1:\nwheel:x:10:\nsvc:x:985:\n';

describe('splitPasswdGroup', () => {
  it('keeps uid/gid 0 in /usr/etc, moves the rest to /usr/lib, and keeps etc-group-members in both', async () => {
    await put('usr/etc/passwd', PASSWD);
    await put('usr/etc/group', GROUP);
    splitPasswdGroup(tmp, ['wheel']);
    expect(read('usr/etc/passwd')).toBe('root:x:0:0:Super User:/root:/bin/bash\n');
    expect(read('usr/lib/passwd')).toBe('bin:x:1:1:bin:/bin:/sbin/nologin\nsvc:x:990:985::/var/lib/svc:/sbin/nologin\n');
    expect(read('usr/etc/group')).toBe('root:x:0:\nwheel:x:10:\n');
    expect(read('usr/lib/group')).toBe('bin:x:1:\nwheel:x:10:\nsvc:x:985:\n');
  });

  it('names the file and line of a malformed entry', async () => {
    await put('usr/etc/passwd', 'root:x:0:0::/root:/bin/sh\nbroken:x:abc:0::/:/bin/sh\n');
    expect(errorOf(() => splitPasswdGroup(tmp)).message).toBe('/usr/etc/passwd:2: invalid uid "abc"');
  });
});

describe('nsswitch and useradd', () => {
  it('adds altfiles after files on passwd: and group: only, once', () => {
    const orig = '# comment\n\npasswd:     sss files systemd\nshadow:     files\ngroup:      sss files systemd\nhosts:      files dns\n';
    const want = '# comment\n\npasswd: sss files altfiles systemd\nshadow:     files\ngroup: sss files altfiles systemd\nhosts:      files dns\n';
    expect(addAltfiles(orig)).toBe(want);
    expect(addAltfiles(want)).toBe(want);
    expect(addAltfiles('passwd: db\n')).toBe('passwd: db altfiles\n');
  });

  it('useradd HOME becomes /var/home', async () => {
    await put('usr/etc/default/useradd', 'GROUP=100\nHOME=/home\nSHELL=/bin/bash\n');
    patchUseraddHome(tmp);
    expect(read('usr/etc/default/useradd')).toBe('GROUP=100\nHOME=/var/home\nSHELL=/bin/bash\n');
  });
});

describe('preserve-passwd seeding', () => {
  it('writes the previous commit\'s users (deduplicated, /usr/etc first) into the install root', () => {
    const seed = previousPasswdGroup({ etcPasswd: 'root:x:0:0::/root:/bin/sh\n', libPasswd: 'root:x:0:0:dup:/:/bin/sh\nsvc:x:990:985::/:/sbin/nologin\n', etcGroup: 'root:x:0:\n', libGroup: 'svc:x:985:\n' });
    seedPasswdGroup(tmp, seed, { writeShadow: true });
    expect(read('etc/passwd')).toBe('root:x:0:0::/root:/bin/sh\nsvc:x:990:985::/:/sbin/nologin\n');
    expect(read('etc/group')).toBe('root:x:0:\nsvc:x:985:\n');
    expect(read('etc/shadow')).toBe('root:*::0:99999:7:::\nsvc:*::0:99999:7:::\n');
  });
});

describe('checkPasswdGroup', () => {
  const base = (over: Partial<PasswdCheckInput>): PasswdCheckInput => ({
    checkPasswd: { type: 'previous' }, checkGroups: { type: 'previous' }, ignoreRemovedUsers: [], ignoreRemovedGroups: [], ...over,
  });
  beforeEach(async () => {
    await put('usr/lib/passwd', 'bin:x:1:1::/:/sbin/nologin\nsvc:x:990:985::/:/sbin/nologin\nnewbie:x:991:991::/:/sbin/nologin\n');
    await put('usr/lib/group', 'bin:x:1:\nsvc:x:985:\nnewbie:x:991:\n');
  });

  it('passes when ids are unchanged and reports new entries; no previous commit means nothing to compare', () => {
    const r = checkPasswdGroup(tmp, base({ previous: { passwd: 'bin:x:1:1::/:/x\nsvc:x:990:985::/:/x\n', group: 'bin:x:1:\nsvc:x:985:\n' } }));
    expect(r).toEqual({ newUsers: ['newbie'], newGroups: ['newbie'], removedUsers: [], removedGroups: [] });
    expect(checkPasswdGroup(tmp, base({})).newUsers).toEqual(['bin', 'newbie', 'svc']);
  });

  it('a changed uid, gid or group gid fails naming the entry', () => {
    expect(errorOf(() => checkPasswdGroup(tmp, base({ previous: { passwd: 'svc:x:989:985::/:/x\n' } }))).message).toBe('passwd UID changed: svc (989 to 990)');
    expect(errorOf(() => checkPasswdGroup(tmp, base({ checkPasswd: { type: 'data', entries: { svc: [990, 1] } } }))).message).toBe('passwd GID changed: svc (1 to 985)');
    expect(errorOf(() => checkPasswdGroup(tmp, base({ checkGroups: { type: 'data', entries: { svc: 984 } } }))).message).toBe('group GID changed: svc (984 to 985)');
  });

  it('a check file is compared the same way', async () => {
    await put('check/passwd', 'svc:x:990:985::/:/x\n');
    await put('check/group', 'svc:x:985:\n');
    const r = checkPasswdGroup(tmp, base({ checkPasswd: { type: 'file', filename: 'passwd', path: join(tmp, 'check/passwd') }, checkGroups: { type: 'file', filename: 'group', path: join(tmp, 'check/group') } }));
    expect(r.newUsers).toEqual(['bin', 'newbie']);
  });

  it.skipIf(!isRoot)('a removed user still owning files fails unless ignored; an unused one is dropped', async () => {
    await put('usr/share/owned', '');
    await chown(join(tmp, 'usr/share/owned'), 777, 0);
    const prev = { passwd: 'gone:x:777:777::/:/x\nunused:x:778:778::/:/x\n' };
    expect(errorOf(() => checkPasswdGroup(tmp, base({ previous: prev }))).message).toBe('User missing from new passwd file: gone');
    expect(checkPasswdGroup(tmp, base({ previous: prev, ignoreRemovedUsers: ['gone'] })).removedUsers).toEqual(['gone', 'unused']);
    expect(checkPasswdGroup(tmp, base({ previous: prev, ignoreRemovedUsers: ['*'] })).removedUsers).toEqual(['gone', 'unused']);
    expect(checkPasswdGroup(tmp, base({ checkPasswd: { type: 'none' }, previous: prev })).removedUsers).toEqual([]);
    expect(existsSync(join(tmp, 'usr/lib/passwd'))).toBe(true);
    expect(parsePasswd(read('usr/lib/passwd')).length).toBe(3);
  });
});
