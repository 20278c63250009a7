// Meta tuples (dirmeta objects, user.ostreemeta): the 12-byte fast path for
// entries without xattrs decodes exactly what the generic path does.

import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { decodeMetaTuple, encodeDirmeta } from './dirmeta.ts';

describe('meta tuples', () => {
  it('round trip with and without xattrs', () => {
    const xattr = fc.record({ name: fc.stringMatching(/^user\.[a-z]{1,8}$/), value: fc.uint8Array({ minLength: 1, maxLength: 20 }) });
    fc.assert(fc.property(fc.nat(), fc.nat(), fc.integer({ min: 0, max: 0o177777 }), fc.uniqueArray(xattr, { selector: (x) => x.name, maxLength: 3 }), (uid, gid, mode, xattrs) => {
      const bytes = encodeDirmeta({ uid, gid, mode, xattrs });
      if (xattrs.length === 0) expect(bytes.length).toBe(12);
      const m = decodeMetaTuple(bytes, 'test');
      expect(m).toEqual({ uid, gid, mode, xattrs: [...xattrs].sort((a, b) => (a.name < b.name ? -1 : 1)) });
    }), { numRuns: 500 });
  });
});
