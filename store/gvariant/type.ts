// GVariant type strings: parsing, alignment and fixed sizes, as GLib's
// gvarianttypeinfo.c defines them. Only what OSTree's formats need plus the
// rest of the basic types, so any OSTree variant can be read and written.

import { UpdaterError } from '../../common/errors.ts';

/** A parsed GVariant type. */
export type GType =
  | { kind: 'basic'; code: BasicCode; str: string; align: number; fixed: number | null }
  | { kind: 'array'; elem: GType; str: string; align: number; fixed: null }
  | { kind: 'maybe'; elem: GType; str: string; align: number; fixed: null }
  | { kind: 'tuple'; members: GType[]; str: string; align: number; fixed: number | null }
  | { kind: 'dict-entry'; members: [GType, GType]; str: string; align: number; fixed: number | null }
  | { kind: 'variant'; str: 'v'; align: 8; fixed: null };

export type BasicCode = 'y' | 'b' | 'n' | 'q' | 'i' | 'u' | 'x' | 't' | 'h' | 'd' | 's' | 'o' | 'g';

const BASIC: Record<BasicCode, [align: number, fixed: number | null]> = {
  y: [1, 1], b: [1, 1], n: [2, 2], q: [2, 2], i: [4, 4], u: [4, 4], h: [4, 4],
  x: [8, 8], t: [8, 8], d: [8, 8], s: [1, null], o: [1, null], g: [1, null],
};

const cache = new Map<string, GType>();

/** Parses a complete type string such as `(a{sv}aya(say)sstayay)`; results are cached. */
export function parseType(str: string): GType {
  const hit = cache.get(str);
  if (hit) return hit;
  const [t, end] = parseAt(str, 0);
  if (end !== str.length) throw badType(str, end);
  cache.set(str, t);
  return t;
}

/** True when `str` is one complete, valid type string. */
export function isValidType(str: string): boolean {
  try {
    parseType(str);
    return true;
  } catch {
    return false;
  }
}

function badType(str: string, at: number): UpdaterError {
  return new UpdaterError('GVARIANT_BAD_TYPE', `invalid GVariant type string '${str}' at offset ${at}`);
}

function alignUp(n: number, a: number): number {
  return (n + a - 1) & ~(a - 1);
}

function parseAt(str: string, i: number): [GType, number] {
  const c = str[i];
  if (c === undefined) throw badType(str, i);
  if (c in BASIC) {
    const [align, fixed] = BASIC[c as BasicCode];
    return [{ kind: 'basic', code: c as BasicCode, str: c, align, fixed }, i + 1];
  }
  if (c === 'v') return [{ kind: 'variant', str: 'v', align: 8, fixed: null }, i + 1];
  if (c === 'a' || c === 'm') {
    const [elem, end] = parseAt(str, i + 1);
    const s = str.slice(i, end);
    return [c === 'a' ? { kind: 'array', elem, str: s, align: elem.align, fixed: null } : { kind: 'maybe', elem, str: s, align: elem.align, fixed: null }, end];
  }
  if (c === '(') {
    const members: GType[] = [];
    let j = i + 1;
    while (str[j] !== ')') {
      if (j >= str.length) throw badType(str, j);
      const [m, end] = parseAt(str, j);
      members.push(m);
      j = end;
    }
    const s = str.slice(i, j + 1);
    const { align, fixed } = layout(members);
    return [{ kind: 'tuple', members, str: s, align, fixed }, j + 1];
  }
  if (c === '{') {
    const [k, kEnd] = parseAt(str, i + 1);
    if (k.kind !== 'basic') throw badType(str, i + 1);
    const [v, vEnd] = parseAt(str, kEnd);
    if (str[vEnd] !== '}') throw badType(str, vEnd);
    const { align, fixed } = layout([k, v]);
    return [{ kind: 'dict-entry', members: [k, v], str: str.slice(i, vEnd + 1), align, fixed }, vEnd + 1];
  }
  throw badType(str, i);
}

/** Tuple layout: alignment is the largest member's; fixed size only when every member is fixed. */
function layout(members: GType[]): { align: number; fixed: number | null } {
  let align = 1;
  let size = 0;
  let allFixed = true;
  for (const m of members) {
    align = Math.max(align, m.align);
    if (m.fixed === null) allFixed = false;
    else size = alignUp(size, m.align) + m.fixed;
  }
  if (!allFixed) return { align, fixed: null };
  // The unit type () occupies one byte; other fixed tuples round up to their alignment.
  return { align, fixed: members.length === 0 ? 1 : alignUp(size, align) };
}

export { alignUp };
