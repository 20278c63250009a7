import { mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { errorOf, makeTmp, removeTmp } from '../../test-support/index.ts';
import { loadRepoFiles, parseRepoFile, selectRepos, substituteRepoVars } from './index.ts';

const FEDORA = `# comment
[fedora]
name=Fedora $releasever - $basearch
baseurl=https://mirror.example/fedora/$releasever/Everything/$basearch/os/
        http://other.example/\${releasever}/$basearch/
enabled=1
gpgcheck=1
gpgkey=file:///etc/pki/rpm-gpg/RPM-GPG-KEY-fedora-$releasever-$basearch
priority=10
cost=500
excludepkgs=kernel-debug*, foo
skip_if_unavailable=False

[updates]
name=Updates
metalink=https://mirrors.example/metalink?repo=updates-released-f$releasever&arch=$basearch
enabled=0
includepkgs=bar baz
`;

describe('.repo files', () => {
  it('parses sections, lists, continuation lines and variables as dnf does', () => {
    const [fedora, updates] = parseRepoFile(FEDORA, 'f.repo', { releasever: '39', basearch: 'x86_64' });
    expect(fedora).toEqual({
      id: 'fedora', name: 'Fedora 39 - x86_64',
      baseurl: ['https://mirror.example/fedora/39/Everything/x86_64/os/', 'http://other.example/39/x86_64/'],
      enabled: true, gpgcheck: true, gpgkey: ['file:///etc/pki/rpm-gpg/RPM-GPG-KEY-fedora-39-x86_64'], repoGpgcheck: false,
      priority: 10, cost: 500, excludePackages: ['kernel-debug*', 'foo'], includePackages: [], sslverify: true, skipIfUnavailable: false, file: 'f.repo',
    });
    expect(updates).toMatchObject({ id: 'updates', enabled: false, baseurl: [], includePackages: ['bar', 'baz'], priority: 99, cost: 1000 });
    expect(updates!.metalink).toBe('https://mirrors.example/metalink?repo=updates-released-f39&arch=x86_64');
  });

  it('leaves unknown variables as written and ignores a [main] section', () => {
    expect(substituteRepoVars('a/$releasever/$nope/${basearch}x', { releasever: '1', basearch: 'aarch64' })).toBe('a/1/$nope/aarch64x');
    expect(parseRepoFile('[main]\ngpgcheck=1\n[r]\nbaseurl=file:///x\n', 'm.repo').map((r) => r.id)).toEqual(['r']);
  });

  it('rejects malformed files naming the file and line', () => {
    expect(errorOf(() => parseRepoFile('[ok]\nbaseurl=file:///x\nthis is not ini\n', '/d/a.repo'))).toEqual({ code: 'REPOMD_REPOFILE_INVALID', message: '/d/a.repo:3: expected \'[repo-id]\' or \'key=value\', got "this is not ini"' });
    expect(errorOf(() => parseRepoFile('baseurl=file:///x\n', 'a.repo')).message).toBe("a.repo:1: 'baseurl' outside of a [repo] section");
    expect(errorOf(() => parseRepoFile('[a b]\n', 'a.repo')).message).toMatch(/^a\.repo:1: invalid repo id 'a b'/);
    expect(errorOf(() => parseRepoFile('[r]\nenabled=maybe\n', 'a.repo')).message).toBe('a.repo:1: repo \'r\': enabled=maybe is not a boolean (use 1/0, yes/no, true/false)');
    expect(errorOf(() => parseRepoFile('[r]\nbaseurl=ftp://x/\n', 'a.repo')).message).toMatch(/baseurl 'ftp:\/\/x\/' is not a file:\/\/, http:\/\/ or https:\/\/ URL/);
    expect(errorOf(() => parseRepoFile('[r]\n[r]\n', 'a.repo')).message).toBe("a.repo:2: repo 'r' is defined twice");
  });

  describe('in a treefile directory', () => {
    let dir: string;
    beforeAll(async () => {
      dir = await makeTmp('repofiles-');
      await writeFile(join(dir, 'a.repo'), '[one]\nbaseurl=file:///one\n[two]\nbaseurl=file:///two\nenabled=0\n');
      await writeFile(join(dir, 'b.repo'), '[three]\nbaseurl=file:///$basearch\n');
      await writeFile(join(dir, 'ignored.txt'), '[nope]\n');
      await mkdir(join(dir, 'dup'));
      await writeFile(join(dir, 'dup', 'a.repo'), '[one]\nbaseurl=file:///one\n');
      await writeFile(join(dir, 'dup', 'b.repo'), '[one]\nbaseurl=file:///two\n');
    });
    afterAll(async () => removeTmp(dir));

    it('loads every .repo file and selects the treefile\'s repos (or the enabled ones)', async () => {
      const all = await loadRepoFiles(dir, { basearch: 'x86_64' });
      expect(all.map((r) => `${r.id}:${r.baseurl[0]}`)).toEqual(['one:file:///one', 'two:file:///two', 'three:file:///x86_64']);
      expect(selectRepos(all, undefined).map((r) => r.id)).toEqual(['one', 'three']);
      expect(selectRepos(all, ['two', 'one']).map((r) => r.id)).toEqual(['two', 'one']);
      expect(errorOf(() => selectRepos(all, ['one', 'fedora', 'updates'], dir))).toEqual({
        code: 'REPOMD_REPO_UNKNOWN',
        message: `unknown rpm-md repos 'fedora', 'updates': not defined by any .repo file in ${dir}`,
      });
    });

    it('rejects a repo id defined in two files', async () => {
      await expect(loadRepoFiles(join(dir, 'dup'))).rejects.toThrow(`repo 'one' is defined in both ${join(dir, 'dup', 'a.repo')} and ${join(dir, 'dup', 'b.repo')}`);
    });
  });
});
