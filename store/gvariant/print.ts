// GVariant text format (as `ostree show` prints metadata values): strings
// quoted, integers of other widths annotated, arrays in brackets, dicts in braces.

import { parseType, type GType } from './type.ts';
import type { GValue, Variant } from './serialize.ts';

/** Formats a value in GVariant text format. */
export function printGVariant(type: string, value: GValue): string {
  return print(parseType(type), value, true);
}

function quote(s: string): string {
  return `'${s.replace(/\\/g, '\\\\').replace(/'/g, "\\'").replace(/\n/g, '\\n')}'`;
}

function print(t: GType, v: GValue, annotate: boolean): string {
  switch (t.kind) {
    case 'basic':
      switch (t.code) {
        case 's': return quote(v as string);
        case 'o': return `objectpath ${quote(v as string)}`;
        case 'g': return `signature ${quote(v as string)}`;
        case 'b': return v ? 'true' : 'false';
        case 'i': return String(v);
        case 'd': return String(v);
        case 'y': return `${annotate ? 'byte ' : ''}0x${(v as number).toString(16).padStart(2, '0')}`;
        default: {
          const name = { n: 'int16', q: 'uint16', u: 'uint32', h: 'handle', x: 'int64', t: 'uint64' }[t.code as 'n'];
          return `${annotate ? name + ' ' : ''}${String(v)}`;
        }
      }
    case 'variant': {
      const inner = v as Variant;
      return `<${print(parseType(inner.type), inner.value, true)}>`;
    }
    case 'maybe':
      return v === null ? 'nothing' : print(t.elem, v, annotate);
    case 'array': {
      if (t.elem.kind === 'basic' && t.elem.code === 'y') {
        const b = v as Uint8Array;
        if (b.length === 0) return '@ay []';
        return `[${[...b].map((x, i) => `${i === 0 ? 'byte ' : ''}0x${x.toString(16).padStart(2, '0')}`).join(', ')}]`;
      }
      const items = v as GValue[];
      if (items.length === 0) return `@${t.str} []`;
      if (t.elem.kind === 'dict-entry') {
        const [kt, vt] = t.elem.members;
        return `{${items.map((e, i) => `${print(kt, (e as GValue[])[0]!, i === 0)}: ${print(vt, (e as GValue[])[1]!, i === 0)}`).join(', ')}}`;
      }
      return `[${items.map((e, i) => print(t.elem, e, i === 0)).join(', ')}]`;
    }
    case 'tuple':
    case 'dict-entry': {
      const items = v as GValue[];
      const inner = t.members.map((m, i) => print(m, items[i]!, true)).join(', ');
      return t.kind === 'tuple' ? `(${inner}${t.members.length === 1 ? ',' : ''})` : `{${inner}}`;
    }
  }
}
