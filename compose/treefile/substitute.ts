// `${name}` substitution with the semantics of the envsubst crate that rpm-ostree uses:
// every variable name and value must be free of `$`, `{` and `}`; each `${name}` of a
// defined variable is replaced; references to undefined variables stay as written.

import type { VarValue } from './types.ts';

/** Renders a variable as rpm-ostree's `VarValue` Display does. */
export function varValueToString(v: VarValue): string {
  return String(v);
}

/** Returns the first name or value that may not be used for substitution, with a message. */
export function checkSubstitutionVariables(vars: Readonly<Record<string, VarValue>>): { name: string; error: string } | undefined {
  for (const [k, v] of Object.entries(vars)) {
    for (const [kind, text] of [['key', k], ['value', varValueToString(v)]] as const) {
      for (const c of ['$', '{', '}']) {
        if (text.includes(c)) return { name: k, error: `variable ${kind} '${text}' contains forbidden character '${c}'` };
      }
    }
  }
  return undefined;
}

/** Substitutes `${name}` references (call checkSubstitutionVariables first). */
export function substituteVariables(template: string, vars: Readonly<Record<string, VarValue>>): string {
  // envsubst only rewrites strings that look templated: a `${` before the first `}`.
  const start = template.indexOf('${');
  const end = template.indexOf('}');
  if (start < 0 || end < 0 || start >= end) return template;
  let out = template;
  for (const [k, v] of Object.entries(vars)) out = out.split(`\${${k}}`).join(varValueToString(v));
  return out;
}
