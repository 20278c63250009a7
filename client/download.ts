// The download steps of the host verbs, kept apart from deploying: they bring a refspec
// (or one commit) of the origin's remote into the sysroot repo through the pull engine
// (store/pull), and are skipped entirely with --cache-only, which uses what the repo has.

import { UpdaterError } from '../common/errors.ts';
import { isChecksum, parseRefspec, type Repo } from '../store/index.ts';

export interface DownloadOptions {
  allowDowngrade?: boolean;
  /** Fetch only commit objects (--check, version lookup); the commits stay partial. */
  commitMetadataOnly?: boolean;
  /** Parents to fetch too (-1 = all). */
  depth?: number;
  /** Progress lines for the terminal (the pull engine's own rendering). */
  onProgress?: (line: string) => void;
  onLockWait?: () => void;
}

/** The remote of a refspec, checked to be configured; null for a local ref or a checksum. */
export function refspecRemote(repo: Repo, refspec: string): { remote: string; ref: string } | null {
  if (isChecksum(refspec)) return null;
  const { remote, ref } = parseRefspec(refspec);
  if (remote === null) return null;
  if (repo.config.get(`remote "${remote}"`, 'url') === undefined) {
    throw new UpdaterError('DEPLOY_NO_REMOTE', `remote '${remote}' of refspec ${refspec} is not configured in ${repo.path}/config`, {
      hint: `add it with \`atomic repo remote add --repo ${repo.path} ${remote} URL\`, or use --cache-only`,
    });
  }
  return { remote, ref };
}

/** Pulls `refs` (ref names or commit checksums) from `remote` into `repo`. */
export async function pullFrom(repo: Repo, remote: string, refs: string[], opts: DownloadOptions = {}): Promise<void> {
  let pull: typeof import('../store/pull/index.ts');
  try {
    pull = await import('../store/pull/index.ts');
  } catch (cause) {
    throw new UpdaterError('DEPLOY_DOWNLOAD_UNAVAILABLE', `downloading from remote '${remote}' is unavailable: the pull engine could not be loaded`, {
      cause, hint: 'use --cache-only to deploy what the sysroot repository already has',
    });
  }
  await pull.pullRemote(repo, remote, {
    refs,
    allowDowngrade: opts.allowDowngrade,
    commitMetadataOnly: opts.commitMetadataOnly,
    depth: opts.depth,
    onProgress: opts.onProgress ? (p) => opts.onProgress!(pull.renderProgressLine(p)) : undefined,
    onLockWait: opts.onLockWait,
  });
}

/**
 * Pulls `refspec` (`REMOTE:REF`) into `repo`. A local ref (no remote) or a checksum has
 * nothing to download: the repo is the source. Throws DEPLOY_NO_REMOTE when the
 * refspec names no remote configured in the sysroot repo.
 */
export async function downloadUpdate(repo: Repo, refspec: string, opts: DownloadOptions = {}): Promise<void> {
  const r = refspecRemote(repo, refspec);
  if (r === null) return;
  await pullFrom(repo, r.remote, [r.ref], opts);
}
