// Oracle: our strverscmp returns exactly what glibc's strverscmp returns (through koffi),
// for random version-like strings. Skipped where libc.so.6 cannot be loaded.

import fc from 'fast-check';
import koffi from 'koffi';
import { describe, expect, it } from 'vitest';
import { strverscmp } from './strverscmp.ts';

function loadLibc(): ((a: string, b: string) => number) | null {
  try {
    return koffi.load('libc.so.6').func('int strverscmp(const char *a, const char *b)') as (a: string, b: string) => number;
  } catch {
    return null;
  }
}

const libcStrverscmp = loadLibc();

describe.skipIf(libcStrverscmp === null)('strverscmp oracle (glibc)', () => {
  const glibc = libcStrverscmp!;

  it('matches glibc on digit-heavy strings', () => {
    const piece = fc.constantFrom('0', '00', '1', '9', '10', '09', '.', '-', 'a', 'z', '');
    const version = fc.array(piece, { maxLength: 6 }).map((p) => p.join(''));
    fc.assert(fc.property(version, version, (a, b) => {
      expect(strverscmp(a, b)).toBe(glibc(a, b));
    }), { numRuns: 20_000 });
  });

  it('matches glibc on arbitrary printable ASCII', () => {
    const text = fc.stringMatching(/^[ -~]{0,10}$/);
    fc.assert(fc.property(text, text, (a, b) => {
      expect(strverscmp(a, b)).toBe(glibc(a, b));
    }), { numRuns: 20_000 });
  });
});
