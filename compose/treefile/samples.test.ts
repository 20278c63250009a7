// The example treefiles in treefiles/: the demo OS (YAML with an included base) and the
// Fedora Atomic Host-shaped JSON treefile load, for each arch they name.

import { cp, readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { makeTmp, removeTmp, ROOT } from '../../test-support/index.ts';
import { loadTreefile } from './index.ts';

const TREEFILES = join(ROOT, 'treefiles');

describe('treefiles/atomic-demo.yaml', () => {
  let dir: string;
  beforeEach(async () => { dir = await makeTmp('atomic-treefile-sample-'); });
  afterEach(async () => { await removeTmp(dir); });

  it('loads with its base, on x86_64', async () => {
    const tf = await loadTreefile(join(TREEFILES, 'atomic-demo.yaml'), { basearch: 'x86_64' });
    expect(tf.ref).toBe('demo/x86_64/stable');
    expect(tf.sources).toEqual([join(TREEFILES, 'atomic-demo.yaml'), join(TREEFILES, 'atomic-base.yaml')]);
    expect(tf.repos).toEqual(['atomic-demo']);
    expect(tf.packages).toEqual([
      'demo-bootloader', 'demo-filesystem', 'demo-kernel', 'demo-release', 'demo-setup', 'demo-shell', 'demo-systemd', 'demo-tools >= 1.0',
    ]);
    expect(tf).toMatchObject({
      automaticVersionPrefix: '1', mutateOsRelease: '1', bootLocation: 'modules', tmpIsDir: true, selinux: false,
      recommends: false, documentation: false, defaultTarget: 'multi-user.target', units: ['demo-motd.service'],
      addCommitMetadata: { 'atomic.stream': 'stable' }, warnings: [],
    });
    expect(tf.addFiles).toEqual([{ name: 'demo-motd', path: join(TREEFILES, 'demo-motd'), dest: '/etc/motd' }]);
    expect(tf.postprocessScript?.path).toBe(join(TREEFILES, 'atomic-demo-post.sh'));
    expect(tf.postprocess).toHaveLength(1);
  });

  it('picks the aarch64 packages on aarch64', async () => {
    const tf = await loadTreefile(join(TREEFILES, 'atomic-demo.yaml'), { basearch: 'aarch64' });
    expect(tf.ref).toBe('demo/aarch64/stable');
    expect(tf.packages).toContain('demo-bootloader-efi');
    expect(tf.packages).not.toContain('demo-bootloader');
  });

  it('adds the testing packages when the stream variable is "testing"', async () => {
    await cp(TREEFILES, dir, { recursive: true });
    const top = join(dir, 'atomic-demo.yaml');
    await writeFile(top, (await readFile(top, 'utf8')).replace('stream: stable', 'stream: testing'));
    const tf = await loadTreefile(top, { basearch: 'x86_64' });
    expect(tf.ref).toBe('demo/x86_64/testing');
    expect(tf.packages).toContain('demo-debug-tools');
    expect(tf.sources.map((s) => s.slice(dir.length + 1))).toEqual(['atomic-demo.yaml', 'atomic-base.yaml', 'atomic-testing.yaml']);
  });
});

describe('treefiles/fedora-atomic/fedora-atomic-host.json', () => {
  it('loads the legacy JSON shape: snake_case keys, comment keys, arch packages', async () => {
    const tf = await loadTreefile(join(TREEFILES, 'fedora-atomic', 'fedora-atomic-host.json'), { basearch: 'x86_64' });
    expect(tf.ref).toBe('fedora-atomic/25/x86_64/docker-host');
    expect(tf).toMatchObject({
      automaticVersionPrefix: '25', mutateOsRelease: '25', bootLocation: 'new', defaultTarget: 'multi-user.target',
      documentation: false, installLangs: ['en_US'], initramfsArgs: ['--no-hostonly', '--add', 'iscsi'],
      etcGroupMembers: ['wheel', 'docker'],
    });
    expect(tf.packages).toContain('openssh-clients');
    expect(tf.packages).toContain('irqbalance');
    expect(tf.packages).not.toContain('ppc64-utils');
    expect(tf.checkPasswd).toEqual({ type: 'file', filename: 'passwd', path: join(TREEFILES, 'fedora-atomic', 'passwd') });
    expect(tf.warnings).toEqual([
      'boot-location: "new" is deprecated, use boot-location: modules',
      'initramfs-args is deprecated, use /etc/dracut.conf.d',
    ]);
    const ppc = await loadTreefile(join(TREEFILES, 'fedora-atomic', 'fedora-atomic-host.json'), { basearch: 'ppc64le' });
    expect(ppc.packages).toContain('ppc64-utils');
  });
});

describe('treefiles/testos.yaml and testos-next.yaml (the VM tests\' OS)', () => {
  it('load: the next stream includes the stable one and changes only the ref', async () => {
    const stable = await loadTreefile(join(TREEFILES, 'testos.yaml'), { basearch: 'x86_64' });
    const next = await loadTreefile(join(TREEFILES, 'testos-next.yaml'), { basearch: 'x86_64' });
    expect(stable.ref).toBe('testos/x86_64/stable');
    expect(next.ref).toBe('testos/x86_64/next');
    expect(stable.repos).toEqual(['testos']);
    expect(stable.packages).toEqual(['testos-init', 'testos-node-runtime', 'testos-release']);
    expect(stable).toMatchObject({ bootLocation: 'modules', tmpIsDir: true, selinux: false, recommends: false, warnings: [] });
    expect(next.sources).toEqual([join(TREEFILES, 'testos-next.yaml'), join(TREEFILES, 'testos.yaml')]);
    for (const k of ['packages', 'repos', 'bootLocation', 'tmpIsDir', 'selinux', 'recommends', 'documentation', 'ignoreRemovedUsers', 'ignoreRemovedGroups'] as const) {
      expect(next[k], k).toEqual(stable[k]);
    }
  });
});
