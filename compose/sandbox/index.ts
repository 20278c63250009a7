// Public surface of compose/sandbox/: running scripts inside an install root with
// bubblewrap (no network, own pid namespace, reduced capabilities), and RPM scriptlets
// in rpm-ostree's order with its skip list, replacements and refusals.

export { bwrapArgs, DEFAULT_TIMEOUT_MS, etcDirOf, runSandboxed, tailOf, type Mutability, type SandboxBind, type SandboxOptions, type SandboxResult } from './bwrap.ts';
export { resolveInRoot } from './resolve.ts';
export {
  planScriptlet, runScriptlet, runScriptletPhases, scriptletDesc, scriptletId, validateScriptlets,
  type RunScriptletOptions, type Scriptlet, type ScriptletKind, type ScriptletPackage, type ScriptletPhaseOptions, type ScriptletPlan,
  type ScriptletPlanOptions,
} from './scriptlets.ts';
