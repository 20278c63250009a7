// Package specs as treefiles write them (`grub2`, `'skopeo >= 2:1.7.0'`, `kernel-core.x86_64`,
// `/usr/bin/sh`) and the name globs of exclude-packages. Pure: no libsolv here.

import { UpdaterError } from '../../common/errors.ts';

export type RelOp = '<' | '<=' | '=' | '>=' | '>';

/** A parsed package spec: a name (or provide, file path, NEVRA, glob), optionally with a version relation. */
export interface PackageSpec {
  /** The text as written. */
  text: string;
  name: string;
  op?: RelOp;
  /** `[epoch:]version[-release]` */
  evr?: string;
}

const REL = /^([^\s<>=!]+)\s*(<=|>=|==|=|<|>)\s*([^\s<>=!]+)$/;

/** Parses `name` or `name OP [epoch:]version[-release]`; throws DEPSOLVE_BAD_SPEC naming the spec. */
export function parsePackageSpec(text: string): PackageSpec {
  const t = text.trim();
  if (t === '') throw new UpdaterError('DEPSOLVE_BAD_SPEC', 'empty package name in the package list');
  if (!/[<>=!]/.test(t)) {
    if (/\s/.test(t)) throw new UpdaterError('DEPSOLVE_BAD_SPEC', `package spec '${text}': whitespace in a package name`);
    return { text, name: t };
  }
  const m = REL.exec(t);
  if (!m) {
    throw new UpdaterError('DEPSOLVE_BAD_SPEC', `package spec '${text}': expected 'NAME', or 'NAME OP [EPOCH:]VERSION[-RELEASE]' with OP one of < <= = >= >`);
  }
  const evr = m[3]!;
  if (!/^(\d+:)?[^:\-]+(-[^:\-]+)?$/.test(evr)) {
    throw new UpdaterError('DEPSOLVE_BAD_SPEC', `package spec '${text}': malformed version '${evr}' (expected [EPOCH:]VERSION[-RELEASE])`);
  }
  const op = (m[2] === '==' ? '=' : m[2]) as RelOp;
  return { text, name: m[1]!, op, evr };
}

/** libsolv's REL_GT/REL_EQ/REL_LT bits for a relation (pool.h). */
export function relFlags(op: RelOp): number {
  const GT = 1;
  const EQ = 2;
  const LT = 4;
  switch (op) {
    case '<': return LT;
    case '<=': return LT | EQ;
    case '=': return EQ;
    case '>=': return GT | EQ;
    case '>': return GT;
  }
}

/** Splits libsolv's `[epoch:]version-release` into its parts (epoch 0 when absent). */
export function splitEvr(evr: string): { epoch: number; version: string; release: string } {
  const colon = evr.indexOf(':');
  const epoch = colon > 0 && /^\d+$/.test(evr.slice(0, colon)) ? Number(evr.slice(0, colon)) : 0;
  const vr = colon > 0 ? evr.slice(colon + 1) : evr;
  const dash = vr.lastIndexOf('-');
  return dash < 0 ? { epoch, version: vr, release: '' } : { epoch, version: vr.slice(0, dash), release: vr.slice(dash + 1) };
}

/** A shell-style glob (`*`, `?`, `[...]`) as an anchored RegExp, as dnf matches excludes. */
export function globToRegExp(glob: string): RegExp {
  let re = '';
  for (let i = 0; i < glob.length; i++) {
    const c = glob[i]!;
    if (c === '*') re += '.*';
    else if (c === '?') re += '.';
    else if (c === '[') {
      const end = glob.indexOf(']', i + 2);
      if (end < 0) re += '\\[';
      else {
        let body = glob.slice(i + 1, end);
        if (body.startsWith('!')) body = '^' + body.slice(1);
        re += `[${body.replace(/\\/g, '\\\\')}]`;
        i = end;
      }
    } else re += c.replace(/[.+^${}()|\\\]]/g, '\\$&');
  }
  return new RegExp(`^${re}$`);
}

/**
 * True when an exclude/include pattern matches a package, as dnf matches
 * excludepkgs: against the name, name.arch, name-version-release.arch or the NEVRA.
 */
export function patternMatchesPackage(pattern: RegExp | string, p: { name: string; evr: string; arch: string }): boolean {
  const { epoch, version, release } = splitEvr(p.evr);
  const vr = release ? `${version}-${release}` : version;
  const forms = [p.name, `${p.name}.${p.arch}`, `${p.name}-${vr}`, `${p.name}-${vr}.${p.arch}`, `${p.name}-${epoch}:${vr}.${p.arch}`];
  if (typeof pattern === 'string') return forms.includes(pattern);
  return forms.some((f) => pattern.test(f));
}
