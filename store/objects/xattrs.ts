// Extended attributes inside OSTree objects: `a(ayay)` where the name `ay`
// carries its trailing NUL and the value has none; sorted by name (strcmp).

import type { GValue } from '../gvariant/index.ts';

/** One extended attribute: name (without NUL) and raw value. */
export interface Xattr {
  name: string;
  value: Uint8Array;
}

/** Sorts by name bytes, as ostree does after listxattr. */
export function sortXattrs(xattrs: Xattr[]): Xattr[] {
  return [...xattrs].sort((a, b) => Buffer.compare(Buffer.from(a.name, 'latin1'), Buffer.from(b.name, 'latin1')));
}

export function xattrsToGValue(xattrs: Xattr[]): GValue {
  return xattrs.map((x) => {
    const n = Buffer.alloc(Buffer.byteLength(x.name, 'latin1') + 1);
    n.write(x.name, 'latin1');
    return [n, x.value];
  });
}

export function xattrsFromGValue(v: GValue): Xattr[] {
  return (v as [Uint8Array, Uint8Array][]).map(([n, value]) => {
    const end = n.length > 0 && n[n.length - 1] === 0 ? n.length - 1 : n.length;
    return { name: Buffer.from(n.subarray(0, end)).toString('latin1'), value };
  });
}
