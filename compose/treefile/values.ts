// Typed readers for treefile values, with errors that name the file, the line (when the
// parser kept positions) and the key path, e.g. `base.yaml:7: packages[2]: expected a string`.

import { isMap, isPair, isScalar, isSeq, type Document, type LineCounter } from 'yaml';
import { UpdaterError } from '../../common/errors.ts';
import type { JsonValue } from './types.ts';

/** A key path inside one treefile: `['check-passwd', 'entries', 'bin']`, `['packages', 2]`. */
export type KeyPath = readonly (string | number)[];

/** Renders a key path the way errors show it: `add-files[0][1]`, `check-passwd.type`. */
export function renderKeyPath(path: KeyPath): string {
  let out = '';
  for (const seg of path) out += typeof seg === 'number' ? `[${seg}]` : out === '' ? seg : `.${seg}`;
  return out === '' ? '(top level)' : out;
}

/** One treefile being read: its name for messages and, for line numbers, the parsed document. */
export class TreefileSource {
  readonly file: string;
  readonly directory: string;
  readonly #doc: Document | undefined;
  readonly #lines: LineCounter | undefined;
  /** Prefix for paths inside an inline treefile (`conditional-include[0].include`). */
  readonly #base: KeyPath;

  constructor(file: string, directory: string, doc?: Document, lines?: LineCounter, base: KeyPath = []) {
    this.file = file;
    this.directory = directory;
    this.#doc = doc;
    this.#lines = lines;
    this.#base = base;
  }

  /** The same file, with paths relative to `prefix` (for inline treefiles). */
  nested(prefix: KeyPath): TreefileSource {
    return new TreefileSource(this.file, this.directory, this.#doc, this.#lines, [...this.#base, ...prefix]);
  }

  /** 1-based line of the key (or element) at `path`, when known. */
  line(path: KeyPath): number | undefined {
    if (this.#doc === undefined || this.#lines === undefined) return undefined;
    let node: unknown = this.#doc.contents;
    let at: [number, number, number] | undefined;
    for (const seg of [...this.#base, ...path]) {
      if (isMap(node)) {
        const pair = node.items.find((p) => isPair(p) && isScalar(p.key) && String(p.key.value) === String(seg));
        if (pair === undefined) break;
        if (isScalar(pair.key) && pair.key.range) at = pair.key.range;
        node = pair.value;
      } else if (isSeq(node) && typeof seg === 'number') {
        const item = node.items[seg] as { range?: [number, number, number] } | undefined;
        if (item === undefined) break;
        if (item.range) at = item.range;
        node = item;
      } else {
        break;
      }
    }
    if (at === undefined) return undefined;
    return this.#lines.linePos(at[0]).line;
  }

  /** `file:line: key` prefix for messages about `path`. */
  where(path: KeyPath): string {
    const line = this.line(path);
    const full = [...this.#base, ...path];
    return `${this.file}${line === undefined ? '' : `:${line}`}: ${renderKeyPath(full)}`;
  }

  /** Throws an UpdaterError naming the file, line and key. */
  fail(path: KeyPath, message: string, code = 'TREEFILE_INVALID', hint?: string): never {
    throw new UpdaterError(code, `${this.where(path)}: ${message}`, hint === undefined ? {} : { hint });
  }
}

/** Short description of a value's type for messages ("a number (30)", "a mapping"). */
export function describeValue(v: unknown): string {
  if (v === null || v === undefined) return 'null';
  if (Array.isArray(v)) return 'an array';
  switch (typeof v) {
    case 'string': return `a string (${JSON.stringify(v)})`;
    case 'number': return `a number (${v})`;
    case 'boolean': return `a boolean (${v})`;
    case 'object': return 'a mapping';
    default: return typeof v;
  }
}

export function isPlainObject(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

export function readString(src: TreefileSource, v: unknown, path: KeyPath): string {
  if (typeof v !== 'string') {
    src.fail(path, `expected a string, got ${describeValue(v)}`, 'TREEFILE_INVALID',
      typeof v === 'number' || typeof v === 'boolean' ? 'quote the value to make it a string' : undefined);
  }
  return v;
}

export function readBool(src: TreefileSource, v: unknown, path: KeyPath): boolean {
  if (typeof v !== 'boolean') src.fail(path, `expected true or false, got ${describeValue(v)}`);
  return v;
}

/** A non-negative integer no larger than `max` (u32/u64 in rpm-ostree). */
export function readUint(src: TreefileSource, v: unknown, path: KeyPath, max = Number.MAX_SAFE_INTEGER): number {
  if (typeof v !== 'number' || !Number.isInteger(v) || v < 0 || v > max) {
    src.fail(path, `expected a non-negative integer${max < Number.MAX_SAFE_INTEGER ? ` up to ${max}` : ''}, got ${describeValue(v)}`);
  }
  return v;
}

export function readStringArray(src: TreefileSource, v: unknown, path: KeyPath): string[] {
  if (!Array.isArray(v)) src.fail(path, `expected an array of strings, got ${describeValue(v)}`);
  return v.map((item, i) => readString(src, item, [...path, i]));
}

export function readMapping(src: TreefileSource, v: unknown, path: KeyPath): Record<string, unknown> {
  if (!isPlainObject(v)) src.fail(path, `expected a mapping, got ${describeValue(v)}`);
  return v;
}

export function readStringMap(src: TreefileSource, v: unknown, path: KeyPath): Record<string, string> {
  const m = readMapping(src, v, path);
  const out: Record<string, string> = {};
  for (const [k, val] of Object.entries(m)) out[k] = readString(src, val, [...path, k]);
  return out;
}

/** Any JSON value (YAML values are converted; non-finite numbers are rejected). */
export function readJson(src: TreefileSource, v: unknown, path: KeyPath): JsonValue {
  if (v === null || typeof v === 'string' || typeof v === 'boolean') return v;
  if (typeof v === 'number') {
    if (!Number.isFinite(v)) src.fail(path, `expected a JSON value, got ${v}`);
    return v;
  }
  if (Array.isArray(v)) return v.map((item, i) => readJson(src, item, [...path, i]));
  if (isPlainObject(v)) {
    const out: Record<string, JsonValue> = {};
    for (const [k, val] of Object.entries(v)) out[k] = readJson(src, val, [...path, k]);
    return out;
  }
  return src.fail(path, `expected a JSON value, got ${describeValue(v)}`);
}

export function readJsonMap(src: TreefileSource, v: unknown, path: KeyPath): Record<string, JsonValue> {
  const m = readMapping(src, v, path);
  const out: Record<string, JsonValue> = {};
  for (const [k, val] of Object.entries(m)) out[k] = readJson(src, val, [...path, k]);
  return out;
}

export function readEnum<T extends string>(src: TreefileSource, v: unknown, path: KeyPath, allowed: readonly T[]): T {
  if (typeof v !== 'string' || !(allowed as readonly string[]).includes(v)) {
    src.fail(path, `expected one of ${allowed.map((a) => `"${a}"`).join(', ')}, got ${describeValue(v)}`);
  }
  return v as T;
}

/** Byte-order comparison of UTF-8 strings (Rust's `String` ordering, used by BTreeSet/BTreeMap). */
export function compareBytes(a: string, b: string): number {
  return Buffer.compare(Buffer.from(a, 'utf8'), Buffer.from(b, 'utf8'));
}

/** Sorted, de-duplicated copy (a BTreeSet<String>). */
export function sortedSet(items: Iterable<string>): string[] {
  return [...new Set(items)].sort(compareBytes);
}
