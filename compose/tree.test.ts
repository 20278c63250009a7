// `atomic compose tree` on a small repository built at test time: a minimal tree, and bad
// input (malformed treefile, truncated and tampered packages) that must fail with a named
// error and leave the repo and its ref exactly as they were.

import { execFileSync } from 'node:child_process';
import { open, readdir, readFile, stat, truncate, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { gunzipSync } from 'node:zlib';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { isUpdaterError } from '../common/errors.ts';
import { atomic, buildTestRpms, have, makeTmp, removeTmp, run, runOk } from '../test-support/index.ts';
import { Repo } from '../store/index.ts';
import { composeTree, type ComposeTreeOptions } from './index.ts';

const tools = have('rpmbuild') && have('createrepo_c') && have('ostree') && have('rpm');
const REF = 'test/x86_64/base';

async function errorOf(p: Promise<unknown>): Promise<{ code: string; message: string }> {
  try {
    await p;
  } catch (err) {
    if (isUpdaterError(err)) return { code: err.code, message: err.message };
    throw err;
  }
  throw new Error('expected an error');
}

describe.skipIf(!tools || process.getuid?.() !== 0)('compose tree: a minimal tree and bad input', () => {
  let tmp: string;
  let rpmDir: string;
  let repoPath: string;
  let tfDir: string;
  const quiet = { log: () => {}, warn: () => {} };
  const opts = (extra: Partial<ComposeTreeOptions> = {}): ComposeTreeOptions => ({
    repo: repoPath, treefile: join(tfDir, 'base.yaml'), cachedir: join(tmp, 'cache'), ...quiet, ...extra,
  });
  const refAndFsck = async (): Promise<[string | null, number]> => {
    const ref = await (await Repo.open(repoPath)).readRef(REF);
    return [ref, (await run('ostree', ['fsck', `--repo=${repoPath}`])).code];
  };

  beforeAll(async () => {
    tmp = await makeTmp('compose-tree-');
    rpmDir = join(tmp, 'rpms');
    await buildTestRpms([
      { name: 'app', requires: ['lib'], files: { '/usr/bin/app': '#!/bin/sh\necho app\n', '/etc/app.conf': 'x=1\n' } },
      { name: 'lib', files: { '/usr/lib/libthing.txt': 'thing\n'.repeat(2000) } },
    ], rpmDir);
    await runOk('createrepo_c', ['-q', '--no-database', rpmDir]);
    tfDir = join(tmp, 'tf');
    await runOk('mkdir', ['-p', tfDir]);
    await writeFile(join(tfDir, 'test.repo'), `[test]\nname=test\nbaseurl=file://${rpmDir}/\ngpgcheck=0\n`);
    await writeFile(join(tfDir, 'base.yaml'), `ref: test/\${basearch}/base\nrepos: [test]\npackages: [app]\nselinux: false\nautomatic-version-prefix: "7"\n`);
    repoPath = join(tmp, 'repo');
    await Repo.init(repoPath, 'bare-user');
  }, 60_000);
  afterAll(async () => {
    if (tmp) await removeTmp(tmp);
  });

  it('composes a tree without a kernel (not bootable) and --write-commitid-to leaves the ref alone', async () => {
    const r = await composeTree(opts());
    expect(r.committed).toBe(true);
    expect(r.version).toBe('7');
    expect(r.packages.map((p) => p.name)).toEqual(['lib', 'app']);
    const repo = await Repo.open(repoPath);
    const c = await repo.loadCommit(r.commit!);
    expect(c.metadata.map(([k]) => k)).not.toContain('ostree.bootable');
    expect(await runOk('ostree', ['cat', `--repo=${repoPath}`, REF, '/usr/etc/app.conf'])).toBe('x=1\n');
    const idFile = join(tmp, 'commitid');
    const r2 = await composeTree(opts({ forceNocache: true, writeCommitidTo: idFile }));
    expect((await readFile(idFile, 'utf8')).trim()).toBe(r2.commit);
    expect(await repo.readRef(REF)).toBe(r.commit);
    expect((await repo.loadCommit(r2.commit!)).parent).toBe(r.commit);
  });

  it('fails on a malformed treefile, naming the file and key, and writes nothing', async () => {
    const before = await refAndFsck();
    const bad = join(tfDir, 'bad.yaml');
    await writeFile(bad, 'ref: test/x86_64/base\nrepos: [test]\npackages: [app]\npackagez: [oops]\n');
    const e = await errorOf(composeTree(opts({ treefile: bad })));
    expect(e.message).toContain(bad);
    expect(e.message).toContain('packagez');
    const cli = await atomic(['compose', 'tree', '--repo', repoPath, bad]);
    expect(cli.code).toBe(1);
    expect(cli.stderr).toMatch(/^error: .*bad\.yaml.*packagez/m);
    expect(await refAndFsck()).toEqual(before);
  });

  it('fails on a package truncated in the repository, naming it, and leaves the repo as it was', async () => {
    const before = await refAndFsck();
    const cache = join(tmp, 'cache-trunc');
    const lib = (await readdir(rpmDir)).find((f) => f.startsWith('lib-'))!;
    const saved = await readFile(join(rpmDir, lib));
    try {
      await truncate(join(rpmDir, lib), (await stat(join(rpmDir, lib))).size - 100);
      const e = await errorOf(composeTree(opts({ cachedir: cache, forceNocache: true })));
      expect(e.code).toBe('COMPOSE_DOWNLOAD_FAILED');
      expect(e.message).toContain('lib-1.0-1.noarch');
      expect(e.message).toContain(lib);
      expect(e.message).toMatch(/declares|truncated/);
    } finally {
      await writeFile(join(rpmDir, lib), saved);
    }
    expect(await refAndFsck()).toEqual(before);
  });

  it('fails on a tampered package whose repo metadata matches it, naming the file', async () => {
    const before = await refAndFsck();
    const tampered = join(tmp, 'rpms-tampered');
    await runOk('cp', ['-r', rpmDir, tampered]);
    const lib = (await readdir(tampered)).find((f) => f.startsWith('lib-'))!;
    const path = join(tampered, lib);
    // Flip a byte near the end: inside the compressed payload, after the headers.
    const fh = await open(path, 'r+');
    const size = (await fh.stat()).size;
    const b = Buffer.alloc(1);
    await fh.read(b, 0, 1, size - 40);
    b[0] = b[0]! ^ 0xff;
    await fh.write(b, 0, 1, size - 40);
    await fh.close();
    await runOk('createrepo_c', ['-q', '--no-database', tampered]);
    const tf2 = join(tmp, 'tf2');
    await runOk('cp', ['-r', tfDir, tf2]);
    await writeFile(join(tf2, 'test.repo'), `[test]\nname=test\nbaseurl=file://${tampered}/\ngpgcheck=0\n`);
    const e = await errorOf(composeTree(opts({ treefile: join(tf2, 'base.yaml'), cachedir: join(tmp, 'cache-tampered'), forceNocache: true })));
    expect(e.code).toMatch(/^RPM_(PAYLOAD_DIGEST_MISMATCH|PAYLOAD_CORRUPT|FILE_DIGEST_MISMATCH)$/);
    expect(e.message).toContain(`Unpacking lib-1.0-1.noarch`);
    expect(e.message).toContain(lib);
    expect(await refAndFsck()).toEqual(before);
  });

  it('metadata build times that disagree with the headers: the headers decide the timestamp and the rpm database', async () => {
    // The rpm database starts from the metadata's build times and is redone when the
    // headers give another commit timestamp: the same database and timestamp either way.
    const skewed = join(tmp, 'rpms-skewed');
    await runOk('cp', ['-r', rpmDir, skewed]);
    const repodata = join(skewed, 'repodata');
    const primaryGz = (await readdir(repodata)).find((f) => f.endsWith('primary.xml.gz'))!;
    const xml = gunzipSync(await readFile(join(repodata, primaryGz))).toString('utf8');
    expect(xml).toMatch(/ build="\d+"/);
    await writeFile(join(tmp, 'primary.xml'), xml.replace(/ build="\d+"/g, ' build="1000"'));
    await runOk('modifyrepo_c', ['--mdtype=primary', join(tmp, 'primary.xml'), repodata]);
    const tf3 = join(tmp, 'tf3');
    await runOk('cp', ['-r', tfDir, tf3]);
    await writeFile(join(tf3, 'test.repo'), `[test]\nname=test\nbaseurl=file://${skewed}/\ngpgcheck=0\n`);
    const composeInto = async (name: string, treefile: string): Promise<{ timestamp: number; rpmdb: Buffer }> => {
      const path = join(tmp, name);
      await Repo.init(path, 'bare-user');
      const r = await composeTree(opts({ repo: path, treefile, cachedir: join(tmp, `cache-${name}`) }));
      const c = await (await Repo.open(path)).loadCommit(r.commit!);
      const rpmdb = execFileSync('ostree', ['cat', `--repo=${path}`, r.commit!, '/usr/share/rpm/rpmdb.sqlite'], { maxBuffer: 1 << 26 });
      return { timestamp: c.timestamp, rpmdb };
    };
    const skewedResult = await composeInto('repo-skewed', join(tf3, 'base.yaml'));
    const trueResult = await composeInto('repo-true', join(tfDir, 'base.yaml'));
    expect(skewedResult.timestamp).toBeGreaterThan(1000);
    expect(skewedResult.timestamp).toBe(trueResult.timestamp);
    expect(skewedResult.rpmdb.equals(trueResult.rpmdb)).toBe(true);
  }, 60_000);

  it('--dry-run on unchanged inputs reports them unchanged, with a period', async () => {
    const lines: string[] = [];
    const r = await composeTree(opts({ dryRun: true, log: (l) => lines.push(l) }));
    expect(r.committed).toBe(false);
    expect(lines).toContain('No apparent changes since previous commit; use --force-nocache to override.');
  });
});
