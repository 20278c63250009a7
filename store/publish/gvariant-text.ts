// A parser for the part of GLib's GVariant text format (g_variant_parse) that summary
// metadata values use, as `ostree summary -m KEY=VALUE` takes them: 'strings', "strings",
// true/false, numbers (int32 by default, or typed: byte, int16, uint16, int32, uint32,
// int64, uint64, double), arrays [..] of one type, variants <..>, and @TYPE annotations.
// Like ostree, numbers are stored as given (host order): nothing is byte-swapped here.

import { UpdaterError } from '../../common/errors.ts';
import { isValidType, parseType, serialize, type GValue, type Variant } from '../gvariant/index.ts';

const KEYWORD_TYPES: Record<string, string> = {
  byte: 'y', int16: 'n', uint16: 'q', int32: 'i', uint32: 'u', int64: 'x', uint64: 't', handle: 'h', double: 'd',
  boolean: 'b', string: 's', objectpath: 'o', signature: 'g',
};

const RANGES: Record<string, [bigint, bigint]> = {
  y: [0n, 255n], n: [-32768n, 32767n], q: [0n, 65535n], i: [-2147483648n, 2147483647n], h: [-2147483648n, 2147483647n],
  u: [0n, 4294967295n], x: [-(2n ** 63n), 2n ** 63n - 1n], t: [0n, 2n ** 64n - 1n],
};

class Parser {
  private pos = 0;
  private readonly text: string;

  constructor(text: string) {
    this.text = text;
  }

  fail(msg: string): never {
    throw new UpdaterError('GVARIANT_PARSE', `cannot parse GVariant text '${this.text}' at offset ${this.pos}: ${msg}`);
  }

  private ws(): void {
    while (this.pos < this.text.length && /\s/.test(this.text[this.pos]!)) this.pos++;
  }

  private peekWord(): string {
    const m = /^[A-Za-z_][A-Za-z0-9_]*/.exec(this.text.slice(this.pos));
    return m ? m[0] : '';
  }

  atEnd(): boolean {
    this.ws();
    return this.pos >= this.text.length;
  }

  /** Parses one value; `want` is the expected type string, if known. */
  value(want?: string): Variant {
    this.ws();
    const c = this.text[this.pos];
    if (c === undefined) this.fail('expected a value');
    if (c === '@') {
      this.pos++;
      const m = /^[a-z{}()@]+/.exec(this.text.slice(this.pos));
      let len = m ? m[0].length : 0;
      while (len > 0 && !isValidType(this.text.slice(this.pos, this.pos + len))) len--;
      if (len === 0) this.fail('invalid type annotation');
      const type = this.text.slice(this.pos, this.pos + len);
      this.pos += len;
      if (want !== undefined && want !== type) this.fail(`expected a value of type ${want}, annotated ${type}`);
      return this.value(type);
    }
    const word = this.peekWord();
    if (word in KEYWORD_TYPES && !['true', 'false'].includes(word)) {
      this.pos += word.length;
      const type = KEYWORD_TYPES[word]!;
      if (want !== undefined && want !== type) this.fail(`expected a value of type ${want}, got ${word}`);
      return this.value(type);
    }
    if (word === 'true' || word === 'false') {
      this.pos += word.length;
      return this.typed({ type: 'b', value: word === 'true' }, want);
    }
    if (c === "'" || c === '"') return this.typed({ type: want && 'sog'.includes(want) ? want : 's', value: this.string(c) }, want);
    if (c === '<') {
      this.pos++;
      const inner = this.value();
      this.ws();
      if (this.text[this.pos] !== '>') this.fail("expected '>'");
      this.pos++;
      return this.typed({ type: 'v', value: inner }, want);
    }
    if (c === '[') return this.array(want);
    if (/[-+0-9.]/.test(c)) return this.number(want);
    return this.fail(`unexpected '${c}'`);
  }

  private typed(v: Variant, want?: string): Variant {
    if (want !== undefined && want !== v.type) this.fail(`expected a value of type ${want}, got ${v.type}`);
    return v;
  }

  private string(quote: string): string {
    this.pos++;
    let out = '';
    for (;;) {
      const ch = this.text[this.pos++];
      if (ch === undefined) this.fail('unterminated string');
      if (ch === quote) return out;
      if (ch === '\\') {
        const e = this.text[this.pos++];
        const map: Record<string, string> = { n: '\n', t: '\t', r: '\r', b: '\b', f: '\f', v: '\v', a: '\x07', '\\': '\\', "'": "'", '"': '"' };
        if (e === undefined) this.fail('unterminated escape');
        out += map[e] ?? e;
      } else out += ch;
    }
  }

  private array(want?: string): Variant {
    if (want !== undefined && !want.startsWith('a')) this.fail(`expected a value of type ${want}, got an array`);
    const elemWant = want?.slice(1);
    this.pos++;
    const items: Variant[] = [];
    this.ws();
    if (this.text[this.pos] === ']') {
      this.pos++;
      if (want === undefined) this.fail('the type of an empty array must be given, e.g. @as []');
      return { type: want, value: [] };
    }
    for (;;) {
      items.push(this.value(elemWant ?? items[0]?.type));
      this.ws();
      const ch = this.text[this.pos++];
      if (ch === ']') break;
      if (ch !== ',') this.fail("expected ',' or ']'");
    }
    const type = `a${items[0]!.type}`;
    parseType(type);
    return { type, value: items.map((i) => i.value) as GValue[] };
  }

  private number(want?: string): Variant {
    const m = /^[-+]?(0x[0-9a-fA-F]+|[0-9]*\.?[0-9]+([eE][-+]?[0-9]+)?)/.exec(this.text.slice(this.pos));
    if (!m) this.fail('invalid number');
    this.pos += m[0].length;
    const lit = m[0];
    const isFloat = !/0x/i.test(lit) && /[.eE]/.test(lit);
    const type = want ?? (isFloat ? 'd' : 'i');
    if (type === 'd') return { type, value: Number(lit) };
    if (isFloat || !(type in RANGES)) this.fail(`a number does not fit type ${type}`);
    const neg = lit.startsWith('-');
    const digits = lit.replace(/^[-+]/, '');
    let n = BigInt(digits);
    if (neg) n = -n;
    const [lo, hi] = RANGES[type]!;
    if (n < lo || n > hi) this.fail(`${lit} is out of range for type ${type}`);
    return { type, value: type === 'x' || type === 't' ? n : Number(n) };
  }
}

/** Parses a GVariant text value such as `'text'`, `true`, `uint64 5`, `['a', 'b']`. Throws GVARIANT_PARSE. */
export function parseGVariantText(text: string): Variant {
  const p = new Parser(text);
  const v = p.value();
  if (!p.atEnd()) p.fail('trailing characters');
  serialize(v.type, v.value); // validates the value against its type
  return v;
}
