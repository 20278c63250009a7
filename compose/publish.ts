// `atomic compose publish`: what a compose server does after `compose tree` so clients can
// follow the stream over plain HTTP (§2.12): copy the new commits into an archive repo
// (ostree pull-local), sign them, generate a static delta from the previously published
// commit, then move the refs, prune old history and regenerate the (signed) summary.
//
// Order on disk, as a mirror must publish: objects and detached signatures, then deltas,
// then refs, then the summary. A client that reads the old summary meanwhile still finds
// every object it names; one that reads the new summary finds the new objects and deltas.

import { stat } from 'node:fs/promises';
import { UpdaterError } from '../common/errors.ts';
import { generateStaticDelta } from '../store/delta/index.ts';
import {
  pruneRepo, regenerateSummary, Repo, signCommitInRepo, Transaction, traverseCommit, type PruneResult,
} from '../store/index.ts';
import type { KeyInput } from '../store/sign/index.ts';

export interface PublishOptions {
  /** The compose repo (any mode). */
  from: string;
  /** The published repo; created as an `archive` repo when missing. */
  to: string;
  /** Refs to publish (default: every ref of `from`). */
  refs?: string[];
  /** ed25519 secret keys: sign each newly published commit and the summary. */
  signKeys?: readonly KeyInput[];
  /** Generate a static delta from the previously published commit (default true). */
  deltas?: boolean;
  /** Prune the published repo afterwards to this many ancestors per ref (`ostree prune --refs-only --depth=N`). */
  pruneDepth?: number;
  log?: (line: string) => void;
}

export interface PublishedRef {
  ref: string;
  commit: string;
  /** What the published repo had before (null for a new ref). */
  previous: string | null;
  /** `FROM-TO` of the static delta generated, if any. */
  delta: string | null;
}

export interface PublishResult {
  refs: PublishedRef[];
  objectsCopied: number;
  pruned: PruneResult | null;
}

async function openOrInit(path: string): Promise<Repo> {
  const exists = await stat(path).then(() => true, () => false);
  if (!exists) return Repo.init(path, 'archive');
  return Repo.open(path);
}

/** Copies `commits` (with all the history `src` has of them) into `dst`; returns the number of objects written. */
export async function pullLocal(src: Repo, dst: Repo, commits: string[]): Promise<number> {
  const wanted = new Set<string>();
  for (const c of commits) await traverseCommit(src, c, -1, wanted);
  const tx = await Transaction.begin(dst);
  let copied = 0;
  const commitObjects: string[] = [];
  try {
    for (const key of [...wanted].sort()) {
      const dot = key.indexOf('.');
      const csum = key.slice(0, dot);
      const kind = key.slice(dot + 1) as 'commit' | 'dirtree' | 'dirmeta' | 'file';
      if (kind === 'commit') commitObjects.push(csum);
      if (tx.hasSync(csum, kind)) continue;
      if (kind === 'file') {
        const info = src.readContentInfoSync(csum);
        const source = info.header.symlinkTarget !== '' ? { data: new Uint8Array(0) }
          : src.mode === 'archive' ? { data: await src.readContentData(info) } : { path: info.path };
        await tx.writeContent(info.header, source, csum);
      } else {
        await tx.writeMetadata(kind, await src.readMetadata(csum, kind), csum);
      }
      copied++;
    }
    await tx.commit();
  } catch (err) {
    await tx.abort();
    throw err;
  }
  // Detached metadata (signatures) after the commits it belongs to.
  for (const c of commitObjects) {
    const meta = await src.readCommitmeta(c);
    if (meta !== null && (await dst.readCommitmeta(c)) === null) await dst.writeCommitmeta(c, meta);
  }
  return copied;
}

/** Publishes refs of a compose repo into an archive repo; see the file comment. */
export async function publishStream(opts: PublishOptions): Promise<PublishResult> {
  const log = opts.log ?? ((): void => {});
  const src = await Repo.open(opts.from);
  const dst = await openOrInit(opts.to);
  const keys = opts.signKeys ?? [];
  let refs = opts.refs ?? [];
  if (refs.length === 0) refs = [...(await src.listRefs({ heads: true })).keys()].sort();
  if (refs.length === 0) throw new UpdaterError('COMPOSE_PUBLISH_NOTHING', `repository ${opts.from} has no refs to publish`, { hint: 'run atomic compose tree first' });

  const targets: PublishedRef[] = [];
  for (const ref of refs) {
    const commit = await src.readRef(ref);
    if (commit === null) throw new UpdaterError('COMPOSE_PUBLISH_NO_REF', `repository ${opts.from} has no ref '${ref}'`);
    targets.push({ ref, commit, previous: await dst.readRef(ref), delta: null });
  }

  // 1. Objects.
  const objectsCopied = await pullLocal(src, dst, targets.map((t) => t.commit));
  log(`Copied ${objectsCopied} objects into ${opts.to}`);

  // 2. Signatures on the new commits.
  if (keys.length > 0) {
    for (const t of targets) {
      const r = await signCommitInRepo(dst, t.commit, keys);
      if (r.added > 0) log(`Signed ${t.commit} (${r.added} signature${r.added === 1 ? '' : 's'})`);
    }
  }

  // 3. Static deltas from what clients have now.
  if (opts.deltas !== false) {
    for (const t of targets) {
      if (t.previous === null || t.previous === t.commit || !(await dst.hasObject(t.previous, 'commit'))) continue;
      const d = await generateStaticDelta(dst, { from: t.previous, to: t.commit, signKeys: keys.length ? [...keys] : undefined });
      t.delta = d.name;
      log(`Generated static delta ${d.name} (${d.parts} part${d.parts === 1 ? '' : 's'}, ${d.totalBytes} bytes)`);
    }
  }

  // 4. Refs.
  for (const t of targets) {
    if (t.previous !== t.commit) await dst.writeRef(null, t.ref, t.commit);
    log(`${t.ref} => ${t.commit}`);
  }

  // 5. History bound, then the summary (it lists only what remains).
  let pruned: PruneResult | null = null;
  if (opts.pruneDepth !== undefined) {
    pruned = await pruneRepo(dst, { refsOnly: true, depth: opts.pruneDepth });
    log(`Pruned ${pruned.deleted} of ${pruned.total} objects (${pruned.deletedDeltas} deltas), freed ${pruned.freedBytes} bytes`);
  }
  const s = await regenerateSummary(dst, { signingKeys: keys });
  log(`Updated summary: ${s.refs} ref${s.refs === 1 ? '' : 's'}, ${s.deltas} delta${s.deltas === 1 ? '' : 's'}${s.signatures ? `, ${s.signatures} signature${s.signatures === 1 ? '' : 's'}` : ''}`);
  return { refs: targets, objectsCopied, pruned };
}
