// commitDirectory's options for compose: `devino`, where the files of a hardlink checkout of another (bare)
// repository, known by device and inode, are committed without being read or hashed when
// the target already has their objects, read and checked against the known checksum when
// it does not; the commit is the same as without the option (oracle: ostree fsck). And
// `transaction`: several commits staged in one transaction, visible when it commits.

import { execFileSync } from 'node:child_process';
import { appendFile, lstat, mkdir, rm, unlink, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { have, isRoot, makeAwkwardTree, makeTmp, ostree, rejectionOf, removeTmp, runOk } from '../test-support/index.ts';
import { direntInodesTrusted } from './commit-dir.ts';
import { checkoutCommit, commitDirectory, Repo, Transaction } from './index.ts';

describe.skipIf(!isRoot)('commit with a devino map from another repository', () => {
  let tmp: string;
  let co: string;
  let devino: Map<string, string>;
  let plain: string;
  beforeAll(async () => {
    tmp = await makeTmp();
    const tree = join(tmp, 'tree');
    await makeAwkwardTree(tree, { owners: true, manyFiles: 50 });
    // A bare repository's objects carry the real owners, modes and xattrs: its hardlink
    // checkout looks exactly like the objects' headers.
    const source = await Repo.init(join(tmp, 'source'), 'bare');
    const c = await commitDirectory(source, tree, { branch: 'main', timestamp: 1 });
    co = join(tmp, 'co');
    const stats = await checkoutCommit(source, c.checksum, co, { requireHardlinks: true });
    expect(stats.hardlinked).toBeGreaterThan(50);
    devino = new Map();
    for (const [csum, kind, path] of source.listObjectsSync()) {
      if (kind !== 'file') continue;
      const st = await lstat(path);
      if (st.isFile()) devino.set(`${st.dev}:${st.ino}`, csum);
    }
    const ref = await Repo.init(join(tmp, 'plain'), 'bare-user');
    plain = (await commitDirectory(ref, co, { timestamp: 2 })).checksum;
  });
  afterAll(async () => removeTmp(tmp));

  it('into a repository without the objects: every file read and checked, the same commit', async () => {
    const repo = await Repo.init(join(tmp, 'fresh'), 'bare-user');
    const r = await commitDirectory(repo, co, { timestamp: 2, devino });
    expect(r.checksum).toBe(plain);
    // Only the second path of a hardlink inside the tree finds its object already staged.
    expect(r.stats.filesReused).toBeLessThan(3);
    expect(r.stats.contentWritten).toBeGreaterThan(50);
    if (have('ostree')) expect((await ostree(['fsck', '-q', `--repo=${join(tmp, 'fresh')}`])).code).toBe(0);
  });

  it('into a repository that has them: known files neither read nor written, the same commit', async () => {
    const repo = await Repo.open(join(tmp, 'fresh'));
    const r = await commitDirectory(repo, co, { timestamp: 2, devino });
    expect(r.checksum).toBe(plain);
    expect(r.stats.filesReused).toBeGreaterThan(50);
    if (direntInodesTrusted(co)) expect(r.stats.filesByEntry).toBeGreaterThan(50);
    expect(r.stats.contentWritten).toBe(0);
  });

  it('is not used when the owners are overridden', async () => {
    const repo = await Repo.open(join(tmp, 'fresh'));
    const r = await commitDirectory(repo, co, { timestamp: 2, devino, ownerUid: 0, ownerGid: 0 });
    expect(r.stats.filesReused).toBe(0);
  });

  it('a file whose content no longer matches the known checksum fails the commit, naming it, when its object is new', async () => {
    const repo = await Repo.init(join(tmp, 'lied'), 'bare-user');
    const victim = join(co, 'sub', 'xa.txt');
    await appendFile(victim, 'changed in place\n');
    const err = await rejectionOf(commitDirectory(repo, co, { timestamp: 2, devino }));
    expect(err.code).toBe('STORE_OBJECT_CORRUPT');
    expect(err.message).toContain(victim);
    expect(await repo.readRef('main')).toBeNull();
  });
});

describe('commit of a hardlink checkout of the same repository (devino cache)', () => {
  let tmp: string;
  let repo: Repo;
  let co: string;
  beforeAll(async () => {
    tmp = await makeTmp();
    const tree = join(tmp, 'tree');
    await makeAwkwardTree(tree, { manyFiles: 300 });
    repo = await Repo.init(join(tmp, 'repo'), 'bare-user');
    const c = await commitDirectory(repo, tree, { branch: 'main', timestamp: 1 });
    co = join(tmp, 'co');
    await checkoutCommit(repo, c.checksum, co, { requireHardlinks: true, userMode: true });
    // The update as compose makes one: some files replaced, one added, one removed.
    await unlink(join(co, 'many', 'f00007'));
    await writeFile(join(co, 'many', 'f00007'), 'replaced\n');
    await writeFile(join(co, 'many', 'added'), 'added\n');
    await unlink(join(co, 'many', 'f00008'));
  });
  afterAll(async () => removeTmp(tmp));

  const WHEN = '2024-05-06T07:08:09Z';
  /** The root tree and dirmeta of ostree's commit of `dir` into the same repository, with its devino cache (the oracle). */
  async function theirs(dir: string): Promise<string> {
    return root((await runOk('ostree', ['commit', `--repo=${repo.path}`, '--orphan', '--link-checkout-speedup', `--timestamp=${WHEN}`, dir])).trim());
  }
  const root = async (commit: string): Promise<string> => {
    const c = await repo.loadCommit(commit);
    return `${c.rootTree} ${c.rootMeta}`;
  };
  const ours = (dir: string) => commitDirectory(repo, dir, { timestamp: Date.parse(WHEN) / 1000 });

  it('hardlinked files are not read again, most known from their directory entry alone; the same commit as ostree\'s', async () => {
    const r = await ours(co);
    expect(r.stats.filesReused).toBeGreaterThan(290);
    if (direntInodesTrusted(co)) expect(r.stats.filesByEntry).toBeGreaterThan(280);
    expect(r.stats.contentWritten).toBe(2);
    if (have('ostree')) expect(await root(r.checksum)).toBe(await theirs(co));
  });

  it.skipIf(!isRoot)('a file with another mounted over it is committed as it is seen, not as the object under it', async () => {
    const over = join(tmp, 'over');
    await writeFile(over, 'mounted over\n');
    const target = join(co, 'many', 'f00009');
    expect((await lstat(target)).nlink).toBeGreaterThan(1);
    execFileSync('mount', ['--bind', over, target]);
    try {
      expect(direntInodesTrusted(co)).toBe(false);
      const r = await ours(co);
      expect(r.stats.filesByEntry).toBe(0);
      expect(r.stats.filesReused).toBeGreaterThan(290);
      expect(r.stats.contentWritten).toBe(1);
      if (have('ostree')) expect(await root(r.checksum)).toBe(await theirs(co));
    } finally {
      execFileSync('umount', [target]);
    }
    await rm(over);
  });
});

describe('commits into one open transaction', () => {
  let tmp: string;
  beforeAll(async () => {
    tmp = await makeTmp();
  });
  afterAll(async () => removeTmp(tmp));

  it('stages several commits and their refs, visible (and fsck-clean) once the caller commits it', async () => {
    const repo = await Repo.init(join(tmp, 'repo'), 'bare-user');
    const dirs = ['a', 'b'].map((n) => join(tmp, n));
    for (const [i, d] of dirs.entries()) {
      await mkdir(join(d, 'sub'), { recursive: true });
      await writeFile(join(d, 'sub', 'file'), `content ${i}\n`);
    }
    const alone = await commitDirectory(await Repo.init(join(tmp, 'alone'), 'bare-user'), dirs[0]!, { branch: 'pkg/a', parent: null, timestamp: 5 });
    const tx = await Transaction.begin(repo);
    const a = await commitDirectory(repo, dirs[0]!, { branch: 'pkg/a', parent: null, timestamp: 5, transaction: tx });
    const b = await commitDirectory(repo, dirs[1]!, { branch: 'pkg/b', parent: null, timestamp: 5, transaction: tx });
    expect(a.checksum).toBe(alone.checksum);
    expect(await repo.readRef('pkg/a')).toBeNull();
    expect(await repo.hasObject(a.checksum, 'commit')).toBe(false);
    await tx.commit();
    expect(await repo.readRef('pkg/a')).toBe(a.checksum);
    expect(await repo.readRef('pkg/b')).toBe(b.checksum);
    if (have('ostree')) expect((await ostree(['fsck', '-q', `--repo=${join(tmp, 'repo')}`])).code).toBe(0);
  });

  it('a transaction that is aborted leaves no ref behind', async () => {
    const repo = await Repo.init(join(tmp, 'aborted'), 'bare-user');
    const tx = await Transaction.begin(repo);
    await commitDirectory(repo, join(tmp, 'a'), { branch: 'pkg/a', parent: null, timestamp: 5, transaction: tx });
    await tx.abort();
    expect(await repo.readRef('pkg/a')).toBeNull();
  });

  it('refuses a transaction of another repository', async () => {
    const repo = await Repo.init(join(tmp, 'one'), 'bare-user');
    const other = await Repo.init(join(tmp, 'two'), 'bare-user');
    const tx = await Transaction.begin(other);
    try {
      const err = await rejectionOf(commitDirectory(repo, join(tmp, 'a'), { transaction: tx }));
      expect(err.code).toBe('INTERNAL');
      expect(err.message).toContain(join(tmp, 'two'));
    } finally {
      await tx.abort();
    }
  });
});
