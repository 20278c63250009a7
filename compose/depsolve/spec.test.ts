import { describe, expect, it } from 'vitest';
import { errorOf } from '../../test-support/index.ts';
import { globToRegExp, parsePackageSpec, patternMatchesPackage, relFlags, splitEvr } from './spec.ts';

describe('package specs', () => {
  it('parses names and version relations', () => {
    expect(parsePackageSpec('grub2')).toEqual({ text: 'grub2', name: 'grub2' });
    expect(parsePackageSpec('skopeo >= 2:1.7.0')).toEqual({ text: 'skopeo >= 2:1.7.0', name: 'skopeo', op: '>=', evr: '2:1.7.0' });
    expect(parsePackageSpec('foo<1.0-3')).toMatchObject({ name: 'foo', op: '<', evr: '1.0-3' });
    expect(parsePackageSpec('foo == 1')).toMatchObject({ op: '=' });
    expect(relFlags('>=')).toBe(3);
    expect(relFlags('<')).toBe(4);
    expect(relFlags('=')).toBe(2);
  });

  it('rejects malformed specs naming them', () => {
    expect(errorOf(() => parsePackageSpec('foo >= '))).toEqual({ code: 'DEPSOLVE_BAD_SPEC', message: "package spec 'foo >= ': expected 'NAME', or 'NAME OP [EPOCH:]VERSION[-RELEASE]' with OP one of < <= = >= >" });
    expect(errorOf(() => parsePackageSpec('foo != 1')).code).toBe('DEPSOLVE_BAD_SPEC');
    expect(errorOf(() => parsePackageSpec('foo >= 1:2:3')).message).toBe("package spec 'foo >= 1:2:3': malformed version '1:2:3' (expected [EPOCH:]VERSION[-RELEASE])");
    expect(errorOf(() => parsePackageSpec('foo bar')).message).toBe("package spec 'foo bar': whitespace in a package name");
    expect(errorOf(() => parsePackageSpec('  ')).message).toBe('empty package name in the package list');
  });

  it('splits EVRs and matches exclude patterns as dnf does', () => {
    expect(splitEvr('2:1.8.0-1.fc39')).toEqual({ epoch: 2, version: '1.8.0', release: '1.fc39' });
    expect(splitEvr('1.0')).toEqual({ epoch: 0, version: '1.0', release: '' });
    const pkg = { name: 'kernel-debug', evr: '6.5-1', arch: 'x86_64' };
    expect(patternMatchesPackage(globToRegExp('kernel-*'), pkg)).toBe(true);
    expect(patternMatchesPackage('kernel-debug.x86_64', pkg)).toBe(true);
    expect(patternMatchesPackage('kernel-debug-6.5-1.x86_64', pkg)).toBe(true);
    expect(patternMatchesPackage('kernel', pkg)).toBe(false);
    expect(patternMatchesPackage(globToRegExp('kernel-[dx]ebug'), pkg)).toBe(true);
    expect(patternMatchesPackage(globToRegExp('kernel-[!d]*'), pkg)).toBe(false);
    expect(globToRegExp('a.b+c').test('a.b+c')).toBe(true);
    expect(globToRegExp('a.b+c').test('aXb+c')).toBe(false);
  });
});
