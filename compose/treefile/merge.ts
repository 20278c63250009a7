// Merging an included treefile (src) into the including one (dest), key by key, with the
// rules of rpm-ostree's `treefile_merge` (see MergeKind in schema.ts). Because each include
// is merged into the accumulated dest in turn, the items of a later include end up before
// those of an earlier one; upstream documents the consequence for `postprocess`: with
// includes [A, B] and own scripts C, the run order is B, A, C.

import { FIELDS } from './schema.ts';
import type { RepoPackages, TreefileConfig, TreefileFields } from './types.ts';
import { sortedSet } from './values.ts';

/** Merges `src` into `dest` in place (dest is the includer). */
export function mergeTreefileConfig(dest: TreefileConfig, src: TreefileConfig): void {
  const d = dest as Record<string, unknown>;
  for (const [key, srcValue] of Object.entries(src)) {
    if (srcValue === undefined) continue;
    const destValue = d[key];
    if (destValue === undefined) {
      d[key] = srcValue;
      continue;
    }
    switch (FIELDS[key as keyof TreefileFields].merge) {
      case 'first':
        break;
      case 'append':
        d[key] = [...(srcValue as unknown[]), ...(destValue as unknown[])];
        break;
      case 'union':
        d[key] = sortedSet([...(srcValue as string[]), ...(destValue as string[])]);
        break;
      case 'map':
        d[key] = { ...(srcValue as object), ...(destValue as object) };
        break;
    }
  }
  if (dest['repo-packages'] !== undefined) dest['repo-packages'] = dedupeRepoPackages(dest['repo-packages']);
}

/**
 * A package named in several `repo-packages` entries is taken from the last one (so the
 * includer overrides its includes); entries left empty are dropped
 * (rpm-ostree `handle_repo_packages_overrides`).
 */
export function dedupeRepoPackages(entries: readonly RepoPackages[]): RepoPackages[] {
  const seen = new Set<string>();
  const out: RepoPackages[] = [];
  for (let i = entries.length - 1; i >= 0; i--) {
    const e = entries[i]!;
    const packages = e.packages.filter((p) => !seen.has(p));
    for (const p of packages) seen.add(p);
    if (packages.length > 0) out.push({ repo: e.repo, packages });
  }
  return out.reverse();
}
