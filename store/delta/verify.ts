// Signed static deltas (`static-delta generate --sign`, ostree-format.md §8): the
// superblock wrapped as (taya{sv}) with ed25519 signatures over the inner superblock
// bytes under `ostree.sign.ed25519`, as ostree_repo_static_delta_verify_signature checks them.

import { UpdaterError } from '../../common/errors.ts';
import { dictGet } from '../gvariant/index.ts';
import { ED25519_METADATA_KEY, ED25519_METADATA_TYPE, verifyBytes, type KeyInput, type VerifyResult } from '../sign/index.ts';
import { isSignedSuperblock, unwrapSignedSuperblock } from './superblock.ts';

/**
 * Verifies a superblock file's ed25519 signatures with the trusted keys (minus revoked
 * ones): one valid signature suffices. Throws DELTA_NOT_SIGNED for an unsigned
 * superblock or one without ed25519 signatures, SIGN_NO_VALID_SIGNATURE (naming the
 * delta and the keys) when none verifies.
 */
export async function verifySuperblockSignature(
  raw: Uint8Array, trusted: readonly KeyInput[], revoked: readonly KeyInput[], name: string,
): Promise<VerifyResult> {
  if (!isSignedSuperblock(raw)) {
    throw new UpdaterError('DELTA_NOT_SIGNED', `static delta ${name} is not signed`, {
      hint: 'the publisher must generate it with `static-delta generate --sign` / `--keys-file`',
    });
  }
  const { superblock, signatures } = unwrapSignedSuperblock(raw, `superblock of static delta ${name}`);
  const sigs = dictGet(signatures, ED25519_METADATA_KEY, ED25519_METADATA_TYPE) as Uint8Array[] | undefined;
  if (sigs === undefined) throw new UpdaterError('DELTA_NOT_SIGNED', `no signature for 'ed25519' in the superblock of static delta ${name}`);
  return verifyBytes(trusted, revoked, sigs, superblock, `static delta ${name}`);
}
