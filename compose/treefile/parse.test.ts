// Parsing single treefiles (no includes): rpm-ostree's key rules, value types, and errors
// that name the file, line and key. Fixture shapes follow rpm-ostree's own treefile tests.

import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { errorOf } from '../../test-support/index.ts';
import { parseTreefileText, type TreefileFormat } from './parse.ts';
import { splitPackageEntry } from './packages.ts';

const FILE = '/srv/tf/treefile.yaml';
const parse = (text: string, format: TreefileFormat = 'yaml', basearch: string | undefined = 'x86_64') =>
  parseTreefileText(text, { file: format === 'yaml' ? FILE : '/srv/tf/treefile.json', format, basearch });

// A prelude in the shape of rpm-ostree's VALID_PRELUDE test treefile.
const PRELUDE = `ref: "exampleos/x86_64/blah"
metadata:
  foo: bar
  deeper:
    answer: 42
repos:
 - baserepo
lockfile-repos:
 - lockrepo
exclude-packages:
 - mypkg
packages:
 - foo bar
 - baz
 - corge 'quuz >= 1.0'
packages-x86_64:
 - grub2 grub2-tools
packages-s390x:
 - zipl
repo-packages:
  - repo: baserepo
    packages:
      - blah bloo
`;

describe('parseTreefileText: keys and values', () => {
  it('reads the prelude: split packages, arch packages for the compose arch only', () => {
    const { config } = parse(PRELUDE);
    expect(config.ref).toBe('exampleos/x86_64/blah');
    expect(config.packages).toEqual(['bar', 'baz', 'corge', 'foo', 'grub2', 'grub2-tools', 'quuz >= 1.0']);
    expect(config['repo-packages']).toEqual([{ repo: 'baserepo', packages: ['blah', 'bloo'] }]);
    expect(config.metadata).toEqual({ foo: 'bar', deeper: { answer: 42 } });
    expect(config['exclude-packages']).toEqual(['mypkg']);
    expect(config.variables).toEqual({ basearch: 'x86_64' });
  });

  it('uses packages-s390x on s390x, and no arch packages without a basearch', () => {
    expect(parse(PRELUDE, 'yaml', 's390x').config.packages).toContain('zipl');
    expect(parse(PRELUDE, 'yaml', 's390x').config.packages).not.toContain('grub2');
    expect(parseTreefileText(PRELUDE, { file: FILE, format: 'yaml' }).config.packages).toHaveLength(5);
  });

  it('rejects a packages-$arch that is not an array of strings, for any arch', () => {
    for (const bad of ['packages-hal9000: true', 'packages-hal9000:\n  - 12\n  - 34']) {
      const e = errorOf(() => parse(`${PRELUDE}${bad}\n`));
      expect(e.code).toBe('TREEFILE_INVALID');
      expect(e.message).toContain('Invalid field packages-hal9000: expected array of strings');
    }
  });

  it('reads JSON and ignores unknown keys there ("comment" keys of old treefiles)', () => {
    const json = JSON.stringify({
      'ref': 'exampleos/${basearch}/blah',
      'comment-packages': 'We want baz to enable frobnication',
      'repos': ['baserepo'],
      'packages': ['foo', 'bar', 'baz'],
      'packages-x86_64': ['grub2', 'grub2-tools'],
      'packages-s390x': ['zipl'],
      'osname': 'exampleos',
    });
    const { config } = parse(json, 'json');
    expect(config.packages).toEqual(['bar', 'baz', 'foo', 'grub2', 'grub2-tools']);
    expect(config.ref).toBe('exampleos/${basearch}/blah'); // substituted after merging
  });

  it('fails on unknown YAML keys, listing them, with file and line', () => {
    const e = errorOf(() => parse(`${PRELUDE}install_langs:\n  - klingon\nbogus: 1\n`));
    expect(e.code).toBe('TREEFILE_UNKNOWN_KEY');
    expect(e.message).toBe(`${FILE}:24: install_langs: Unknown fields: install_langs, bogus`);
  });

  it('names file, line and key for a wrong type', () => {
    const e = errorOf(() => parse('ref: foo\nselinux: "yes"\n'));
    expect(e).toEqual({ code: 'TREEFILE_INVALID', message: `${FILE}:2: selinux: expected true or false, got a string ("yes")` });
    const e2 = errorOf(() => parse('packages:\n  - a\n  - 3\n'));
    expect(e2.message).toBe(`${FILE}:3: packages[1]: expected a string, got a number (3)`);
    const e3 = errorOf(() => parse('{"ref": 5}', 'json'));
    expect(e3.message).toBe('/srv/tf/treefile.json:1: ref: expected a string, got a number (5)');
  });

  it('accepts the legacy snake_case spellings and refuses both forms of one key', () => {
    const { config } = parse('gpg_key: foo\nboot_location: new\ndefault_target: bar\nautomatic_version_prefix: baz\nrpmdb: sqlite\n');
    expect(config['gpg-key']).toBe('foo');
    expect(config['boot-location']).toBe('new');
    expect(config['default-target']).toBe('bar');
    expect(config['automatic-version-prefix']).toBe('baz');
    expect(config.rpmdb).toBe('sqlite');
    for (const [a, b] of [['gpg-key: foo', 'gpg_key: bar'], ['boot-location: new', 'boot_location: modules'],
      ['default-target: foo', 'default_target: bar'], ['automatic-version-prefix: foo', 'automatic_version_prefix: bar']]) {
      const e = errorOf(() => parse(`${a}\n${b}\n`));
      expect(e.message).toMatch(/Cannot use new and legacy forms of \w+/);
      expect(e.message).toContain(`${FILE}:2:`);
    }
  });

  it('maps rpmdb b-d-b to bdb and opt-usrlocal state-overlay to stateoverlay', () => {
    expect(parse('rpmdb: b-d-b\n').config.rpmdb).toBe('bdb');
    expect(parse('opt-usrlocal: state-overlay\n').config['opt-usrlocal']).toBe('stateoverlay');
  });

  it('refuses the removed boot-location values with a hint', () => {
    const e = errorOf(() => parse('boot-location: both\n'));
    expect(e.message).toContain('boot-location: boot-location "both" is no longer supported');
  });

  it('accepts releasever as a string or a number and mirrors it into the variables', () => {
    expect(parse('releasever: "30"\n').config.variables).toEqual({ basearch: 'x86_64', releasever: '30' });
    expect(parse('releasever: 30\n').config.variables).toEqual({ basearch: 'x86_64', releasever: 30 });
    expect(errorOf(() => parse('releasever: 30.5\n')).message).toContain('releasever: expected a string or a non-negative integer');
  });

  it('refuses variables named releasever or basearch, and variable values of other types', () => {
    expect(errorOf(() => parse('variables:\n  releasever: foo\nreleasever: 30\n')).message)
      .toBe(`${FILE}:2: variables.releasever: cannot define reserved variable 'releasever'`);
    expect(errorOf(() => parse('variables:\n  basearch: foo\n')).message).toContain("cannot define reserved variable 'basearch'");
    expect(errorOf(() => parse('variables:\n  x: -1\n')).message).toContain('variables.x: expected a boolean, a non-negative integer or a string');
    expect(errorOf(() => parse('variables:\n  x: [1]\n')).message).toContain('variables.x:');
  });

  it('refuses a basearch key that is not the compose arch', () => {
    expect(errorOf(() => parse('basearch: aarch64\n')).message)
      .toBe(`${FILE}:1: basearch: Invalid basearch aarch64 on x86_64: cross-composes are not supported`);
    expect(parse('basearch: x86_64\n').config.basearch).toBe('x86_64');
  });

  it('applies container and edition 2024 defaults in the file that sets them', () => {
    const c = parse('container: true\nselinux: true\npackages:\n  - foo bar\n').config;
    expect(c).toMatchObject({ 'selinux': false, 'tmp-is-dir': true, 'boot-location': 'modules', 'preserve-passwd': false });
    expect(c['check-passwd']).toEqual({ type: 'none' });
    expect(parse('edition: "2024"\n').config).toMatchObject({ 'boot-location': 'modules', 'tmp-is-dir': true });
    expect(errorOf(() => parse('edition: 2024\n')).message).toContain('edition: expected one of "2014", "2024"');
  });

  it('refuses client-side derivation keys', () => {
    const e = errorOf(() => parse('override-remove:\n  - foo\n'));
    expect(e.code).toBe('TREEFILE_UNSUPPORTED');
    expect(e.message).toContain('override-remove');
  });

  it('validates add-files destinations and shapes, resolving sources next to the file', () => {
    const { config } = parse('add-files:\n  - - foo\n    - /usr/bin/foo\n  - [sub/baz, /etc/blah]\n');
    expect(config['add-files']).toEqual([
      { name: 'foo', path: '/srv/tf/foo', dest: '/usr/bin/foo' },
      { name: 'sub/baz', path: '/srv/tf/sub/baz', dest: '/etc/blah' },
    ]);
    expect(errorOf(() => parse('add-files:\n  - [foo, /usr/local/bin/foo]\n')).message)
      .toBe(`${FILE}:2: add-files[0][1]: Unsupported path in add-files: /usr/local/bin/foo`);
    expect(errorOf(() => parse('add-files:\n  - [foo, /var/foo]\n')).message).toContain('Unsupported path in add-files: /var/foo');
    expect(errorOf(() => parse('add-files:\n  - [foo]\n')).message).toContain('add-files[0]: expected [source, destination], got 1 element(s)');
  });

  it('validates remove-files, remove-from-packages and the version suffix', () => {
    expect(errorOf(() => parse('remove-files:\n  - /etc/foo\n')).message).toContain('remove-files[0]: path must be relative');
    expect(errorOf(() => parse('remove-files:\n  - usr/../etc\n')).message).toContain("must not contain '..'");
    expect(parse('remove-from-packages:\n  - [foo, "/usr/share/.*\\\\.txt"]\n').config['remove-from-packages'])
      .toEqual([{ package: 'foo', patterns: ['/usr/share/.*\\.txt'] }]);
    expect(errorOf(() => parse('remove-from-packages:\n  - [foo, "(("]\n')).message).toContain('remove-from-packages[0][1]: invalid regular expression');
    expect(parse('automatic-version-suffix: "-"\n').config['automatic-version-suffix']).toBe('-');
    for (const bad of ['"--"', '""', '"é"']) {
      expect(errorOf(() => parse(`automatic-version-suffix: ${bad}\n`)).message)
        .toContain('Invalid automatic-version-suffix, must be exactly one ASCII character');
    }
  });

  it('reads check-passwd and check-groups in all four forms', () => {
    expect(parse('check-passwd: { "type": "none" }\n').config['check-passwd']).toEqual({ type: 'none' });
    expect(parse('check-passwd: { "type": "data", "entries": { "bin": 1, "adm": [3, 4], "foo" : [2] } }\n').config['check-passwd'])
      .toEqual({ type: 'data', entries: { bin: [1, 1], adm: [3, 4], foo: [2, 2] } });
    expect(parse('check-groups: { "type": "file", "filename": "local-file" }\n').config['check-groups'])
      .toEqual({ type: 'file', filename: 'local-file', path: '/srv/tf/local-file' });
    expect(parse('check-groups: { "type": "data", "entries": { "bin": 1 } }\n').config['check-groups'])
      .toEqual({ type: 'data', entries: { bin: 1 } });
    expect(errorOf(() => parse('check-passwd: { "type": "sometimes" }\n')).message).toContain('check-passwd.type: expected one of "none", "previous", "file", "data"');
    expect(errorOf(() => parse('check-passwd: { "type": "data", "entries": { "bin": [1, 2, 3] } }\n')).message)
      .toContain('check-passwd.entries.bin: expected a uid, [uid] or [uid, gid]');
  });

  it('keeps rojig (obsolete but accepted) and requires its fields', () => {
    const c = parse('rojig:\n  name: "exampleos"\n  license: MIT\n  summary: "base image"\n').config;
    expect(c.rojig).toEqual({ name: 'exampleos', license: 'MIT', summary: 'base image' });
    expect(errorOf(() => parse('rojig:\n  name: x\n')).message).toContain('rojig: missing field `summary`');
  });

  it('reads include forms and conditional-include conditions, rejecting malformed ones', () => {
    const l = parse('include: a.yaml\narch-include:\n  x86_64: [b.yaml, c.yaml]\nconditional-include:\n  - if: releasever >= 35\n    include: d.yaml\n');
    expect(l.includes).toEqual([{ name: 'a.yaml', key: ['include'] }]);
    expect(l.archIncludes.x86_64!.map((i) => i.name)).toEqual(['b.yaml', 'c.yaml']);
    expect(l.conditionalIncludes[0]!.conditions[0]).toMatchObject({ variable: 'releasever', op: '>=', value: 35 });
    for (const [cond, msg] of [['garbage', 'invalid condition: garbage'], ['5', 'expected a condition string'],
      ['myvar garbage true', 'expected one of ==, !=, >, >=, <, <= but got garbage'], ['myvar == garbage', 'invalid condition']]) {
      const e = errorOf(() => parse(`conditional-include:\n  - if: ${cond}\n    include: enoent.yaml\n`));
      expect(e.code).toBe('TREEFILE_CONDITION');
      expect(e.message).toContain(`${FILE}:2: conditional-include[0].if: ${msg}`);
    }
  });

  it('parses an inline conditional include and refuses file references inside it', () => {
    const l = parse('conditional-include:\n  - if: releasever == "35"\n    include:\n      packages:\n        - inlinedpkg other\n');
    expect(l.conditionalIncludes[0]!.include).toMatchObject({ packages: ['inlinedpkg', 'other'] });
    const e = errorOf(() => parse('conditional-include:\n  - if: a == 1\n    include:\n      postprocess-script: x.sh\n'));
    expect(e.message).toBe(`${FILE}:4: conditional-include[0].include.postprocess-script: not allowed in an inline treefile`);
  });

  it('reports YAML and JSON syntax errors with a line, including duplicate keys', () => {
    const e = errorOf(() => parse('ref: a\npackages: [a, b\n'));
    expect(e.code).toBe('TREEFILE_SYNTAX');
    expect(e.message).toMatch(/^\/srv\/tf\/treefile\.yaml:\d+: invalid YAML/);
    expect(errorOf(() => parse('ref: a\nrepos: []\nref: b\n')).message).toBe(`${FILE}:3: invalid YAML: duplicate key`);
    expect(errorOf(() => parse('{"ref": "a",\n "ref": "b"}', 'json')).message).toBe('/srv/tf/treefile.json:2: duplicate key');
    expect(errorOf(() => parse('{"ref": }', 'json')).message).toMatch(/^\/srv\/tf\/treefile\.json: invalid JSON/);
    expect(errorOf(() => parse('- a\n- b\n')).message).toBe(`${FILE}: (top level): expected a mapping of treefile keys, got an array`);
  });

  it('treats an empty YAML file as an empty treefile', () => {
    expect(parse('').config).toEqual({ basearch: 'x86_64', variables: { basearch: 'x86_64' }, packages: [] });
  });
});

describe('splitPackageEntry (rpm-ostree split_whitespace_unless_quoted)', () => {
  it('splits on whitespace outside single quotes', () => {
    expect(splitPackageEntry("'foobar >= 1.0'")).toEqual(['foobar >= 1.0']);
    expect(splitPackageEntry("'foobar >= 1.0' 'quuz < 0.5' 'corge > 2'")).toEqual(['foobar >= 1.0', 'quuz < 0.5', 'corge > 2']);
    expect(splitPackageEntry('foobar quuz corge')).toEqual(['foobar', 'quuz', 'corge']);
    expect(splitPackageEntry("corge 'foobar >= 1.1' baz-package 'quuz < 0.0.1'"))
      .toEqual(['corge', 'foobar >= 1.1', 'baz-package', 'quuz < 0.0.1']);
    expect(splitPackageEntry('foobar >= 1.0 quuz')).toEqual(['foobar', '>=', '1.0', 'quuz']);
    expect(splitPackageEntry('  \t ')).toEqual([]);
  });

  it('rejects unbalanced quotes', () => {
    for (const bad of ["foobar >= 1.0'", "'foobar >= 1.0 baz-package", "'foobar >= 1.0' quuz' corge"]) {
      expect(splitPackageEntry(bad)).toHaveProperty('error');
    }
    expect(errorOf(() => parse("packages:\n  - a\n  - \"'b >= 1\"\n")).message).toBe(`${FILE}:3: packages[1]: missing terminating quote: 'b >= 1`);
  });

  const token = fc.stringMatching(/^[a-z0-9][a-z0-9._+-]{0,8}$/);
  const spec = fc.tuple(token, fc.constantFrom('>=', '<', '='), fc.stringMatching(/^[0-9]{1,3}(\.[0-9]{1,2})?$/)).map((t) => t.join(' '));

  it('property: unquoted names joined by any whitespace come back as the names', () => {
    fc.assert(fc.property(fc.array(token, { maxLength: 6 }), fc.array(fc.constantFrom(' ', '\t', '  ', '\n'), { minLength: 7, maxLength: 7 }),
      (names, seps) => {
        expect(splitPackageEntry(names.map((n, i) => seps[i] + n).join(seps[6]))).toEqual(names);
      }));
  });

  it('property: quoted version queries survive intact, in order, among plain names', () => {
    fc.assert(fc.property(fc.array(fc.oneof(token.map((t) => ({ q: false, t })), spec.map((t) => ({ q: true, t }))), { maxLength: 6 }), (items) => {
      const entry = items.map((i) => (i.q ? `'${i.t}'` : i.t)).join(' ');
      expect(splitPackageEntry(entry)).toEqual(items.map((i) => i.t));
    }));
  });
});
