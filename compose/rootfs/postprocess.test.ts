// Steps that run inside the sandbox, on a busybox root: postprocess scripts, and kernel +
// initramfs with the tree's own generator (dracut's calling convention or mkinitramfs).

import { createHash } from 'node:crypto';
import { existsSync, readdirSync, readFileSync, statSync } from 'node:fs';
import { chmod, mkdir, rename, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { have, isRoot, makeTmp, removeTmp } from '../../test-support/index.ts';
import { isUpdaterError } from '../../common/errors.ts';
import { variant } from '../../store/index.ts';
import { HOST_BUSYBOX, makeBusyboxRoot } from '../sandbox/testing.ts';
import { findKernel, processKernel, runPostprocessScripts } from './index.ts';

async function errorOfAsync(p: Promise<unknown>): Promise<{ code: string; message: string }> {
  try {
    await p;
  } catch (err) {
    if (isUpdaterError(err)) return { code: err.code, message: err.message };
    throw err;
  }
  throw new Error('expected an error');
}

describe.skipIf(!have('bwrap') || !isRoot || !existsSync(HOST_BUSYBOX))('postprocess and kernel (bwrap)', () => {
  let tmp: string;
  let root: string;
  beforeEach(async () => {
    tmp = await makeTmp('atomic-post-');
    root = join(tmp, 'root');
    await makeBusyboxRoot(root);
    // The tree is already converted: /etc lives in /usr/etc.
    await rename(join(root, 'etc'), join(root, 'usr/etc'));
  });
  afterEach(async () => { await removeTmp(tmp); });

  async function put(rel: string, content: string, mode = 0o644): Promise<void> {
    await mkdir(join(root, rel, '..'), { recursive: true });
    await writeFile(join(root, rel), content);
    await chmod(join(root, rel), mode);
  }

  describe('runPostprocessScripts', () => {
    it('runs inline scripts in order, then postprocess-script, with /etc visible and no network', async () => {
      await writeFile(join(tmp, 'post.sh'), '#!/bin/sh\necho "script $0" >> /usr/share/post-log\n');
      const steps: string[] = [];
      const n = await runPostprocessScripts(root, {
        postprocess: ['#!/bin/sh\necho one >> /usr/share/post-log\necho etc-ok > /etc/from-post\n', 'echo two >> /usr/share/post-log\n'],
        postprocessScript: { name: 'post.sh', path: join(tmp, 'post.sh') },
      }, { onStep: (s) => steps.push(s) });
      expect(n).toBe(3);
      expect(readFileSync(join(root, 'usr/share/post-log'), 'utf8')).toBe('one\ntwo\nscript /proc/self/fd/5\n');
      expect(readFileSync(join(root, 'usr/etc/from-post'), 'utf8')).toBe('etc-ok\n');
      expect(steps).toEqual(["Executing `postprocess` inline script '0'", "Executing `postprocess` inline script '1'", 'Executing postprocessing script']);
      // Nothing of the scripts is left in the tree.
      expect(readdirSync(join(root, 'usr/bin')).some((n) => n.includes('postprocess'))).toBe(false);
    });

    it('a failing script stops the compose, named by its index', async () => {
      const e = await errorOfAsync(runPostprocessScripts(root, { postprocess: ['true\n', 'echo bad; exit 4\n'] }));
      expect(e).toEqual({ code: 'SCRIPT_FAILED', message: 'postprocess[1] exited with status 4; last output:\npostprocess[1]: bad' });
    });
  });

  describe('processKernel', () => {
    const KVER = '6.1.0-1.x86_64';
    beforeEach(async () => {
      await put(`usr/lib/modules/${KVER}/vmlinuz`, 'a kernel\n');
      await put(`usr/lib/modules/${KVER}/initramfs.img`, 'from the rpm\n');
      await put('boot/0123456789abcdef0123456789abcdef/6.1.0/linux', 'kernel-install copy');
      await put('boot/loader/entries/x.conf', 'title x');
      await put('boot/efi/EFI/fedora/shim.efi', 'shim');
    });

    it('builds the initramfs with the tree\'s mkinitramfs and places everything as rpm-ostree does (boot-location: new)', async () => {
      await put('usr/lib/atomic/mkinitramfs', '#!/bin/sh\nset -e\nkver=$1; out=$2; shift 2\ntest -f /etc/passwd\necho "initramfs $kver [$*]" > "$out"\n', 0o755);
      const r = await processKernel(root, { bootLocation: 'new', initramfsArgs: ['--add', 'iscsi'] });
      const initramfs = readFileSync(join(root, `usr/lib/modules/${KVER}/initramfs.img`), 'utf8');
      expect(initramfs).toBe(`initramfs ${KVER} [--add iscsi]\n`);
      expect(statSync(join(root, `usr/lib/modules/${KVER}/initramfs.img`)).mode & 0o777).toBe(0o644);
      const bootcsum = createHash('sha256').update('a kernel\n').update(initramfs).digest('hex');
      expect(r).toEqual({ kver: KVER, bootcsum, generator: 'mkinitramfs', metadata: [['ostree.bootable', variant('b', true)], ['ostree.linux', variant('s', KVER)]] });
      expect(readdirSync(join(root, 'usr/lib/ostree-boot')).sort()).toEqual(['efi', `initramfs-${KVER}.img-${bootcsum}`, `vmlinuz-${KVER}-${bootcsum}`]);
      expect(readdirSync(join(root, 'boot'))).toEqual([]);
      expect(statSync(join(root, `usr/lib/ostree-boot/vmlinuz-${KVER}-${bootcsum}`)).ino).toBe(statSync(join(root, `usr/lib/modules/${KVER}/vmlinuz`)).ino);
    });

    it('runs the tree\'s dracut the way rpm-ostree calls it (boot-location: modules)', async () => {
      await put('usr/bin/dracut', '#!/bin/sh\n# supports --reproducible\nout=""; args="$*"\nwhile [ $# -gt 0 ]; do if [ "$1" = -f ]; then out=$2; fi; shift; done\necho "$args" > "$out"\n', 0o755);
      const r = await processKernel(root, { bootLocation: 'modules' });
      expect(r?.generator).toBe('dracut');
      expect(readFileSync(join(root, `usr/lib/modules/${KVER}/initramfs.img`), 'utf8'))
        .toBe(`--reproducible -v --add ostree --tmpdir=/tmp -f /run/atomic-initramfs/initramfs.img --no-hostonly --kver ${KVER}\n`);
      expect(readdirSync(join(root, 'usr/lib/ostree-boot'))).toEqual(['efi']);
    });

    it('kernel in /boot only (legacy package layout) moves to /usr/lib/modules; no-initramfs hashes the kernel alone', async () => {
      await rename(join(root, `usr/lib/modules/${KVER}/vmlinuz`), join(root, `boot/vmlinuz-${KVER}`));
      expect(findKernel(root)).toEqual({ kver: KVER, kernel: `boot/vmlinuz-${KVER}`, initramfs: null });
      const r = await processKernel(root, { bootLocation: 'modules', noInitramfs: true });
      expect(r?.bootcsum).toBe(createHash('sha256').update('a kernel\n').digest('hex'));
      expect(readFileSync(join(root, `usr/lib/modules/${KVER}/vmlinuz`), 'utf8')).toBe('a kernel\n');
      expect(existsSync(join(root, `usr/lib/modules/${KVER}/initramfs.img`))).toBe(false);
    });

    it('no generator, or a failing one, is a named error', async () => {
      const e = await errorOfAsync(processKernel(root, { bootLocation: 'new' }));
      expect(e.code).toBe('ROOTFS_INITRAMFS');
      expect(e.message).toContain(`the tree has a kernel (${KVER}) but neither /usr/bin/dracut nor /usr/lib/atomic/mkinitramfs`);
      await put('usr/lib/atomic/mkinitramfs', '#!/bin/sh\necho "no modules for $1" >&2\nexit 2\n', 0o755);
      const f = await errorOfAsync(processKernel(root, { bootLocation: 'new' }));
      expect(f.code).toBe('SCRIPT_FAILED');
      expect(f.message).toBe(`Generating the initramfs for ${KVER}: mkinitramfs exited with status 2; last output:\nmkinitramfs: no modules for ${KVER}`);
    });

    it('a tree without a kernel gives null; two kernels are an error', async () => {
      const bare = join(tmp, 'bare');
      await makeBusyboxRoot(bare);
      expect(await processKernel(bare, { bootLocation: 'new' })).toBe(null);
      await put('usr/lib/modules/6.2.0/vmlinuz', 'another');
      expect((await errorOfAsync(processKernel(root, { bootLocation: 'new' }))).message).toContain(`several kernels in /usr/lib/modules: 6.1.0-1.x86_64, 6.2.0`);
    });
  });
});
