// The static-delta half of a pull (ostree-format.md §7.1 step 4-5, §8), chosen as
// ostree 2022.7 chooses: the candidates come from the target's delta index (when the
// summary or config says deltas are indexed) or the summary's `ostree.static-deltas`,
// or, with neither, a blind try of CURRENT-TO (or the from-scratch TO) superblock. The
// FROM must be a complete local commit, the newest such one wins; a from-scratch delta
// is used only when the ref has no local commit yet. The superblock must hash to the
// listed digest; its commit is verified (signature, downgrade) and the space for the
// parts is checked before anything is written; parts are downloaded resumably (Range),
// checked against the superblock and applied into the pull's transaction. Fallback
// objects are left to the tree walk, which fetches them as loose objects.

import { readFile, rm } from 'node:fs/promises';
import { basename, join } from 'node:path';
import { UpdaterError } from '../../common/errors.ts';
import {
  applyStaticDelta, commitmetaKey, decodeDeltaIndex, decodeSuperblock, deltaIndexRelPath, deltaName, deltaRelDir, parseDeltaName,
  STATIC_DELTAS_KEY, verifySuperblockSignature, type DeltaDigest, type DeltaPartHeader,
} from '../delta/index.ts';
import { dictGet, serialize, type GValue, type VarDict } from '../gvariant/index.ts';
import { checksumFromBytes, sha256Hex } from '../objects/index.ts';
import type { Repo } from '../repo/repo.ts';
import type { Transaction } from '../repo/transaction.ts';
import type { Keyring } from '../sign/index.ts';
import type { ObjectFetcher } from './fetch-objects.ts';
import { formatBytes, type PullProgress } from './progress.ts';
import type { SpaceGuard } from './space.ts';
import { partialDir } from './stage.ts';
import type { FetchedSummary } from './summary-fetch.ts';
import type { Transport } from './transport.ts';

/** Summary key saying deltas are listed per target in delta-indexes/. */
const INDEXED_DELTAS_KEY = 'ostree.summary.indexed-deltas';

export interface DeltaPullContext {
  repo: Repo;
  tx: Transaction;
  transport: Transport;
  fetcher: ObjectFetcher;
  progress: PullProgress;
  space: SpaceGuard;
  /** Files in tmp/pull-partial when the pull started. */
  partials: Set<string>;
  summary: FetchedSummary | null;
  /** The remote's config says `core.indexed-deltas=true` (consulted when there is no summary). */
  configIndexedDeltas: boolean;
  /** Verify a signed superblock with these keys (the remote requires commit signatures). */
  keyring: Keyring | null;
  remote: string;
}

/** A delta to try: FROM (null: from scratch), TO, and the superblock digest the index or summary lists (null: legacy guess). */
export interface DeltaPlan {
  from: string | null;
  to: string;
  digest: string | null;
}

type DecodedSuperblock = ReturnType<typeof decodeSuperblock>;

/** How the remote lists its deltas. */
async function candidates(ctx: DeltaPullContext, to: string): Promise<DeltaDigest[] | null> {
  const meta = ctx.summary?.summary.metadata ?? null;
  const indexed = meta !== null ? dictGet(meta, INDEXED_DELTAS_KEY, 'b') === true : ctx.configIndexedDeltas;
  if (indexed) {
    const rel = deltaIndexRelPath(to);
    const bytes = await ctx.transport.getBytes(rel, { optional: true });
    if (bytes === null) return [];
    try {
      return decodeDeltaIndex(bytes, `${ctx.transport.url.replace(/\/?$/, '/')}${rel}`);
    } catch (err) {
      throw new UpdaterError('DELTA_CORRUPT', `delta index ${rel} of remote "${ctx.remote}": ${(err as Error).message}`, { cause: err });
    }
  }
  if (meta !== null) {
    const listed = dictGet(meta, STATIC_DELTAS_KEY, 'a{sv}') as VarDict | undefined;
    return (listed ?? []).map(([name, v]) => ({ name, superblockSha256: checksumFromBytes(v.value as Uint8Array, `summary: ${STATIC_DELTAS_KEY} ${name}`) }));
  }
  return null;
}

/**
 * Picks the delta for `to`, given what the ref names locally now (`current`, null when
 * the ref is new or the target is a checksum). Null: fetch objects.
 */
export async function chooseDelta(ctx: DeltaPullContext, to: string, current: string | null): Promise<DeltaPlan | null> {
  const currentComplete = current !== null && current !== to && (await isComplete(ctx.repo, current)) ? current : null;
  const listed = await candidates(ctx, to);
  if (listed === null) {
    // Legacy remote (no summary, no index): try the delta from the ref's commit, or a scratch one.
    if (current !== null && currentComplete === null) return null;
    return { from: currentComplete, to, digest: null };
  }
  let best: { from: string; ts: number; digest: string } | null = null;
  let scratch: string | null = null;
  for (const d of listed) {
    let name;
    try {
      name = parseDeltaName(d.name);
    } catch {
      continue; // a malformed name in a summary is skipped, as ostree does
    }
    if (name.to !== to) continue;
    if (name.from === null) {
      scratch = d.superblockSha256;
      continue;
    }
    if (!(await isComplete(ctx.repo, name.from))) continue;
    const ts = (await ctx.repo.loadCommit(name.from)).timestamp;
    if (best === null || ts > best.ts) best = { from: name.from, ts, digest: d.superblockSha256 };
  }
  if (best !== null) return { from: best.from, to, digest: best.digest };
  // A from-scratch delta only for a ref the repo does not have yet (few changes otherwise: objects are cheaper).
  if (scratch !== null && current === null) return { from: null, to, digest: scratch };
  return null;
}

async function isComplete(repo: Repo, csum: string): Promise<boolean> {
  return (await repo.hasObject(csum, 'commit')) && !(await repo.isCommitPartial(csum));
}

export interface FetchedDelta {
  plan: DeltaPlan;
  name: string;
  raw: Buffer;
  superblock: DecodedSuperblock;
  /** The commit's detached metadata: the remote's `.commitmeta`, else the copy in the superblock. */
  commitmeta: Buffer | null;
}

/** Fetches and checks the superblock; null when the remote does not have it (a legacy guess, or a stale listing). */
export async function fetchSuperblock(ctx: DeltaPullContext, plan: DeltaPlan): Promise<FetchedDelta | null> {
  const name = deltaName(plan.from, plan.to);
  const rel = `${deltaRelDir(plan.from, plan.to)}/superblock`;
  const where = `${ctx.transport.url.replace(/\/?$/, '/')}${rel}`;
  const raw = await ctx.transport.getBytes(rel, { optional: true });
  if (raw === null) return null;
  const corrupt = (why: string, cause?: unknown): UpdaterError => new UpdaterError('DELTA_CORRUPT', `superblock of static delta ${name} from ${where}: ${why}`, {
    cause, hint: 'the remote serves a damaged or stale delta; pull again later, or pass --disable-static-deltas to fetch objects',
  });
  if (plan.digest !== null) {
    const got = sha256Hex(raw);
    if (got !== plan.digest) throw corrupt(`sha256 ${got} does not match the listed ${plan.digest}`);
  }
  let sb: DecodedSuperblock;
  try {
    sb = decodeSuperblock(raw, where);
  } catch (err) {
    throw corrupt((err as Error).message, err);
  }
  if (sb.to !== plan.to || sb.from !== plan.from) throw corrupt(`it is the delta ${deltaName(sb.from, sb.to)}`);
  if (ctx.keyring !== null && sb.signed) {
    await verifySuperblockSignature(raw, ctx.keyring.trusted, ctx.keyring.revoked, name).catch((err: unknown) => {
      if (err instanceof UpdaterError) throw new UpdaterError(err.code, `remote "${ctx.remote}": ${err.message}`, { hint: err.hint, cause: err });
      throw err;
    });
  }
  let commitmeta = await ctx.fetcher.fetchCommitmeta(plan.to);
  if (commitmeta === null) {
    const cm = dictGet(sb.metadata, commitmetaKey(plan.from, plan.to), 'a{sv}') as VarDict | undefined;
    if (cm !== undefined && cm.length > 0) commitmeta = Buffer.from(serialize('a{sv}', cm as unknown as GValue));
  }
  return { plan, name, raw, superblock: sb, commitmeta };
}

/**
 * Applies a fetched delta into the pull's transaction: checks the space for every part
 * and fallback first, marks the commit partial, then downloads and applies each part.
 */
export async function applyFetchedDelta(ctx: DeltaPullContext, d: FetchedDelta): Promise<void> {
  const { superblock: sb, name } = d;
  const { progress } = ctx;
  let download = 0;
  let write = 0;
  for (const p of sb.parts) {
    download += p.size;
    write += p.usize;
  }
  let fbDownload = 0;
  let fbWrite = 0;
  for (const f of sb.fallbacks) {
    fbDownload += f.size;
    fbWrite += f.usize;
  }
  const what = `static delta ${name} (${formatBytes(download + fbDownload)} to download, ${formatBytes(write + fbWrite)} to write)`;
  // One check for everything the delta brings, before anything is written; the parts are
  // counted now, the fallbacks when the tree walk writes them.
  await ctx.space.check(download + write + fbDownload + fbWrite, what);
  await ctx.space.reserve(download + write, what);

  progress.deltaPartsTotal += sb.parts.length;
  progress.deltaBytesTotal += download;
  progress.objectsRequested += sb.fallbacks.length;
  await ctx.repo.markCommitPartial(sb.to);
  const dir = deltaRelDir(sb.from, sb.to);
  await applyStaticDelta(ctx.repo, d.raw, {
    transaction: ctx.tx,
    skipFallbacks: true,
    writeCommitmeta: false,
    fetchPart: (i, header) => fetchPart(ctx, `${dir}/${i}`, join(partialDir(ctx.repo.path), `${sb.to}.${sb.from ?? 'scratch'}.${i}.deltapart`), header, `part ${i} of static delta ${name}`),
    onPart: (_i, header) => {
      progress.deltaPartsFetched++;
      progress.deltaBytesFetched += header.size;
      progress.contentBytesWritten += header.usize;
    },
  });
}

/**
 * Downloads a part (large ones resumably into tmp/pull-partial) and checks its sha256
 * and size against the superblock. A resumed download that fails the check is fetched
 * once more from zero; a fresh one that fails is DELTA_PART_CORRUPT.
 */
async function fetchPart(ctx: DeltaPullContext, rel: string, file: string, header: DeltaPartHeader, what: string): Promise<Uint8Array> {
  const where = `${ctx.transport.url.replace(/\/?$/, '/')}${rel}`;
  for (let attempt = 0; ; attempt++) {
    const resumed = attempt === 0 && ctx.partials.has(basename(file));
    const got = (await ctx.transport.getObject(rel, file, { maybePartial: resumed }))!;
    const bytes = 'bytes' in got ? got.bytes : await readFile(got.path);
    const sum = sha256Hex(bytes);
    // Checked (or bad): the file is not needed again. A download cut short stays for a Range resume.
    await rm(file, { force: true });
    if (sum === header.checksum && bytes.length === header.size) return bytes;
    if (resumed) continue;
    throw new UpdaterError('DELTA_PART_CORRUPT', `${what} from ${where}: sha256 ${sum} (${bytes.length} bytes) does not match the superblock's ${header.checksum} (${header.size} bytes)`, {
      hint: 'nothing of it was written; pull again, or pass --disable-static-deltas to fetch objects instead',
    });
  }
}
