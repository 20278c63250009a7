// Loads the ed25519 keys a remote's signature checks use: the keys its config
// names (`verification-ed25519-key` / `-file`), else the default trust store
// (`trusted.ed25519(.d)`, minus `revoked.ed25519(.d)`), ostree-format.md §6.3.

import { readdir, readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { isErrno, UpdaterError } from '../../common/errors.ts';
import { DEFAULT_TRUST_BASE_DIRS, remoteKeyring, trustStoreKeyring, trustStoreLocations, type KeyFileText, type Keyring } from '../sign/index.ts';
import { remoteOption, type RemoteConfig } from './config.ts';

async function readOptional(path: string): Promise<string | null> {
  try {
    return await readFile(path, 'utf8');
  } catch (err) {
    if (isErrno(err, 'ENOENT') || isErrno(err, 'ENOTDIR')) return null;
    throw err;
  }
}

async function readStore(kind: 'trusted' | 'revoked', baseDirs: readonly string[]): Promise<KeyFileText[]> {
  const out: KeyFileText[] = [];
  for (const { file, dir } of trustStoreLocations(kind, baseDirs)) {
    const text = await readOptional(file);
    if (text !== null) out.push({ path: file, text });
    const names = await readdir(dir).catch(() => [] as string[]);
    for (const n of names.sort()) {
      const t = await readOptional(join(dir, n));
      if (t !== null) out.push({ path: join(dir, n), text: t });
    }
  }
  return out;
}

/** The trusted and revoked keys for verifying this remote's commits and summary. */
export async function loadRemoteKeyring(remote: RemoteConfig, trustBaseDirs: readonly string[] = DEFAULT_TRUST_BASE_DIRS): Promise<Keyring> {
  const inline = remoteOption(remote, 'verification-ed25519-key') ?? null;
  const filePath = remoteOption(remote, 'verification-ed25519-file') ?? null;
  let file: KeyFileText | null = null;
  if (filePath !== null) {
    const text = await readOptional(filePath);
    if (text === null) {
      throw new UpdaterError('SIGN_BAD_KEY', `remote "${remote.name}": verification-ed25519-file ${filePath} does not exist`);
    }
    file = { path: filePath, text };
  }
  const configured = remoteKeyring(inline, file);
  if (configured !== null) return configured;
  return trustStoreKeyring(await readStore('trusted', trustBaseDirs), await readStore('revoked', trustBaseDirs));
}
