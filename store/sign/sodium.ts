// Lazy loader for libsodium (libsodium-wrappers 0.7.x, WebAssembly) behind the
// few typed calls ostree's ed25519 engine uses: crypto_sign_{detached,verify_detached,seed_keypair,keypair}.

import { createRequire } from 'node:module';
import { UpdaterError } from '../../common/errors.ts';

/** The subset of libsodium-wrappers used here (the package ships no usable type declarations). */
export interface Sodium {
  ready: Promise<void>;
  crypto_sign_detached(message: Uint8Array, secretKey: Uint8Array): Uint8Array;
  crypto_sign_verify_detached(signature: Uint8Array, message: Uint8Array, publicKey: Uint8Array): boolean;
  crypto_sign_seed_keypair(seed: Uint8Array): { publicKey: Uint8Array; privateKey: Uint8Array };
  crypto_sign_keypair(): { publicKey: Uint8Array; privateKey: Uint8Array };
}

let loading: Promise<Sodium> | null = null;

/**
 * Returns libsodium once its WebAssembly module is initialised (loaded on first use,
 * so importing this package costs nothing until something is signed or verified).
 */
export function loadSodium(): Promise<Sodium> {
  loading ??= init().catch((err: unknown) => {
    loading = null; // let a later call retry instead of caching the failure
    throw err;
  });
  return loading;
}

async function init(): Promise<Sodium> {
  // Loaded through require, not `import`: the ESM entry of libsodium-wrappers 0.7.16
  // imports './libsodium.mjs', which the npm package does not contain
  // (jedisct1/libsodium.js#357), so `import sodium from 'libsodium-wrappers'` fails at
  // run time. The CommonJS build resolves the separate `libsodium` package correctly.
  let mod: Sodium;
  try {
    mod = createRequire(import.meta.url)('libsodium-wrappers') as Sodium;
  } catch (err) {
    throw new UpdaterError('INTERNAL', `cannot load libsodium-wrappers: ${(err as Error).message}`, { cause: err });
  }
  await mod.ready;
  return mod;
}
