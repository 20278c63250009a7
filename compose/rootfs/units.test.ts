// units, default-target, os-release mutation, remove-files, add-files, treefile.json.

import { existsSync, readFileSync, readlinkSync, statSync } from 'node:fs';
import { chmod, mkdir, symlink, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { errorOf, makeTmp, removeTmp } from '../../test-support/index.ts';
import {
  addFiles, enableUnits, mutateOsRelease, mutateOsReleaseContents, parseInstallSection, removeFiles, setDefaultTarget, TREEFILE_JSON, writeTreefileJson,
} from './index.ts';

let tmp: string;
beforeEach(async () => { tmp = await makeTmp('atomic-units-'); });
afterEach(async () => { await removeTmp(tmp); });

async function put(rel: string, content = ''): Promise<void> {
  await mkdir(join(tmp, rel, '..'), { recursive: true });
  await writeFile(join(tmp, rel), content);
}

describe('units', () => {
  it('parses [Install] WantedBy/RequiredBy with continuations and resets', () => {
    expect(parseInstallSection('[Unit]\nWantedBy=ignored.target\n[Install]\nWantedBy=a.target \\\n  b.target\nRequiredBy=c.target\n')).toEqual({ wantedBy: ['a.target', 'b.target'], requiredBy: ['c.target'] });
    expect(parseInstallSection('[Install]\nWantedBy=a.target\nWantedBy=\nWantedBy=b.target\n').wantedBy).toEqual(['b.target']);
  });

  it('links each unit into the .wants of its WantedBy targets, multi-user.target.wants otherwise', async () => {
    await put('usr/etc/hostname');
    await put('usr/lib/systemd/system/sshd.service', '[Service]\nExecStart=/x\n[Install]\nWantedBy=multi-user.target\n');
    await put('usr/lib/systemd/system/docker.socket', '[Install]\nWantedBy=sockets.target\n');
    await put('usr/lib/systemd/system/getty@.service', '[Install]\nWantedBy=getty.target\n');
    await put('usr/lib/systemd/system/plain.service', '[Service]\nExecStart=/x\n');
    const r = enableUnits(tmp, ['sshd.service', 'docker.socket', 'getty@tty1.service', 'plain.service', 'missing.service']);
    expect(r.links).toEqual([
      'usr/etc/systemd/system/multi-user.target.wants/sshd.service',
      'usr/etc/systemd/system/sockets.target.wants/docker.socket',
      'usr/etc/systemd/system/getty.target.wants/getty@tty1.service',
      'usr/etc/systemd/system/multi-user.target.wants/plain.service',
      'usr/etc/systemd/system/multi-user.target.wants/missing.service',
    ]);
    expect(r.warnings).toEqual(['units: missing.service is not in /usr/lib/systemd/system; linking it into multi-user.target.wants']);
    expect(readlinkSync(join(tmp, r.links[1]!))).toBe('/usr/lib/systemd/system/docker.socket');
    expect(enableUnits(tmp, ['sshd.service']).links).toEqual([]);
    expect(errorOf(() => enableUnits(tmp, ['sshd.service'], { machineidCompat: false })).message).toContain('machineid-compat: false');
  });

  it('default-target is a link in /usr/lib/systemd/system', async () => {
    await put('usr/lib/systemd/system/default.target', 'old');
    setDefaultTarget(tmp, 'graphical.target');
    expect(readlinkSync(join(tmp, 'usr/lib/systemd/system/default.target'))).toBe('/usr/lib/systemd/system/graphical.target');
    expect(errorOf(() => setDefaultTarget(tmp, '../x.target')).code).toBe('ROOTFS_INVALID');
  });
});

describe('mutate-os-release', () => {
  const OS = 'NAME=Fedora\nVERSION="25 (Atomic Host)"\nID=fedora\n\nVERSION_ID=25\nPRETTY_NAME="Fedora 25 (Atomic Host)"\n';
  it('replaces the base version in VERSION and PRETTY_NAME only, and appends OSTREE_VERSION', () => {
    expect(mutateOsReleaseContents(OS, '25', '25.1')).toBe(
      'NAME=Fedora\nVERSION="25.1 (Atomic Host)"\nID=fedora\nVERSION_ID=25\nPRETTY_NAME="Fedora 25.1 (Atomic Host)"\nOSTREE_VERSION=\'25.1\'\n');
  });

  it('edits the file /etc/os-release resolves to in the converted tree', async () => {
    await put('usr/lib/os-release', OS);
    await mkdir(join(tmp, 'usr/etc'), { recursive: true });
    await symlink('../usr/lib/os-release', join(tmp, 'usr/etc/os-release'));
    expect(mutateOsRelease(tmp, '25', '25.2')).toBe('usr/lib/os-release');
    expect(readFileSync(join(tmp, 'usr/lib/os-release'), 'utf8')).toContain('VERSION="25.2 (Atomic Host)"');
    expect(mutateOsRelease(tmp, '25', undefined)).toBe(null);
  });
});

describe('remove-files and add-files', () => {
  it('removes relative paths (etc/ in usr/etc) and refuses absolute or .. paths', async () => {
    await put('usr/share/doc/foo/README');
    await put('usr/etc/foo.conf');
    expect(removeFiles(tmp, ['usr/share/doc', 'etc/foo.conf', 'not/there'])).toEqual(['usr/share/doc', 'usr/etc/foo.conf', 'not/there']);
    expect(existsSync(join(tmp, 'usr/share/doc'))).toBe(false);
    expect(existsSync(join(tmp, 'usr/etc/foo.conf'))).toBe(false);
    expect(errorOf(() => removeFiles(tmp, ['/usr'])).message).toBe('remove-files: Invalid absolute path: /usr');
    expect(errorOf(() => removeFiles(tmp, ['usr/../etc'])).message).toBe("remove-files: Invalid '..' in path: usr/../etc");
  });

  it('copies sources keeping their mode; /etc destinations go to /usr/etc', async () => {
    await put('src/motd', 'hello\n');
    await put('src/tool', '#!/bin/sh\n');
    await chmod(join(tmp, 'src/tool'), 0o750);
    const root = join(tmp, 'root');
    const added = addFiles(root, [
      { name: 'motd', path: join(tmp, 'src/motd'), dest: '/etc/motd' },
      { name: 'tool', path: join(tmp, 'src/tool'), dest: '/usr/libexec/tool' },
    ]);
    expect(added).toEqual(['usr/etc/motd', 'usr/libexec/tool']);
    expect(readFileSync(join(root, 'usr/etc/motd'), 'utf8')).toBe('hello\n');
    expect(statSync(join(root, 'usr/libexec/tool')).mode & 0o7777).toBe(0o750);
    expect(errorOf(() => addFiles(root, [{ name: 'x', path: join(tmp, 'src/nope'), dest: '/usr/x' }])).message).toContain('add-files: source x');
  });

  it('writes the flattened treefile with sorted keys', async () => {
    writeTreefileJson(tmp, { flattened: { ref: 'a/b', packages: ['z', 'a'], 'add-commit-metadata': { y: 1, b: true } } });
    expect(readFileSync(join(tmp, TREEFILE_JSON), 'utf8')).toBe('{"add-commit-metadata":{"b":true,"y":1},"packages":["z","a"],"ref":"a/b"}');
  });
});
