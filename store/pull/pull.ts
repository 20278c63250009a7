// `atomic repo pull`: fetch commits and their trees from a remote into a repo
// (ostree-format.md §7). Order of requests as ostree 2022.7: summary.sig, summary,
// config, refs, then per commit commitmeta, commit, and the tree walk in parallel.
// Every object is verified before it is staged in the transaction; refs are
// written last by Transaction.commit(); `.commitpartial` markers follow §7.4.
//
// Static deltas (delta-pull.ts) go first for each target, as in ostree: the walk after
// them finds the delta's objects staged and fetches only what it did not carry.
// Checklist for adding a fetch path: verify before staging, call space.reserve() before
// writing, count into progress, honour `failed`.

import { mkdir, readdir, rm, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { isUpdaterError, UpdaterError } from '../../common/errors.ts';
import { writeFileAtomic } from '../../common/fs-atomic.ts';
import { decodeCommit, isChecksum, type Commit } from '../objects/index.ts';
import { KeyFile } from '../repo/keyfile.ts';
import { validateRef } from '../repo/refs.ts';
import { Repo } from '../repo/repo.ts';
import { Transaction } from '../repo/transaction.ts';
import { getRemote, loadRemoteKeyring, remoteOption, signPolicy } from '../remote/index.ts';
import { verifyCommit, type Keyring } from '../sign/index.ts';
import { AdaptiveLimiter } from './adaptive-limit.ts';
import { applyFetchedDelta, chooseDelta, fetchSuperblock, type DeltaPullContext } from './delta-pull.ts';
import { ObjectFetcher, type TreeRef } from './fetch-objects.ts';
import { emptyProgress, type PullProgress } from './progress.ts';
import { SpaceGuard } from './space.ts';
import { fetchSummary, type FetchedSummary } from './summary-fetch.ts';
import { openTransport, type Transport } from './transport.ts';

export interface PullOptions {
  /** Refs or commit checksums to pull; empty: every ref with --mirror, else the remote's `branches`. */
  refs?: string[];
  /** Write refs to refs/heads and copy the summary, as a mirror. */
  mirror?: boolean;
  /** Parents to fetch too (-1 = all; default 0). */
  depth?: number;
  /** Fetch only commit objects; they stay marked partial. */
  commitMetadataOnly?: boolean;
  /** Local repositories to copy objects from instead of downloading them. */
  localCacheRepos?: string[];
  /** Accept a commit older than the one the ref has now. */
  allowDowngrade?: boolean;
  /** Never use static deltas (ostree's --disable-static-deltas). */
  disableStaticDeltas?: boolean;
  /** Fail unless every target comes through a static delta (ostree's --require-static-deltas); also allows them into archive repos and from file:// remotes. */
  requireStaticDeltas?: boolean;
  /** Fetch from this URL instead of the remote's configured one. */
  url?: string;
  /** Transient-failure retries per request (default 5). */
  networkRetries?: number;
  /** Abort a request when no bytes arrive for this many ms (default 30000, or ATOMIC_PULL_STALL_TIMEOUT seconds). */
  stallTimeoutMs?: number;
  /** Base of the exponential retry backoff (default 250 ms). */
  retryBaseMs?: number;
  /** Objects at least this large are downloaded resumably into tmp/pull-partial (default 1 MiB). */
  partialMinBytes?: number;
  /** Content objects written on the pull's own thread before the writer threads take over (default PULL_INLINE_WRITES). */
  inlineWrites?: number;
  /** Initial and maximum number of parallel requests (default 8 and 32). */
  concurrency?: number;
  maxConcurrency?: number;
  /** Where the default ed25519 trust store lives (default /etc/ostree, /usr/share/ostree). */
  trustBaseDirs?: string[];
  /** Progress snapshots, about four per second and one at the end. */
  onProgress?: (p: PullProgress) => void;
  onLockWait?: () => void;
  onRetry?: (what: string, err: Error, attempt: number) => void;
}

export interface PulledRef {
  /** `REMOTE:REF`, or `REF` for a mirror, or the checksum when pulled by checksum. */
  refspec: string;
  commit: string;
  previous: string | null;
}

export interface PullResult {
  refs: PulledRef[];
  /** Every commit fetched or re-walked. */
  commits: string[];
  progress: PullProgress;
}

interface Target {
  /** The ref name as requested, or null for a checksum. */
  ref: string | null;
  commit: string;
}

/**
 * A pull writes this many content objects on its own thread before it starts the writer
 * threads. Starting them costs more than they save on an upgrade's few thousand objects
 * (measured on the 1 GB bench update, 1.7k objects: 10 % slower with threads from the
 * 1000th object); a full pull of tens of thousands needs them.
 */
const PULL_INLINE_WRITES = 4000;

function envNumber(name: string): number | undefined {
  const v = process.env[name];
  if (v === undefined || v === '') return undefined;
  const n = Number(v);
  if (!Number.isFinite(n) || n < 0) throw new UpdaterError('CLI_USAGE', `${name}: expected a non-negative number, got '${v}'`);
  return n;
}

/** Pulls from `remoteName` into `repo`. */
export async function pullRemote(repo: Repo, remoteName: string, opts: PullOptions = {}): Promise<PullResult> {
  const remote = getRemote(repo, remoteName);
  const policy = signPolicy(remote);
  const url = opts.url ?? remote.url;
  const started = Date.now();
  const progress = emptyProgress();
  const limiter = new AdaptiveLimiter(opts.concurrency ?? 8, 1, opts.maxConcurrency ?? 32);
  const stallEnv = envNumber('ATOMIC_PULL_STALL_TIMEOUT');
  const transport = openTransport(url, {
    stallTimeoutMs: opts.stallTimeoutMs ?? (stallEnv === undefined ? undefined : stallEnv * 1000),
    retries: opts.networkRetries ?? envNumber('ATOMIC_PULL_RETRIES'),
    retryBaseMs: opts.retryBaseMs ?? envNumber('ATOMIC_PULL_RETRY_BASE_MS'),
    partialMinBytes: opts.partialMinBytes ?? envNumber('ATOMIC_PULL_PARTIAL_MIN'),
    onBytes: (n) => (progress.bytesTransferred += n),
    onRetry: (what, err, attempt) => {
      limiter.failure();
      opts.onRetry?.(what, err, attempt);
    },
  });
  const report = (phase?: string): void => {
    if (phase) progress.phase = phase;
    progress.elapsedMs = Date.now() - started;
    opts.onProgress?.({ ...progress });
  };
  const timer = opts.onProgress ? setInterval(() => report(), 250) : null;
  try {
    let keyring: Keyring | null = null;
    if (policy.commitTypes.length > 0 || policy.summary) keyring = await loadRemoteKeyring(remote, opts.trustBaseDirs);

    // 1. summary.sig + summary, when a ref must be resolved or we mirror.
    const requested = opts.refs && opts.refs.length > 0 ? opts.refs : opts.mirror ? [] : branchesOf(remote.options);
    if (requested.length === 0 && !opts.mirror) {
      throw new UpdaterError('CLI_USAGE', `no refs to pull from remote "${remoteName}"`, { hint: 'name one or more refs, or configure branches= for the remote' });
    }
    const needSummary = opts.mirror || requested.some((r) => !isChecksum(r));
    report('summary');
    const summary = needSummary ? await fetchSummary(repo, remoteName, transport, policy.summary ? keyring : null) : null;

    // 2. config: ostree reads it when a summary was found or no summary was needed.
    const source = await openSource(url, transport, summary !== null || !needSummary);

    // 3. refs → commits.
    report('refs');
    const targets = await resolveTargets(transport, remoteName, requested, summary);

    // 4. objects, inside one transaction.
    const tx = await Transaction.begin(repo, { onWait: opts.onLockWait });
    tx.inlineWriteLimit = opts.inlineWrites ?? PULL_INLINE_WRITES;
    const caches: Repo[] = [];
    let fetcher: ObjectFetcher | null = null;
    try {
      for (const p of opts.localCacheRepos ?? []) caches.push(await Repo.open(p));
      if (source.localRepo) caches.push(source.localRepo);
      const partials = await prunePartials(repo, tx);
      const space = await SpaceGuard.open(repo);
      fetcher = new ObjectFetcher({
        tx, transport, limiter, progress, caches, space,
        sourceIsArchive: source.archive, sourceRepo: source.localRepo, partials,
      });
      // ostree 2022.7 uses deltas only into non-archive repos, not from local (file://) remotes,
      // and not for --commit-metadata-only.
      const deltasOn = !opts.disableStaticDeltas && !opts.commitMetadataOnly
        && (!!opts.requireStaticDeltas || (repo.mode !== 'archive' && !/^file:/i.test(url)));
      const deltas: DeltaPullContext | null = deltasOn ? {
        repo, tx, transport, fetcher, progress, space, partials, summary, configIndexedDeltas: source.indexedDeltas,
        keyring: policy.commitTypes.length > 0 ? keyring : null, remote: remoteName,
      } : null;
      report('objects');
      const result = await pullTargets(repo, tx, fetcher, deltas, remoteName, targets, keyring, policy.commitTypes.length > 0, opts);
      report('writing');
      await tx.commit();
      // After the commit objects are in place: detached metadata, then completeness.
      for (const [csum, meta] of result.commitmeta) await repo.writeCommitmeta(csum, meta);
      for (const csum of result.complete) await repo.clearCommitPartial(csum);
      if (opts.mirror && summary !== null) await copySummary(repo, summary);
      report('done');
      return { refs: result.refs, commits: result.commits, progress: { ...progress } };
    } catch (err) {
      await fetcher?.settle();
      await tx.abort();
      throw err;
    }
  } finally {
    if (timer) clearInterval(timer);
    transport.close();
  }
}

function branchesOf(options: Array<[string, string]>): string[] {
  const b = remoteOption({ name: '', url: '', options }, 'branches');
  return b === undefined ? [] : b.split(';').filter(Boolean);
}

interface Source {
  /** Objects are `.filez` archives (http remotes must be). */
  archive: boolean;
  /** The remote's config says `core.indexed-deltas=true`. */
  indexedDeltas: boolean;
  /** A file:// remote that is not an archive repo: objects are read through the store. */
  localRepo: Repo | null;
}

async function openSource(url: string, transport: Transport, fetchConfig: boolean): Promise<Source> {
  if (/^file:/i.test(url)) {
    const src = await Repo.open(fileURLToPath(url)).catch((err) => {
      throw new UpdaterError('PULL_NOT_A_REPO', `${url} is not an OSTree repository`, { cause: err });
    });
    const indexedDeltas = src.config.get('core', 'indexed-deltas') === 'true';
    return src.mode === 'archive' ? { archive: true, indexedDeltas, localRepo: null } : { archive: false, indexedDeltas, localRepo: src };
  }
  let indexedDeltas = false;
  if (fetchConfig) {
    const text = await transport.getBytes('config', { optional: true });
    if (text !== null) {
      const kf = KeyFile.parse(text.toString('utf8'), `${transport.url} config`);
      indexedDeltas = kf.get('core', 'indexed-deltas') === 'true';
      const mode = kf.get('core', 'mode') ?? 'bare';
      if (mode !== 'archive-z2' && mode !== 'archive') {
        throw new UpdaterError('PULL_REMOTE_NOT_ARCHIVE', `remote repository ${transport.url} has mode ${mode}; only archive repositories can be pulled over HTTP`);
      }
    }
  }
  return { archive: true, indexedDeltas, localRepo: null };
}

async function resolveTargets(transport: Transport, remote: string, requested: string[], summary: FetchedSummary | null): Promise<Target[]> {
  if (requested.length === 0) {
    if (summary === null) {
      throw new UpdaterError('PULL_NO_SUMMARY', `remote "${remote}" (${transport.url}) has no summary, so its refs cannot be listed for --mirror`, { hint: 'name the refs to mirror' });
    }
    return summary.summary.refs.map((r) => ({ ref: r.name, commit: r.checksum }));
  }
  const out: Target[] = [];
  for (const r of requested) {
    if (isChecksum(r)) {
      out.push({ ref: null, commit: r });
      continue;
    }
    validateRef(r);
    if (summary !== null) {
      const hit = summary.summary.refs.find((x) => x.name === r);
      if (!hit) throw new UpdaterError('PULL_REF_NOT_FOUND', `no such branch '${r}' in the summary of remote "${remote}" (${transport.url})`);
      out.push({ ref: r, commit: hit.checksum });
      continue;
    }
    const body = await transport.getBytes(`refs/heads/${r}`, { optional: true });
    if (body === null) throw new UpdaterError('PULL_REF_NOT_FOUND', `remote "${remote}" (${transport.url}) has no ref '${r}'`);
    const csum = body.toString('utf8').trim();
    if (!isChecksum(csum)) throw new UpdaterError('PULL_BAD_REF', `${transport.url}refs/heads/${r}: does not hold a checksum`);
    out.push({ ref: r, commit: csum });
  }
  return out;
}

interface TargetsResult {
  refs: PulledRef[];
  commits: string[];
  /** Commits whose whole tree is now present: their .commitpartial goes. */
  complete: string[];
  commitmeta: Array<[string, Uint8Array]>;
}

async function pullTargets(
  repo: Repo, tx: Transaction, fetcher: ObjectFetcher, deltas: DeltaPullContext | null, remote: string, targets: Target[], keyring: Keyring | null,
  verify: boolean, opts: PullOptions,
): Promise<TargetsResult> {
  const res: TargetsResult = { refs: [], commits: [], complete: [], commitmeta: [] };
  const seen = new Set<string>();
  const depth = opts.depth ?? 0;
  /** Detached metadata already fetched with a delta's superblock. */
  const knownMeta = new Map<string, Buffer | null>();

  /** Applies a static delta to `t`, when the remote has a suitable one; the walk then finds its objects staged. */
  const tryDelta = async (t: Target): Promise<void> => {
    if (deltas === null) return;
    if ((await repo.hasObject(t.commit, 'commit')) && !(await repo.isCommitPartial(t.commit))) return;
    const refspec = t.ref === null ? null : opts.mirror ? t.ref : `${remote}:${t.ref}`;
    const current = refspec === null ? null : await repo.readRef(refspec);
    const plan = await chooseDelta(deltas, t.commit, current);
    const got = plan === null ? null : await fetchSuperblock(deltas, plan);
    if (got === null) {
      if (opts.requireStaticDeltas) {
        throw new UpdaterError('PULL_NO_DELTA', `remote "${remote}" has no static delta to ${t.commit}${current ? ` from ${current}` : ''}`, {
          hint: 'pull without --require-static-deltas to fetch objects',
        });
      }
      return;
    }
    knownMeta.set(t.commit, got.commitmeta);
    // The checks the object path makes on the commit, before any part is fetched.
    if (verify) await verifySignature(remote, t.commit, got.superblock.commit, got.commitmeta, keyring!);
    if (t.ref) await checkDowngrade(repo, opts.mirror ? null : remote, t.ref, t.commit, decodeCommit(got.superblock.commit, `commit ${t.commit}`), !!opts.allowDowngrade);
    const phase = deltas.progress.phase;
    deltas.progress.phase = 'delta';
    await applyFetchedDelta(deltas, got);
    deltas.progress.phase = phase;
  };

  const pullCommit = async (csum: string, target: Target | null, depthLeft: number): Promise<void> => {
    if (seen.has(csum)) return;
    seen.add(csum);
    // commitmeta first, and always: new signatures on a known commit are picked up.
    const meta = knownMeta.has(csum) ? knownMeta.get(csum)! : await fetcher.fetchCommitmeta(csum);
    const got = await fetcher.fetchCommit(csum, target === null);
    if (got === null) return; // a parent the server no longer has: history ends here
    const { commit, bytes, wasLocal } = got;
    if (verify) await verifySignature(remote, csum, bytes, meta, keyring!);
    if (target?.ref) await checkDowngrade(repo, opts.mirror ? null : remote, target.ref, csum, commit, !!opts.allowDowngrade);
    const partial = wasLocal && (await repo.isCommitPartial(csum));
    if (!wasLocal) {
      // ostree marks the commit partial before its object is written (§7.4).
      await repo.markCommitPartial(csum);
      await fetcher.stageCommit(csum, bytes);
    }
    if (meta !== null) res.commitmeta.push([csum, meta]);
    res.commits.push(csum);
    if (!opts.commitMetadataOnly && (!wasLocal || partial)) {
      const refspec = target?.ref ? (opts.mirror ? target.ref : `${remote}:${target.ref}`) : null;
      const base = await completeBase(repo, csum, [refspec === null ? null : await repo.readRef(refspec), commit.parent]);
      await fetcher.walkTree(commit.rootTree, commit.rootMeta, base);
      res.complete.push(csum);
    }
    if (depthLeft !== 0 && commit.parent !== null) await pullCommit(commit.parent, null, depthLeft > 0 ? depthLeft - 1 : -1);
  };

  for (const t of targets) {
    await tryDelta(t);
    await pullCommit(t.commit, t, depth);
    fetcher.throwIfFailed();
    if (t.ref !== null) {
      const refRemote = opts.mirror ? null : remote;
      const previous = await repo.readRef(refRemote === null ? t.ref : `${refRemote}:${t.ref}`);
      tx.setRef(refRemote, t.ref, t.commit);
      res.refs.push({ refspec: refRemote === null ? t.ref : `${refRemote}:${t.ref}`, commit: t.commit, previous });
    } else {
      res.refs.push({ refspec: t.commit, commit: t.commit, previous: null });
    }
  }
  return res;
}

/**
 * The root of the first candidate that is a complete commit in the repo (its object
 * present, no .commitpartial), or null: everything it reaches is present, so the walk of
 * the new commit skips what the two share. Candidates: the ref's current commit, the parent.
 */
async function completeBase(repo: Repo, csum: string, candidates: Array<string | null>): Promise<TreeRef | null> {
  for (const c of candidates) {
    if (c === null || c === csum || !(await repo.hasObject(c, 'commit')) || (await repo.isCommitPartial(c))) continue;
    try {
      const commit = await repo.loadCommit(c);
      return { tree: commit.rootTree, meta: commit.rootMeta };
    } catch {
      continue; // a corrupt commit object: no base from it
    }
  }
  return null;
}

async function verifySignature(remote: string, csum: string, bytes: Uint8Array, meta: Uint8Array | null, keyring: Keyring): Promise<void> {
  try {
    await verifyCommit(csum, bytes, meta, keyring.trusted, keyring.revoked);
  } catch (err) {
    if (isUpdaterError(err) && err.code.startsWith('SIGN_')) {
      throw new UpdaterError(err.code, `remote "${remote}": ${err.message}`, { hint: err.hint, cause: err });
    }
    throw err;
  }
}

/** Refuses a commit older than the one the ref names now (ostree's timestamp-check, on by default here). */
async function checkDowngrade(repo: Repo, remote: string | null, ref: string, csum: string, commit: Commit, allow: boolean): Promise<void> {
  const refspec = remote === null ? ref : `${remote}:${ref}`;
  const current = await repo.readRef(refspec);
  if (current === null || current === csum || allow || !(await repo.hasObject(current, 'commit'))) return;
  const old = await repo.loadCommit(current);
  if (commit.timestamp < old.timestamp) {
    const iso = (t: number): string => new Date(t * 1000).toISOString().replace('.000Z', 'Z');
    throw new UpdaterError('PULL_DOWNGRADE', `refusing to move ${refspec} from ${current} (${iso(old.timestamp)}) to the older commit ${csum} (${iso(commit.timestamp)})`, {
      hint: 'pass --allow-downgrade to accept an older commit',
    });
  }
}

/**
 * Keeps tmp/pull-partial from growing: partial downloads older than the repo's
 * tmp-expiry-secs (default one day, as ostree expires tmp/) are dropped, and so are the
 * leftovers of objects the repo already has (a pull killed after staging an object but
 * before removing its download). Runs under the transaction's lock.
 */
async function prunePartials(repo: Repo, tx: Transaction): Promise<Set<string>> {
  const dir = join(repo.path, 'tmp', 'pull-partial');
  await mkdir(dir, { recursive: true });
  const expiry = Number(repo.config.get('core', 'tmp-expiry-secs') ?? 86400) * 1000;
  const kept = new Set<string>();
  for (const name of await readdir(dir)) {
    const p = join(dir, name);
    const st = await stat(p).catch(() => null);
    const object = /^([0-9a-f]{64})\.(?:filez\.part|data)$/.exec(name)?.[1];
    if ((st && Date.now() - st.mtimeMs > expiry) || (object !== undefined && tx.hasSync(object, 'file'))) await rm(p, { force: true });
    else kept.add(name);
  }
  return kept;
}

/** A mirror also carries the remote's summary and signature (§7.3). */
async function copySummary(repo: Repo, s: FetchedSummary): Promise<void> {
  await writeFileAtomic(join(repo.path, 'summary'), s.bytes);
  if (s.sig !== null) await writeFileAtomic(join(repo.path, 'summary.sig'), s.sig);
  else await rm(join(repo.path, 'summary.sig'), { force: true });
}
