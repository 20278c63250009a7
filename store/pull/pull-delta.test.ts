// Pulls that use static deltas, served by a real nginx (what went over the wire is read
// from its access log) and, for dropped connections, by the fault server: delta choice
// as ostree makes it, no object requests for what a delta carried, the same commit as an
// object pull, corrupt parts, Range resume of a part, signed superblocks, the space check.

import { randomBytes } from 'node:crypto';
import { copyFile, mkdir, readFile, readdir, rm, symlink, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startFaultServer } from '../../test-support/fault-server.ts';
import { atomic, have, makeTmp, ostree, rejectionOf, removeTmp } from '../../test-support/index.ts';
import { NGINX_BIN, startNginx, type NginxServer } from '../../test-support/nginx.ts';
import { commitDirectory } from '../commit-dir.ts';
import { decodeSuperblock, deltaIndexRelPath, deltaRelDir, generateStaticDelta, verifySuperblockSignature } from '../delta/index.ts';
import { fsckRepo } from '../fsck.ts';
import { regenerateSummary } from '../publish/index.ts';
import { Repo } from '../repo/repo.ts';
import { addRemote } from '../remote/index.ts';
import { keyPairFromSeed, signCommit } from '../sign/index.ts';
import { pullRemote, type PullOptions } from './index.ts';
import { remoteObjectPath } from './stage.ts';

const VECTORS = join(import.meta.dirname, '..', 'testdata', 'vectors', 'ed25519');
const FAST: PullOptions = { retryBaseMs: 5, stallTimeoutMs: 1500 };

async function makeTree(dir: string, version: string, lib: Buffer, extra: Buffer | null): Promise<void> {
  await mkdir(join(dir, 'usr', 'lib', 'modules', version), { recursive: true });
  await mkdir(join(dir, 'etc'), { recursive: true });
  await writeFile(join(dir, 'etc', 'os-release'), `NAME=test\nVERSION=${version}\n`);
  await writeFile(join(dir, 'usr', 'lib', `libfoo.so.${version}`), lib);
  await writeFile(join(dir, 'usr', 'lib', 'modules', version, 'mod.ko'), `module ${version}\n`.repeat(50));
  for (let i = 0; i < 20; i++) await writeFile(join(dir, 'usr', 'lib', `same-${i}`), `unchanged ${i}\n`);
  await symlink(`libfoo.so.${version}`, join(dir, 'usr', 'lib', 'libfoo.so'));
  if (extra) await writeFile(join(dir, 'usr', 'lib', 'new.bin'), extra);
}

describe.skipIf(!NGINX_BIN)('pull with static deltas', () => {
  let tmp: string;
  let src: Repo;
  let nginx: NginxServer;
  let v1: string;
  let v2: string;
  let secret: string;
  let publicKey: string;
  let n = 0;
  /** Server paths of the v1→v2 delta's superblock and part 0, and of v1's from-scratch delta. */
  let sbPath: string;
  let partPath: string;
  let scratchDir: string;

  beforeAll(async () => {
    tmp = await makeTmp('atomic-pull-delta-');
    secret = (await readFile(join(VECTORS, 'ed25519.secret'), 'utf8')).trim();
    publicKey = (await readFile(join(VECTORS, 'ed25519.public'), 'utf8')).trim();
    src = await Repo.init(join(tmp, 'www', 'repo'), 'archive');
    const lib = randomBytes(150_000);
    const lib2 = Buffer.concat([lib.subarray(0, 70_000), Buffer.from('patched'), lib.subarray(70_000)]);
    await makeTree(join(tmp, 't1'), '1.0', lib, null);
    await makeTree(join(tmp, 't2'), '2.0', lib2, randomBytes(120_000));
    v1 = (await commitDirectory(src, join(tmp, 't1'), { branch: 'os/v1', subject: 'v1', timestamp: 1_700_000_000 })).checksum;
    v2 = (await commitDirectory(src, join(tmp, 't2'), { branch: 'os/main', parent: v1, subject: 'v2', timestamp: 1_700_000_100 })).checksum;
    for (const c of [v1, v2]) await src.writeCommitmeta(c, await signCommit(await readFile(src.objectPath(c, 'commit')), null, secret));
    await generateStaticDelta(src, { from: v1, to: v2, signKeys: [secret] });
    await generateStaticDelta(src, { from: null, to: v1 });
    await regenerateSummary(src);
    sbPath = join(src.path, deltaRelDir(v1, v2), 'superblock');
    partPath = join(src.path, deltaRelDir(v1, v2), '0');
    scratchDir = deltaRelDir(null, v1);
    nginx = await startNginx(join(tmp, 'www'), join(tmp, 'nginx'));
  });
  afterAll(async () => {
    await nginx?.stop();
    await removeTmp(tmp);
  });

  async function target(mode: 'archive' | 'bare-user' = 'bare-user', options: Array<[string, string]> = [], url = `${nginx.url}/repo`): Promise<Repo> {
    const repo = await Repo.init(join(tmp, `target-${n++}`), mode);
    await addRemote(repo, 'origin', url, { options: [['gpg-verify', 'false'], ...options] });
    return Repo.open(repo.path);
  }

  /** Paths requested since `from` entries of the access log, without the /repo/ prefix. */
  async function requests(from: number): Promise<string[]> {
    return (await nginx.accessLog()).slice(from).map((e) => e.path.replace(/^\/repo\//, ''));
  }

  /** Every object a delta's parts carry, as its server path. */
  async function carried(): Promise<string[]> {
    const sb = decodeSuperblock(await readFile(sbPath));
    const kinds = { 1: 'file', 2: 'dirtree', 3: 'dirmeta', 4: 'commit' } as const;
    return sb.parts.flatMap((p) => p.objects.map((o) => remoteObjectPath(o.checksum, kinds[o.type as 1 | 2 | 3 | 4])));
  }

  it('a first pull uses the from-scratch delta, an upgrade the FROM-TO delta, with no request for an object either carried', async () => {
    const repo = await target('bare-user');
    let mark = (await nginx.accessLog()).length;
    const first = await pullRemote(repo, 'origin', { ...FAST, refs: ['os/v1'] });
    let paths = await requests(mark);
    expect(paths).toEqual(['summary.sig', 'summary', 'config', deltaIndexRelPath(v1), `${scratchDir}/superblock`, remoteObjectPath(v1, 'commitmeta'), `${scratchDir}/0`]);
    expect(first.progress.deltaPartsFetched).toBe(1);

    mark = (await nginx.accessLog()).length;
    const res = await pullRemote(repo, 'origin', { ...FAST, refs: ['os/main'] });
    paths = await requests(mark);
    const dir = deltaRelDir(v1, v2);
    expect(paths).toEqual(['summary.sig', 'summary', 'config', deltaIndexRelPath(v2), `${dir}/superblock`, remoteObjectPath(v2, 'commitmeta'), `${dir}/0`]);
    const objects = await carried();
    expect(objects.length).toBeGreaterThan(3);
    for (const o of objects) expect(paths).not.toContain(o);
    expect(res.refs[0]).toEqual({ refspec: 'origin:os/main', commit: v2, previous: null });
    expect(res.progress).toMatchObject({ deltaPartsFetched: 1, deltaPartsTotal: 1, contentFetched: 0 });
    expect(await repo.isCommitPartial(v2)).toBe(false);
    expect((await fsckRepo(repo)).problems).toEqual([]);
    expect(await repo.readCommitmeta(v2)).toEqual(await src.readCommitmeta(v2));

    // The same commit and objects as a pull by objects.
    const byObjects = await target('bare-user');
    await pullRemote(byObjects, 'origin', { ...FAST, refs: ['os/main'], disableStaticDeltas: true });
    expect(await byObjects.readRef('origin:os/main')).toBe(v2);
    const list = async (r: Repo): Promise<string[]> => {
      const out: string[] = [];
      for await (const [csum, kind] of r.listObjects()) out.push(`${csum}.${kind}`);
      return out.sort();
    };
    const withDelta = (await list(repo)).filter((o) => !o.startsWith(v1) && !o.endsWith('.commitmeta'));
    const viaObjects = (await list(byObjects)).filter((o) => !o.endsWith('.commitmeta'));
    expect(viaObjects.every((o) => withDelta.includes(o))).toBe(true);
    if (have('ostree')) {
      const fsck = await ostree(['fsck', `--repo=${repo.path}`]);
      expect(fsck.stdout + fsck.stderr).toContain('no errors found');
    }
  });

  it('an archive repo pulls objects, as ostree does', async () => {
    const repo = await target('archive');
    const mark = (await nginx.accessLog()).length;
    await pullRemote(repo, 'origin', { ...FAST, refs: ['os/main'] });
    expect((await requests(mark)).some((p) => p.startsWith('delta'))).toBe(false);
    expect((await fsckRepo(repo)).problems).toEqual([]);
  });

  it('a corrupt part is a clear error, leaves nothing behind; objects or a later retry complete the pull', async () => {
    const good = await readFile(partPath);
    const bad = Buffer.from(good);
    bad[bad.length >> 1]! ^= 0xff;
    const repo = await target('bare-user');
    await pullRemote(repo, 'origin', { ...FAST, refs: ['os/v1'] });
    await writeFile(partPath, bad);
    try {
      const e = await rejectionOf(pullRemote(repo, 'origin', { ...FAST, refs: ['os/main'] }));
      expect(e.code).toBe('DELTA_PART_CORRUPT');
      expect(e.message).toContain(`part 0 of static delta ${v1}-${v2} from ${nginx.url}/repo/${deltaRelDir(v1, v2)}/0`);
      expect(await repo.readRef('origin:os/main')).toBe(null);
      expect(await repo.hasObject(v2, 'commit')).toBe(false);
      expect((await fsckRepo(repo)).problems).toEqual([]);
      expect(await readdir(join(repo.path, 'tmp', 'pull-partial'))).toEqual([]);

      const other = await target('bare-user');
      await pullRemote(other, 'origin', { ...FAST, refs: ['os/v1'] });
      await pullRemote(other, 'origin', { ...FAST, refs: ['os/main'], disableStaticDeltas: true });
      expect(await other.readRef('origin:os/main')).toBe(v2);
      expect((await fsckRepo(other)).problems).toEqual([]);
    } finally {
      await writeFile(partPath, good);
    }
    const mark = (await nginx.accessLog()).length;
    await pullRemote(repo, 'origin', { ...FAST, refs: ['os/main'] });
    expect(await requests(mark)).toContain(`${deltaRelDir(v1, v2)}/0`);
    expect(await repo.readRef('origin:os/main')).toBe(v2);
    expect((await fsckRepo(repo)).problems).toEqual([]);
  });

  it('a part cut off mid-download is resumed with a Range request by the next pull', async () => {
    const fs = await startFaultServer(src.path);
    try {
      const rel = `${deltaRelDir(v1, v2)}/0`;
      const size = (await readFile(partPath)).length;
      const repo = await target('bare-user', [], fs.url);
      await pullRemote(repo, 'origin', { ...FAST, refs: ['os/v1'] });
      fs.addFault({ match: rel, fault: { kind: 'drop', bytes: size >> 1 }, times: 1 });
      const e = await rejectionOf(pullRemote(repo, 'origin', { ...FAST, refs: ['os/main'], networkRetries: 0, partialMinBytes: 1000 }));
      expect(e.code).toBe('PULL_NETWORK');
      fs.log.length = 0;
      await pullRemote(repo, 'origin', { ...FAST, refs: ['os/main'], partialMinBytes: 1000 });
      const hits = fs.log.filter((l) => l.path === rel);
      expect(hits.map((h) => [h.status, h.range])).toEqual([[206, `bytes=${size >> 1}-`]]);
      expect(hits[0]!.bytes).toBe(size - (size >> 1));
      expect(await repo.readRef('origin:os/main')).toBe(v2);
      expect((await fsckRepo(repo)).problems).toEqual([]);
    } finally {
      await fs.stop();
    }
  });

  it('with sign-verify, the commit and a signed superblock are verified before any part is fetched', async () => {
    const verified = await target('bare-user', [['sign-verify', 'true'], ['verification-ed25519-key', publicKey]]);
    await pullRemote(verified, 'origin', { ...FAST, refs: ['os/v1'] });
    await pullRemote(verified, 'origin', { ...FAST, refs: ['os/main'] });
    expect(await verified.readRef('origin:os/main')).toBe(v2);
    await verifySuperblockSignature(await readFile(sbPath), [publicKey], [], `${v1}-${v2}`);
    const ok = await atomic(['repo', 'static-delta', 'verify', '--repo', src.path, `${v1}-${v2}`, publicKey]);
    expect(ok.stdout).toBe(`ed25519: Signature verified successfully with key '${Buffer.from(publicKey, 'base64').toString('hex')}'\nVerification OK\n`);
    const unsigned = await atomic(['repo', 'static-delta', 'verify', '--repo', src.path, v1, publicKey]);
    expect([unsigned.code, unsigned.stderr]).toEqual([1, `error: static delta ${v1} is not signed\nhint: the publisher must generate it with \`static-delta generate --sign\` / \`--keys-file\`\n`]);

    // The same delta re-signed with a key the remote does not trust is refused.
    const other = await keyPairFromSeed(new Uint8Array(32).fill(9));
    const out = join(tmp, 'resigned');
    await generateStaticDelta(src, { from: v1, to: v2, signKeys: [other.secretKey], outDir: out });
    const original = await readFile(sbPath);
    const repo = await target('bare-user', [['sign-verify', 'true'], ['verification-ed25519-key', publicKey]]);
    await pullRemote(repo, 'origin', { ...FAST, refs: ['os/v1'] });
    await copyFile(join(out, 'superblock'), sbPath);
    await regenerateSummary(src);
    try {
      const mark = (await nginx.accessLog()).length;
      const e = await rejectionOf(pullRemote(repo, 'origin', { ...FAST, refs: ['os/main'] }));
      expect(e.code).toBe('SIGN_NO_VALID_SIGNATURE');
      expect(e.message).toContain(`remote "origin": Can't verify static delta ${v1}-${v2}`);
      expect(await requests(mark)).not.toContain(`${deltaRelDir(v1, v2)}/0`);
      expect(await repo.readRef('origin:os/main')).toBe(null);
    } finally {
      await writeFile(sbPath, original);
      await regenerateSummary(src);
    }
  });

  it('checks the space for the whole delta before writing anything', async () => {
    const repo = await target('bare-user');
    await pullRemote(repo, 'origin', { ...FAST, refs: ['os/v1'] });
    repo.config.set('core', 'min-free-space-size', '999TB');
    await repo.saveConfig();
    const mark = (await nginx.accessLog()).length;
    const e = await rejectionOf(pullRemote(await Repo.open(repo.path), 'origin', { ...FAST, refs: ['os/main'] }));
    expect(e.code).toBe('PULL_NO_SPACE');
    expect(e.message).toMatch(new RegExp(`^not enough disk space for static delta ${v1}-${v2} \\([\\d.]+ kB to download, [\\d.]+ kB to write\\)`));
    expect(await requests(mark)).not.toContain(`${deltaRelDir(v1, v2)}/0`);
    await rm(join(repo.path, 'tmp', 'pull-partial'), { recursive: true, force: true });
  });
});
