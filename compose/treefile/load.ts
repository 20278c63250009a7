// Loading a treefile from disk: read it, follow include / arch-include / conditional-include
// recursively (paths relative to the including file), check the files it names exist, merge,
// then finalise. The order and limits are rpm-ostree's `treefile_parse_recurse`:
// own variables are folded in first (a variable already defined higher up wins), then
// arch-include entries are appended to the include list, then conditional-include is
// evaluated (inline treefiles merge at once, file includes are appended), then each include
// is read and merged into this file in order. Depth is capped at 50, and any file read twice
// (same device and inode) is an include loop.

import { constants } from 'node:fs';
import { access, readFile, stat } from 'node:fs/promises';
import { dirname, resolve } from 'node:path';
import { isErrno, prefixError, UpdaterError } from '../../common/errors.ts';
import { evaluateCondition } from './conditions.ts';
import { finalizeTreefile } from './finalize.ts';
import { mergeTreefileConfig } from './merge.ts';
import { parseTreefileText, treefileFormatFor, type IncludeRef, type TreefileLayer } from './parse.ts';
import type { Treefile, TreefileConfig, VarValue } from './types.ts';
import type { KeyPath, TreefileSource } from './values.ts';

/** rpm-ostree's INCLUDE_MAXDEPTH. */
export const INCLUDE_MAX_DEPTH = 50;

export interface LoadTreefileOptions {
  /** The compose architecture (rpm basearch); defaults to the host's (`hostBasearch()`). */
  basearch?: string;
}

/** The rpm basearch of this machine, as rpm-ostree derives it from the Rust arch. */
export function hostBasearch(arch: string = process.arch): string {
  const map: Record<string, string> = {
    x64: 'x86_64', arm64: 'aarch64', ia32: 'i386', arm: 'armhfp', ppc64: 'ppc64le', s390x: 's390x',
    riscv64: 'riscv64', loong64: 'loongarch64',
  };
  return map[arch] ?? arch;
}

interface LoadState {
  basearch: string;
  /** "dev:ino" → path, for every file read so far. */
  seen: Map<string, string>;
  /** Variables in the order defined; the first definition wins. */
  variables: Map<string, VarValue>;
  sources: string[];
}

/** Where a file was asked for: the including file and the key, or nothing for the top file. */
interface Via {
  source: TreefileSource;
  key: KeyPath;
}

/**
 * Loads `path` and everything it includes into a normalised Treefile. Errors name the file,
 * line and key at fault (codes TREEFILE_SYNTAX, TREEFILE_INVALID, TREEFILE_UNKNOWN_KEY,
 * TREEFILE_MISSING_FILE, TREEFILE_INCLUDE_LOOP, TREEFILE_INCLUDE_DEPTH, TREEFILE_CONDITION,
 * TREEFILE_UNSUPPORTED).
 */
export async function loadTreefile(path: string, opts: LoadTreefileOptions = {}): Promise<Treefile> {
  const top = resolve(path);
  const state: LoadState = { basearch: opts.basearch ?? hostBasearch(), seen: new Map(), variables: new Map(), sources: [] };
  const config = await loadRecursive(top, 0, state, undefined);
  if (state.variables.size > 0) config.variables = Object.fromEntries(state.variables);
  const script = config['postprocess-script'];
  if (script !== undefined) {
    // rpm-ostree's sanitycheck_externals: the script is executed directly.
    try {
      await access(script.path, constants.X_OK);
    } catch {
      throw new UpdaterError('TREEFILE_INVALID', `${top}: postprocess-script must be executable: ${script.path}`,
        { hint: `chmod +x ${script.path}` });
    }
  }
  return finalizeTreefile({ path: top, directory: dirname(top), sources: state.sources, basearch: state.basearch, config });
}

async function loadRecursive(file: string, depth: number, state: LoadState, via: Via | undefined): Promise<TreefileConfig> {
  const layer = await readLayer(file, state, via);
  const source: TreefileSource = layer.source;
  const config = layer.config;

  // Fold in this file's variables; a definition seen earlier (higher up) wins.
  for (const [k, v] of Object.entries(config.variables ?? {})) if (!state.variables.has(k)) state.variables.set(k, v);

  const includes: IncludeRef[] = [...layer.includes, ...(layer.archIncludes[state.basearch] ?? [])];
  for (const ci of layer.conditionalIncludes) {
    // Every condition is evaluated, so a type error is reported even after a false one.
    let matches = true;
    ci.conditions.forEach((cond, j) => {
      const r = evaluateCondition(cond, state.variables);
      if (typeof r !== 'boolean') source.fail(ci.conditionKeys[j]!, r.error, 'TREEFILE_CONDITION');
      matches &&= r;
    });
    if (!matches) continue;
    if (Array.isArray(ci.include)) includes.push(...ci.include);
    else mergeTreefileConfig(config, structuredClone(ci.include));
  }

  for (const inc of includes) {
    if (depth === INCLUDE_MAX_DEPTH) {
      source.fail(inc.key, `Reached maximum include depth ${INCLUDE_MAX_DEPTH}`, 'TREEFILE_INCLUDE_DEPTH');
    }
    const child = await loadRecursive(resolve(dirname(file), inc.name), depth + 1, state, { source, key: inc.key });
    mergeTreefileConfig(config, child);
  }
  return config;
}

/** Reads and parses one file, records it, and checks the files it names exist. */
async function readLayer(file: string, state: LoadState, via: Via | undefined): Promise<TreefileLayer> {
  const missing = (what: string): never => {
    if (via === undefined) throw new UpdaterError('TREEFILE_MISSING_FILE', `treefile ${file} ${what}`);
    return via.source.fail(via.key, `included file ${file} ${what}`, 'TREEFILE_MISSING_FILE');
  };
  const format = treefileFormatFor(file);
  if (format === undefined) {
    const msg = `${file}: unsupported treefile type (expected .yaml, .yml or .json)`;
    if (via === undefined) throw new UpdaterError('TREEFILE_INVALID', msg);
    return via.source.fail(via.key, msg);
  }
  let st;
  let text: string;
  try {
    st = await stat(file);
    if (!st.isFile()) missing('is not a regular file');
    text = await readFile(file, 'utf8');
  } catch (err) {
    if (isErrno(err, 'ENOENT') || isErrno(err, 'ENOTDIR')) return missing('does not exist');
    throw prefixError(`reading treefile ${file}`, err);
  }
  const id = `${st.dev}:${st.ino}`;
  if (state.seen.has(id)) {
    const msg = `Include loop detected; ${file} was already included`;
    if (via === undefined) throw new UpdaterError('TREEFILE_INCLUDE_LOOP', msg);
    return via.source.fail(via.key, msg, 'TREEFILE_INCLUDE_LOOP');
  }
  state.seen.set(id, file);
  state.sources.push(file);

  const layer = parseTreefileText(text, { file, format, basearch: state.basearch });
  await checkExternals(layer);
  return layer;
}

/** rpm-ostree opens the files a treefile names while parsing it; a missing one fails the load. */
async function checkExternals(layer: TreefileLayer): Promise<void> {
  const source: TreefileSource = layer.source;
  const config = layer.config;
  const wanted: { path: string; key: KeyPath }[] = [];
  if (config['postprocess-script'] !== undefined) wanted.push({ path: config['postprocess-script'].path, key: ['postprocess-script'] });
  config['add-files']?.forEach((f, i) => wanted.push({ path: f.path, key: ['add-files', i, 0] }));
  for (const k of ['check-passwd', 'check-groups'] as const) {
    const c = config[k];
    if (c?.type === 'file') wanted.push({ path: c.path, key: [k, 'filename'] });
  }
  for (const w of wanted) {
    let st;
    try {
      st = await stat(w.path);
    } catch (err) {
      if (isErrno(err, 'ENOENT') || isErrno(err, 'ENOTDIR')) source.fail(w.key, `${w.path} does not exist`, 'TREEFILE_MISSING_FILE');
      throw prefixError(`${source.where(w.key)}`, err);
    }
    if (!st.isFile()) source.fail(w.key, `${w.path} is not a regular file`, 'TREEFILE_MISSING_FILE');
  }
}
