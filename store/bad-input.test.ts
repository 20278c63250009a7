// Bad input: corrupt and truncated objects, hostile dirtree names, dangling
// refs, unknown modes, invalid ref names. Each fails with a named object or ref
// and a stable code, and nothing is written outside the checkout destination.

import { appendFile, readdir, readFile, stat, truncate, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { atomic, have, makeTmp, ostree, removeTmp } from '../test-support/index.ts';
import { serialize } from './gvariant/index.ts';
import {
  checkoutCommit, checksumToBytes, commitDirectory, encodeCommit, EMPTY_DIRTREE_CHECKSUM, fsckRepo, pruneRepo, Repo, Transaction, validateRef,
} from './index.ts';

let tmp: string;
beforeAll(async () => {
  tmp = await makeTmp();
});
afterAll(async () => removeTmp(tmp));

async function smallRepo(name: string, mode: 'archive' | 'bare-user' = 'archive'): Promise<{ repo: Repo; commit: string; src: string }> {
  const src = join(tmp, `${name}-src`);
  await atomicTree(src);
  const repo = await Repo.init(join(tmp, name), mode);
  const { checksum } = await commitDirectory(repo, src, { branch: 'main', timestamp: 100 });
  return { repo, commit: checksum, src };
}

async function atomicTree(dir: string): Promise<void> {
  const { mkdir } = await import('node:fs/promises');
  await mkdir(join(dir, 'etc'), { recursive: true });
  await writeFile(join(dir, 'etc', 'os-release'), 'ID=test\n');
  await writeFile(join(dir, 'data.txt'), 'x'.repeat(100_000));
}

async function fileObjects(repo: Repo): Promise<string[]> {
  const out: string[] = [];
  for await (const [, kind, path] of repo.listObjects()) if (kind === 'file') out.push(path);
  return out;
}

describe('corrupt objects', () => {
  it('fsck names a corrupted content object and the commit reaching it; --delete removes it and marks the commit partial', async () => {
    const { repo, commit } = await smallRepo('corrupt');
    const objs = await fileObjects(repo);
    const sizes = await Promise.all(objs.map(async (p) => (await stat(p)).size));
    const victim = objs[sizes.indexOf(Math.max(...sizes))]!;
    const bytes = await readFile(victim);
    bytes[bytes.length - 5]! ^= 0xff;
    await writeFile(victim, bytes);
    const res = await fsckRepo(repo);
    expect(res.problems).toHaveLength(1);
    expect(res.problems[0]!.problem).toBe('corrupt');
    expect(res.problems[0]!.commits).toEqual([commit]);
    const cli = await atomic(['repo', 'fsck', `--repo=${repo.path}`]);
    expect(cli.code).toBe(1);
    expect(cli.stderr).toContain(`(in commits ${commit})`);
    expect(cli.stderr).toMatch(/error: corrupt object [0-9a-f]{64}\.file/);
    const del = await fsckRepo(repo, { delete: true });
    expect(del.deleted).toBe(1);
    expect(await repo.isCommitPartial(commit)).toBe(true);
    expect((await fsckRepo(repo)).problems).toEqual([]);
  });

  it('a truncated object and a truncated metadata object are reported, not crashed on', async () => {
    const { repo } = await smallRepo('truncated');
    for (const p of await fileObjects(repo)) await truncate(p, 10);
    const res = await fsckRepo(repo);
    expect(res.problems.length).toBeGreaterThan(0);
    expect(res.problems.every((p) => p.problem === 'corrupt')).toBe(true);
    const { repo: r2, commit } = await smallRepo('truncated-meta');
    await truncate(r2.objectPath(commit, 'commit'), 20);
    await expect(r2.loadCommit(commit)).rejects.toMatchObject({ code: 'STORE_OBJECT_CORRUPT', message: expect.stringContaining(`${commit}.commit`) });
    const res2 = await fsckRepo(r2);
    expect(res2.problems[0]).toMatchObject({ object: commit, kind: 'commit', problem: 'corrupt' });
  });

  it('appending garbage to a metadata object fails its checksum', async () => {
    const { repo, commit } = await smallRepo('garbage');
    const c = await repo.loadCommit(commit);
    await appendFile(repo.objectPath(c.rootTree, 'dirtree'), Buffer.from([1, 2, 3]));
    await expect(repo.loadDirtree(c.rootTree)).rejects.toMatchObject({ code: 'STORE_OBJECT_CORRUPT' });
  });

  it.skipIf(!have('ostree'))('a missing object is reported by both fscks', async () => {
    const { repo, commit } = await smallRepo('missing');
    const { unlink } = await import('node:fs/promises');
    await unlink((await fileObjects(repo))[0]!);
    const res = await fsckRepo(repo);
    expect(res.problems[0]).toMatchObject({ problem: 'missing', commits: [commit] });
    expect((await ostree(['fsck', `--repo=${repo.path}`])).code).not.toBe(0);
  });
});

describe('hostile dirtrees', () => {
  const badNames = ['', '.', '..', 'a/b', '../escape'];
  for (const name of badNames) {
    it(`a dirtree entry named ${JSON.stringify(name)} is rejected and nothing is written outside the destination`, async () => {
      const repo = await Repo.init(join(tmp, `hostile-${badNames.indexOf(name)}`), 'archive');
      const tx = await Transaction.begin(repo);
      const file = await tx.writeContent({ uid: 0, gid: 0, mode: 0o100644, symlinkTarget: '', xattrs: [] }, { data: Buffer.from('pwned\n') });
      const meta = await tx.writeMetadata('dirmeta', serialize('(uuua(ayay))', [0, 0, 0xed410000, []]));
      // Encode by hand: encodeDirtree itself refuses these names.
      const tree = await tx.writeMetadata('dirtree', serialize('(a(say)a(sayay))', [[[name, checksumToBytes(file)]], []]));
      const commit = await tx.writeMetadata('commit', encodeCommit({ metadata: [], parent: null, subject: '', body: '', timestamp: 0, rootTree: tree, rootMeta: meta }));
      tx.setRef(null, 'hostile', commit);
      await tx.commit();
      const dest = join(tmp, `hostile-co-${badNames.indexOf(name)}`, 'inner');
      const before = await readdir(tmp);
      await expect(checkoutCommit(repo, commit, dest)).rejects.toMatchObject({ code: 'STORE_OBJECT_INVALID', message: expect.stringContaining(`${tree}.dirtree`) });
      expect(await readdir(tmp)).toEqual(before);
      const res = await fsckRepo(repo);
      expect(res.problems[0]).toMatchObject({ object: tree, kind: 'dirtree', problem: 'corrupt' });
    });
  }
});

describe('refs and repositories', () => {
  it('a ref pointing to a missing commit is reported by fsck, and resolving it names the commit', async () => {
    const repo = await Repo.init(join(tmp, 'dangling-ref'), 'archive');
    await repo.writeRef(null, 'gone', 'a'.repeat(64));
    const res = await fsckRepo(repo);
    expect(res.problems[0]).toMatchObject({ kind: 'ref', object: 'gone', problem: 'missing' });
    await expect(repo.loadCommit(await repo.resolveRev('gone'))).rejects.toMatchObject({ code: 'STORE_OBJECT_MISSING', message: expect.stringContaining('a'.repeat(64)) });
  });

  it('the temp file of an interrupted ref write is not taken for a ref', async () => {
    const { repo, commit } = await smallRepo('ref-tmp');
    await writeFile(join(repo.path, 'refs', 'heads', '.main.tmp-0a1b2c'), 'half');
    expect([...(await repo.listRefs())]).toEqual([['main', commit]]);
    expect((await fsckRepo(repo)).problems).toEqual([]);
  });

  it('a repository with an unknown mode is refused with its path', async () => {
    const repo = await Repo.init(join(tmp, 'weird-mode'), 'archive');
    await writeFile(join(repo.path, 'config'), '[core]\nrepo_version=1\nmode=bare-split-everything\n');
    await expect(Repo.open(repo.path)).rejects.toMatchObject({ code: 'STORE_BAD_MODE', message: expect.stringContaining('bare-split-everything') });
    const cli = await atomic(['repo', 'refs', `--repo=${repo.path}`]);
    expect(cli.code).toBe(1);
    expect(cli.stderr).toMatch(/^error: .*weird-mode\/config: unknown repository mode 'bare-split-everything'\nhint: /);
  });

  it('a directory that is not a repository is refused', async () => {
    await expect(Repo.open(tmp)).rejects.toMatchObject({ code: 'STORE_NOT_A_REPO' });
  });

  it('invalid ref names are refused', async () => {
    for (const bad of ['', '-x', '.hidden', 'a//b', 'a/', 'with space', 'a..b/../c', 'e'.repeat(64), 'x:y']) {
      expect(() => validateRef(bad), bad).toThrow(expect.objectContaining({ code: 'STORE_INVALID_REF' }));
    }
    for (const good of ['main', 'fedora/x86_64/coreos/stable', 'a.b-c_d', '0abc']) expect(validateRef(good)).toBe(good);
    const repo = await Repo.init(join(tmp, 'badref'), 'archive');
    const cli = await atomic(['repo', 'commit', `--repo=${repo.path}`, '--branch=../../etc/passwd', tmp]);
    expect(cli.code).toBe(1);
    expect(cli.stderr).toContain("invalid ref name '../../etc/passwd'");
  });

  it('commit refuses device nodes and FIFOs, naming the file', async () => {
    const src = join(tmp, 'fifo-src');
    const { mkdir } = await import('node:fs/promises');
    await mkdir(src);
    const { execFileSync } = await import('node:child_process');
    execFileSync('mkfifo', [join(src, 'pipe')]);
    const repo = await Repo.init(join(tmp, 'fifo'), 'archive');
    await expect(commitDirectory(repo, src, { branch: 'main' })).rejects.toMatchObject({ code: 'STORE_UNSUPPORTED_FILE_TYPE', message: expect.stringContaining('pipe') });
    expect(await repo.readRef('main')).toBeNull();
  });

  it('checkout into an existing directory needs --union', async () => {
    const { repo, commit } = await smallRepo('union');
    const dest = join(tmp, 'union-co');
    await checkoutCommit(repo, commit, dest, { userMode: true });
    await expect(checkoutCommit(repo, commit, dest, { userMode: true })).rejects.toMatchObject({ code: 'STORE_CHECKOUT_EXISTS' });
    await writeFile(join(dest, 'data.txt'), 'local change');
    await checkoutCommit(repo, commit, dest, { userMode: true, union: true });
    expect((await readFile(join(dest, 'data.txt'), 'utf8')).length).toBe(100_000);
  });
});

describe('prune', () => {
  it('keeps what refs reach, deletes the rest, and leaves a repo ostree fscks clean', async () => {
    const { repo, commit, src } = await smallRepo('prune');
    await writeFile(join(src, 'data.txt'), 'changed');
    const second = await commitDirectory(repo, src, { branch: 'main', timestamp: 200 });
    expect((await repo.loadCommit(second.checksum)).parent).toBe(commit);
    const keepAll = await pruneRepo(repo, { refsOnly: true });
    expect(keepAll.deleted).toBe(0);
    const res = await pruneRepo(repo, { refsOnly: true, depth: 0 });
    expect(res.deleted).toBe(3); // the old commit, its root dirtree and its data.txt; /etc is shared
    expect(await repo.hasObject(commit, 'commit')).toBe(false);
    expect((await fsckRepo(repo)).problems).toEqual([]);
    if (have('ostree')) expect((await ostree(['fsck', `--repo=${repo.path}`])).code).toBe(0);
    await repo.writeRef(null, 'main', null);
    const all = await pruneRepo(repo, { refsOnly: true });
    expect(all.deleted).toBe(6);
    expect(await readdir(join(repo.path, 'objects'))).toBeDefined();
  });

  it('--keep-younger-than drops old ancestors but never the ref itself', async () => {
    const { repo, commit, src } = await smallRepo('prune-age');
    await writeFile(join(src, 'data.txt'), 'v2');
    const v2 = await commitDirectory(repo, src, { branch: 'main', timestamp: 5000 });
    await pruneRepo(repo, { keepYoungerThan: 1000 });
    expect(await repo.hasObject(commit, 'commit')).toBe(false);
    expect(await repo.hasObject(v2.checksum, 'commit')).toBe(true);
  });
});

describe('the empty directory', () => {
  it('commits to the well-known empty dirtree', async () => {
    const { mkdir } = await import('node:fs/promises');
    const src = join(tmp, 'empty-src');
    await mkdir(src);
    const repo = await Repo.init(join(tmp, 'empty'), 'archive');
    const { checksum } = await commitDirectory(repo, src, { branch: 'e' });
    expect((await repo.loadCommit(checksum)).rootTree).toBe(EMPTY_DIRTREE_CHECKSUM);
  });
});
