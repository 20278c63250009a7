// strverscmp against the examples of the glibc manual and strverscmp(3), plus the
// ordering properties that sortBlsEntries relies on. strverscmp.oracle.test.ts checks libc itself.

import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { strverscmp } from './strverscmp.ts';

const sign = (a: string, b: string): number => Math.sign(strverscmp(a, b));

describe('strverscmp', () => {
  it('gives the results documented in the glibc manual', () => {
    expect(sign('no digit', 'no digit')).toBe(0);
    expect(sign('item#99', 'item#100')).toBe(-1);
    expect(sign('alpha1', 'alpha001')).toBe(1);
    expect(sign('part1_f012', 'part1_f01')).toBe(1);
    expect(sign('foo.009', 'foo.0')).toBe(-1);
  });

  it('orders the strverscmp(3) example chain 000 < 00 < 01 < 010 < 09 < 0 < 1 < 9 < 10', () => {
    const chain = ['000', '00', '01', '010', '09', '0', '1', '9', '10'];
    for (let i = 0; i < chain.length; i++) {
      for (let j = 0; j < chain.length; j++) expect(sign(chain[i]!, chain[j]!)).toBe(Math.sign(i - j));
    }
  });

  it('compares digit runs as numbers, not text', () => {
    expect(sign('10', '9')).toBe(1);
    expect(sign('1.10', '1.9')).toBe(1);
    expect(sign('1.9', '1.10')).toBe(-1);
    expect(sign('2.0', '10.0')).toBe(-1);
    expect(sign('36.20230101.0', '36.20221231.3')).toBe(1);
    expect(sign('5.10.0-test', '5.9.0-test')).toBe(1);
    expect(sign('a', 'b')).toBe(-1);
    expect(sign('', '1')).toBe(-1);
    expect(sign('1', '1a')).toBe(-1);
  });

  it('returns glibc values, not just signs', () => {
    // CMP cases return the byte difference; LEN and the fixed table entries return ±1.
    expect(strverscmp('a', 'c')).toBe(-2);
    expect(strverscmp('10', '9')).toBe(1);
    expect(strverscmp('abc', 'abc')).toBe(0);
  });

  it('is antisymmetric and reflexive', () => {
    const version = fc.stringMatching(/^[0-9a.\-]{0,8}$/);
    fc.assert(fc.property(version, version, (a, b) => {
      expect(sign(a, b) + sign(b, a)).toBe(0);
      expect(strverscmp(a, a)).toBe(0);
    }), { numRuns: 2000 });
  });

  it('is transitive on sorted samples', () => {
    const version = fc.stringMatching(/^[0-9.]{0,6}$/);
    fc.assert(fc.property(fc.array(version, { maxLength: 12 }), (xs) => {
      const sorted = [...xs].sort(strverscmp);
      for (let i = 0; i + 1 < sorted.length; i++) {
        for (let j = i + 1; j < sorted.length; j++) expect(sign(sorted[i]!, sorted[j]!)).toBeLessThanOrEqual(0);
      }
    }), { numRuns: 500 });
  });

  it('compares UTF-8 bytes like C and stops at NUL', () => {
    expect(sign('é', 'z')).toBe(1); // 0xC3 > 'z'
    expect(strverscmp('a\0b', 'a\0c')).toBe(0);
  });
});
