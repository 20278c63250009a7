// `conditional-include` conditions: `"<variable> <op> <value>"` with ops == != < <= > >=,
// values true/false, a non-negative integer, or a double-quoted string. Parsed and evaluated
// as rpm-ostree does (rust/src/treefile.rs `IncludeCondition`): both sides must have the same
// type, and ordering ops work on numbers only.

import type { VarValue } from './types.ts';

export type ConditionOp = '==' | '!=' | '<' | '<=' | '>' | '>=';

export interface IncludeCondition {
  variable: string;
  op: ConditionOp;
  value: VarValue;
  /** The condition as written, for messages. */
  text: string;
}

const OPS: readonly string[] = ['==', '!=', '<', '<=', '>', '>='];

// Same shape as rpm-ostree's regex: variable, an operator (any non-space run), then the value.
// Backtracking gives the same split as Rust's leftmost-first matching, so `a==5` reads the
// operator as `==` only if the remainder still matches a value (`a==35` splits as `==3` + `5`).
const CONDITION = /^\s*([A-Za-z0-9_]+)\s*(\S+)\s*(?:(true)|(false)|([0-9]+)|"(.*)")\s*$/;

/** Parses one condition string; returns an error message when it is malformed. */
export function parseCondition(text: string): IncludeCondition | { error: string } {
  const m = CONDITION.exec(text);
  if (m === null) return { error: `invalid condition: ${text}` };
  const [, variable, op, t, f, num, str] = m;
  if (!OPS.includes(op!)) return { error: `expected one of ==, !=, >, >=, <, <= but got ${op}` };
  let value: VarValue;
  if (t !== undefined) value = true;
  else if (f !== undefined) value = false;
  else if (num !== undefined) {
    const n = Number(num);
    if (!Number.isSafeInteger(n)) return { error: `number too large in condition: ${text}` };
    value = n;
  } else value = str!;
  return { variable: variable!, op: op as ConditionOp, value, text };
}

function typeName(v: VarValue): string {
  return typeof v === 'boolean' ? 'bool' : typeof v === 'number' ? 'number' : 'string';
}

/**
 * Evaluates a condition against the variables known so far. Throws a message string (the
 * caller adds file and key) for an undefined variable, a type mismatch, or an ordering op on
 * non-numbers, matching rpm-ostree's errors.
 */
export function evaluateCondition(cond: IncludeCondition, vars: ReadonlyMap<string, VarValue>): boolean | { error: string } {
  if (!vars.has(cond.variable)) return { error: `undefined variable '${cond.variable}'` };
  const val = vars.get(cond.variable)!;
  if (typeName(val) !== typeName(cond.value)) {
    return { error: `${cond.variable} is not same type as ${String(cond.value)}` };
  }
  switch (cond.op) {
    case '==': return val === cond.value;
    case '!=': return val !== cond.value;
    default:
      if (typeof val !== 'number' || typeof cond.value !== 'number') {
        return { error: `invalid op for values '${String(val)}' and '${String(cond.value)}'` };
      }
      switch (cond.op) {
        case '<': return val < cond.value;
        case '<=': return val <= cond.value;
        case '>': return val > cond.value;
        case '>=': return val >= cond.value;
      }
  }
}
