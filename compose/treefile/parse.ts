// Parsing of one treefile (JSON or YAML text) into a typed layer: its own configuration plus
// the includes it asks for. Pure: no file reads. Follows rpm-ostree's
// `treefile_parse_stream` (rust/src/treefile.rs): packages whitespace splitting,
// `packages-$basearch`, legacy snake_case keys, reserved variables, unknown keys (an error in
// YAML, ignored in JSON), `container` and `edition: 2024` defaults.

import { dirname, resolve } from 'node:path';
import { LineCounter, parseDocument } from 'yaml';
import { UpdaterError } from '../../common/errors.ts';
import { parseCondition, type IncludeCondition } from './conditions.ts';
import { CONSUMED_KEYS, DERIVE_KEYS, FIELDS, LEGACY_KEYS, readPackageList } from './schema.ts';
import type { TreefileConfig, TreefileFields } from './types.ts';
import { describeValue, isPlainObject, readMapping, readString, sortedSet, TreefileSource, type KeyPath } from './values.ts';

export type TreefileFormat = 'json' | 'yaml';

/** An include request, with where it was written (for error messages). */
export interface IncludeRef {
  /** The path as written, relative to the including file. */
  name: string;
  /** The key that asked for it: `include`, `arch-include.x86_64[1]`, `conditional-include[0].include`. */
  key: KeyPath;
}

export interface ConditionalInclude {
  /** All must hold. */
  conditions: IncludeCondition[];
  /** Key path of each condition (`conditional-include[0].if` or `…if[1]`), for messages. */
  conditionKeys: KeyPath[];
  /** Files to include, or an inline treefile merged directly. */
  include: IncludeRef[] | TreefileConfig;
  /** Position in the file (`conditional-include[index]`). */
  index: number;
}

/** One parsed treefile: what it sets and what it includes. */
export interface TreefileLayer {
  source: TreefileSource;
  config: TreefileConfig;
  includes: IncludeRef[];
  /** basearch → includes (only the compose arch's entry is used). */
  archIncludes: Record<string, IncludeRef[]>;
  conditionalIncludes: ConditionalInclude[];
}

export interface ParseTreefileOptions {
  /** File name for messages; relative paths in the treefile resolve against its directory. */
  file: string;
  format: TreefileFormat;
  /** The compose architecture; when omitted, `${basearch}` is not defined and packages-$arch are all dropped. */
  basearch?: string;
}

/** Picks the format from the file name as rpm-ostree does; undefined for other extensions. */
export function treefileFormatFor(file: string): TreefileFormat | undefined {
  if (/\.ya?ml$/.test(file)) return 'yaml';
  if (/\.json$/.test(file)) return 'json';
  return undefined;
}

/** Parses treefile text. Throws TREEFILE_SYNTAX for malformed text, TREEFILE_* for bad content. */
export function parseTreefileText(text: string, opts: ParseTreefileOptions): TreefileLayer {
  const file = opts.file;
  const lines = new LineCounter();
  const doc = parseDocument(text, { lineCounter: lines, uniqueKeys: true, prettyErrors: true, version: '1.2' });
  let value: unknown;
  if (opts.format === 'json') {
    try {
      value = JSON.parse(text);
    } catch (err) {
      throw new UpdaterError('TREEFILE_SYNTAX', `${file}: invalid JSON: ${(err as Error).message}`, { cause: err });
    }
    // serde_json rejects duplicate keys; JSON.parse keeps the last silently. JSON text is
    // YAML, so the YAML parser finds them (and gives positions to every other message).
    const dup = doc.errors.find((e) => e.code === 'DUPLICATE_KEY');
    if (dup !== undefined) {
      throw new UpdaterError('TREEFILE_SYNTAX', `${file}:${dup.linePos?.[0].line ?? '?'}: duplicate key`);
    }
  } else {
    const err = doc.errors[0];
    if (err !== undefined) {
      const line = err.linePos?.[0].line;
      const what = err.code === 'DUPLICATE_KEY' ? 'duplicate key' : err.message.split('\n')[0]!.replace(/ at line \d+, column \d+:?$/, '');
      throw new UpdaterError('TREEFILE_SYNTAX', `${file}${line === undefined ? '' : `:${line}`}: invalid YAML: ${what}`);
    }
    value = doc.toJS({ maxAliasCount: 1000 });
  }
  const positions = opts.format === 'yaml' || doc.errors.length === 0;
  const source = new TreefileSource(file, dirname(resolve(file)), positions ? doc : undefined, positions ? lines : undefined);
  if (value === null || value === undefined) value = {};
  return parseTreefileValue(value, source, opts.format, opts.basearch);
}

/**
 * Reads the keys of one treefile mapping. `inline` marks a conditional-include's inline
 * treefile, which may not name files or include others.
 */
export function parseTreefileValue(value: unknown, source: TreefileSource, format: TreefileFormat, basearch: string | undefined, inline = false): TreefileLayer {
  if (!isPlainObject(value)) source.fail([], `expected a mapping of treefile keys, got ${describeValue(value)}`);
  const raw = value;
  const config: TreefileConfig = {};
  const set = config as Record<string, unknown>;
  const unknown: string[] = [];
  const derive: string[] = [];
  let archPackages: string[] | undefined;

  for (const [key, v] of Object.entries(raw)) {
    if (key in FIELDS) {
      if (key === 'packages') continue; // read below with bootstrap and arch packages
      set[key] = FIELDS[key as keyof TreefileFields].read(source, v, [key]);
    } else if (key in LEGACY_KEYS) {
      const modern = LEGACY_KEYS[key]!;
      if (modern in raw) source.fail([key], `Cannot use new and legacy forms of ${key}`, 'TREEFILE_INVALID', `use only \`${modern}\``);
      set[modern] = FIELDS[modern].read(source, v, [key]);
    } else if (DERIVE_KEYS.has(key)) {
      derive.push(key);
    } else if (key.startsWith('packages-')) {
      // Every packages-$arch must be an array of strings, even for other arches.
      if (!Array.isArray(v) || v.some((p) => typeof p !== 'string')) {
        source.fail([key], `Invalid field ${key}: expected array of strings`);
      }
      if (basearch !== undefined && key === `packages-${basearch}`) archPackages = readPackageList(source, v, [key]);
    } else if (!CONSUMED_KEYS.has(key)) {
      unknown.push(key);
    }
  }

  if (raw.basearch !== undefined && basearch !== undefined && raw.basearch !== basearch) {
    source.fail(['basearch'], `Invalid basearch ${String(raw.basearch)} on ${basearch}: cross-composes are not supported`);
  }
  if (basearch !== undefined && !inline) config.basearch = basearch;

  for (const reserved of ['releasever', 'basearch']) {
    if (config.variables !== undefined && reserved in config.variables) {
      source.fail(['variables', reserved], `cannot define reserved variable '${reserved}'`);
    }
  }
  if (!inline) {
    // The built-in variables mirror the keys (rpm-ostree "auto-mirror").
    if (config.basearch !== undefined) config.variables = { ...config.variables, basearch: config.basearch };
    if (config.releasever !== undefined) config.variables = { ...config.variables, releasever: config.releasever };
  }

  if (format === 'yaml' && unknown.length > 0) {
    source.fail([unknown[0]!], `Unknown fields: ${unknown.join(', ')}`, 'TREEFILE_UNKNOWN_KEY');
  }
  if (derive.length > 0) {
    source.fail([derive[0]!], `the following derivation fields are not supported: ${derive.join(', ')}`, 'TREEFILE_UNSUPPORTED',
      'these keys describe client-side layering; they cannot be used to compose a tree');
  }

  // `container: true` and `edition: "2024"` force their defaults in the file that sets them.
  if (config.container === true) {
    config['boot-location'] = 'modules';
    config.selinux = false;
    config['tmp-is-dir'] = true;
    config['preserve-passwd'] = false;
    config['check-passwd'] = { type: 'none' };
    config['check-groups'] = { type: 'none' };
  }
  if (config.edition === '2024') {
    config['boot-location'] = 'modules';
    config['tmp-is-dir'] = true;
  }

  // packages, bootstrap-packages (either spelling) and packages-$basearch form one set.
  const pkgs: string[] = [];
  if (raw.packages !== undefined) pkgs.push(...readPackageList(source, raw.packages, ['packages']));
  for (const k of ['bootstrap-packages', 'bootstrap_packages']) {
    if (raw[k] !== undefined) pkgs.push(...readPackageList(source, raw[k], [k]));
  }
  if (archPackages !== undefined) pkgs.push(...archPackages);
  config.packages = sortedSet(pkgs);

  const layer: TreefileLayer = { source, config, includes: [], archIncludes: {}, conditionalIncludes: [] };
  if (inline) {
    for (const k of ['include', 'arch-include', 'conditional-include', 'variables', 'postprocess-script', 'add-files']) {
      if (k in raw) source.fail([k], `not allowed in an inline treefile`, 'TREEFILE_INVALID', 'inline treefiles may not reference other files');
    }
    for (const k of ['check-passwd', 'check-groups'] as const) {
      if (config[k]?.type === 'file') source.fail([k], `type "file" is not allowed in an inline treefile`);
    }
    return layer;
  }
  if (raw.include !== undefined) layer.includes = readIncludeList(source, raw.include, ['include']);
  if (raw['arch-include'] !== undefined) {
    const m = readMapping(source, raw['arch-include'], ['arch-include']);
    for (const [arch, v] of Object.entries(m)) layer.archIncludes[arch] = readIncludeList(source, v, ['arch-include', arch]);
  }
  if (raw['conditional-include'] !== undefined) {
    layer.conditionalIncludes = readConditionalIncludes(source, raw['conditional-include'], format, basearch);
  }
  return layer;
}

/** `include`: a path or a list of paths. */
function readIncludeList(source: TreefileSource, v: unknown, path: KeyPath): IncludeRef[] {
  if (typeof v === 'string') return [{ name: v, key: path }];
  if (!Array.isArray(v)) source.fail(path, `expected a path or an array of paths, got ${describeValue(v)}`);
  return v.map((item, i) => ({ name: readString(source, item, [...path, i]), key: [...path, i] }));
}

function readConditionalIncludes(source: TreefileSource, v: unknown, format: TreefileFormat, basearch: string | undefined): ConditionalInclude[] {
  const path = ['conditional-include'];
  if (!Array.isArray(v)) source.fail(path, `expected an array of {if, include} mappings, got ${describeValue(v)}`);
  return v.map((item, index) => {
    const at = [...path, index];
    const m = readMapping(source, item, at);
    if (!('if' in m)) source.fail(at, 'missing field `if`');
    if (!('include' in m)) source.fail(at, 'missing field `include`');
    const texts = typeof m.if === 'string' ? [m.if] : m.if;
    if (!Array.isArray(texts) || texts.some((t) => typeof t !== 'string')) {
      source.fail([...at, 'if'], `expected a condition string or an array of them, got ${describeValue(m.if)}`, 'TREEFILE_CONDITION');
    }
    const conditionKeys: KeyPath[] = (texts as string[]).map((_, j) => typeof m.if === 'string' ? [...at, 'if'] : [...at, 'if', j]);
    const conditions = (texts as string[]).map((t, j) => {
      const c = parseCondition(t);
      if ('error' in c) source.fail(conditionKeys[j]!, c.error, 'TREEFILE_CONDITION');
      return c;
    });
    const inc = m.include;
    const include = isPlainObject(inc)
      ? parseTreefileValue(inc, source.nested([...at, 'include']), format, basearch, true).config
      : readIncludeList(source, inc, [...at, 'include']);
    return { conditions, conditionKeys, include, index };
  });
}
