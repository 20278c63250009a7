// Loading treefiles from a temp dir: includes across directories, arch-include,
// conditional-include, variables and substitution, externals, and every load error naming
// the file, line and key. Shapes follow rpm-ostree's treefile tests.

import { chmod, mkdir, writeFile } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { isUpdaterError } from '../../common/errors.ts';
import { makeTmp, removeTmp } from '../../test-support/index.ts';
import { treefileChecksum } from './checksum.ts';
import { loadTreefile } from './load.ts';

let dir: string;
beforeEach(async () => { dir = await makeTmp('atomic-treefile-'); });
afterEach(async () => { await removeTmp(dir); });

/** Writes files under `dir`; a leading "#!" makes the file executable. */
async function write(files: Record<string, string>): Promise<void> {
  for (const [name, text] of Object.entries(files)) {
    const p = join(dir, name);
    await mkdir(dirname(p), { recursive: true });
    await writeFile(p, text);
    if (text.startsWith('#!')) await chmod(p, 0o755);
  }
}

async function loadError(path: string, basearch = 'x86_64'): Promise<{ code: string; message: string }> {
  try {
    await loadTreefile(join(dir, path), { basearch });
  } catch (err) {
    if (isUpdaterError(err)) return { code: err.code, message: err.message };
    throw err;
  }
  throw new Error('expected the load to fail');
}

const load = (path: string, basearch = 'x86_64') => loadTreefile(join(dir, path), { basearch });

describe('includes', () => {
  it('follows includes across directories; relative paths resolve against the naming file', async () => {
    await write({
      'os/top.yaml': 'ref: os/${basearch}/top\ninclude: ../common/base.yaml\npackages: [top-pkg]\nadd-files:\n  - [motd, /etc/motd]\n',
      'os/motd': 'top motd\n',
      'common/base.yaml': 'include: ../shared/pkgs.json\npackages: [base-pkg]\npostprocess-script: post.sh\nadd-files:\n  - [motd, /usr/share/base/motd]\n',
      'common/post.sh': '#!/bin/sh\ntrue\n',
      'common/motd': 'base motd\n',
      'shared/pkgs.json': '{"packages": ["json-pkg a b"], "comment": "ignored in JSON", "selinux": false}',
    });
    const tf = await load('os/top.yaml');
    expect(tf.ref).toBe('os/x86_64/top');
    expect(tf.packages).toEqual(['a', 'b', 'base-pkg', 'json-pkg', 'top-pkg']);
    expect(tf.selinux).toBe(false);
    expect(tf.sources).toEqual([join(dir, 'os/top.yaml'), join(dir, 'common/base.yaml'), join(dir, 'shared/pkgs.json')]);
    expect(tf.postprocessScript).toEqual({ name: 'post.sh', path: join(dir, 'common/post.sh') });
    expect(tf.addFiles).toEqual([
      { name: 'motd', path: join(dir, 'common/motd'), dest: '/usr/share/base/motd' },
      { name: 'motd', path: join(dir, 'os/motd'), dest: '/etc/motd' },
    ]);
    expect(tf.directory).toBe(join(dir, 'os'));
    expect(tf.flattened['add-files']).toEqual([['motd', '/usr/share/base/motd'], ['motd', '/etc/motd']]);
  });

  it('accepts a list of includes; with includes [A, B] and own C, postprocess runs B, A, C', async () => {
    await write({
      'top.yaml': 'include: [a.yaml, b.yaml]\npostprocess: [C]\nselinux: true\n',
      'a.yaml': 'postprocess: [A]\nselinux: false\nrecommends: false\n',
      'b.yaml': 'postprocess: [B]\nrecommends: true\ndocumentation: false\n',
    });
    const tf = await load('top.yaml');
    expect(tf.postprocess).toEqual(['B', 'A', 'C']);
    expect(tf.selinux).toBe(true); // the includer wins
    expect(tf.recommends).toBe(false); // the first include that sets it wins
    expect(tf.documentation).toBe(false);
  });

  it('takes the arch-include entry for the compose arch only (others may not exist)', async () => {
    await write({
      'top.yaml': 'packages: [foo]\narch-include:\n  x86_64: foo-x86_64.yaml\n  s390x: foo-s390x.yaml\n',
      'foo-x86_64.yaml': 'repos: [foo]\npackages: [foo-x86_64-include]\n',
    });
    const tf = await load('top.yaml');
    expect(tf.packages).toEqual(['foo', 'foo-x86_64-include']);
    expect(tf.repos).toEqual(['foo']);
    const e = await loadError('top.yaml', 's390x');
    expect(e.code).toBe('TREEFILE_MISSING_FILE');
    expect(e.message).toBe(`${join(dir, 'top.yaml')}:4: arch-include.s390x: included file ${join(dir, 'foo-s390x.yaml')} does not exist`);
  });

  it('fails with file, line and key when an include is missing', async () => {
    await write({ 'top.yaml': 'ref: a\ninclude:\n  - here.yaml\n  - nope.yaml\n', 'here.yaml': 'packages: [x]\n' });
    const e = await loadError('top.yaml');
    expect(e).toEqual({
      code: 'TREEFILE_MISSING_FILE',
      message: `${join(dir, 'top.yaml')}:4: include[1]: included file ${join(dir, 'nope.yaml')} does not exist`,
    });
    expect((await loadError('absent.yaml')).message).toBe(`treefile ${join(dir, 'absent.yaml')} does not exist`);
  });

  it('refuses other file types', async () => {
    await write({ 'top.yaml': 'include: base.toml\n', 'base.toml': 'x = 1\n' });
    expect((await loadError('top.yaml')).message).toContain('include: ' + join(dir, 'base.toml') + ': unsupported treefile type');
  });

  it('detects include loops, including a file reached twice', async () => {
    await write({ 'self.yaml': 'include: self.yaml\n' });
    expect(await loadError('self.yaml')).toEqual({
      code: 'TREEFILE_INCLUDE_LOOP',
      message: `${join(dir, 'self.yaml')}:1: include: Include loop detected; ${join(dir, 'self.yaml')} was already included`,
    });
    await write({ 'a.yaml': 'include: sub/b.yaml\n', 'sub/b.yaml': 'include: ../a.yaml\n' });
    expect((await loadError('a.yaml')).message).toContain(`${join(dir, 'sub/b.yaml')}:1: include: Include loop detected`);
    // rpm-ostree tracks every file read, so a diamond is a loop too.
    await write({ 'd.yaml': 'include: [l.yaml, r.yaml]\n', 'l.yaml': 'include: common.yaml\n', 'r.yaml': 'include: common.yaml\n', 'common.yaml': '{}\n' });
    expect((await loadError('d.yaml')).code).toBe('TREEFILE_INCLUDE_LOOP');
  });

  it('allows 50 levels of includes and refuses the 51st', async () => {
    const chain: Record<string, string> = {};
    for (let i = 0; i <= 50; i++) chain[`f${i}.yaml`] = i < 50 ? `include: f${i + 1}.yaml\npackages: [p${i}]\n` : 'packages: [p50]\n';
    await write(chain);
    expect((await load('f0.yaml')).packages).toHaveLength(51);
    await write({ 'f50.yaml': 'include: f51.yaml\n', 'f51.yaml': '{}\n' });
    expect(await loadError('f0.yaml')).toEqual({
      code: 'TREEFILE_INCLUDE_DEPTH',
      message: `${join(dir, 'f50.yaml')}:1: include: Reached maximum include depth 50`,
    });
  });

  it('names the included file when its content is invalid', async () => {
    await write({ 'top.yaml': 'include: sub/base.yaml\n', 'sub/base.yaml': 'repos: [a]\ninstall_langs: [en_US]\n' });
    expect(await loadError('top.yaml')).toEqual({
      code: 'TREEFILE_UNKNOWN_KEY', message: `${join(dir, 'sub/base.yaml')}:2: install_langs: Unknown fields: install_langs`,
    });
  });
});

describe('conditional-include and variables', () => {
  it('evaluates every operator on numbers, booleans and strings (rpm-ostree test_treefile_conditional_includes)', async () => {
    const pkgs = ['foo-x86_64', 'foo-le', 'foo-ge', 'foo-eq', 'foo-true', 'foo-false', 'foo-str', 'foo-multi-a', 'foo-multi-b', 'foo-more-nested'];
    const files: Record<string, string> = Object.fromEntries(pkgs.map((p) => [`${p}.yaml`, `packages: [${p}]\n`]));
    files['nested.yaml'] = 'conditional-include:\n  - if: releasever == 35\n    include: foo-nested.yaml\n';
    files['foo-nested.yaml'] = 'packages: [foo-nested]\nconditional-include:\n  - if: releasever == 35\n    include: foo-more-nested.yaml\n';
    files['top.yaml'] = `releasever: 35
variables:
  mynum: 5
  myfalse: false
  mytrue: true
  mystr: ""
  mystr2: "dodo"
include: nested.yaml
conditional-include:
  - if: basearch == "x86_64"
    include: foo-x86_64.yaml
  - if: basearch == "s390x"
    include: enoent1.yaml
  - if: releasever < 35
    include: enoent2.yaml
  - if: releasever > 35
    include: enoent3.yaml
  - if: releasever <= 35
    include: foo-le.yaml
  - if: releasever == 35
    include: foo-eq.yaml
  - if: releasever != 35
    include: enoent4.yaml
  - if: releasever >= 35
    include: foo-ge.yaml
  - if: myfalse == false
    include: foo-false.yaml
  - if: mytrue == true
    include: foo-true.yaml
  - if: mytrue != true
    include: enoent5.yaml
  - if:
      - mystr == ""
      - mystr2 == "dodo"
    include: foo-str.yaml
  - if:
      - mystr == "x"
      - mystr2 == "dodo"
    include: enoent6.yaml
  - if:
      - mynum == 5
      - releasever == 35
    include:
      - foo-multi-a.yaml
      - foo-multi-b.yaml
`;
    await write(files);
    const tf = await load('top.yaml');
    expect(tf.packages).toEqual([...pkgs, 'foo-nested'].sort());
    expect(tf.variables).toEqual({ basearch: 'x86_64', releasever: 35, mynum: 5, myfalse: false, mytrue: true, mystr: '', mystr2: 'dodo' });
  });

  it('compares a string releasever as a string, and merges inline treefiles at once', async () => {
    await write({
      'top.yaml': 'releasever: "35"\npackages: [own]\nselinux: true\nconditional-include:\n  - if: releasever == "35"\n    include:\n      packages: [inlinedpkg]\n      selinux: false\n      postprocess: [inline]\n  - if: releasever == "36"\n    include:\n      packages: [never]\n',
    });
    const tf = await load('top.yaml');
    expect(tf.packages).toEqual(['inlinedpkg', 'own']);
    expect(tf.selinux).toBe(true); // the file's own value beats its inline include
    expect(tf.postprocess).toEqual(['inline']);
    expect(tf.releasever).toBe('35');
  });

  it('fails on undefined variables, type mismatches and ordering of non-numbers, naming the condition', async () => {
    const cases: [string, string][] = [
      ['conditional-include:\n  - if: enoent > "asd"\n    include: x.yaml\n', "conditional-include[0].if: undefined variable 'enoent'"],
      ['variables:\n  mystr: "str"\nconditional-include:\n  - if: mystr > 8\n    include: x.yaml\n', 'conditional-include[0].if: mystr is not same type as 8'],
      ['variables:\n  mybool: true\nconditional-include:\n  - if: mybool <= 5\n    include: x.yaml\n', 'mybool is not same type as 5'],
      ['variables:\n  mystr: "str"\nconditional-include:\n  - if: mystr > "asd"\n    include: x.yaml\n', "invalid op for values 'str' and 'asd'"],
      // Every condition is checked, even after a false one.
      ['variables:\n  n: 1\nconditional-include:\n  - if: [n == 2, m == 1]\n    include: x.yaml\n', "conditional-include[0].if[1]: undefined variable 'm'"],
    ];
    for (const [text, msg] of cases) {
      await write({ 'c.yaml': text });
      const e = await loadError('c.yaml');
      expect(e.code).toBe('TREEFILE_CONDITION');
      expect(e.message).toContain(msg);
      expect(e.message.startsWith(`${join(dir, 'c.yaml')}:`)).toBe(true);
    }
  });

  it('lets a parent variable win and lets an include test it; substitutes after merging', async () => {
    await write({
      'top.yaml': `variables:
  stream: stable
  mystr: "don't override me"
releasever: 30
ref: "exampleos/\${basearch}/\${releasever}/\${stream}/\${child}"
include: base.yaml
automatic-version-prefix: "\${releasever}.<date:%Y%m%d>"
add-commit-metadata:
  my-arch: "my arch is \${basearch}"
  num: 3
rojig:
  name: "exampleos \${releasever}"
  license: MIT
  summary: "ExampleOS \${releasever} \${basearch}"
`,
      'base.yaml': `variables:
  mystr: overridden
  child: kid
releasever: 29
mutate-os-release: "\${releasever}"
metadata:
  bar: "substituted \${mystr} \${undefined}"
  nested: { x: "\${stream}" }
conditional-include:
  - if: stream == "stable"
    include:
      packages: [stable-only]
`,
    });
    const tf = await load('top.yaml');
    expect(tf.ref).toBe('exampleos/x86_64/30/stable/kid');
    expect(tf.releasever).toBe('30');
    expect(tf.variables).toMatchObject({ mystr: "don't override me", child: 'kid', releasever: 30 });
    expect(tf.automaticVersionPrefix).toBe('30.<date:%Y%m%d>');
    expect(tf.mutateOsRelease).toBe('30');
    expect(tf.addCommitMetadata).toEqual({ 'my-arch': 'my arch is x86_64', 'num': 3 });
    // Only top-level strings are substituted; undefined variables stay as written.
    expect(tf.metadata).toEqual({ bar: "substituted don't override me ${undefined}", nested: { x: '${stream}' } });
    expect(tf.rojig).toEqual({ name: 'exampleos 30', license: 'MIT', summary: 'ExampleOS 30 x86_64' });
    expect(tf.packages).toEqual(['stable-only']);
  });

  it('refuses variable values that cannot be substituted', async () => {
    await write({ 'top.yaml': 'variables:\n  bad: "a}b"\nref: x\n' });
    expect(await loadError('top.yaml')).toEqual({
      code: 'TREEFILE_INVALID', message: `${join(dir, 'top.yaml')}: variables.bad: variable value 'a}b' contains forbidden character '}'`,
    });
  });
});

describe('externals and merged checks', () => {
  it('fails when a named file is missing, naming the key', async () => {
    await write({ 'a.yaml': 'postprocess-script: post.sh\n' });
    expect(await loadError('a.yaml')).toEqual({
      code: 'TREEFILE_MISSING_FILE', message: `${join(dir, 'a.yaml')}:1: postprocess-script: ${join(dir, 'post.sh')} does not exist`,
    });
    await write({ 'b.yaml': 'add-files:\n  - [files/motd, /etc/motd]\n' });
    expect((await loadError('b.yaml')).message).toBe(`${join(dir, 'b.yaml')}:2: add-files[0][0]: ${join(dir, 'files/motd')} does not exist`);
    await write({ 'c.json': '{"check-passwd": {"type": "file", "filename": "passwd"}}' });
    expect((await loadError('c.json')).message).toBe(`${join(dir, 'c.json')}:1: check-passwd.filename: ${join(dir, 'passwd')} does not exist`);
  });

  it('requires postprocess-script to be executable; the includer\'s script wins', async () => {
    await write({ 'a.yaml': 'postprocess-script: post.sh\n', 'post.sh': 'echo not executable\n' });
    const e = await loadError('a.yaml');
    expect(e.code).toBe('TREEFILE_INVALID');
    expect(e.message).toContain('postprocess-script must be executable');
    await write({ 'b.yaml': 'postprocess-script: mine.sh\ninclude: sub/c.yaml\n', 'mine.sh': '#!/bin/sh\n', 'sub/c.yaml': 'postprocess-script: theirs.sh\n', 'sub/theirs.sh': '#!/bin/sh\n' });
    expect((await load('b.yaml')).postprocessScript).toEqual({ name: 'mine.sh', path: join(dir, 'mine.sh') });
  });

  it('refuses a package both requested and excluded, and units without machineid-compat', async () => {
    await write({ 'a.yaml': 'packages: [foo, bar]\ninclude: b.yaml\n', 'b.yaml': 'exclude-packages: [bar]\n' });
    expect((await loadError('a.yaml')).message).toBe(`${join(dir, 'a.yaml')}: package bar listed in both packages and exclude-packages`);
    await write({ 'u.yaml': 'machineid-compat: false\nunits: [foo.service]\n' });
    expect((await loadError('u.yaml')).message).toContain("'units' directive is incompatible with machineid-compat = false");
  });

  it('applies the defaults rpm-ostree documents', async () => {
    await write({ 'min.yaml': 'ref: min\n' });
    const tf = await load('min.yaml');
    expect(tf).toMatchObject({
      selinux: true, recommends: true, documentation: true, bootLocation: 'new', tmpIsDir: false, machineidCompat: true,
      preservePasswd: true, checkPasswd: { type: 'previous' }, checkGroups: { type: 'previous' }, automaticVersionSuffix: '.',
      edition: '2014', rpmdb: 'target', packages: [],
    });
    expect(tf.repos).toBeUndefined();
    expect(tf.warnings).toEqual(['boot-location: "new" is deprecated, use boot-location: modules']);
  });
});

describe('treefileChecksum', () => {
  it('ignores formatting, comments, key order and metadata; follows external file content', async () => {
    await write({
      'a.yaml': '# comment\nref: x\npackages: [b, a]\npostprocess-script: post.sh\nmetadata: {m: 1}\n',
      'b.json': '{"postprocess-script": "post.sh", "packages": ["a", "b"], "ref": "x", "metadata": {"m": 2}}',
      'post.sh': '#!/bin/sh\necho one\n',
    });
    const a = await treefileChecksum(await load('a.yaml'));
    expect(await treefileChecksum(await load('b.json'))).toBe(a);
    await write({ 'post.sh': '#!/bin/sh\necho two\n' });
    const changed = await treefileChecksum(await load('a.yaml'));
    expect(changed).not.toBe(a);
    await write({ 'a.yaml': 'ref: x\npackages: [a, b, c]\npostprocess-script: post.sh\n' });
    expect(await treefileChecksum(await load('a.yaml'))).not.toBe(changed);
  });
});
