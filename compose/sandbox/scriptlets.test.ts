// What rpm-ostree does with each scriptlet, decided without running anything.

import { describe, expect, it } from 'vitest';
import { planScriptlet, scriptletId, validateScriptlets, type Scriptlet } from './scriptlets.ts';
import { errorOf } from '../../test-support/index.ts';

const s = (over: Partial<Scriptlet>): Scriptlet => ({
  packageName: 'foo', packageNevra: 'foo-1-1.x86_64', kind: 'postin', interpreter: ['/bin/sh'], body: 'true', ...over,
});

describe('planScriptlet', () => {
  it('runs %prein, %post, %posttrans and %transfiletriggerin; never the uninstall, verify or pretrans kinds', () => {
    for (const kind of ['prein', 'postin', 'posttrans', 'transfiletriggerin'] as const) expect(planScriptlet(s({ kind })).action).toBe('run');
    for (const kind of ['preun', 'postun', 'pretrans', 'verify', 'triggerun', 'triggerpostun', 'filetriggerin', 'transfiletriggerpostun'] as const) {
      expect(planScriptlet(s({ kind })).action).toBe('skip');
    }
  });

  it('refuses %triggerprein and %triggerin', () => {
    expect(planScriptlet(s({ kind: 'triggerin' }))).toEqual({ action: 'unsupported', reason: "Package 'foo' has (currently) unsupported script of type '%triggerin'" });
    expect(planScriptlet(s({ kind: 'triggerprein' })).action).toBe('unsupported');
  });

  it('uses rpm-ostree ids: foo.prein, foo.post, foo.posttrans', () => {
    expect([scriptletId('foo', 'prein'), scriptletId('foo', 'postin'), scriptletId('foo', 'posttrans')]).toEqual(['foo.prein', 'foo.post', 'foo.posttrans']);
  });

  it('skips the built-in list and kernel %posttrans (unless boot-location is kernel-install)', () => {
    expect(planScriptlet(s({ packageName: 'glibc', kind: 'prein' })).action).toBe('skip');
    expect(planScriptlet(s({ packageName: 'systemd', kind: 'transfiletriggerin' })).action).toBe('skip');
    expect(planScriptlet(s({ packageName: 'glibc', kind: 'postin' })).action).toBe('run');
    for (const k of ['kernel', 'kernel-core', 'kernel-modules', 'kernel-rt-core', 'kernel-64k', 'kernel-uek', 'kernel-lt', 'kernel-ml-core']) {
      expect(planScriptlet(s({ packageName: k, kind: 'posttrans' })).action, k).toBe('skip');
    }
    expect(planScriptlet(s({ packageName: 'kernel-core', kind: 'posttrans' }), { bootLocation: 'kernel-install' }).action).toBe('run');
    expect(planScriptlet(s({ packageName: 'kernel-tools', kind: 'posttrans' })).action).toBe('run');
    expect(planScriptlet(s({ packageName: 'kernel-core', kind: 'postin' })).action).toBe('run');
  });

  it('Lua: a built-in shell replacement, the rpm-ostree-skip marker, or an error', () => {
    const repl = planScriptlet(s({ packageName: 'fedora-release', interpreter: ['<lua>'], body: 'posix.symlink(...)' }));
    expect(repl).toMatchObject({ action: 'run', interpreter: ['/usr/bin/sh'], replaced: true });
    const langs = planScriptlet(s({ packageName: 'glibc-common', interpreter: ['<lua>'] }), { installLangs: ['en_US', 'de_DE'] });
    expect(langs.action === 'run' && langs.body).toContain("--install-langs 'en_US:de_DE'");
    expect(planScriptlet(s({ interpreter: ['<lua>'], body: '-- comment\n-- rpm-ostree-skip\nprint(1)' })).action).toBe('skip');
    expect(planScriptlet(s({ interpreter: ['<lua>'], body: 'print(1)' })).action).toBe('unsupported');
    // A replacement applies only to the Lua form: a shell glibc.post runs as shipped.
    expect(planScriptlet(s({ packageName: 'glibc', body: 'echo shell' }))).toMatchObject({ action: 'run', body: 'echo shell', replaced: false });
  });

  it('skips interpreter-only scriptlets and known-broken releases; refuses macro expansion', () => {
    expect(planScriptlet(s({ interpreter: ['/sbin/ldconfig'], body: '' })).action).toBe('skip');
    expect(planScriptlet(s({ packageName: 'pam', release: '1.el7' })).action).toBe('skip');
    expect(planScriptlet(s({ packageName: 'pam', release: '1.fc40' })).action).toBe('run');
    expect(planScriptlet(s({ flags: 1 })).action).toBe('unsupported');
  });

  it('validateScriptlets names the package', () => {
    const e = errorOf(() => validateScriptlets([s({}), s({ packageName: 'bar', packageNevra: 'bar-2-1.noarch', interpreter: ['<lua>'], body: 'x' })]));
    expect(e.code).toBe('SCRIPT_UNSUPPORTED');
    expect(e.message).toBe("bar-2-1.noarch: Package 'bar' has (currently) unsupported <lua> script in '%post'");
  });
});
