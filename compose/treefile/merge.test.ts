// Merge rules of included treefiles (rpm-ostree treefile_merge): includer wins for scalars,
// included items come first for arrays, sets union, maps union with the includer winning.

import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { dedupeRepoPackages, mergeTreefileConfig } from './merge.ts';
import type { TreefileConfig } from './types.ts';

describe('mergeTreefileConfig', () => {
  it('scalars: the includer wins; unset ones are taken from the include', () => {
    const dest: TreefileConfig = { ref: 'top', selinux: false };
    mergeTreefileConfig(dest, { 'ref': 'base', 'selinux': true, 'recommends': false, 'rojig': { name: 'a', summary: 'b', license: 'c' } });
    expect(dest).toEqual({ ref: 'top', selinux: false, recommends: false, rojig: { name: 'a', summary: 'b', license: 'c' } });
  });

  it('arrays: included items first, so includes [A, B] with own C run B, A, C', () => {
    const top: TreefileConfig = { postprocess: ['C'], repos: ['own'] };
    mergeTreefileConfig(top, { postprocess: ['A'], repos: ['a'] });
    mergeTreefileConfig(top, { postprocess: ['B'] });
    expect(top.postprocess).toEqual(['B', 'A', 'C']);
    expect(top.repos).toEqual(['a', 'own']);
  });

  it('sets: packages and ignore-removed-* are a sorted union', () => {
    const top: TreefileConfig = { 'packages': ['zsh', 'bash'].sort(), 'ignore-removed-users': ['root'] };
    mergeTreefileConfig(top, { 'packages': ['bash', 'attr'], 'ignore-removed-users': ['*', 'root'] });
    expect(top.packages).toEqual(['attr', 'bash', 'zsh']);
    expect(top['ignore-removed-users']).toEqual(['*', 'root']);
  });

  it('maps: union with the includer winning for a key both set (rpm-ostree test_treefile_merge shape)', () => {
    const mid: TreefileConfig = {
      'add-commit-metadata': { 'my-second-key': 'something better', 'my-third-key': 1000, 'my-fourth-key': { nested: 'table' } },
      'releasever': 1,
      'etc-group-members': ['docker'],
    };
    const base: TreefileConfig = {
      'add-commit-metadata': { 'my-first-key': "please don't override me", 'my-second-key': 'override me' },
      'releasever': '3',
      'etc-group-members': ['sudo'],
    };
    mergeTreefileConfig(mid, base);
    expect(mid.releasever).toBe(1);
    expect(mid['add-commit-metadata']).toEqual({
      'my-first-key': "please don't override me", 'my-second-key': 'something better', 'my-third-key': 1000, 'my-fourth-key': { nested: 'table' },
    });
    expect(mid['etc-group-members']).toEqual(['sudo', 'docker']);
  });

  it('repo-packages: a later entry takes the package, emptied entries disappear (rpm-ostree test_treefile_includes)', () => {
    const top: TreefileConfig = { 'repo-packages': [{ repo: 'baserepo', packages: ['blah', 'bloo'] }] };
    mergeTreefileConfig(top, {
      'repo-packages': [
        { repo: 'foo', packages: ['qwert'] },
        { repo: 'foob', packages: ['blah'] },
        { repo: 'foo2', packages: ['qwert'] },
      ],
    });
    expect(top['repo-packages']).toEqual([
      { repo: 'foo2', packages: ['qwert'] },
      { repo: 'baserepo', packages: ['blah', 'bloo'] },
    ]);
  });
});

describe('merge properties', () => {
  const names = fc.array(fc.constantFrom('a', 'b', 'c', 'd', 'e'), { maxLength: 5 });
  const sorted = (xs: string[]) => [...new Set(xs)].sort();

  it('property: merging is associative for every kind of key', () => {
    const cfg = fc.record({
      ref: fc.option(fc.constantFrom('x', 'y', 'z'), { nil: undefined }),
      postprocess: fc.option(names, { nil: undefined }),
      packages: fc.option(names.map(sorted), { nil: undefined }),
      variables: fc.option(fc.dictionary(fc.constantFrom('p', 'q', 'r'), fc.integer({ min: 0, max: 3 })), { nil: undefined }),
    }, { requiredKeys: [] });
    fc.assert(fc.property(cfg, cfg, cfg, (a, b, c) => {
      const clean = (x: object) => Object.fromEntries(Object.entries(x).filter(([, v]) => v !== undefined)) as TreefileConfig;
      // (a ← b) ← c
      const left = structuredClone(clean(a));
      mergeTreefileConfig(left, structuredClone(clean(b)));
      mergeTreefileConfig(left, structuredClone(clean(c)));
      // a ← (b ← c)
      const right = structuredClone(clean(a));
      const bc = structuredClone(clean(b));
      mergeTreefileConfig(bc, structuredClone(clean(c)));
      mergeTreefileConfig(right, bc);
      expect(right).toEqual(left);
    }));
  });

  it('property: repo-packages dedupe keeps each package once, in its last entry', () => {
    const entry = fc.record({ repo: fc.constantFrom('r1', 'r2', 'r3'), packages: names.map(sorted) });
    fc.assert(fc.property(fc.array(entry, { maxLength: 6 }), (entries) => {
      const out = dedupeRepoPackages(entries);
      const all = out.flatMap((e) => e.packages);
      expect(new Set(all).size).toBe(all.length);
      for (const e of out) expect(e.packages.length).toBeGreaterThan(0);
      for (const p of new Set(entries.flatMap((e) => e.packages))) {
        const lastRepo = entries.findLast((e) => e.packages.includes(p))!.repo;
        expect(out.find((e) => e.packages.includes(p))!.repo).toBe(lastRepo);
      }
      expect(dedupeRepoPackages(out)).toEqual(out);
    }));
  });
});
