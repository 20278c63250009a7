// Package lists and diffs: rpmvercmp against rpm's own (rpm.vercmp through `rpm --eval`
// lua), pairing by name and arch, and the listings rpm-ostree prints (§3.4(e)).

import { describe, expect, it } from 'vitest';
import { have, runOk } from '../test-support/index.ts';
import { variant } from '../store/index.ts';
import {
  compareEvr, diffPackages, formatNevra, packageDiffJson, parsePkglist, renderPackageDiff, renderPackageDiffDiff, rpmvercmp, summarizePackageDiff, type RpmPackage,
} from './pkgdiff.ts';

const PAIRS: Array<[string, string]> = [
  ['1.0', '1.0'], ['1.0', '2.0'], ['2.0.1', '2.0'], ['2.0.1a', '2.0.1'], ['5.5p1', '5.5p2'], ['5.5p10', '5.5p1'], ['10xyz', '10.1xyz'],
  ['xyz10', 'xyz10.1'], ['xyz.4', '8'], ['8', 'xyz.4'], ['1.0~rc1', '1.0'], ['1.0~rc1', '1.0~rc2'], ['1.0~rc1~git123', '1.0~rc1'],
  ['1.0^', '1.0'], ['1.0^git1', '1.0^git2'], ['1.0^git1', '1.01'], ['1.0^20160101', '1.0.1'], ['1.0~rc1^git1', '1.0~rc1'],
  ['0001', '1'], ['1.002', '1.2'], ['a', 'B'], ['fc37', 'fc38'], ['1.b', '1.a1'], ['2_0', '2.0'], ['2.0', '2_1'],
  ['1..0', '1.0'], ['a+', 'a_'], ['1.0a', '1.0.a'], ['20230101', '2023.01.01'],
];

describe('rpmvercmp', () => {
  it('agrees with hand-checked cases', () => {
    expect(rpmvercmp('1.0', '1.0')).toBe(0);
    expect(rpmvercmp('1.10', '1.9')).toBe(1);
    expect(rpmvercmp('1.0~rc1', '1.0')).toBe(-1);
    expect(rpmvercmp('1.0^post', '1.0')).toBe(1);
    expect(rpmvercmp('1.0a', '1.0')).toBe(1);
  });

  it.skipIf(!have('rpm'))('agrees with rpm.vercmp of rpm 4.18 on every pair', async () => {
    const lua = PAIRS.map(([a, b]) => `print(rpm.vercmp(${JSON.stringify(a)}, ${JSON.stringify(b)}) .. ',')`).join(' ');
    const out = (await runOk('rpm', ['--eval', `%{lua: ${lua}}`])).trim().split(',').filter((x) => x !== '').map(Number);
    expect(PAIRS.map(([a, b]) => rpmvercmp(a, b))).toEqual(out);
  });
});

const pkg = (name: string, evr: string, arch = 'x86_64'): RpmPackage => {
  const m = /^(?:(\d+):)?([^-]+)-(.+)$/.exec(evr)!;
  return { name, epoch: m[1] ?? '0', version: m[2]!, release: m[3]!, arch };
};

describe('package diff', () => {
  const from = [pkg('kernel', '6.1.8-200.fc37'), pkg('foo', '2.0-1', 'noarch'), pkg('bar', '1.0-1.fc37'), pkg('glibc', '2.36-9.fc37', 'i686'), pkg('glibc', '2.36-9.fc37'), pkg('same', '1-1')];
  const to = [pkg('kernel', '6.2.0-0.rc7.fc37'), pkg('foo', '1.9-3', 'noarch'), pkg('baz', '2.1-1.fc37'), pkg('glibc', '2.36-10.fc37', 'i686'), pkg('glibc', '2.36-10.fc37'), pkg('same', '1-1')];

  it('pairs by name (and arch for multilib), orders by name', () => {
    const d = diffPackages(from, to);
    expect(d.upgraded.map((x) => `${x.from.name}.${x.from.arch}`)).toEqual(['glibc.i686', 'glibc.x86_64', 'kernel.x86_64']);
    expect(d.downgraded.map((x) => x.to.name)).toEqual(['foo']);
    expect(d.removed.map(formatNevra)).toEqual(['bar-1.0-1.fc37.x86_64']);
    expect(d.added.map(formatNevra)).toEqual(['baz-2.1-1.fc37.x86_64']);
    expect(summarizePackageDiff(d)).toBe('3 upgraded, 1 downgraded, 1 removed, 1 added');
  });

  it('renders the rpm-ostree block, the diff format and JSON', () => {
    const d = diffPackages(from, to);
    expect(renderPackageDiff(d)).toBe([
      'Upgraded:',
      '  glibc 2.36-9.fc37 -> 2.36-10.fc37',
      '  glibc 2.36-9.fc37 -> 2.36-10.fc37',
      '  kernel 6.1.8-200.fc37 -> 6.2.0-0.rc7.fc37',
      'Downgraded:',
      '  foo 2.0-1 -> 1.9-3',
      'Removed:',
      '  bar-1.0-1.fc37.x86_64',
      'Added:',
      '  baz-2.1-1.fc37.x86_64',
      '',
    ].join('\n'));
    expect(renderPackageDiffDiff(d).split('\n')).toEqual([
      '-bar-1.0-1.fc37.x86_64', '+baz-2.1-1.fc37.x86_64', '!foo-2.0-1.noarch', '=foo-1.9-3.noarch',
      '!glibc-2.36-9.fc37.i686', '=glibc-2.36-10.fc37.i686', '!glibc-2.36-9.fc37.x86_64', '=glibc-2.36-10.fc37.x86_64',
      '!kernel-6.1.8-200.fc37.x86_64', '=kernel-6.2.0-0.rc7.fc37.x86_64', '',
    ]);
    expect((packageDiffJson(d) as { removed: unknown[] }).removed).toEqual([{ name: 'bar', epoch: 0, version: '1.0', release: '1.fc37', arch: 'x86_64', nevra: 'bar-1.0-1.fc37.x86_64' }]);
    expect(renderPackageDiff(diffPackages(from, from))).toBe('');
  });

  it('compares epochs first and prints them as N:', () => {
    expect(compareEvr(pkg('a', '1:1.0-1'), pkg('a', '9.0-1'))).toBe(1);
    const d = diffPackages([pkg('a', '9.0-1')], [pkg('a', '1:1.0-1')]);
    expect(renderPackageDiff(d)).toBe('Upgraded:\n  a 9.0-1 -> 1:1.0-1\n');
  });

  it('reads rpmostree.rpmdb.pkglist (a(sssss)) from commit metadata', () => {
    const meta = [['rpmostree.rpmdb.pkglist', variant('a(sssss)', [['zsh', '0', '5.9', '5.fc37', 'x86_64'], ['bash', '0', '5.2.15', '1.fc37', 'x86_64']])]] as Parameters<typeof parsePkglist>[0];
    expect(parsePkglist(meta)!.map(formatNevra)).toEqual(['bash-5.2.15-1.fc37.x86_64', 'zsh-5.9-5.fc37.x86_64']);
    expect(parsePkglist([])).toBeNull();
  });
});
