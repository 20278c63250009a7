// Content staged through the writer threads (Transaction.writeVerifiedContent and
// writeContentDetached, here after 0, 50 or 80 objects written inline rather than the
// default 1000) lands exactly as the inline path writes it, in every mode, and commit()
// waits for it; the shared ring is reused many times over; a write that fails in a thread
// reaches the caller and the transaction cannot commit; objects made durable by a
// background sync move into objects/ before commit(), never the commit object.

import { randomBytes } from 'node:crypto';
import { mkdir, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { have, makeTmp, ostree, removeTmp } from '../../test-support/index.ts';
import { commitDirectory } from '../commit-dir.ts';
import { fsckRepo } from '../fsck.ts';
import { contentStreamPrefix, sha256Hex, type FileHeader } from '../objects/index.ts';
import { Repo, REPO_MODES } from './repo.ts';
import { Transaction } from './transaction.ts';

function objects(n: number, salt: string): Array<{ csum: string; header: FileHeader; data: Buffer | null }> {
  const out = [];
  for (let i = 0; i < n; i++) {
    const link = i % 10 === 9;
    const header: FileHeader = { uid: 0, gid: 0, mode: link ? 0o120777 : 0o100644 | (i % 2 ? 0o111 : 0), symlinkTarget: link ? `target-${salt}-${i}` : '', xattrs: [] };
    const data = link ? null : Buffer.from(`${salt} object ${i}\n`.repeat(1 + (i % 50)));
    out.push({ csum: data ? sha256Hex(contentStreamPrefix(header), data) : sha256Hex(contentStreamPrefix(header)), header, data });
  }
  return out;
}

describe('writer thread', () => {
  let tmp: string;
  beforeAll(async () => {
    tmp = await makeTmp();
  });
  afterAll(async () => removeTmp(tmp));

  for (const mode of REPO_MODES) {
    it(`stages objects in a ${mode} repo as the inline path does; fsck is clean`, async () => {
      const repo = await Repo.init(join(tmp, mode), mode);
      const objs = objects(300, mode);
      const tx = await Transaction.begin(repo);
      tx.inlineWriteLimit = 50;
      await Promise.all(objs.map(async (o) => {
        await tx.writeRoom();
        await tx.writeVerifiedContent(o.csum, o.header, o.data);
      }));
      expect(tx.stats.contentWritten).toBe(300);
      expect(tx.stats.contentWrittenByThread).toBe(250);
      await tx.commit();
      for (const o of objs) expect(await repo.hasObject(o.csum, 'file')).toBe(true);
      // Every object, written inline (the first ones) or by the thread, hashes to its name.
      const res = await fsckRepo(repo);
      expect(res.problems).toEqual([]);
      expect((await readdir(join(repo.path, 'tmp'))).filter((n) => n.startsWith('staging-'))).toEqual([]);
    });
  }

  it('objects pass through the shared ring many times over, and one larger than half of it goes over on its own', async () => {
    const repo = await Repo.init(join(tmp, 'ring'), 'bare-user');
    const tx = await Transaction.begin(repo);
    tx.inlineWriteLimit = 0;
    // ~120 MiB in sizes up to 3 MiB (the ring holds 16 MiB), then a 9 MiB object.
    const objs: Array<{ csum: string; header: FileHeader; data: Buffer }> = [];
    const header: FileHeader = { uid: 0, gid: 0, mode: 0o100644, symlinkTarget: '', xattrs: [] };
    for (let i = 0; i < 80; i++) {
      const data = Buffer.alloc(((i * 7919) % 3_000_000) + 1, `ring ${i} `);
      objs.push({ csum: sha256Hex(contentStreamPrefix(header), data), header, data });
    }
    const big = Buffer.alloc(9 * 1024 * 1024, 'big ');
    objs.push({ csum: sha256Hex(contentStreamPrefix(header), big), header, data: big });
    for (const o of objs) {
      await tx.writeRoom();
      // The writer copies the bytes: the buffer is reused (scribbled on) at once, as a commit's scratch buffer is.
      const scratch = Buffer.concat([o.data, Buffer.from('x')]).subarray(0, o.data.length);
      expect(tx.writeContentDetached(o.header, scratch)).toBe(o.csum);
      scratch.fill(0);
    }
    await tx.commit();
    expect(tx.stats.contentWrittenByThread).toBe(81);
    expect((await fsckRepo(repo)).problems).toEqual([]);
    for (const o of objs) expect((await readFile(repo.objectPath(o.csum, 'file'))).equals(o.data)).toBe(true);
  });

  it('a detached write that fails is reported by commit()', async () => {
    const repo = await Repo.init(join(tmp, 'failing-detached'), 'bare-user');
    const objs = objects(50, 'detached').filter((o) => o.data !== null);
    const tx = await Transaction.begin(repo);
    tx.inlineWriteLimit = 0;
    await rm(tx.staging, { recursive: true, force: true });
    for (const o of objs) expect(tx.writeContentDetached(o.header, o.data!)).toBe(o.csum);
    await expect(tx.commit()).rejects.toThrow(/ENOENT/);
  });

  it('a write that fails in the thread reaches its caller, and the transaction refuses to commit', async () => {
    const repo = await Repo.init(join(tmp, 'failing'), 'bare-user');
    const objs = objects(200, 'fail');
    const tx = await Transaction.begin(repo);
    tx.inlineWriteLimit = 80;
    // The first objects are written inline; then the staging directory disappears under the thread.
    for (const o of objs.slice(0, 80)) await tx.writeVerifiedContent(o.csum, o.header, o.data);
    await rm(tx.staging, { recursive: true, force: true });
    const results = await Promise.allSettled(objs.slice(80).map((o) => tx.writeVerifiedContent(o.csum, o.header, o.data)));
    expect(tx.stats.contentWrittenByThread).toBe(120);
    const failed = results.filter((r) => r.status === 'rejected');
    expect(failed.length).toBeGreaterThan(0);
    expect(String((failed[0] as PromiseRejectedResult).reason)).toMatch(/ENOENT/);
    await expect(tx.commit()).rejects.toThrow(/ENOENT/);
    expect(await repo.readRef('main').catch(() => null)).toBeNull();
  });

  describe('objects synced by a background sync move into objects/ before commit()', () => {
    const header: FileHeader = { uid: 0, gid: 0, mode: 0o100644, symlinkTarget: '', xattrs: [] };
    /** A directory of 40 files of 1 MiB: background syncs start every 16 MiB staged. */
    async function bigTree(dir: string): Promise<void> {
      await mkdir(dir, { recursive: true });
      for (let i = 0; i < 40; i++) await writeFile(join(dir, `f${i}`), randomBytes(1 << 20));
    }
    /** Content objects in objects/ (not staging). */
    async function placed(repo: Repo): Promise<string[]> {
      const out: string[] = [];
      for await (const [csum, kind] of repo.listObjects()) if (kind === 'file') out.push(csum);
      return out;
    }
    async function waitForPlaced(repo: Repo): Promise<string[]> {
      for (let i = 0; i < 200; i++) {
        const p = await placed(repo);
        if (p.length > 0) return p;
        await new Promise((r) => setTimeout(r, 25));
      }
      return [];
    }

    it('the commit object waits for commit(); the repo is fsck-clean after', async () => {
      const dir = join(tmp, 'big-a');
      await bigTree(dir);
      const repo = await Repo.init(join(tmp, 'early'), 'bare-user');
      const tx = await Transaction.begin(repo);
      tx.inlineWriteLimit = 0;
      const c = await commitDirectory(repo, dir, { branch: 'main', timestamp: 1, transaction: tx });
      expect((await waitForPlaced(repo)).length).toBeGreaterThan(0);
      expect(await repo.hasObject(c.checksum, 'commit')).toBe(false);
      expect(await repo.readRef('main')).toBeNull();
      await tx.commit();
      expect(await repo.readRef('main')).toBe(c.checksum);
      expect((await placed(repo)).length).toBe(40);
      expect((await fsckRepo(repo)).problems).toEqual([]);
      if (have('ostree')) expect((await ostree(['fsck', '-q', `--repo=${repo.path}`])).code).toBe(0);
    });

    it('after an abort the objects moved early are whole, and a later commit completes', async () => {
      const dir = join(tmp, 'big-b');
      await bigTree(dir);
      const repo = await Repo.init(join(tmp, 'early-abort'), 'bare-user');
      const tx = await Transaction.begin(repo);
      tx.inlineWriteLimit = 0;
      await commitDirectory(repo, dir, { branch: 'main', timestamp: 1, transaction: tx });
      expect((await waitForPlaced(repo)).length).toBeGreaterThan(0);
      await tx.abort();
      expect(await repo.readRef('main')).toBeNull();
      const want = new Set<string>();
      for (const f of await readdir(dir)) want.add(sha256Hex(contentStreamPrefix(header), await readFile(join(dir, f))));
      for (const csum of await placed(repo)) {
        expect(want.has(csum)).toBe(true);
        expect(sha256Hex(contentStreamPrefix(header), await readFile(repo.objectPath(csum, 'file')))).toBe(csum);
      }
      const c = await commitDirectory(repo, dir, { branch: 'main', timestamp: 1 });
      expect(await repo.readRef('main')).toBe(c.checksum);
      expect((await fsckRepo(repo)).problems).toEqual([]);
      expect((await readdir(join(repo.path, 'tmp'))).filter((n) => n.startsWith('staging-'))).toEqual([]);
    });
  });
});
