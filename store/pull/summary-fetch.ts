// Fetching a remote's `summary` and `summary.sig` the way ostree 2022.7 does
// (ostree-format.md §7.1): `summary.sig` first, conditionally against the cache in
// tmp/cache/summaries/REMOTE{,.sig} (ETag in the user.etag xattr, Last-Modified as
// the mtime); an unchanged signature reuses the cached summary without downloading it.

import { mkdir, readFile, stat, utimes } from 'node:fs/promises';
import { join } from 'node:path';
import { isErrno, isUpdaterError, UpdaterError } from '../../common/errors.ts';
import { writeFileAtomic } from '../../common/fs-atomic.ts';
import { getXattr, setXattr } from '../../common/libc.ts';
import { decodeSummary, type Summary } from '../objects/index.ts';
import type { Repo } from '../repo/repo.ts';
import { verifySummary, type Keyring } from '../sign/index.ts';
import type { Transport } from './transport.ts';

export interface FetchedSummary {
  bytes: Buffer;
  sig: Buffer | null;
  summary: Summary;
  /** True when the cached copy was used (304 or identical signature). */
  fromCache: boolean;
}

async function readOptional(path: string): Promise<Buffer | null> {
  try {
    return await readFile(path);
  } catch (err) {
    if (isErrno(err, 'ENOENT')) return null;
    throw err;
  }
}

/**
 * Fetches (or reuses) the summary; null when the remote has none. With
 * `keyring`, a missing or invalid `summary.sig` is fatal (sign-verify-summary),
 * and that is decided before any object is fetched.
 */
export async function fetchSummary(repo: Repo, remote: string, transport: Transport, keyring: Keyring | null): Promise<FetchedSummary | null> {
  const cacheDir = join(repo.path, 'tmp', 'cache', 'summaries');
  const cachePath = join(cacheDir, remote);
  const cacheSigPath = `${cachePath}.sig`;
  const cachedSig = await readOptional(cacheSigPath);
  const cached = cachedSig === null ? null : await readOptional(cachePath);
  let etag: string | null = null;
  let lastModified: string | null = null;
  if (cachedSig !== null && cached !== null) {
    etag = getXattr(cacheSigPath, 'user.etag')?.toString('utf8') ?? null;
    lastModified = (await stat(cacheSigPath)).mtime.toUTCString();
  }

  const sigRes = await transport.getConditional('summary.sig', etag, lastModified);
  let sig = sigRes.status === 404 ? null : sigRes.bytes;
  let bytes: Buffer | null;
  let fromCache = false;
  if (cached !== null && (sigRes.status === 304 || (sig !== null && cachedSig!.equals(sig)))) {
    bytes = cached;
    sig = cachedSig;
    fromCache = true;
  } else {
    bytes = await transport.getBytes('summary', { optional: true });
  }

  if (keyring !== null) {
    if (bytes === null) {
      throw new UpdaterError('PULL_SUMMARY_NOT_SIGNED', `remote "${remote}" (${transport.url}) has no summary, but sign-verify-summary=true requires a signed one`, {
        hint: 'the publisher must run `atomic repo summary -u` with a signing key',
      });
    }
    try {
      await verifySummary(bytes, sig, keyring.trusted, keyring.revoked);
    } catch (err) {
      if (isUpdaterError(err) && err.code.startsWith('SIGN_')) {
        throw new UpdaterError(err.code, `remote "${remote}" (${transport.url}): ${sig === null ? 'no summary.sig: ' : ''}${err.message}`, { hint: err.hint, cause: err });
      }
      throw err;
    }
  }
  if (bytes === null) return null;

  let summary: Summary;
  try {
    summary = decodeSummary(bytes, `summary of remote "${remote}"`);
  } catch (err) {
    throw new UpdaterError('PULL_BAD_SUMMARY', `summary from ${transport.url}: ${(err as Error).message}`, {
      cause: err,
      hint: 'the remote\'s summary file is damaged; the publisher should regenerate it (`atomic repo summary -u`)',
    });
  }

  // Cache only signed summaries: the signature is what makes a cheap freshness check possible.
  if (!fromCache && sig !== null) {
    await mkdir(cacheDir, { recursive: true });
    await writeFileAtomic(cachePath, bytes, { sync: false });
    await writeFileAtomic(cacheSigPath, sig, { sync: false });
    if (sigRes.etag) {
      try {
        setXattr(cacheSigPath, 'user.etag', Buffer.from(sigRes.etag));
      } catch {
        // No user xattrs on this filesystem: fall back to If-Modified-Since alone.
      }
    }
    if (sigRes.lastModified) {
      const t = new Date(sigRes.lastModified);
      if (!Number.isNaN(t.getTime())) await utimes(cacheSigPath, t, t);
    }
  }
  return { bytes, sig, summary, fromCache };
}
