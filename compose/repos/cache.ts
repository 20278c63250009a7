// The rpm-md metadata cache: CACHEDIR/repomd/<repo id>/ holds the repo's repomd.xml and
// the metadata files it names, each verified against repomd's checksum and size. Every
// sync fetches repomd.xml (rpm-ostree always refreshes); when it is byte-identical to the
// cached one and the cached files still verify, nothing else is downloaded.
//
// Ordering: new metadata files are downloaded under temporary names, verified, renamed
// to content-addressed names (<checksum>-<type><ext>, never overwriting a file in use),
// then repomd.xml is replaced atomically (the commit point), then unreferenced files are
// removed. A crash at any point leaves the old or the new set complete.

import { createHash, randomBytes } from 'node:crypto';
import { mkdir, readdir, readFile, rename, stat, unlink } from 'node:fs/promises';
import { basename, join } from 'node:path';
import { UpdaterError, isErrno, prefixError } from '../../common/errors.ts';
import { writeFileAtomic } from '../../common/fs-atomic.ts';
import { digestDecompressed } from './decompress.ts';
import { digestFile, downloadVerified, fetchBytes, resolveUrl, type FetchOptions } from './fetch.ts';
import type { RepoConfig } from './repo-file.ts';
import { compressionOf, parseRepomd, type Repomd, type RepomdRecord } from './repomd.ts';

/** A repo's metadata, downloaded and verified, ready for the solver. */
export interface RepoMetadata {
  id: string;
  name: string;
  /** The base URL that served it. */
  baseurl: string;
  priority: number;
  cost: number;
  excludePackages: string[];
  includePackages: string[];
  gpgcheck: boolean;
  /** repomd's `<revision>`. */
  revision?: string;
  /** The newest `<timestamp>` in repomd.xml, ISO 8601 (rpm-ostree prints it as "generated"). */
  generated?: string;
  /** True when repomd.xml was unchanged and nothing was downloaded. */
  cached: boolean;
  /** The repo's cache directory. */
  dir: string;
  /** Cached repomd.xml and its SHA-256. */
  repomd: string;
  repomdSha256: string;
  /** Cached metadata files by type (`primary`, `filelists`, `other`). */
  files: Record<string, string>;
  primary: string;
  filelists?: string;
  other?: string;
}

export interface SyncOptions extends FetchOptions {
  /** rpm-ostree's --cache-only: use the cache as it is, fetch nothing. */
  cacheOnly?: boolean;
  /** Metadata types to keep (default primary, filelists, other; primary is required). */
  types?: string[];
}

const MAX_REPOMD = 16 * 1024 * 1024;
const DEFAULT_TYPES = ['primary', 'filelists', 'other'];

/** The cache directory of one repo. */
export function repoCacheDir(cacheDir: string, id: string): string {
  return join(cacheDir, 'repomd', id);
}

/** Syncs every repo (in parallel); errors name the repo id, URL and file. */
export async function syncRepos(repos: RepoConfig[], cacheDir: string, opts: SyncOptions = {}): Promise<RepoMetadata[]> {
  return Promise.all(repos.map((r) => syncRepo(r, cacheDir, opts)));
}

/** Brings one repo's cached metadata up to date with its base URL (or checks it, with cacheOnly). */
export async function syncRepo(repo: RepoConfig, cacheDir: string, opts: SyncOptions = {}): Promise<RepoMetadata> {
  try {
    return await syncRepoInner(repo, cacheDir, opts);
  } catch (err) {
    throw prefixError(`repo '${repo.id}'`, err);
  }
}

async function syncRepoInner(repo: RepoConfig, cacheDir: string, opts: SyncOptions): Promise<RepoMetadata> {
  const dir = repoCacheDir(cacheDir, repo.id);
  const repomdPath = join(dir, 'repomd.xml');
  const types = opts.types ?? DEFAULT_TYPES;
  const cachedBytes = await readFile(repomdPath).catch((err) => {
    if (isErrno(err, 'ENOENT')) return null;
    throw err;
  });

  if (opts.cacheOnly) {
    if (!cachedBytes) throw new UpdaterError('REPOMD_CACHE_MISSING', `no cached metadata in ${dir}`, { hint: 'run once without --cache-only' });
    const repomd = await parseRepomd(cachedBytes.toString('utf8'), repomdPath);
    const files = await checkCached(dir, repomd, types);
    const missing = wanted(repomd, types).filter((r) => !files[r.type]);
    if (missing.length) throw new UpdaterError('REPOMD_CACHE_MISSING', `cached ${missing.map((r) => r.type).join(', ')} metadata in ${dir} is missing or fails its checksum`, { hint: 'run once without --cache-only' });
    return result(repo, dir, repo.baseurl[0] ?? '', repomd, cachedBytes, files, true);
  }

  if (repo.baseurl.length === 0) {
    const what = repo.metalink ? 'metalink' : repo.mirrorlist ? 'mirrorlist' : null;
    throw new UpdaterError('REPOMD_UNSUPPORTED', what ? `${repo.file}: ${what} is not supported; give a baseurl` : `${repo.file}: no baseurl`);
  }
  if (repo.repoGpgcheck) {
    throw new UpdaterError('REPOMD_UNSUPPORTED', `${repo.file}: repo_gpgcheck (signed repomd.xml) is not supported`, { hint: 'set repo_gpgcheck=0' });
  }

  // repomd.xml from the first base URL that answers.
  let fetched: { base: string; bytes: Buffer } | null = null;
  const failures: string[] = [];
  for (const base of repo.baseurl) {
    try {
      fetched = { base, bytes: await fetchBytes(resolveUrl(base, 'repodata/repomd.xml'), MAX_REPOMD, opts) };
      break;
    } catch (err) {
      failures.push((err as Error).message);
    }
  }
  if (!fetched) throw new UpdaterError('REPOMD_FETCH_FAILED', `cannot fetch repodata/repomd.xml: ${failures.join('; ')}`);
  const repomdUrl = resolveUrl(fetched.base, 'repodata/repomd.xml');
  const repomd = await parseRepomd(fetched.bytes.toString('utf8'), repomdUrl);
  for (const rec of wanted(repomd, types)) {
    if (compressionOf(rec.href) === null) throw new UpdaterError('REPOMD_UNSUPPORTED', `${repomdUrl}: ${rec.type} metadata '${rec.href}' has a compression this program cannot read (gz, xz, zst, bz2 are supported)`);
  }
  await mkdir(dir, { recursive: true });

  const unchanged = cachedBytes !== null && cachedBytes.equals(fetched.bytes);
  const files = await checkCached(dir, repomd, types);
  let downloaded = 0;
  for (const rec of wanted(repomd, types)) {
    if (files[rec.type]) continue;
    files[rec.type] = await downloadRecord(repo, fetched.base, rec, dir, opts);
    downloaded++;
  }
  // The commit point: from here the cache describes the new repomd.xml.
  if (!unchanged) await writeFileAtomic(repomdPath, fetched.bytes);
  await pruneUnreferenced(dir, new Set(Object.values(files).map((p) => basename(p))));
  return result(repo, dir, fetched.base, repomd, fetched.bytes, files, unchanged && downloaded === 0);
}

function wanted(repomd: Repomd, types: string[]): RepomdRecord[] {
  const want = new Set(['primary', ...types]);
  return [...repomd.records.values()].filter((r) => want.has(r.type));
}

/** `<checksum>-<type><ext>`: content-addressed, keeping the suffix solv_xfopen reads. */
function cacheName(rec: RepomdRecord): string {
  const ext = /(\.xml|\.sqlite)?(\.(gz|xz|zst|bz2))?$/.exec(basename(rec.href))![0] || '.xml';
  return `${rec.checksum.value}-${rec.type}${ext}`;
}

/** The cached files that still match repomd (size and checksum), by type. */
async function checkCached(dir: string, repomd: Repomd, types: string[]): Promise<Record<string, string>> {
  const out: Record<string, string> = {};
  for (const rec of wanted(repomd, types)) {
    const path = join(dir, cacheName(rec));
    const st = await stat(path).catch(() => null);
    if (!st || (rec.size !== undefined && st.size !== rec.size)) continue;
    const { digest } = await digestFile(path, rec.checksum.type);
    if (digest === rec.checksum.value) out[rec.type] = path;
  }
  return out;
}

/** Downloads one metadata file, verifies it (stored and decompressed form) and moves it into place. */
async function downloadRecord(repo: RepoConfig, firstBase: string, rec: RepomdRecord, dir: string, opts: FetchOptions): Promise<string> {
  const bases = [firstBase, ...repo.baseurl.filter((b) => b !== firstBase)];
  const final = join(dir, cacheName(rec));
  let lastErr: unknown = null;
  for (const base of bases) {
    const url = resolveUrl(base, rec.href);
    const tmp = join(dir, `.tmp-${randomBytes(6).toString('hex')}-${cacheName(rec)}`);
    try {
      await downloadVerified(url, tmp, { checksum: rec.checksum, ...(rec.size !== undefined ? { size: rec.size } : {}) }, opts);
      // A file whose stored form verifies can still decompress wrongly if repomd was
      // generated from a broken file: check the content too when repomd declares it.
      if (rec.openChecksum || rec.openSize !== undefined) {
        const algo = rec.openChecksum?.type ?? 'sha256';
        const got = await digestDecompressed(tmp, compressionOf(rec.href)!, algo, url);
        if (rec.openSize !== undefined && got.size !== rec.openSize) {
          throw new UpdaterError('REPOMD_METADATA_CORRUPT', `${url}: decompresses to ${got.size} bytes, but repomd.xml declares open-size ${rec.openSize}`);
        }
        if (rec.openChecksum && got.digest !== rec.openChecksum.value) {
          throw new UpdaterError('REPOMD_METADATA_CORRUPT', `${url}: decompressed content fails its open-checksum (${algo} ${got.digest}, repomd.xml declares ${rec.openChecksum.value})`);
        }
      }
      await rename(tmp, final);
      return final;
    } catch (err) {
      await unlink(tmp).catch(() => {});
      lastErr = err;
      // Content errors are the repo's, not the mirror's; only retry fetch failures elsewhere.
      if (!(err instanceof UpdaterError && err.code === 'REPOMD_FETCH_FAILED')) break;
    }
  }
  throw lastErr;
}

/** Removes files no longer named by the current repomd (and stale temporary files). */
async function pruneUnreferenced(dir: string, keep: Set<string>): Promise<void> {
  const dayAgo = Date.now() - 24 * 3600 * 1000;
  for (const name of await readdir(dir)) {
    if (name === 'repomd.xml' || keep.has(name)) continue;
    if (name.startsWith('.')) {
      // Another process may be downloading right now: only old temporaries go.
      const st = await stat(join(dir, name)).catch(() => null);
      if (!st || st.mtimeMs > dayAgo) continue;
    }
    await unlink(join(dir, name)).catch(() => {});
  }
}

function result(repo: RepoConfig, dir: string, base: string, repomd: Repomd, bytes: Buffer, files: Record<string, string>, cached: boolean): RepoMetadata {
  const stamps = [...repomd.records.values()].map((r) => r.timestamp ?? 0);
  const newest = Math.max(0, ...stamps);
  const out: RepoMetadata = {
    id: repo.id,
    name: repo.name,
    baseurl: base,
    priority: repo.priority,
    cost: repo.cost,
    excludePackages: repo.excludePackages,
    includePackages: repo.includePackages,
    gpgcheck: repo.gpgcheck,
    cached,
    dir,
    repomd: join(dir, 'repomd.xml'),
    repomdSha256: createSha256(bytes),
    files,
    primary: files['primary']!,
  };
  if (repomd.revision !== undefined) out.revision = repomd.revision;
  if (newest > 0) out.generated = new Date(newest * 1000).toISOString();
  if (files['filelists']) out.filelists = files['filelists'];
  if (files['other']) out.other = files['other'];
  return out;
}

function createSha256(b: Buffer): string {
  return createHash('sha256').update(b).digest('hex');
}

/**
 * The line rpm-ostree prints per repo after loading it:
 * `rpm-md repo 'ID' (cached); generated: 2024-01-02T03:04:05Z solvables: N`.
 */
export function formatRepoLine(md: Pick<RepoMetadata, 'id' | 'cached' | 'generated'>, solvables: number): string {
  const generated = md.generated ? md.generated.replace(/\.\d{3}Z$/, 'Z') : 'unknown';
  return `rpm-md repo '${md.id}'${md.cached ? ' (cached)' : ''}; generated: ${generated} solvables: ${solvables}`;
}
