// Automatic versioning: every case of rpm-ostree's util_next_version tests, the date-tag
// forms with a fixed clock, properties of a version stream, and GLib date formatting checked
// against GNU date (C locale, UTC) as an oracle.

import { execFileSync } from 'node:child_process';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { errorOf, have } from '../../test-support/index.ts';
import { formatGDateTime } from './gdate-format.ts';
import { nextAutomaticVersion } from './version.ts';

const NOW = new Date(Date.UTC(2024, 4, 1, 13, 5, 9)); // 2024-05-01T13:05:09Z
const D = '20240501';
const next = (prefix: string, last: string, suffix = '') => nextAutomaticVersion(prefix, last, { suffix, now: NOW });

describe('nextAutomaticVersion (rpm-ostree util_next_version cases)', () => {
  it('starts at the prefix, then counts up after the suffix', () => {
    for (const v of ['', 'xyz', '9', '11']) expect(next('10', v)).toBe('10');
    const cases: [string, string, string][] = [
      ['10', '10', '10.1'], ['10.1', '10.1', '10.1.1'], ['10', '10.0', '10.1'], ['10', '10.1', '10.2'],
      ['10', '10.2', '10.3'], ['10', '10.3', '10.4'], ['10', '10.1.5', '10.2'], ['10.1', '10.1.5', '10.1.6'],
      ['10.1', '10.1.1.5', '10.1.2'], ['10', '10001', '10'], ['10', '101.1', '10'], ['10', '10x.1', '10'],
      ['10.1', '10', '10.1'], ['10.1', '10.', '10.1'], ['10.1', '10.0', '10.1'], ['10.1', '10.2', '10.1'],
      ['10.1', '10.12', '10.1'], ['10.1', '10.1x', '10.1'], ['10.1', '10.1.x', '10.1.1'], ['10.1', '10.1.2x', '10.1.3'],
    ];
    for (const [prefix, last, want] of cases) expect(next(prefix, last), `${prefix} after ${last}`).toBe(want);
    expect(nextAutomaticVersion('30', undefined)).toBe('30');
  });

  it('uses the suffix character', () => {
    expect(next('10', '10', '-')).toBe('10-1');
    expect(next('10', '10-1', '-')).toBe('10-2');
    expect(next('10.1', '10.1-5', '-')).toBe('10.1-6');
    expect(errorOf(() => next('10', '10', '--')).code).toBe('TREEFILE_INVALID');
  });

  it('renders <date:FORMAT> in UTC and always appends a counter that resets when the date changes', () => {
    expect(next('10.<date:%Y%m%d>', '10.20001010')).toBe(`10.${D}.0`);
    expect(next('10.<date:%Y%m%d>', '10.20001010.5')).toBe(`10.${D}.0`);
    expect(next('10.<date:%Y%m%d>', `10.${D}.1`)).toBe(`10.${D}.2`);
    expect(next('10.<date:%Y%m%d>', '')).toBe(`10.${D}.0`);
    expect(next('10.<date:%Y%m%d>.0', `10.${D}`)).toBe(`10.${D}.0.0`);
    expect(next('10.<date:%Y%m%d>.0', `10.${D}.0`)).toBe(`10.${D}.0.0`);
    expect(next('10.<date:%Y%m%d>', `10.${D}.x`)).toBe(`10.${D}.1`);
    expect(next('10.<date:%Y%m%d>.2', `10.${D}.2.x`)).toBe(`10.${D}.2.1`);
    expect(next('10.<date:%Y%m%d>.1', `10.${D}.1.2x`)).toBe(`10.${D}.1.3`);
    expect(next('10.<date: %Y%m%d>', '10.20001010')).toBe(`10. ${D}.0`);
    expect(next('10.<date:%Y%m%d>.', '10.20001010.')).toBe(`10.${D}..0`);
    expect(next('10.<date:%Y%m%d>abc', '10.20001010abc')).toBe(`10.${D}abc.0`);
    expect(next('10.<date:%Y%m%d >', '10.20001010')).toBe(`10.${D} .0`);
    expect(next('10.<date:text%Y%m%dhere>', '10.20001010')).toBe(`10.text${D}here.0`);
    expect(next('10.<date:%Y%m%d here>', '10.20001010')).toBe(`10.${D} here.0`);
    expect(next('10.<date:%Y%m%d>', `10.${D}`)).toBe(`10.${D}.0`);
    expect(next('10.<date:%Y%m%d>', '10')).toBe(`10.${D}.0`);
    expect(next('10.<date: >', '10.20001010')).toBe('10. .0');
    expect(next('10.<date:>', '10.20001010')).toBe('10..0');
  });

  it('FCOS-style dev stream: 40.20240501.dev.0, .1, then the next day resets', () => {
    const p = '40.<date:%Y%m%d>.dev';
    const v0 = nextAutomaticVersion(p, '40.20240430.dev.7', { now: NOW });
    const v1 = nextAutomaticVersion(p, v0, { now: NOW });
    expect([v0, v1]).toEqual(['40.20240501.dev.0', '40.20240501.dev.1']);
    expect(nextAutomaticVersion(p, v1, { now: new Date(Date.UTC(2024, 4, 2)) })).toBe('40.20240502.dev.0');
  });

  it('leaves unknown tags literally (with a warning) and rejects formats GLib rejects', () => {
    const warnings: string[] = [];
    expect(nextAutomaticVersion('10.<wrongtag: >', '10.20001010', { now: NOW, onWarning: (w) => warnings.push(w) })).toBe('10.<wrongtag: >');
    expect(warnings).toEqual(['ignoring unknown tag wrongtag']);
    for (const bad of ['10.<date:%E>', '10.<date:%D>', '10.<date:%U>', '10.<date:%Y%->']) {
      expect(errorOf(() => next(bad, '10.20001010')).code).toBe('TREEFILE_BAD_VERSION_FORMAT');
    }
  });

  it('wraps the counter like g_ascii_strtoull and %llu do', () => {
    expect(next('1', '1.18446744073709551615')).toBe('1.0');
    expect(next('1', '1.99999999999999999999999')).toBe('1.0');
    expect(next('1', '1. 7')).toBe('1.8');
    expect(next('1', '1.-1')).toBe('1.0');
  });

  it('property: composing repeatedly from nothing gives P, P.1, P.2, …', () => {
    fc.assert(fc.property(fc.stringMatching(/^[0-9]{1,3}(\.[0-9]{1,2})?$/), fc.integer({ min: 1, max: 30 }), (prefix, n) => {
      let v: string | undefined;
      const seen: string[] = [];
      for (let i = 0; i < n; i++) seen.push((v = nextAutomaticVersion(prefix, v)));
      expect(seen).toEqual(Array.from({ length: n }, (_, i) => (i === 0 ? prefix : `${prefix}.${i}`)));
    }));
  });

  it('property: with a date tag the counter continues within a day and is always present', () => {
    fc.assert(fc.property(fc.integer({ min: 0, max: 4_000_000_000 }), fc.integer({ min: 0, max: 1000 }), (secs, n) => {
      const now = new Date(secs * 1000);
      const day = formatGDateTime(now, '%Y%m%d')!;
      expect(nextAutomaticVersion('7.<date:%Y%m%d>', `7.${day}.${n}`, { now })).toBe(`7.${day}.${n + 1}`);
      expect(nextAutomaticVersion('7.<date:%Y%m%d>', undefined, { now })).toBe(`7.${day}.0`);
    }));
  });
});

describe('formatGDateTime', () => {
  it('formats the common conversions and modifiers', () => {
    expect(formatGDateTime(NOW, '%Y%m%d')).toBe('20240501');
    expect(formatGDateTime(NOW, '%F %T %e|%-d|%_m|%k|%l|%P|%j|%V|%G|%u|%w|%s|%z|%:z|%Z|%%')).toBe(
      '2024-05-01 13:05:09  1|1| 5|13| 1|pm|122|18|2024|3|3|1714568709|+0000|+00:00|UTC|%');
    expect(formatGDateTime(NOW, '%c')).toBe('Wed May  1 13:05:09 2024');
    expect(formatGDateTime(NOW, 'trailing %')).toBe('trailing ');
  });
});

// GNU date implements the same C99/GNU conversions for the subset GLib supports.
describe.skipIf(!have('date'))('formatGDateTime against GNU date (C locale, UTC)', () => {
  const FORMAT = ['%a', '%A', '%b', '%B', '%c', '%C', '%d', '%e', '%F', '%g', '%G', '%h', '%H', '%I', '%j', '%k', '%l', '%m', '%M',
    '%p', '%P', '%r', '%R', '%s', '%S', '%T', '%u', '%V', '%w', '%x', '%X', '%y', '%Y', '%z', '%:z', '%::z', '%Z', '%%',
    '%-d', '%_d', '%0e', '%-j', '%_H', '%-V', '%Od'].join('|');

  it('agrees on random instants', () => {
    const instants = fc.sample(fc.integer({ min: 0, max: 4_102_444_800 }), { numRuns: 25, seed: 4 });
    instants.push(0, 1_704_067_199, 1_704_067_200, 1_735_603_200, 1_609_459_200); // year and ISO-week edges
    for (const t of instants) {
      const want = execFileSync('date', ['-u', '-d', `@${t}`, `+${FORMAT}`], { env: { ...process.env, LC_ALL: 'C', TZ: 'UTC' } }).toString().replace(/\n$/, '');
      expect(formatGDateTime(new Date(t * 1000), FORMAT), `t=${t}`).toBe(want);
    }
  });
});
