// Key sources: remote config keys (strict, no revocation) and the default trust store
// (lenient, with revoked keys), fed to verifyCommit as the repo layer will.

import { describe, expect, it } from 'vitest';
import { keyPairFromSeed, keyToBase64 } from './ed25519.ts';
import { remoteKeyring, trustStoreKeyring, trustStoreLocations } from './keyring.ts';
import { verifyCommit } from './metadata.ts';
import { COMMIT_A, PUBLIC, commitBytes, commitmetaBytes } from './test-vectors.ts';

const OTHER = await keyPairFromSeed(new Uint8Array(32).fill(7));
const A = commitBytes(COMMIT_A);
const META_A = commitmetaBytes(COMMIT_A);

describe('trustStoreLocations', () => {
  it('lists ostree\'s default files and .d directories in order', () => {
    expect(trustStoreLocations('trusted')).toEqual([
      { file: '/etc/ostree/trusted.ed25519', dir: '/etc/ostree/trusted.ed25519.d' },
      { file: '/usr/share/ostree/trusted.ed25519', dir: '/usr/share/ostree/trusted.ed25519.d' },
    ]);
    expect(trustStoreLocations('revoked', ['/sysroot/etc/ostree/'])).toEqual([
      { file: '/sysroot/etc/ostree/revoked.ed25519', dir: '/sysroot/etc/ostree/revoked.ed25519.d' },
    ]);
  });
});

describe('remoteKeyring', () => {
  it('is null when the remote names no key', () => {
    expect(remoteKeyring(null, null)).toBeNull();
  });

  it('takes the inline key and the keys file together, without repeats', () => {
    const k = remoteKeyring(PUBLIC, { path: '/etc/keys', text: `${OTHER.publicKey}\n${PUBLIC}\n` })!;
    expect(k.trusted.map(keyToBase64)).toEqual([OTHER.publicKey, PUBLIC]);
    expect(k.revoked).toEqual([]);
  });

  it('is strict: a bad key fails', () => {
    expect(() => remoteKeyring('nope', null)).toThrow(expect.objectContaining({ code: 'SIGN_BAD_KEY' }));
    expect(() => remoteKeyring(null, { path: '/etc/keys', text: `${PUBLIC}\nnope\n` })).toThrow(/\/etc\/keys:2:/);
  });
});

describe('trustStoreKeyring', () => {
  it('skips bad lines with a warning and applies revoked keys', async () => {
    const k = trustStoreKeyring(
      [
        { path: '/etc/ostree/trusted.ed25519', text: `${PUBLIC}\n` },
        { path: '/etc/ostree/trusted.ed25519.d/other', text: `garbage\n\n  ${OTHER.publicKey}  \n${PUBLIC}\n` },
      ],
      [{ path: '/usr/share/ostree/revoked.ed25519', text: `${PUBLIC}\n` }],
    );
    expect(k.trusted.map(keyToBase64)).toEqual([PUBLIC, OTHER.publicKey]);
    expect(k.revoked.map(keyToBase64)).toEqual([PUBLIC]);
    expect(k.warnings).toHaveLength(1);
    expect(k.warnings[0]).toContain('/etc/ostree/trusted.ed25519.d/other:1:');

    const e = await verifyCommit(COMMIT_A, A, META_A, k.trusted, k.revoked).catch((err: unknown) => err);
    expect(e).toMatchObject({ code: 'SIGN_NO_VALID_SIGNATURE' });
    const ok = trustStoreKeyring([{ path: 't', text: PUBLIC }], []);
    expect((await verifyCommit(COMMIT_A, A, META_A, ok.trusted, ok.revoked)).publicKeyBase64).toBe(PUBLIC);
  });

  it('an empty store has no keys', () => {
    expect(trustStoreKeyring([], [])).toEqual({ trusted: [], revoked: [], warnings: [] });
  });
});
