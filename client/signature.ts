// The signature state of a deployed or available commit, for status and --check: when
// the origin's remote verifies ed25519 signatures (sign-verify), the commit's detached
// metadata is checked against the remote's keys, as rpm-ostree shows GPGSignature.

import { isUpdaterError } from '../common/errors.ts';
import { getRemote, isChecksum, loadRemoteKeyring, parseRefspec, signPolicy, type Repo } from '../store/index.ts';
import { verifyCommit } from '../store/sign/index.ts';

export type SignatureState =
  | { kind: 'valid'; type: 'ed25519'; key: string }
  | { kind: 'invalid'; message: string }
  | { kind: 'unsigned' };

/** null when the refspec's remote does not verify signatures (or there is no remote). */
export async function commitSignature(repo: Repo, refspec: string | null, csum: string, trustBaseDirs?: string[]): Promise<SignatureState | null> {
  if (refspec === null || isChecksum(refspec)) return null;
  let remote;
  try {
    const { remote: name } = parseRefspec(refspec);
    if (name === null) return null;
    remote = getRemote(repo, name);
    if (signPolicy(remote).commitTypes.length === 0) return null;
  } catch {
    return null; // a removed or unusable remote: nothing to say about signatures
  }
  try {
    const keyring = await loadRemoteKeyring(remote, trustBaseDirs);
    const bytes = await repo.readMetadata(csum, 'commit');
    const meta = await repo.readCommitmeta(csum);
    if (meta === null) return { kind: 'unsigned' };
    const r = await verifyCommit(csum, bytes, meta, keyring.trusted, keyring.revoked);
    return { kind: 'valid', type: 'ed25519', key: r.publicKeyBase64 };
  } catch (err) {
    if (isUpdaterError(err) && /no ed25519 signatures found/.test(err.message)) return { kind: 'unsigned' };
    return { kind: 'invalid', message: (err as Error).message };
  }
}

/** The status value: `Valid ed25519 signature by KEY`, `(unsigned)` or `Invalid: …`. */
export function formatSignature(s: SignatureState): string {
  if (s.kind === 'valid') return `Valid ${s.type} signature by ${s.key}`;
  if (s.kind === 'unsigned') return '(unsigned)';
  return `Invalid: ${s.message}`;
}
