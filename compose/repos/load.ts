// Reads the `.repo` files of a treefile's directory (rpm-ostree never uses the host's
// /etc/yum.repos.d) and picks the repos a treefile's `repos` list names.

import { readdir, readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { UpdaterError, isErrno } from '../../common/errors.ts';
import { parseRepoFile, type RepoConfig } from './repo-file.ts';

/** Every repo declared by `DIR/*.repo` (files in name order), with `vars` substituted. */
export async function loadRepoFiles(dir: string, vars: Record<string, string> = {}): Promise<RepoConfig[]> {
  let names: string[];
  try {
    names = (await readdir(dir)).filter((n) => n.endsWith('.repo')).sort();
  } catch (err) {
    if (isErrno(err, 'ENOENT')) throw new UpdaterError('REPOMD_REPOFILE_INVALID', `${dir}: no such directory (looking for .repo files)`, { cause: err });
    throw err;
  }
  const out: RepoConfig[] = [];
  for (const n of names) {
    const path = join(dir, n);
    for (const r of parseRepoFile(await readFile(path, 'utf8'), path, vars)) {
      const dup = out.find((o) => o.id === r.id);
      if (dup) throw new UpdaterError('REPOMD_REPOFILE_INVALID', `repo '${r.id}' is defined in both ${dup.file} and ${path}`);
      out.push(r);
    }
  }
  return out;
}

/**
 * The repos to use: those named in `ids` (treefile `repos`; named repos are used whether
 * or not the file enables them, as rpm-ostree enables exactly that list), or, without a
 * list, the enabled ones. Throws REPOMD_REPO_UNKNOWN for a name no .repo file defines.
 */
export function selectRepos(all: RepoConfig[], ids: string[] | undefined, where = 'the treefile directory'): RepoConfig[] {
  if (ids === undefined) return all.filter((r) => r.enabled);
  const missing = ids.filter((id) => !all.some((r) => r.id === id));
  if (missing.length) {
    throw new UpdaterError('REPOMD_REPO_UNKNOWN', `unknown rpm-md repo${missing.length > 1 ? 's' : ''} ${missing.map((m) => `'${m}'`).join(', ')}: not defined by any .repo file in ${where}`, {
      hint: all.length ? `defined repos: ${all.map((r) => r.id).join(', ')}` : 'put the .repo files next to the treefile',
    });
  }
  return [...new Set(ids)].map((id) => all.find((r) => r.id === id)!);
}
