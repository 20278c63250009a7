// g_variant_print() exactly as GLib 2.74 writes it: the text `ostree show
// --print-metadata-key`, `show`'s metadata and `summary --view/--raw` print. With
// type annotation, only the first element of an array or dict carries its type
// (`[uint64 1, 2]`), tuple members inherit the flag, the inside of a variant is always
// annotated, and strings switch to double quotes when they contain a single one.

import type { GValue, Variant } from './serialize.ts';
import { parseType, type GType } from './type.ts';

const INT_NAMES: Record<string, string> = { n: 'int16', q: 'uint16', u: 'uint32', x: 'int64', t: 'uint64', h: 'handle' };

const NOT_PRINTABLE = /[\p{Cc}\p{Cf}\p{Cn}\p{Cs}]/u;
const CONTROL_ESCAPES: Record<string, string> = { '\x07': 'a', '\b': 'b', '\f': 'f', '\n': 'n', '\r': 'r', '\t': 't', '\v': 'v' };

function quoteString(s: string): string {
  const quote = s.includes("'") ? '"' : "'";
  let out = quote;
  for (const ch of s) {
    if (ch === quote || ch === '\\') out += '\\';
    if (!NOT_PRINTABLE.test(ch)) {
      out += ch;
      continue;
    }
    const cp = ch.codePointAt(0)!;
    out += '\\' + (CONTROL_ESCAPES[ch] ?? (cp < 0x10000 ? `u${cp.toString(16).padStart(4, '0')}` : `U${cp.toString(16).padStart(8, '0')}`));
  }
  return out + quote;
}

/** g_strescape as used for bytestrings. */
function escapeBytes(b: Uint8Array): string {
  const named: Record<number, string> = { 8: 'b', 12: 'f', 10: 'n', 13: 'r', 9: 't', 11: 'v', 92: '\\', 34: '"' };
  let out = '';
  for (const c of b) {
    if (named[c] !== undefined) out += `\\${named[c]}`;
    else if (c < 0x20 || c >= 0x7f) out += `\\${c.toString(8).padStart(3, '0')}`;
    else out += String.fromCharCode(c);
  }
  return out;
}

/** C's printf("%.17g"), which g_ascii_dtostr uses, plus GLib's ".0" when no '.' or 'e' shows. */
function formatDouble(d: number): string {
  if (Number.isNaN(d)) return 'nan';
  if (!Number.isFinite(d)) return d > 0 ? 'inf' : '-inf';
  const [mant, expText] = d.toExponential(16).split('e') as [string, string];
  const exp = Number(expText);
  const strip = (x: string): string => (x.includes('.') ? x.replace(/0+$/, '').replace(/\.$/, '') : x);
  let s: string;
  if (d !== 0 && (exp < -4 || exp >= 17)) s = `${strip(mant)}e${exp < 0 ? '-' : '+'}${String(Math.abs(exp)).padStart(2, '0')}`;
  else s = strip(d.toFixed(Math.max(0, 16 - exp)));
  if (Object.is(d, -0)) s = '-0';
  return /[.e]/.test(s) ? s : `${s}.0`;
}

function print(t: GType, v: GValue, annotate: boolean): string {
  switch (t.kind) {
    case 'basic':
      switch (t.code) {
        case 's': return quoteString(v as string);
        case 'o': return `${annotate ? 'objectpath ' : ''}${quoteString(v as string)}`;
        case 'g': return `${annotate ? 'signature ' : ''}${quoteString(v as string)}`;
        case 'b': return v ? 'true' : 'false';
        case 'y': return `${annotate ? 'byte ' : ''}0x${(v as number).toString(16).padStart(2, '0')}`;
        case 'i': return String(v);
        case 'd': return formatDouble(v as number);
        default: return `${annotate ? `${INT_NAMES[t.code]} ` : ''}${String(v)}`;
      }
    case 'variant': {
      const inner = v as Variant;
      return `<${print(parseType(inner.type), inner.value, true)}>`;
    }
    case 'maybe': {
      // GLib annotates the maybe itself and prints the innermost value unannotated.
      // (Values do not record which level of a nested maybe is Nothing: null is the outer one.)
      const prefix = annotate ? `@${t.str} ` : '';
      if (v === null) return `${prefix}nothing`;
      let elem: GType = t.elem;
      while (elem.kind === 'maybe') elem = elem.elem;
      return `${prefix}${print(elem, v, false)}`;
    }
    case 'array': {
      if (t.elem.kind === 'basic' && t.elem.code === 'y') {
        const b = v as Uint8Array;
        const nul = b.indexOf(0);
        if (b.length > 0 && nul === b.length - 1) {
          const body = b.subarray(0, b.length - 1);
          return body.includes(0x27) ? `b"${escapeBytes(body)}"` : `b'${escapeBytes(body)}'`;
        }
        if (b.length === 0) return `${annotate ? '@ay ' : ''}[]`;
        return `[${[...b].map((x, i) => print(t.elem, x, annotate && i === 0)).join(', ')}]`;
      }
      const items = v as GValue[];
      if (items.length === 0) return `${annotate ? `@${t.str} ` : ''}[]`;
      if (t.elem.kind === 'dict-entry') {
        const [kt, vt] = t.elem.members;
        return `{${items.map((e, i) => `${print(kt, (e as GValue[])[0]!, annotate && i === 0)}: ${print(vt, (e as GValue[])[1]!, annotate && i === 0)}`).join(', ')}}`;
      }
      return `[${items.map((e, i) => print(t.elem, e, annotate && i === 0)).join(', ')}]`;
    }
    case 'tuple': {
      const items = v as GValue[];
      const inner = t.members.map((m, i) => print(m, items[i]!, annotate)).join(', ');
      return `(${inner}${t.members.length === 1 ? ',' : ''})`;
    }
    case 'dict-entry': {
      const items = v as GValue[];
      return `{${print(t.members[0], items[0]!, annotate)}, ${print(t.members[1], items[1]!, annotate)}}`;
    }
  }
}

/** Formats `value` of type `type` as g_variant_print(value, typeAnnotate) does. */
export function formatGVariant(type: string, value: GValue, typeAnnotate: boolean): string {
  return print(parseType(type), value, typeAnnotate);
}

/** g_variant_print(value, TRUE): what `ostree show --print-metadata-key` and `show` print. */
export function printGVariant(type: string, value: GValue): string {
  return formatGVariant(type, value, true);
}
