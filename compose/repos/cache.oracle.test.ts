// The rpm-md metadata cache against real repos made by createrepo_c, served over file://
// and by nginx: every compression, checksum and size checks, cache reuse and refresh.

import { createHash } from 'node:crypto';
import { cp, readdir, readFile, rm, stat, truncate, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { gunzipSync, zstdCompressSync } from 'node:zlib';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { UpdaterError, isUpdaterError } from '../../common/errors.ts';
import { buildTestRpms, have, makeTmp, removeTmp, runOk, type TestRpm } from '../../test-support/index.ts';
import { NGINX_BIN, startNginx, type NginxServer } from '../../test-support/nginx.ts';
import { depsolve } from '../depsolve/index.ts';
import { syncRepo, type RepoConfig } from './index.ts';

const RPMS: TestRpm[] = [
  { name: 'app', requires: ['lib', '/usr/share/lib/data'], recommends: ['extra'] },
  { name: 'lib', files: { '/usr/share/lib/data': 'data\n' } },
  { name: 'extra' },
];

const tools = have('rpmbuild') && have('createrepo_c');

function repoConfig(id: string, ...baseurl: string[]): RepoConfig {
  return {
    id, name: id, baseurl, enabled: true, gpgcheck: false, gpgkey: [], repoGpgcheck: false,
    priority: 99, cost: 1000, excludePackages: [], includePackages: [], sslverify: true, skipIfUnavailable: false, file: `${id}.repo`,
  };
}

async function errorOfAsync(p: Promise<unknown>): Promise<UpdaterError> {
  try {
    await p;
  } catch (err) {
    if (isUpdaterError(err)) return err;
    throw err;
  }
  throw new Error('expected an UpdaterError');
}

/** Replaces one <data> record's file in a createrepo_c repo, fixing repomd.xml's checksum, size and location. */
async function replaceRecord(repo: string, type: string, bytes: Buffer, suffix: string, opts: { dropOpen?: boolean } = {}): Promise<string> {
  const repomdPath = join(repo, 'repodata', 'repomd.xml');
  let xml = await readFile(repomdPath, 'utf8');
  const re = new RegExp(`<data type="${type}">[\\s\\S]*?</data>`);
  const block = re.exec(xml)![0];
  const sum = createHash('sha256').update(bytes).digest('hex');
  const href = `repodata/${sum}-${type}${suffix}`;
  await writeFile(join(repo, href), bytes);
  let nb = block
    .replace(/<checksum type="sha256">[0-9a-f]+<\/checksum>/, `<checksum type="sha256">${sum}</checksum>`)
    .replace(/<location href="[^"]+"\/>/, `<location href="${href}"/>`)
    .replace(/<size>\d+<\/size>/, `<size>${bytes.length}</size>`);
  if (opts.dropOpen) nb = nb.replace(/\s*<open-checksum[^>]*>[^<]*<\/open-checksum>/, '').replace(/\s*<open-size>\d+<\/open-size>/, '');
  xml = xml.replace(block, nb);
  await writeFile(repomdPath, xml);
  return href;
}

function hrefOf(xml: string, type: string): string {
  return new RegExp(`<data type="${type}">[\\s\\S]*?<location href="([^"]+)"`).exec(xml)![1]!;
}

describe.skipIf(!tools)('rpm-md sync and cache (createrepo_c repos)', () => {
  let tmp: string;
  let rpmDir: string;

  beforeAll(async () => {
    tmp = await makeTmp('repomd-cache-');
    rpmDir = join(tmp, 'rpms');
    await buildTestRpms(RPMS, rpmDir);
  });
  afterAll(async () => {
    if (tmp) await removeTmp(tmp);
  });

  let n = 0;
  async function makeRepo(compress?: string): Promise<string> {
    const dir = join(tmp, `repo${n++}`);
    await cp(rpmDir, dir, { recursive: true });
    await runOk('createrepo_c', ['-q', '--no-database', ...(compress ? [`--general-compress-type=${compress}`] : []), dir]);
    return dir;
  }

  const resolve = (md: Awaited<ReturnType<typeof syncRepo>>): string[] =>
    depsolve({ repos: [md], packages: ['app'], arch: 'x86_64' }).packages.map((p) => p.nevra).sort();
  const EXPECTED = ['app-1.0-1.noarch', 'extra-1.0-1.noarch', 'lib-1.0-1.noarch'];

  for (const compress of ['gz', 'xz', 'bz2']) {
    it(`reads ${compress} metadata over file:// and solves with it`, async () => {
      const repo = await makeRepo(compress);
      const md = await syncRepo(repoConfig('r', `file://${repo}`), join(tmp, `cache-${compress}`));
      expect(md.primary.endsWith(`-primary.xml.${compress}`)).toBe(true);
      expect(Object.keys(md.files).sort()).toEqual(['filelists', 'other', 'primary']);
      expect(md.cached).toBe(false);
      expect(md.generated).toMatch(/^\d{4}-\d\d-\d\dT/);
      expect(resolve(md)).toEqual(EXPECTED);
    });
  }

  it('reads zstd metadata (recompressed, repomd.xml rewritten) and checks its open-checksum', async () => {
    const repo = await makeRepo();
    const xml = await readFile(join(repo, 'repodata', 'repomd.xml'), 'utf8');
    for (const type of ['primary', 'filelists', 'other']) {
      const old = hrefOf(xml, type);
      await replaceRecord(repo, type, zstdCompressSync(gunzipSync(await readFile(join(repo, old)))), '.xml.zst');
      await rm(join(repo, old));
    }
    const md = await syncRepo(repoConfig('z', `file://${repo}`), join(tmp, 'cache-zst'));
    expect(md.primary.endsWith('-primary.xml.zst')).toBe(true);
    expect(resolve(md)).toEqual(EXPECTED);
  });

  it('a checksum mismatch names the repo, the URL and the file, and keeps the previous cache', async () => {
    const repo = await makeRepo();
    const cache = join(tmp, 'cache-tamper');
    const good = await syncRepo(repoConfig('t', `file://${repo}`), cache);
    // Regenerate with a new package, then flip one byte of the new primary (same size).
    await buildTestRpms([{ name: 'newpkg' }], repo);
    await runOk('createrepo_c', ['-q', '--no-database', '--update', repo]);
    const xml = await readFile(join(repo, 'repodata', 'repomd.xml'), 'utf8');
    const primary = join(repo, hrefOf(xml, 'primary'));
    const bytes = await readFile(primary);
    bytes[bytes.length - 20]! ^= 0xff;
    await writeFile(primary, bytes);
    const err = await errorOfAsync(syncRepo(repoConfig('t', `file://${repo}`), cache));
    expect(err.code).toBe('REPOMD_CHECKSUM_MISMATCH');
    expect(err.message).toContain("repo 't'");
    expect(err.message).toContain(`file://${primary}`);
    expect(err.message).toMatch(/sha256 checksum mismatch/);
    // The cache still describes the last good metadata, complete.
    const still = await syncRepo(repoConfig('t', `file://${repo}`), cache, { cacheOnly: true });
    expect(still.primary).toBe(good.primary);
    expect(resolve(still)).toEqual(EXPECTED);
    expect((await readdir(join(cache, 'repomd', 't'))).filter((f) => f.startsWith('.'))).toEqual([]);
  });

  it('truncated metadata fails clearly at each layer that can see it', async () => {
    // 1. Truncated after repomd.xml was written: the size check names the file.
    const repo = await makeRepo();
    const xml = await readFile(join(repo, 'repodata', 'repomd.xml'), 'utf8');
    const primary = join(repo, hrefOf(xml, 'primary'));
    const full = await readFile(primary);
    await truncate(primary, Math.floor(full.length / 2));
    const e1 = await errorOfAsync(syncRepo(repoConfig('tr', `file://${repo}`), join(tmp, 'cache-tr1')));
    expect(e1.code).toBe('REPOMD_SIZE_MISMATCH');
    expect(e1.message).toContain("repo 'tr'");
    expect(e1.message).toContain(primary);
    expect(e1.message).toContain(`declares ${full.length}`);

    // 2. repomd.xml made from the truncated file: the stored form verifies, its content does not.
    const cut = full.subarray(0, Math.floor(full.length / 2));
    const href = await replaceRecord(repo, 'primary', cut, '.xml.gz');
    const e2 = await errorOfAsync(syncRepo(repoConfig('tr', `file://${repo}`), join(tmp, 'cache-tr2')));
    expect(e2.code).toBe('REPOMD_METADATA_CORRUPT');
    expect(e2.message).toContain(join(repo, href));

    // 3. Without open-size/open-checksum to compare, the solver's reader reports it.
    await replaceRecord(repo, 'primary', cut, '.xml.gz', { dropOpen: true });
    const md = await syncRepo(repoConfig('tr', `file://${repo}`), join(tmp, 'cache-tr3'));
    let e3: unknown;
    try {
      depsolve({ repos: [md], packages: ['app'], arch: 'x86_64' });
    } catch (e) {
      e3 = e;
    }
    expect(isUpdaterError(e3, 'DEPSOLVE_METADATA_INVALID')).toBe(true);
    expect((e3 as Error).message).toContain("repo 'tr'");
    expect((e3 as Error).message).toContain(md.primary);
  });

  it('fetch errors name the repo and URL; later base URLs are tried in order', async () => {
    const repo = await makeRepo();
    const e = await errorOfAsync(syncRepo(repoConfig('gone', `file://${tmp}/nowhere`), join(tmp, 'cache-gone')));
    expect(e.code).toBe('REPOMD_FETCH_FAILED');
    expect(e.message).toContain("repo 'gone'");
    expect(e.message).toContain(`file://${tmp}/nowhere/repodata/repomd.xml`);
    const md = await syncRepo(repoConfig('two', `file://${tmp}/nowhere`, `file://${repo}`), join(tmp, 'cache-two'));
    expect(md.baseurl).toBe(`file://${repo}`);
    const meta = { ...repoConfig('ml'), metalink: 'https://example.invalid/metalink' };
    expect((await errorOfAsync(syncRepo(meta, join(tmp, 'cache-ml')))).code).toBe('REPOMD_UNSUPPORTED');
    expect((await errorOfAsync(syncRepo(repoConfig('none', `file://${repo}`), join(tmp, 'cache-none'), { cacheOnly: true }))).code).toBe('REPOMD_CACHE_MISSING');
  });

  describe.skipIf(!NGINX_BIN)('over http (nginx)', () => {
    let server: NginxServer;
    let root: string;
    beforeAll(async () => {
      root = await makeRepo();
      server = await startNginx(root, join(tmp, 'nginx'));
    });
    afterAll(async () => {
      await server?.stop();
    });

    it('downloads once, reuses the cache while repomd.xml is unchanged, refreshes when it changes', async () => {
      const cache = join(tmp, 'cache-http');
      const cfg = repoConfig('web', server.url);
      const first = await syncRepo(cfg, cache);
      expect(first.cached).toBe(false);
      expect(resolve(first)).toEqual(EXPECTED);
      const log1 = (await server.accessLog()).map((e) => `${e.status} ${e.path}`);
      expect(log1.filter((l) => l.endsWith('repomd.xml'))).toEqual(['200 /repodata/repomd.xml']);
      expect(log1.filter((l) => /-(primary|filelists|other)\.xml\.gz$/.test(l))).toHaveLength(3);

      // Unchanged: one request (repomd.xml), nothing downloaded.
      const second = await syncRepo(cfg, cache);
      expect(second.cached).toBe(true);
      expect((await server.accessLog()).length).toBe(log1.length + 1);
      expect(second.primary).toBe(first.primary);

      // Changed: a new package; the new files are fetched, the old ones pruned.
      await buildTestRpms([{ name: 'newpkg', version: '2.0' }], root);
      await runOk('createrepo_c', ['-q', '--no-database', '--update', root]);
      const before = (await server.accessLog()).length;
      const third = await syncRepo(cfg, cache);
      expect(third.cached).toBe(false);
      const fetched = (await server.accessLog()).slice(before).map((e) => e.path);
      expect(fetched[0]).toBe('/repodata/repomd.xml');
      expect(fetched.length).toBeGreaterThan(1);
      expect(depsolve({ repos: [third], packages: ['newpkg'], arch: 'x86_64' }).packages.map((p) => p.nevra)).toEqual(['newpkg-2.0-1.noarch']);
      const files = (await readdir(join(cache, 'repomd', 'web'))).sort();
      expect(files).toEqual(['repomd.xml', ...Object.values(third.files).map((f) => f.split('/').pop()!)].sort());
      await expect(stat(first.primary)).rejects.toThrow();

      // --cache-only after the server is gone.
      await server.stop();
      const offline = await syncRepo(cfg, cache, { cacheOnly: true });
      expect(offline.primary).toBe(third.primary);
      expect((await errorOfAsync(syncRepo(cfg, cache))).code).toBe('REPOMD_FETCH_FAILED');
    });

    it('an HTTP 404 names the status and URL', async () => {
      const s2 = await startNginx(join(tmp, 'rpms'), join(tmp, 'nginx2'));
      try {
        const e = await errorOfAsync(syncRepo(repoConfig('web404', s2.url), join(tmp, 'cache-404')));
        expect(e.code).toBe('REPOMD_FETCH_FAILED');
        expect(e.message).toContain(`${s2.url}/repodata/repomd.xml: HTTP 404`);
      } finally {
        await s2.stop();
      }
    });
  });
});
