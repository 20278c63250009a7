// Commit metadata and input hash; the encoded metadata is read back by the real ostree.

import { mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { have, makeTmp, ostree, removeTmp } from '../../test-support/index.ts';
import { commitDirectory, Repo, variant } from '../../store/index.ts';
import { serialize } from '../../store/gvariant/index.ts';
import { composeCommitMetadata, computeInputHash, jsonToVariant } from './index.ts';

const PKGS = [
  { name: 'zsh', epoch: null, version: '5.9', release: '1.fc40', arch: 'x86_64' },
  { name: 'bash', epoch: 0, version: '5.2.26', release: '3.fc40', arch: 'x86_64' },
  { name: 'shadow-utils', epoch: 2, version: '4.15', release: '1.fc40', arch: 'x86_64' },
];

describe('composeCommitMetadata', () => {
  it('has the rpm-ostree keys, sorted, with the pkglist sorted and epochs as strings', () => {
    const { metadata, detached } = composeCommitMetadata({
      version: '40.1', inputhash: 'ab'.repeat(32), packages: PKGS, repos: [{ id: 'updates', timestamp: 1700000000 }, { id: 'fedora', timestamp: 1600000000 }],
      initramfsArgs: ['--no-hostonly'], addCommitMetadata: { 'fedora-coreos.stream': 'testing', version: 'overridden' },
      bootable: [['ostree.bootable', variant('b', true)], ['ostree.linux', variant('s', '6.8.5')]],
    });
    expect(metadata.map(([k]) => k)).toEqual([
      'fedora-coreos.stream', 'ostree.bootable', 'ostree.linux', 'rpmostree.initramfs-args', 'rpmostree.inputhash', 'rpmostree.rpmdb.pkglist', 'rpmostree.rpmmd-repos', 'version',
    ]);
    expect(detached).toEqual([]);
    const get = (k: string) => metadata.find(([n]) => n === k)![1];
    expect(get('version')).toEqual(variant('s', '40.1'));
    expect(get('rpmostree.rpmdb.pkglist').value).toEqual([
      ['bash', '0', '5.2.26', '3.fc40', 'x86_64'], ['shadow-utils', '2', '4.15', '1.fc40', 'x86_64'], ['zsh', '0', '5.9', '1.fc40', 'x86_64'],
    ]);
    // Timestamps are big-endian in the encoded bytes, as rpm-ostree canonicalises metadata.
    const repos = serialize('aa{sv}', get('rpmostree.rpmmd-repos').value);
    const be = Buffer.alloc(8);
    be.writeBigUInt64BE(1600000000n);
    expect(Buffer.from(repos).includes(be)).toBe(true);
  });

  it('repo-metadata detached or disabled moves or drops rpmmd-repos; extra keys win', () => {
    const d = composeCommitMetadata({ inputhash: 'x', packages: [], repos: [{ id: 'r', timestamp: 1 }], repoMetadata: 'detached', extra: [['version', variant('s', 'cli')]], version: 'auto' });
    expect(d.detached.map(([k]) => k)).toEqual(['rpmostree.rpmmd-repos']);
    expect(d.metadata.find(([k]) => k === 'version')![1]).toEqual(variant('s', 'cli'));
    expect(composeCommitMetadata({ inputhash: 'x', packages: [], repos: [], repoMetadata: 'disabled' }).metadata.map(([k]) => k)).toEqual(['rpmostree.inputhash', 'rpmostree.rpmdb.pkglist']);
  });

  it('maps JSON like json-glib: s, b, x, d, av, a{sv}, mv', () => {
    expect(jsonToVariant('s').type).toBe('s');
    expect(jsonToVariant(true).type).toBe('b');
    expect(jsonToVariant(5)).toEqual(variant('x', 0x0500000000000000n));
    expect(jsonToVariant(1.5).type).toBe('d');
    expect(jsonToVariant([1, 'a']).type).toBe('av');
    expect(jsonToVariant({ b: 1, a: null })).toEqual(variant('a{sv}', [['a', variant('mv', null)], ['b', variant('x', 0x0100000000000000n)]]));
  });
});

describe('computeInputHash', () => {
  const pkgs = [{ nevra: 'b-1-1.x86_64', checksum: 'sha256:' + '1'.repeat(64) }, { nevra: 'a-1-1.x86_64', checksum: 'sha256:' + '2'.repeat(64) }];
  it('is stable under package order and changes with the treefile or any package checksum', () => {
    const h = computeInputHash('t1', pkgs);
    expect(h).toMatch(/^[0-9a-f]{64}$/);
    expect(computeInputHash('t1', [...pkgs].reverse())).toBe(h);
    expect(computeInputHash('t2', pkgs)).not.toBe(h);
    expect(computeInputHash('t1', [pkgs[0]!, { ...pkgs[1]!, checksum: 'sha256:' + '3'.repeat(64) }])).not.toBe(h);
    expect(() => computeInputHash('t1', [{ nevra: 'x', checksum: 'abc' }])).toThrow(/type:hex/);
  });
});

describe.skipIf(!have('ostree'))('metadata in a commit (oracle: ostree show)', () => {
  let tmp: string;
  beforeEach(async () => { tmp = await makeTmp('atomic-meta-'); });
  afterEach(async () => { await removeTmp(tmp); });

  it('ostree reads the pkglist, bootable flags and version', async () => {
    const repo = await Repo.init(join(tmp, 'repo'), 'archive');
    await mkdir(join(tmp, 'tree/usr'), { recursive: true });
    await writeFile(join(tmp, 'tree/usr/x'), 'x');
    const { metadata } = composeCommitMetadata({
      version: '1.2', inputhash: 'cafe', packages: PKGS, repos: [{ id: 'fedora', timestamp: 1600000000 }],
      bootable: [['ostree.bootable', variant('b', true)], ['ostree.linux', variant('s', '6.8.5')]],
    });
    const { checksum } = await commitDirectory(repo, join(tmp, 'tree'), { branch: 'test', metadata, timestamp: 0 });
    const show = async (key: string) => (await ostree(['show', `--repo=${join(tmp, 'repo')}`, `--print-metadata-key=${key}`, checksum])).stdout.trim();
    expect(await show('rpmostree.rpmdb.pkglist')).toBe("[('bash', '0', '5.2.26', '3.fc40', 'x86_64'), ('shadow-utils', '2', '4.15', '1.fc40', 'x86_64'), ('zsh', '0', '5.9', '1.fc40', 'x86_64')]");
    expect(await show('ostree.linux')).toBe("'6.8.5'");
    expect(await show('ostree.bootable')).toBe('true');
    expect(await show('version')).toBe("'1.2'");
    // ostree treats commit metadata as big-endian and prints the real value.
    expect(await show('rpmostree.rpmmd-repos')).toBe("[{'id': <'fedora'>, 'timestamp': <uint64 1600000000>}]");
    const v = (await ostree(['show', `--repo=${join(tmp, 'repo')}`, checksum])).stdout;
    expect(v).toContain('Version: 1.2');
  });
});
