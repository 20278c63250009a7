// The BLS entries of the second deploy in store/testdata/vectors/sysroot-trace.txt
// (ostree 2022.7, two deployments, bootversion 0), in boot order: shared test fixtures.

import type { BootEntry } from '../bls.ts';

export const CSUM1 = 'cf37c44f8c217f255369aef7eb5f5ec5d98dbd63e89b3cfac3413fff1fc07880';
export const CSUM2 = '870a5512c126c7ffc60faaf11f86c0561e8d0f4a2845871a9442430322f2d4f3';

export const TRACE_ENTRIES: readonly BootEntry[] = [
  {
    title: 'TestOS 2 (ostree:0)',
    version: '2',
    options: `root=LABEL=root quiet ostree=/ostree/boot.0/testos/${CSUM2}/0`,
    linux: `/ostree/testos-${CSUM2}/vmlinuz-5.10.0-test`,
    initrd: `/ostree/testos-${CSUM2}/initramfs-5.10.0-test.img`,
  },
  {
    title: 'TestOS 1 (ostree:1)',
    version: '1',
    options: `root=LABEL=root quiet ostree=/ostree/boot.0/testos/${CSUM1}/0`,
    linux: `/ostree/testos-${CSUM1}/vmlinuz-5.10.0-test`,
    initrd: `/ostree/testos-${CSUM1}/initramfs-5.10.0-test.img`,
  },
];
