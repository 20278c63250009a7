// Static deltas against the real ostree 2022.7: our deltas applied by
// `ostree static-delta apply-offline` and pulled over HTTP by `ostree pull`,
// ostree's deltas (bsdiff and rollsum) applied by us, sizes compared, and bad
// deltas refused without touching the repository.

import { randomBytes } from 'node:crypto';
import { cp, mkdir, readdir, readFile, symlink, unlink, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { isUpdaterError } from '../../common/errors.ts';
import { setXattr } from '../../common/libc.ts';
import { atomic, have, makeTmp, ostree, removeTmp, runOk } from '../../test-support/index.ts';
import { NGINX_BIN, startNginx } from '../../test-support/nginx.ts';
import { fsckRepo, Repo } from '../index.ts';
import { applyDeltaDirectory, deltaRelDir, generateStaticDelta, showDelta } from './index.ts';

const HAVE_OSTREE = have('ostree');

/**
 * Tree A, and tree B = A with a file modified in place, renamed-version libraries
 * (libfoo.so.1.2 → .1.3, which ostree pairs by stem; libbar-1.so → libbar-2.so,
 * which it cannot), a kernel-module directory bump, a file that grew by 60%, and small changes.
 */
async function makeTrees(root: string): Promise<void> {
  const tool = randomBytes(160_000);
  const lib = randomBytes(120_000);
  const ko = randomBytes(100_000);
  const other = randomBytes(20_000);
  const bar = randomBytes(100_000);
  const grow = randomBytes(60_000);
  const a = join(root, 'a');
  await mkdir(join(a, 'usr/bin'), { recursive: true });
  await mkdir(join(a, 'usr/lib/modules/5.10.0-1/kernel'), { recursive: true });
  await mkdir(join(a, 'etc'), { recursive: true });
  await writeFile(join(a, 'usr/bin/tool'), tool, { mode: 0o755 });
  await writeFile(join(a, 'usr/lib/libfoo.so.1.2'), lib);
  await symlink('libfoo.so.1.2', join(a, 'usr/lib/libfoo.so.1'));
  await writeFile(join(a, 'usr/lib/modules/5.10.0-1/kernel/drv.ko'), ko);
  await writeFile(join(a, 'usr/lib/modules/5.10.0-1/kernel/other.ko'), other);
  await writeFile(join(a, 'usr/lib/libbar-1.so'), bar);
  await mkdir(join(a, 'usr/share'), { recursive: true });
  await writeFile(join(a, 'usr/share/grow.dat'), grow);
  await writeFile(join(a, 'etc/config'), 'setting=1\n');
  await writeFile(join(a, 'etc/removed'), 'gone in B\n');
  await writeFile(join(a, 'etc/xa'), 'with xattrs\n');
  setXattr(join(a, 'etc/xa'), 'user.test', Buffer.from('value1'));

  const b = join(root, 'b');
  await cp(a, b, { recursive: true, preserveTimestamps: true });
  setXattr(join(b, 'etc/xa'), 'user.test', Buffer.from('value1'));
  const edit = (buf: Buffer): Buffer => {
    const out = Buffer.concat([buf.subarray(0, 40_000), Buffer.from('a new function body'), buf.subarray(40_000)]);
    for (let i = 1000; i < out.length; i += 9000) out[i]! ^= 0x5a;
    return out;
  };
  await writeFile(join(b, 'usr/bin/tool'), edit(tool), { mode: 0o755 });
  await unlink(join(b, 'usr/lib/libfoo.so.1.2'));
  await unlink(join(b, 'usr/lib/libfoo.so.1'));
  await writeFile(join(b, 'usr/lib/libfoo.so.1.3'), edit(lib));
  await symlink('libfoo.so.1.3', join(b, 'usr/lib/libfoo.so.1'));
  await cp(join(a, 'usr/lib/modules/5.10.0-1'), join(b, 'usr/lib/modules/5.10.0-2'), { recursive: true });
  await runOk('rm', ['-rf', join(b, 'usr/lib/modules/5.10.0-1')]);
  await writeFile(join(b, 'usr/lib/modules/5.10.0-2/kernel/drv.ko'), edit(ko));
  await unlink(join(b, 'usr/lib/libbar-1.so'));
  // Changed all over (as a rebuilt binary's addresses are): a bsdiff patch, not copies.
  const dense = Buffer.from(bar);
  for (let i = 0; i < dense.length; i += 16) dense[i] = (dense[i]! + 1) & 0xff;
  await writeFile(join(b, 'usr/lib/libbar-2.so'), dense);
  await writeFile(join(b, 'usr/share/grow.dat'), Buffer.concat([grow, randomBytes(36_000)]));
  await writeFile(join(b, 'etc/config'), 'setting=2\n');
  await unlink(join(b, 'etc/removed'));
  await writeFile(join(b, 'etc/new.txt'), 'brand new\n');
  await writeFile(join(b, 'usr/bin/new-tool'), randomBytes(150_000), { mode: 0o755 });
}

async function objectCount(repo: string): Promise<number> {
  let n = 0;
  for (const d of await readdir(join(repo, 'objects'))) n += (await readdir(join(repo, 'objects', d))).length;
  return n;
}

async function dirBytes(dir: string): Promise<number> {
  let n = 0;
  for (const f of await readdir(dir)) n += (await readFile(join(dir, f))).length;
  return n;
}

describe.skipIf(!HAVE_OSTREE)('static deltas with the real ostree', () => {
  let tmp: string;
  let src: string;
  let A: string;
  let B: string;
  let oursDir: string;
  const lsB = async (repo: string): Promise<string> => runOk('ostree', [`--repo=${repo}`, 'ls', '-R', '-C', '-X', B]);

  /** A fresh repo of `mode` holding commit A (pulled locally from src). */
  const targetWithA = async (name: string, mode: string): Promise<string> => {
    const t = join(tmp, name);
    await runOk('ostree', [`--repo=${t}`, 'init', `--mode=${mode}`]);
    await runOk('ostree', [`--repo=${t}`, 'pull-local', src, A]);
    return t;
  };

  beforeAll(async () => {
    tmp = await makeTmp('atomic-delta-');
    await makeTrees(tmp);
    src = join(tmp, 'src');
    await runOk('ostree', [`--repo=${src}`, 'init', '--mode=archive']);
    A = (await runOk('ostree', [`--repo=${src}`, 'commit', '-b', 'os', `--tree=dir=${join(tmp, 'a')}`, '-s', 'A', '--timestamp=2024-01-01T00:00:00Z'])).trim();
    B = (await runOk('ostree', [`--repo=${src}`, 'commit', '-b', 'os', `--tree=dir=${join(tmp, 'b')}`, '-s', 'B', '--timestamp=2024-01-02T00:00:00Z'])).trim();
    const r = await atomic(['repo', 'static-delta', 'generate', '--repo', src, '--to', 'os']);
    expect(r.stderr).toBe('');
    expect(r.stdout).toContain(`From: ${A}`);
    oursDir = join(src, deltaRelDir(A, B));
  }, 120_000);
  afterAll(async () => removeTmp(tmp));

  it('our delta diffs the in-place, renamed-version and moved-module files, as copies where they mostly match', async () => {
    const shown = await showDelta(await Repo.open(src), `${A}-${B}`);
    // tool and etc/config (in place), libfoo.so.1.3 and libbar-2.so (renamed versions), drv.ko (moved module dir), grow.dat (+60%):
    // all but libbar-2.so (changed every 16 bytes: one bsdiff patch) are copies of their old version plus literal bytes.
    const ops = /open=(\d+) write=(\d+) setread=(\d+) unsetread=(\d+) close=(\d+) bspatch=(\d+)\n/.exec(shown)!.slice(1).map(Number);
    const [open, write, setread, unsetread, close, bspatch] = ops as [number, number, number, number, number, number];
    expect([open, close, bspatch]).toEqual([6, 6, 1]);
    expect(setread).toBe(unsetread);
    // tool, libfoo and drv.ko each have ~20 edits (copies in between); etc/config is all literal.
    expect(setread).toBeGreaterThan(40);
    expect(write).toBeGreaterThan(2 * setread - 10);
    const viaOstree = await ostree([`--repo=${src}`, 'static-delta', 'show', `${A}-${B}`]);
    expect(viaOstree.code).toBe(0);
    expect(viaOstree.stdout).toBe(shown);
    expect((await atomic(['repo', 'static-delta', 'list', '--repo', src])).stdout).toBe(`${A}-${B}\n`);
  });

  /** Runs `ostree static-delta generate` into its own directory (ostree's --filename names the superblock). */
  const ostreeGenerate = async (dir: string): Promise<void> => {
    await mkdir(dir);
    await runOk('ostree', [`--repo=${src}`, 'static-delta', 'generate', `--from=${A}`, `--to=${B}`, `--filename=${join(dir, 'superblock')}`]);
  };

  // ostree 2022.7 can only run set-read-source (bsdiff/rollsum) ops into bare repos; archive targets get from-scratch deltas below.
  it('ostree applies our delta into a bare-user repo holding FROM, giving TO with a clean fsck', async () => {
    const t = await targetWithA('ostree-applies', 'bare-user');
    await runOk('ostree', [`--repo=${t}`, 'static-delta', 'apply-offline', oursDir]);
    await runOk('ostree', [`--repo=${t}`, 'fsck']);
    expect(await lsB(t)).toBe(await lsB(src));
  });

  for (const mode of ['archive', 'bare-user']) {
    it(`we apply ostree's bsdiff delta into a ${mode} repo, clean by both fscks`, async () => {
      const theirs = join(tmp, `theirs-${mode}`);
      await ostreeGenerate(theirs);
      expect(await runOk('ostree', [`--repo=${src}`, 'static-delta', 'show', join(theirs, 'superblock')])).toMatch(/bspatch=[1-9]/);
      const t = await targetWithA(`we-apply-${mode}`, mode);
      const repo = await Repo.open(t);
      const res = await applyDeltaDirectory(repo, theirs);
      expect(res.objectsWritten).toBeGreaterThan(5);
      expect((await fsckRepo(repo)).problems).toEqual([]);
      await runOk('ostree', [`--repo=${t}`, 'fsck']);
      expect(await lsB(t)).toBe(await lsB(src));
    });
  }

  it("we apply ostree's rollsum delta (open/write/set-read-source ops)", async () => {
    const r = join(tmp, 'rollsum');
    await runOk('ostree', [`--repo=${r}`, 'init', '--mode=archive']);
    const big = randomBytes(4_000_000);
    await mkdir(join(tmp, 'ra'));
    await writeFile(join(tmp, 'ra', 'big'), big);
    const ra = (await runOk('ostree', [`--repo=${r}`, 'commit', '-b', 'x', `--tree=dir=${join(tmp, 'ra')}`])).trim();
    await writeFile(join(tmp, 'ra', 'big'), Buffer.concat([big.subarray(0, 2_000_000), Buffer.from('inserted'.repeat(50)), big.subarray(2_000_000)]));
    const rb = (await runOk('ostree', [`--repo=${r}`, 'commit', '-b', 'x', `--tree=dir=${join(tmp, 'ra')}`])).trim();
    await runOk('ostree', [`--repo=${r}`, 'static-delta', 'generate', '--min-fallback-size=0', `--to=${rb}`]);
    expect((await runOk('ostree', [`--repo=${r}`, 'static-delta', 'show', `${ra}-${rb}`]))).toMatch(/open=1 write=\d{2,} setread=\d+/);
    const t = join(tmp, 'rollsum-target');
    await runOk('ostree', [`--repo=${t}`, 'init', '--mode=bare-user']);
    await runOk('ostree', [`--repo=${t}`, 'pull-local', r, ra]);
    await applyDeltaDirectory(await Repo.open(t), join(r, deltaRelDir(ra, rb)));
    await runOk('ostree', [`--repo=${t}`, 'fsck']);
    expect(await runOk('ostree', [`--repo=${t}`, 'cat', rb, '/big'])).toBe(await runOk('ostree', [`--repo=${r}`, 'cat', rb, '/big']));
  }, 60_000);

  it("our delta is no larger than ostree's, and smaller because moved files are diffed", async () => {
    const theirs = join(tmp, 'theirs-size');
    await ostreeGenerate(theirs);
    const ours = await dirBytes(oursDir);
    const their = await dirBytes(theirs);
    // ostree matches by name and size rank only, so libbar-2.so and grow.dat get patches against the wrong old files.
    expect(ours).toBeLessThan(their);
    expect(their - ours).toBeGreaterThan(100_000);
  });

  it('a from-scratch inline delta and a fallback delta apply too', async () => {
    const repo = await Repo.open(src);
    const out = join(tmp, 'scratch-inline');
    await generateStaticDelta(repo, { from: null, to: B, inline: true, outDir: out });
    expect(await readdir(out)).toEqual(['superblock']);
    const t = join(tmp, 'scratch-target');
    await runOk('ostree', [`--repo=${t}`, 'init', '--mode=archive']);
    await runOk('ostree', [`--repo=${t}`, 'static-delta', 'apply-offline', join(out, 'superblock')]);
    await runOk('ostree', [`--repo=${t}`, 'fsck']);
    expect(await lsB(t)).toBe(await lsB(src));

    // new-tool (150 kB, no pairing) becomes a fallback fetched as a loose .filez object.
    const fb = join(tmp, 'fallback');
    const gen = await generateStaticDelta(repo, { from: A, to: B, minFallbackSize: 100_000, outDir: fb });
    expect(gen.fallbacks).toBe(1);
    const t2 = await targetWithA('fallback-target', 'bare-user');
    const repo2 = await Repo.open(t2);
    await expect(applyDeltaDirectory(repo2, fb)).rejects.toMatchObject({ code: 'DELTA_FALLBACK_MISSING' });
    const res = await applyDeltaDirectory(repo2, fb, { fetchFallback: (f) => readFile(repo.objectPath(f.checksum, 'file')) });
    expect(res.fallbacksFetched).toBe(1);
    await runOk('ostree', [`--repo=${t2}`, 'fsck']);
    expect(await lsB(t2)).toBe(await lsB(src));
  }, 60_000);

  it('refuses a corrupt part, a corrupt superblock and a missing FROM, writing nothing', async () => {
    const bad = join(tmp, 'bad');
    await cp(oursDir, bad, { recursive: true });
    const t = await targetWithA('bad-target', 'archive');
    const repo = await Repo.open(t);
    const before = await objectCount(t);
    const part = await readFile(join(bad, '0'));
    part[Math.floor(part.length / 2)]! ^= 0xff;
    await writeFile(join(bad, '0'), part);
    const e1 = await applyDeltaDirectory(repo, bad).catch((e: unknown) => e);
    expect(isUpdaterError(e1, 'DELTA_PART_CORRUPT')).toBe(true);
    expect((e1 as Error).message).toMatch(/^part 0 of delta [0-9a-f]{64}-[0-9a-f]{64}: sha256 [0-9a-f]{64} does not match/);
    const cli = await atomic(['repo', 'static-delta', 'apply-offline', '--repo', t, bad]);
    expect(cli.code).toBe(1);
    expect(cli.stderr).toMatch(/error: part 0 of delta/);

    const sb = await readFile(join(oursDir, 'superblock'));
    await writeFile(join(bad, 'superblock'), sb.subarray(0, sb.length - 40));
    await expect(applyDeltaDirectory(repo, bad)).rejects.toMatchObject({ code: 'DELTA_CORRUPT' });

    const empty = join(tmp, 'empty-target');
    await runOk('ostree', [`--repo=${empty}`, 'init', '--mode=archive']);
    const e3 = await applyDeltaDirectory(await Repo.open(empty), oursDir).catch((e: unknown) => e);
    expect(isUpdaterError(e3, 'DELTA_FROM_MISSING')).toBe(true);
    expect((e3 as Error).message).toContain(A);
    expect(await objectCount(t)).toBe(before);
    expect(await objectCount(empty)).toBe(0);
    await runOk('ostree', [`--repo=${t}`, 'fsck']);
  });

  it.skipIf(!NGINX_BIN)('ostree pull uses our delta over HTTP and ends at TO', async () => {
    const pub = join(tmp, 'pub');
    await cp(src, pub, { recursive: true });
    await runOk('ostree', [`--repo=${pub}`, 'summary', '-u']);
    const server = await startNginx(pub, join(tmp, 'nginx'));
    try {
      // ostree pulls deltas only into non-archive repos by default.
      const t = await targetWithA('pull-target', 'bare-user');
      await runOk('ostree', [`--repo=${t}`, 'refs', '--create=origin:os', A]);
      await runOk('ostree', [`--repo=${t}`, 'remote', 'add', '--no-gpg-verify', 'origin', server.url]);
      await runOk('ostree', [`--repo=${t}`, 'pull', 'origin', 'os']);
      expect((await runOk('ostree', [`--repo=${t}`, 'rev-parse', 'origin:os'])).trim()).toBe(B);
      await runOk('ostree', [`--repo=${t}`, 'fsck']);
      const paths = (await server.accessLog()).map((e) => e.path);
      const dir = `/${deltaRelDir(A, B)}`;
      expect(paths).toContain(`${dir}/superblock`);
      expect(paths).toContain(`${dir}/0`);
      // ostree 2022.7 pulling into a bare-user repo also requests the commitmeta and some new objects
      // loose after applying a delta; it does the same with deltas it generated itself.
    } finally {
      await server.stop();
    }
  }, 60_000);
});
