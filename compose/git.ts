// The git revision of the treefile's directory, recorded in the commit so a tree can be traced
// back to the treefile that made it. Read with isomorphic-git: no git binary is needed.

import * as fs from 'node:fs';
import { dirname, join, resolve } from 'node:path';

/** Commit metadata key holding the treefile's git revision. */
export const GIT_REVISION_KEY = 'atomic.treefile-git-revision';

/**
 * The commit checked out (HEAD) in the git work tree holding `dir`, or undefined when `dir` is
 * not inside one (or it has no commit yet).
 */
export async function treefileGitRevision(dir: string): Promise<string | undefined> {
  if (!insideGitWorkTree(dir)) return undefined;
  // Loaded on use: most of a compose never needs it.
  const { default: git } = await import('isomorphic-git');
  let root: string;
  try {
    root = await git.findRoot({ fs, filepath: dir });
  } catch {
    return undefined;
  }
  try {
    return await git.resolveRef({ fs, dir: root, ref: 'HEAD' });
  } catch {
    return undefined;
  }
}

/** True when `dir` or one of its parents holds `.git` (where isomorphic-git's findRoot looks). */
function insideGitWorkTree(dir: string): boolean {
  for (let d = resolve(dir); ; d = dirname(d)) {
    if (fs.existsSync(join(d, '.git'))) return true;
    if (dirname(d) === d) return false;
  }
}
