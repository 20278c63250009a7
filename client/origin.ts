// `.origin` files (format §9.1, rpm-ostree-behaviour §3.5): a GKeyFile whose
// `[origin] refspec` (or rpm-ostree's `baserefspec`) says what `upgrade` follows.

import { UpdaterError } from '../common/errors.ts';
import { isChecksum, KeyFile, parseRefspec } from '../store/index.ts';

/** A new origin following `refspec` (`REMOTE:REF`, `REF`, or a bare commit checksum). */
export function newOrigin(refspec: string): KeyFile {
  if (!isChecksum(refspec)) parseRefspec(refspec);
  const kf = new KeyFile();
  kf.set('origin', 'refspec', refspec);
  return kf;
}

/** The refspec an origin follows; DEPLOY_ORIGIN_INVALID when it has none. */
export function originRefspec(kf: KeyFile, what: string): string {
  const r = kf.get('origin', 'refspec') ?? kf.get('origin', 'baserefspec');
  if (r === undefined || r === '') {
    throw new UpdaterError('DEPLOY_ORIGIN_INVALID', `${what}: no [origin] refspec`, { hint: 'deploy a refspec explicitly to write a new origin' });
  }
  return r;
}

export function isPinned(kf: KeyFile | null): boolean {
  return kf !== null && kf.get('libostree-transient', 'pinned') === 'true';
}

export function cloneOrigin(kf: KeyFile): KeyFile {
  return KeyFile.parse(kf.toString());
}

/**
 * The origin of a deployment derived from `kf` for an upgrade: transient state dropped
 * (the [libostree-transient] group, origin/override-commit, origin/unlocked), as ostree does.
 */
export function deriveUpgradeOrigin(kf: KeyFile): KeyFile {
  const out = cloneOrigin(kf);
  out.remove('libostree-transient');
  out.remove('origin', 'override-commit');
  out.remove('origin', 'unlocked');
  return out;
}

/** A copy for a new deployment of the same tree (kargs edits): only pinning is dropped. */
export function deriveSameTreeOrigin(kf: KeyFile): KeyFile {
  const out = cloneOrigin(kf);
  out.remove('libostree-transient');
  return out;
}
