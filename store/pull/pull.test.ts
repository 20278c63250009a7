// Pulls from an archive repo we publish, over file:// and over http from the
// fault-injecting test server: request order, verification, signatures,
// resume with Range, stalls, downgrades, partial commits, mirrors, local caches,
// the free-space reserve. After every fault the target repo fsck's clean and a later pull completes.

import { randomBytes } from 'node:crypto';
import { mkdir, readdir, readFile, rm, stat, symlink, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { deflateRawSync } from 'node:zlib';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { startFaultServer, type FaultServer } from '../../test-support/fault-server.ts';
import { makeTmp, rejectionOf, removeTmp } from '../../test-support/index.ts';
import { commitDirectory } from '../commit-dir.ts';
import { deltaIndexRelPath, deltaRelDir } from '../delta/index.ts';
import { fsckRepo } from '../fsck.ts';
import { serialize, variant } from '../gvariant/index.ts';
import { DIRTREE_TYPE, encodeArchivePrefix, encodeCommit, encodeSummary } from '../objects/index.ts';
import { Repo } from '../repo/repo.ts';
import { Transaction } from '../repo/transaction.ts';
import { addRemote } from '../remote/index.ts';
import { signCommit, signSummary } from '../sign/index.ts';
import { pullRemote, type PullOptions } from './index.ts';

const VECTORS = join(import.meta.dirname, '..', 'testdata', 'vectors', 'ed25519');
const FAST: PullOptions = { retryBaseMs: 5, stallTimeoutMs: 1500 };

async function makeTree(dir: string, version: string, big: Buffer): Promise<void> {
  await mkdir(join(dir, 'etc'), { recursive: true });
  await mkdir(join(dir, 'usr', 'bin'), { recursive: true });
  await mkdir(join(dir, 'usr', 'lib', 'modules', version), { recursive: true });
  await writeFile(join(dir, 'etc', 'os-release'), `NAME=test\nVERSION=${version}\n`);
  await writeFile(join(dir, 'usr', 'bin', 'tool'), `#!/bin/sh\necho tool ${version}\n`, { mode: 0o755 });
  await writeFile(join(dir, 'usr', 'lib', 'libfoo.so.1'), 'shared library body\n'.repeat(200));
  await writeFile(join(dir, 'usr', 'lib', 'modules', version, 'mod.ko'), `module ${version}\n`);
  await writeFile(join(dir, 'empty'), '');
  await symlink('usr/bin/tool', join(dir, 'link'));
  await writeFile(join(dir, 'usr', 'lib', 'big.bin'), big);
}

/** Writes `summary` (+ `summary.sig` when a key is given) for the repo's heads, as the publishing side does. */
async function writeSummary(repo: Repo, secret?: string): Promise<void> {
  const refs = [];
  for (const [name, csum] of await repo.listRefs({ remotes: false })) {
    refs.push({ name, commitSize: (await readFile(repo.objectPath(csum, 'commit'))).length, checksum: csum, metadata: [] });
  }
  const bytes = encodeSummary({ refs, metadata: [['ostree.summary.mode', variant('s', 'archive-z2')]] });
  await writeFile(join(repo.path, 'summary'), bytes);
  await rm(join(repo.path, 'summary.sig'), { force: true });
  if (secret) await writeFile(join(repo.path, 'summary.sig'), await signSummary(bytes, null, secret));
}

function objectRequests(s: FaultServer): string[] {
  return s.log.filter((e) => e.path.startsWith('objects/') && !e.path.endsWith('.commitmeta')).map((e) => e.path);
}

describe('pull', () => {
  let tmp: string;
  let src: Repo;
  let v1: string;
  let v2: string;
  let big: Buffer;
  let secret: string;
  let publicKey: string;
  let server: FaultServer;
  /** Server path of the one large (2.5 MB) content object. */
  let bigPath: string;
  let n = 0;

  beforeAll(async () => {
    tmp = await makeTmp('atomic-pull-');
    secret = (await readFile(join(VECTORS, 'ed25519.secret'), 'utf8')).trim();
    publicKey = (await readFile(join(VECTORS, 'ed25519.public'), 'utf8')).trim();
    big = randomBytes(2_500_000);
    src = await Repo.init(join(tmp, 'src'), 'archive');
    await makeTree(join(tmp, 't1'), '1.0', big);
    await makeTree(join(tmp, 't2'), '2.0', big);
    v1 = (await commitDirectory(src, join(tmp, 't1'), { branch: 'os/main', subject: 'v1', timestamp: 1_700_000_000 })).checksum;
    v2 = (await commitDirectory(src, join(tmp, 't2'), { branch: 'os/main', subject: 'v2', timestamp: 1_700_000_100 })).checksum;
    for (const c of [v1, v2]) await src.writeCommitmeta(c, await signCommit(await readFile(src.objectPath(c, 'commit')), null, secret));
    await src.writeRef(null, 'os/v1', v1);
    await writeSummary(src, secret);
    for await (const [, kind, path] of src.listObjects()) {
      if (kind === 'file' && (await stat(path)).size > 2_000_000) bigPath = path.slice(src.path.length + 1);
    }
    server = await startFaultServer(src.path);
  });
  afterEach(() => {
    server.clearFaults();
    server.log.length = 0;
  });
  afterAll(async () => {
    await server.stop();
    await removeTmp(tmp);
  });

  async function target(mode: 'archive' | 'bare-user' = 'archive', options: Array<[string, string]> = [], url = server.url): Promise<Repo> {
    const repo = await Repo.init(join(tmp, `target-${n++}`), mode);
    await addRemote(repo, 'origin', url, { options: [['gpg-verify', 'false'], ...options] });
    return Repo.open(repo.path);
  }

  async function expectClean(repo: Repo): Promise<void> {
    const res = await fsckRepo(repo);
    expect(res.problems).toEqual([]);
    const staged = (await readdir(join(repo.path, 'tmp'))).filter((e) => e.startsWith('staging-'));
    for (const s of staged) for (const d of await readdir(join(repo.path, 'tmp', s))) expect(d).toMatch(/^[0-9a-f]{64}\.(file|filez|dirtree|dirmeta|commit)$/);
  }

  it('pulls over file:// into a bare-user repo', async () => {
    const repo = await target('bare-user', [], pathToFileURL(src.path).href);
    const res = await pullRemote(repo, 'origin', { refs: ['os/main'] });
    expect(res.refs).toEqual([{ refspec: 'origin:os/main', commit: v2, previous: null }]);
    expect(await repo.readRef('origin:os/main')).toBe(v2);
    expect(await repo.isCommitPartial(v2)).toBe(false);
    expect(await repo.readCommitmeta(v2)).toEqual(await src.readCommitmeta(v2));
    await expectClean(repo);
    const f = await repo.readContentInfo((await repo.loadDirtree((await repo.loadCommit(v2)).rootTree)).files.find((x) => x.name === 'empty')!.checksum);
    expect(f.size).toBe(0);
    expect(res.progress.contentFetched).toBe(7); // 5 files, a symlink, an empty file
  });

  it('pulls over http in ostree\'s request order, verifying and storing .filez verbatim', async () => {
    const repo = await target('archive');
    await pullRemote(repo, 'origin', { ...FAST, refs: ['os/main'] });
    const paths = server.log.map((e) => e.path);
    const c = `objects/${v2.slice(0, 2)}/${v2.slice(2)}`;
    expect(paths.slice(0, 5)).toEqual(['summary.sig', 'summary', 'config', `${c}.commitmeta`, `${c}.commit`]);
    expect(new Set(paths).size).toBe(paths.length); // nothing fetched twice
    expect(server.log.every((e) => e.status === 200)).toBe(true);
    for await (const [csum, kind, path] of src.listObjects()) {
      if (kind !== 'file' || !(await repo.hasObject(csum, 'file'))) continue;
      expect((await readFile(repo.objectPath(csum, 'file'))).equals(await readFile(path))).toBe(true); // (toEqual is slow on MBs)
    }
    await expectClean(repo);

    // Pulling again fetches no object: the cached summary is reused since summary.sig is unchanged.
    server.log.length = 0;
    await pullRemote(repo, 'origin', { ...FAST, refs: ['os/main'] });
    expect(server.log.map((e) => e.path)).toEqual(['summary.sig', 'config', `${c}.commitmeta`]);
  });

  it('an update fetches only the objects that changed; by checksum needs no summary', async () => {
    const repo = await target('bare-user');
    await pullRemote(repo, 'origin', { ...FAST, refs: [v1] });
    // No summary and no index: like ostree, a from-scratch delta is tried blindly (404 here) before the objects.
    expect(server.log.map((e) => e.path).slice(0, 4)).toEqual(['config', `${deltaRelDir(null, v1)}/superblock`, `objects/${v1.slice(0, 2)}/${v1.slice(2)}.commitmeta`, `objects/${v1.slice(0, 2)}/${v1.slice(2)}.commit`]);
    expect(await repo.readRef('origin:os/main')).toBe(null);
    server.log.length = 0;
    await repo.writeRef('origin', 'os/main', v1);
    const res = await pullRemote(repo, 'origin', { ...FAST, refs: ['os/main'] });
    expect(res.refs[0]).toEqual({ refspec: 'origin:os/main', commit: v2, previous: v1 });
    const got = objectRequests(server);
    expect(got.some((p) => p.endsWith('.filez') && server.log.find((e) => e.path === p)!.bytes > 2_000_000)).toBe(false); // big.bin is shared
    expect(res.progress.contentFetched).toBe(3); // os-release, tool, mod.ko
    await expectClean(repo);
  });

  it('an upgrade trusts its complete base commit and walks a partial one in full', async () => {
    // libfoo.so.1 is in both commits, in a directory that changed. The walk of v2 looks it
    // up only when v1, the ref's commit, is not known complete: deleting it from the repo
    // shows which objects the walk consulted.
    const libfoo = async (repo: Repo): Promise<string> => {
      const usr = (await repo.loadDirtree((await repo.loadCommit(v1)).rootTree)).dirs.find((d) => d.name === 'usr')!;
      const lib = (await repo.loadDirtree(usr.treeChecksum)).dirs.find((d) => d.name === 'lib')!;
      return (await repo.loadDirtree(lib.treeChecksum)).files.find((f) => f.name === 'libfoo.so.1')!.checksum;
    };
    for (const partialBase of [false, true]) {
      const repo = await target('bare-user');
      await pullRemote(repo, 'origin', { ...FAST, refs: ['os/v1'], disableStaticDeltas: true });
      await repo.writeRef('origin', 'os/main', v1);
      const lib = await libfoo(repo);
      await rm(repo.objectPath(lib, 'file'));
      if (partialBase) await repo.markCommitPartial(v1);
      server.log.length = 0;
      await pullRemote(await Repo.open(repo.path), 'origin', { ...FAST, refs: ['os/main'], disableStaticDeltas: true });
      const fetched = objectRequests(server).some((p) => p.includes(`${lib.slice(2)}.filez`));
      expect(fetched).toBe(partialBase);
      const problems = (await fsckRepo(await Repo.open(repo.path))).problems;
      if (partialBase) expect(problems).toEqual([]);
      else expect(JSON.stringify(problems)).toContain(lib);
    }
  });

  it('follows redirects', async () => {
    const repo = await target('archive');
    const c = `objects/${v2.slice(0, 2)}/${v2.slice(2)}.commit`;
    server.addFault({ match: c, fault: { kind: 'redirect', location: `/${c}?moved` }, times: 1 });
    await pullRemote(repo, 'origin', { ...FAST, refs: ['os/main'] });
    expect(server.log.filter((e) => e.path === c).map((e) => e.status)).toEqual([302, 200]);
    await expectClean(repo);
  });

  it('--depth 1 fetches the parent; --mirror writes refs/heads and copies the summary', async () => {
    const repo = await target('archive');
    await pullRemote(repo, 'origin', { ...FAST, mirror: true, depth: 1 });
    expect(await repo.readRef('os/main')).toBe(v2);
    expect(await repo.readRef('os/v1')).toBe(v1);
    expect(await repo.hasObject(v1, 'commit')).toBe(true);
    expect(await readFile(join(repo.path, 'summary'))).toEqual(await readFile(join(src.path, 'summary')));
    expect(await readFile(join(repo.path, 'summary.sig'))).toEqual(await readFile(join(src.path, 'summary.sig')));
    await expectClean(repo);
  });

  it('--commit-metadata-only leaves the commit partial; a full pull completes it', async () => {
    const repo = await target('archive');
    await pullRemote(repo, 'origin', { ...FAST, refs: ['os/main'], commitMetadataOnly: true });
    expect(objectRequests(server)).toEqual([`objects/${v2.slice(0, 2)}/${v2.slice(2)}.commit`]);
    expect(await repo.isCommitPartial(v2)).toBe(true);
    expect((await fsckRepo(repo)).partialCommits).toBe(1);
    await pullRemote(repo, 'origin', { ...FAST, refs: ['os/main'] });
    expect(await repo.isCommitPartial(v2)).toBe(false);
    await expectClean(repo);
  });

  it('--localcache-repo copies objects instead of downloading them', async () => {
    const cache = await target('bare-user');
    await pullRemote(cache, 'origin', { ...FAST, refs: ['os/main'] });
    server.log.length = 0;
    const repo = await target('archive');
    const res = await pullRemote(repo, 'origin', { ...FAST, refs: ['os/main'], localCacheRepos: [cache.path] });
    expect(objectRequests(server)).toEqual([]);
    expect(res.progress.localFetched).toBeGreaterThan(8);
    await expectClean(repo);
  });

  describe('signatures', () => {
    it('a commit signed with the configured key is accepted', async () => {
      const repo = await target('archive', [['verification-ed25519-key', publicKey], ['sign-verify', 'ed25519'], ['sign-verify-summary', 'true']]);
      await pullRemote(repo, 'origin', { ...FAST, refs: ['os/main'] });
      expect(await repo.readRef('origin:os/main')).toBe(v2);
    });

    it('verifies ostree\'s own ed25519 signatures (the signed vector repo made by ostree)', async () => {
      const vectors = join(import.meta.dirname, '..', 'testdata', 'vectors', 'archive-repo');
      const vs = await startFaultServer(vectors);
      try {
        const opts: Array<[string, string]> = [['sign-verify', 'true'], ['sign-verify-summary', 'true']];
        const repo = await target('bare-user', [...opts, ['verification-ed25519-key', publicKey]], vs.url);
        await pullRemote(repo, 'origin', { ...FAST, refs: ['vectors/main'] });
        const b = 'd68075cbe364e62205ab62f376e890a76cc6ac4a1bc18ff21d070a875df198b8';
        expect(await repo.readRef('origin:vectors/main')).toBe(b);
        // The summary says deltas are indexed: B's index is asked for (it lists only A-B, and A is not here).
        expect(vs.log.slice(0, 6).map((e) => e.path)).toEqual(['summary.sig', 'summary', 'config', deltaIndexRelPath(b), `objects/d6/${b.slice(2)}.commitmeta`, `objects/d6/${b.slice(2)}.commit`]);
        await expectClean(repo);
        const wrong = await target('bare-user', [...opts.slice(0, 1), ['verification-ed25519-key', '11qYAYKyCrfVS/7TyWQHOg7hcvPaomIlrwIaaPcHURo=']], vs.url);
        const e = await rejectionOf(pullRemote(wrong, 'origin', { ...FAST, refs: ['vectors/main'] }));
        expect(e.message).toBe(`remote "origin": Can't verify commit ${b}: the ed25519 signature could not be verified with key '11qYAYKyCrfVS/7TyWQHOg7hcvPaomIlrwIaaPcHURo='`);
      } finally {
        await vs.stop();
      }
    });

    it('a missing or wrong signature is refused naming the key and commit; nothing is written', async () => {
      const other = 'd1qYAYKyCrfVS/7TyWQHOg7hcvPaomIlrwIaaPcHURo=';
      const repo = await target('archive', [['verification-ed25519-key', other], ['sign-verify', 'true']]);
      let e = await rejectionOf(pullRemote(repo, 'origin', { ...FAST, refs: ['os/main'] }));
      expect(e.code).toBe('SIGN_NO_VALID_SIGNATURE');
      expect(e.message).toContain(`commit ${v2}`);
      expect(e.message).toContain(`key '${other}'`);

      const good = await target('archive', [['verification-ed25519-key', publicKey], ['sign-verify', 'true']]);
      server.addFault({ match: /\.commitmeta$/, fault: { kind: 'status', status: 404 } });
      e = await rejectionOf(pullRemote(good, 'origin', { ...FAST, refs: ['os/main'] }));
      expect(e.message).toBe(`remote "origin": Can't verify commit ${v2}: no ed25519 signatures found`);
      for (const r of [repo, good]) {
        expect(await r.readRef('origin:os/main')).toBe(null);
        expect(await r.hasObject(v2, 'commit')).toBe(false);
        await expectClean(r);
      }
      server.clearFaults();
      await pullRemote(good, 'origin', { ...FAST, refs: ['os/main'] });
      await expectClean(good);
    });

    it('sign-verify-summary refuses a missing or bad summary.sig before fetching objects', async () => {
      const repo = await target('archive', [['verification-ed25519-key', publicKey], ['sign-verify-summary', 'true']]);
      server.addFault({ match: 'summary.sig', fault: { kind: 'status', status: 404 }, times: 1 });
      let e = await rejectionOf(pullRemote(repo, 'origin', { ...FAST, refs: ['os/main'] }));
      expect(e.message).toMatch(/^remote "origin" \(http:.*\): no summary\.sig: Can't verify summary: no ed25519 signatures found$/);
      server.addFault({ match: 'summary', fault: { kind: 'corrupt', at: 20 }, times: 1 });
      e = await rejectionOf(pullRemote(repo, 'origin', { ...FAST, refs: ['os/main'] }));
      expect(e.message).toMatch(/Can't verify summary: the ed25519 signature could not be verified with key/);
      expect(server.log.filter((x) => x.path.startsWith('objects/'))).toEqual([]);
      await pullRemote(repo, 'origin', { ...FAST, refs: ['os/main'] });
    });
  });

  describe('faults', () => {
    it('a corrupted or truncated object is refused, nothing corrupt enters, a later pull completes', async () => {
      let victim = '';
      let size = 0;
      for await (const [, kind, path] of src.listObjects()) {
        const st = await stat(path);
        if (kind === 'file' && st.size > size && st.size < 2_000_000) [victim, size] = [path.slice(src.path.length + 1), st.size];
      }
      const csum = victim.slice(8, 10) + victim.slice(11, 73);
      for (const fault of [{ kind: 'corrupt' as const }, { kind: 'truncate' as const, bytes: 60 }]) {
        const repo = await target('archive');
        server.addFault({ match: victim, fault });
        const e = await rejectionOf(pullRemote(repo, 'origin', { ...FAST, refs: ['os/main'] }));
        expect(e.code).toBe('PULL_OBJECT_CORRUPT');
        expect(e.message).toContain(`object ${csum}.filez from ${server.url}${victim}`);
        expect(await repo.readRef('origin:os/main')).toBe(null);
        expect(await repo.hasObject(csum, 'file')).toBe(false);
        await expectClean(repo);
        server.clearFaults();
        await pullRemote(repo, 'origin', { ...FAST, refs: ['os/main'] });
        await expectClean(repo);
      }
    });

    it('a large object received into a file is verified as it is written: a corrupt one never enters, a later pull completes', async () => {
      const csum = bigPath.replace(/^objects\/(..)\/(.{62})\.filez$/, '$1$2');
      const faults = [
        { fault: { kind: 'corrupt' as const, at: 1_500_000 }, says: 'computed checksum' },
        { fault: { kind: 'truncate' as const, bytes: 2_000_000 }, says: 'compressed data is corrupt' },
      ];
      for (const { fault, says } of faults) {
        const repo = await target('bare-user');
        server.addFault({ match: bigPath, fault });
        const e = await rejectionOf(pullRemote(repo, 'origin', { ...FAST, refs: ['os/main'], networkRetries: 0 }));
        expect(e.code).toBe('PULL_OBJECT_CORRUPT');
        expect(e.message).toContain(`object ${csum}.filez from ${server.url}${bigPath}`);
        expect(e.message).toContain(says);
        expect(await repo.hasObject(csum, 'file')).toBe(false);
        for (const s of (await readdir(join(repo.path, 'tmp'))).filter((x) => x.startsWith('staging-'))) {
          const staged = await readdir(join(repo.path, 'tmp', s));
          expect(staged).not.toContain(`${csum}.file`);
          expect(staged.filter((x) => x.startsWith('tmp-'))).toEqual([]);
        }
        await expectClean(repo);
        server.clearFaults();
        await pullRemote(repo, 'origin', { ...FAST, refs: ['os/main'] });
        expect(await repo.readRef('origin:os/main')).toBe(v2);
        await expectClean(repo);
        expect(await readdir(join(repo.path, 'tmp', 'pull-partial'))).toEqual([]);
      }
    });

    it('a large object whose header claims more bytes than its data can hold is refused as corrupt, not for lack of room', async () => {
      const csum = bigPath.replace(/^objects\/(..)\/(.{62})\.filez$/, '$1$2');
      const body = Buffer.concat([encodeArchivePrefix({ uid: 0, gid: 0, mode: 0o100644, symlinkTarget: '', xattrs: [] }, 2 ** 50), deflateRawSync(randomBytes(1_500_000))]);
      server.addFault({ match: bigPath, fault: { kind: 'replace', body } });
      const repo = await target('bare-user');
      const e = await rejectionOf(pullRemote(repo, 'origin', { ...FAST, refs: ['os/main'], networkRetries: 0 }));
      expect(e.code).toBe('PULL_OBJECT_CORRUPT');
      expect(e.message).toContain(`object ${csum}.filez from ${server.url}${bigPath}`);
      expect(e.message).toContain(`header says ${2 ** 50} bytes`);
      expect(await repo.hasObject(csum, 'file')).toBe(false);
      await expectClean(repo);
    });

    it('a dirtree that hashes to its name but is malformed (a ".." entry) is refused and never staged', async () => {
      const bad = await Repo.init(join(tmp, `bad-tree-${n++}`), 'archive');
      const root = await src.loadCommit(v1);
      const tx = await Transaction.begin(bad);
      const file = (await src.loadDirtree(root.rootTree)).files[0]!;
      const tree = serialize(DIRTREE_TYPE, [[['..', Buffer.from(file.checksum, 'hex')]], []]);
      const treeSum = await tx.writeMetadata('dirtree', tree);
      await tx.writeMetadata('dirmeta', await src.readMetadata(root.rootMeta, 'dirmeta'));
      const commit = encodeCommit({ ...root, parent: null, rootTree: treeSum });
      const commitSum = await tx.writeMetadata('commit', commit);
      tx.setRef(null, 'os/bad', commitSum);
      await tx.commit();
      const repo = await target('bare-user', [], pathToFileURL(bad.path).href);
      const e = await rejectionOf(pullRemote(repo, 'origin', { ...FAST, refs: [commitSum] }));
      expect(e.code).toBe('PULL_OBJECT_CORRUPT');
      expect(e.message).toContain(`object ${treeSum}.dirtree from `);
      expect(e.message).toContain('invalid file name ".."');
            expect(await repo.hasObject(treeSum, 'dirtree')).toBe(false);
      for (const s of (await readdir(join(repo.path, 'tmp'))).filter((x) => x.startsWith('staging-'))) {
        expect(await readdir(join(repo.path, 'tmp', s))).not.toContain(`${treeSum}.dirtree`);
      }
    });

    it('with the writer threads verifying: a corrupted object is refused, a dropped large one resumed, and the pull completes', async () => {
      // inlineWrites 0: every content object is inflated, hashed and written by a writer thread.
      const threaded: PullOptions = { ...FAST, refs: ['os/main'], inlineWrites: 0 };
      let victim = '';
      let size = 0;
      for await (const [, kind, path] of src.listObjects()) {
        const st = await stat(path);
        if (kind === 'file' && st.size > size && st.size < 2_000_000) [victim, size] = [path.slice(src.path.length + 1), st.size];
      }
      const csum = victim.slice(8, 10) + victim.slice(11, 73);
      for (const fault of [{ kind: 'corrupt' as const }, { kind: 'truncate' as const, bytes: 60 }]) {
        const repo = await target('bare-user');
        server.addFault({ match: victim, fault });
        const e = await rejectionOf(pullRemote(repo, 'origin', threaded));
        expect(e.code).toBe('PULL_OBJECT_CORRUPT');
        expect(e.message).toContain(`object ${csum}.filez from ${server.url}${victim}`);
        expect(await repo.readRef('origin:os/main')).toBe(null);
        expect(await repo.hasObject(csum, 'file')).toBe(false);
        await expectClean(repo);
        server.clearFaults();
      }
      const repo = await target('bare-user');
      server.log.length = 0;
      server.addFault({ match: bigPath, fault: { kind: 'drop', bytes: 1_000_000 }, times: 1 });
      await pullRemote(repo, 'origin', threaded);
      expect(server.log.filter((e) => e.path === bigPath).map((h) => h.status)).toEqual([200, 206]);
      expect(await repo.readRef('origin:os/main')).toBe(v2);
      await expectClean(repo);
      expect(await readdir(join(repo.path, 'tmp', 'pull-partial'))).toEqual([]);
      // The same objects as a pull that verifies on its own thread.
      const inline = await target('bare-user');
      await pullRemote(inline, 'origin', { ...FAST, refs: ['os/main'] });
      const list = async (r: Repo): Promise<string[]> => {
        const out: string[] = [];
        for await (const [c, kind, path] of r.listObjects()) out.push(`${c}.${kind} ${(await stat(path)).size}`);
        return out.sort();
      };
      expect(await list(repo)).toEqual(await list(inline));
    });

    it('a 404 for an object, a bad summary and an unknown ref give clear errors', async () => {
      const repo = await target('bare-user');
      server.addFault({ match: /\.dirtree$/, fault: { kind: 'status', status: 404 } });
      let e = await rejectionOf(pullRemote(repo, 'origin', { ...FAST, refs: ['os/main'] }));
      expect(e.code).toBe('PULL_NOT_FOUND');
      expect(e.message).toMatch(/^GET http:\/\/127\.0\.0\.1:\d+\/objects\/..\/[0-9a-f]{62}\.dirtree: HTTP 404/);
      server.clearFaults();
      server.addFault({ match: 'summary', fault: { kind: 'replace', body: Buffer.from('this is not a summary') } });
      server.addFault({ match: 'summary.sig', fault: { kind: 'status', status: 404 } });
      e = await rejectionOf(pullRemote(repo, 'origin', { ...FAST, refs: ['os/main'] }));
      expect(e.code).toBe('PULL_BAD_SUMMARY');
      expect(e.message).toContain(`summary from ${server.url}`);
      server.clearFaults();
      e = await rejectionOf(pullRemote(repo, 'origin', { ...FAST, refs: ['no/such'] }));
      expect(e).toMatchObject({ code: 'PULL_REF_NOT_FOUND', message: `no such branch 'no/such' in the summary of remote "origin" (${server.url})` });
      await expectClean(repo);
      await pullRemote(repo, 'origin', { ...FAST, refs: ['os/main'] });
      await expectClean(repo);
    });

    it('a connection dropped mid-object is resumed with a Range request', async () => {
      const repo = await target('bare-user');
      server.addFault({ match: bigPath, fault: { kind: 'drop', bytes: 1_000_000 }, times: 1 });
      await pullRemote(repo, 'origin', { ...FAST, refs: ['os/main'] });
      const hits = server.log.filter((e) => e.path === bigPath);
      expect(hits.map((h) => [h.status, h.range])).toEqual([[200, ''], [206, expect.stringMatching(/^bytes=\d+-$/)]]);
      // The client resumes from what it received (at most the 1 MB sent) and gets only the rest.
      const resumedAt = Number(/\d+/.exec(hits[1]!.range)![0]);
      expect(resumedAt).toBeGreaterThan(0);
      expect(resumedAt).toBeLessThanOrEqual(1_000_000);
      expect(hits[1]!.bytes).toBe((await stat(join(src.path, bigPath))).size - resumedAt);
      await expectClean(repo);
      expect(await readdir(join(repo.path, 'tmp', 'pull-partial'))).toEqual([]);
    });

    it('drops the download left by a pull killed after it staged the object', async () => {
      const repo = await target('bare-user');
      await pullRemote(repo, 'origin', { ...FAST, refs: ['os/main'] });
      const dir = join(repo.path, 'tmp', 'pull-partial');
      const csum = bigPath.replace(/^objects\/(..)\/(.{62})\.filez$/, '$1$2');
      await writeFile(join(dir, `${csum}.filez.part`), 'left by a killed pull');
      await writeFile(join(dir, `${csum}.data`), 'left by a killed pull');
      await writeFile(join(dir, `${'0'.repeat(64)}.filez.part`), 'a download to resume');
      await pullRemote(repo, 'origin', { ...FAST, refs: ['os/main'] });
      expect(await readdir(dir)).toEqual([`${'0'.repeat(64)}.filez.part`]);
    });

    it('a server that stops sending trips the stall timeout; the next pull resumes the partial object', async () => {
      const repo = await target('archive');
      server.addFault({ match: bigPath, fault: { kind: 'stall', bytes: 1_200_000 } });
      const t0 = Date.now();
      const e = await rejectionOf(pullRemote(repo, 'origin', { ...FAST, stallTimeoutMs: 800, networkRetries: 0, refs: ['os/main'] }));
      expect(Date.now() - t0).toBeLessThan(10_000);
      expect(e.code).toBe('PULL_STALLED');
      expect(e.message).toMatch(/^GET http:\/\/127\.0\.0\.1:\d+\/objects\/.*\.filez: no data received for 0\.8 s$/);
      expect(await repo.readRef('origin:os/main')).toBe(null);
      await expectClean(repo);
      server.clearFaults();
      server.log.length = 0;
      await pullRemote(repo, 'origin', { ...FAST, refs: ['os/main'] });
      expect(server.log.filter((x) => x.path === bigPath).map((x) => [x.status, x.range])).toEqual([[206, 'bytes=1200000-']]);
      await expectClean(repo);
    });
  });

  it('refuses a downgrade unless allowed', async () => {
    const repo = await target('archive');
    await pullRemote(repo, 'origin', { ...FAST, refs: ['os/main'] });
    const old = encodeSummary({ refs: [{ name: 'os/main', commitSize: 1, checksum: v1, metadata: [] }], metadata: [] });
    server.addFault({ match: 'summary', fault: { kind: 'replace', body: old } });
    server.addFault({ match: 'summary.sig', fault: { kind: 'status', status: 404 } });
    const e = await rejectionOf(pullRemote(repo, 'origin', { ...FAST, refs: ['os/main'] }));
    expect(e.code).toBe('PULL_DOWNGRADE');
    expect(e.message).toBe(`refusing to move origin:os/main from ${v2} (2023-11-14T22:15:00Z) to the older commit ${v1} (2023-11-14T22:13:20Z)`);
    expect(await repo.readRef('origin:os/main')).toBe(v2);
    await pullRemote(repo, 'origin', { ...FAST, refs: ['os/main'], allowDowngrade: true });
    expect(await repo.readRef('origin:os/main')).toBe(v1);
    await expectClean(repo);
  });

  it('refuses to eat into min-free-space-size', async () => {
    const repo = await target('archive');
    repo.config.set('core', 'min-free-space-size', '900TB');
    await repo.saveConfig();
    const e = await rejectionOf(pullRemote(repo, 'origin', { ...FAST, refs: ['os/main'] }));
    expect(e.code).toBe('PULL_NO_SPACE');
    expect(e.message).toMatch(/^not enough disk space for commit [0-9a-f]{64}: it needs \d+ bytes, .* are free and min-free-space-size=900TB must stay free/);
    expect(await repo.readRef('origin:os/main')).toBe(null);
    await expectClean(repo);
  });

});
