// Public surface of the ed25519 signing codec (ostree `ed25519` sign engine, libostree 2022.7;
// ostree-format.md §4.5, §6.2, §6.3). Pure apart from loading libsodium: no file I/O.
export {
  ED25519_PUBLIC_KEY_BYTES, ED25519_SECRET_KEY_BYTES, ED25519_SEED_BYTES, ED25519_SIGNATURE_BYTES,
  generateKeyPair, keyPairFromSeed, keyToBase64, parsePublicKey, parseSecretKey, publicKeyFromSecretKey,
  readKeysFile, signBytes, uniqueKeys, verifyBytes,
  type Ed25519KeyPair, type KeyInput, type ReadKeysFileOptions, type VerifyResult,
} from './ed25519.ts';
export {
  ED25519_METADATA_KEY, ED25519_METADATA_TYPE,
  addSignatureToCommitmeta, encodeSummarySig, hasSignature, signaturesFromMetadata,
  signCommit, signSummary, verifyCommit, verifySummary,
} from './metadata.ts';
export {
  DEFAULT_TRUST_BASE_DIRS, remoteKeyring, trustStoreKeyring, trustStoreLocations,
  type KeyFileText, type Keyring,
} from './keyring.ts';
