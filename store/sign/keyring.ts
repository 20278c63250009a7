// Trusted and revoked ed25519 key lists for one verification, built from key-file texts
// the repo layer has read, with libostree 2022.7's choice of sources (ostree-format.md §6.3;
// ostree-repo-pull-verify.c _signapi_load_public_keys, ostree-sign-ed25519.c _ed25519_load_pk).

import { isUpdaterError } from '../../common/errors.ts';
import { parsePublicKey, readKeysFile, uniqueKeys } from './ed25519.ts';

/** A key file's path (for messages) and its text. */
export interface KeyFileText {
  path: string;
  text: string;
}

/** The keys to pass to verifyCommit / verifySummary. */
export interface Keyring {
  trusted: Uint8Array[];
  revoked: Uint8Array[];
  /** Lines skipped from the default trust store (`path:line: reason`), for logging. */
  warnings: string[];
}

/** Where the default trust store lives (ostree: `/etc/ostree`, then `$datadir/ostree`). */
export const DEFAULT_TRUST_BASE_DIRS: readonly string[] = ['/etc/ostree', '/usr/share/ostree'];

/**
 * The default trust-store locations for `kind`, in ostree's order: for each base
 * directory, the file `<base>/<kind>.ed25519`, then every file in `<base>/<kind>.ed25519.d/`.
 * Missing files and directories are simply skipped. The order only decides which key
 * a message names first; the result is a set.
 */
export function trustStoreLocations(kind: 'trusted' | 'revoked', baseDirs: readonly string[] = DEFAULT_TRUST_BASE_DIRS): { file: string; dir: string }[] {
  return baseDirs.map((base) => {
    const file = `${base.replace(/\/+$/, '')}/${kind}.ed25519`;
    return { file, dir: `${file}.d` };
  });
}

/**
 * Keys named by a remote's config: `verification-ed25519-key` (one base64 key) and/or
 * `verification-ed25519-file` (one key per line). Both are strict: a bad key throws
 * SIGN_BAD_KEY, as ostree fails the pull ("Failed loading 'ed25519' keys …").
 * Returns null when the remote names no key: the caller then uses
 * {@link trustStoreKeyring}. As in ostree, explicitly configured keys are not filtered
 * by the revoked.ed25519 files (ostree only loads those with the default store).
 */
export function remoteKeyring(inlineKey: string | null, keysFile: KeyFileText | null): Keyring | null {
  if (inlineKey === null && keysFile === null) return null;
  const trusted: Uint8Array[] = [];
  if (keysFile !== null) trusted.push(...readKeysFile(keysFile.text, { what: keysFile.path }));
  if (inlineKey !== null) trusted.push(parsePublicKey(inlineKey, 'verification-ed25519-key'));
  return { trusted: uniqueKeys(trusted), revoked: [], warnings: [] };
}

/**
 * Keys from the default trust store (`trusted.ed25519(.d)` and `revoked.ed25519(.d)`).
 * Lenient like ostree, which logs and skips a file it cannot load: a bad line is
 * skipped and reported in `warnings`. (ostree stops reading a file at its first bad
 * line; we keep the later good lines, which for revoked keys is the safer choice.)
 */
export function trustStoreKeyring(trusted: readonly KeyFileText[], revoked: readonly KeyFileText[]): Keyring {
  const warnings: string[] = [];
  return {
    trusted: uniqueKeys(trusted.flatMap((f) => lenientKeys(f, warnings))),
    revoked: uniqueKeys(revoked.flatMap((f) => lenientKeys(f, warnings))),
    warnings,
  };
}

function lenientKeys(file: KeyFileText, warnings: string[]): Uint8Array[] {
  const out: Uint8Array[] = [];
  const lines = file.text.split('\n');
  for (let i = 0; i < lines.length; i++) {
    const line = lines[i]!.trim();
    if (line === '') continue;
    try {
      out.push(parsePublicKey(line, `${file.path}:${i + 1}: ed25519 public key`));
    } catch (err) {
      if (!isUpdaterError(err, 'SIGN_BAD_KEY')) throw err;
      warnings.push(err.message);
    }
  }
  return out;
}
