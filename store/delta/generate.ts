// `static-delta generate`: works out what TO adds over FROM, pairs modified
// files (pairing.ts), and writes the delta like ostree 2022.7 does: new metadata
// first, then modified files, then whole new files, then symlinks, split into
// xz parts of at most max-chunk-size; big unpaired files become fallbacks. A
// modified file that mostly shares its old version's bytes is sent as copies of
// them plus literal bytes (the ops of ostree's rollsum deltas), any other as a
// bsdiff patch.
// The delta directory is assembled under tmp/ and renamed into place whole, so
// a reader never sees a superblock without its parts.

import { randomBytes } from 'node:crypto';
import { mkdir, open, rename, rm, stat } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { isErrno, UpdaterError } from '../../common/errors.ts';
import { variant, type VarDict } from '../gvariant/index.ts';
import { decodeVarDict, ObjectType, sha256Hex, type FileHeader } from '../objects/index.ts';
import type { Repo } from '../repo/repo.ts';
import { signBytes, type KeyInput } from '../sign/index.ts';
import { bsdiff, copySpans, patchLiteralBytes } from './bsdiff.ts';
import { PartBuilder, type BuiltPart } from './builder.ts';
import { pairModifiedFiles, versionShape, type PairReason, type PathFile } from './pairing.ts';
import type { PartCompression } from './part.ts';
import {
  commitmetaKey, deltaName, deltaRelDir, encodeSuperblock, ENDIANNESS_KEY, inlinePartKey, wrapSignedSuperblock,
  type DeltaFallback,
} from './superblock.ts';

export interface GenerateOptions {
  /** FROM commit; undefined = TO's parent (as ostree), null = from scratch (`--empty`). */
  from?: string | null;
  to: string;
  /** Unpaired new files larger than this many bytes become fallbacks; 0 disables (default 4 MB). */
  minFallbackSize?: number;
  /** Parts are cut at this many payload bytes (default 32 MB). */
  maxChunkSize?: number;
  /** Pairs whose combined size exceeds this are not bsdiff'd (default 128 MB). */
  maxBsdiffSize?: number;
  disableBsdiff?: boolean;
  /** Put the parts in the superblock (a single-file delta). */
  inline?: boolean;
  compression?: PartCompression;
  /** Extra superblock metadata, placed first (as ostree does). */
  metadata?: VarDict;
  /** Write the delta into this directory instead of the repo's deltas/. */
  outDir?: string;
  /** ed25519 secret keys: wrap the superblock with signatures. */
  signKeys?: KeyInput[];
  /** Generation time (default now). */
  timestamp?: number;
  /** Called with each pairing decision (for --verbose). */
  onPair?: (to: string, from: string, reason: PairReason, path: string) => void;
}

export interface GenerateResult {
  name: string;
  from: string | null;
  to: string;
  /** Where the delta was written. */
  dir: string;
  /** sha256 of the superblock file (the summary / index digest). */
  superblockDigest: string;
  parts: number;
  fallbacks: number;
  bsdiffs: number;
  /** Modified files sent as copies of their old version plus literal bytes. */
  copies: number;
  /** Bytes a client downloads: superblock + parts (+ fallbacks' object sizes). */
  totalBytes: number;
}

const MB = 1000 * 1000;
/** What a copy or literal costs in a part's ops beyond its literal bytes (opcodes and varints, roughly). */
const COPY_OP_BYTES = 12;
/** Up to this cost, copies and literals are as small as a patch in any case. */
const SMALL_COPY_COST = 512;
const stemOf = (p: string): string => {
  const b = p.slice(p.lastIndexOf('/') + 1);
  return b.indexOf('.') > 0 ? b.slice(0, b.indexOf('.')) : `\0${b}`;
};

interface NewFile {
  path: string;
  checksum: string;
  header: FileHeader;
  size: number;
}

/** Every regular file of a commit (path without leading '/', checksum), and every object key reached. */
async function walkCommit(repo: Repo, rootTree: string, rootMeta: string, skip: Set<string> | null,
  onFile: (path: string, csum: string) => void, onMeta: (kind: 'dirtree' | 'dirmeta', csum: string) => void): Promise<void> {
  const seen = new Set<string>();
  const walk = async (dir: string, tree: string, meta: string): Promise<void> => {
    onMeta('dirmeta', meta);
    // An unchanged subtree (same dirtree in FROM) holds nothing new.
    if (skip?.has(tree)) return;
    onMeta('dirtree', tree);
    const dt = await repo.loadDirtree(tree);
    for (const f of dt.files) onFile(dir ? `${dir}/${f.name}` : f.name, f.checksum);
    for (const d of dt.dirs) {
      const key = `${dir}/${d.name}`;
      if (seen.has(key)) continue;
      seen.add(key);
      await walk(dir ? `${dir}/${d.name}` : d.name, d.treeChecksum, d.metaChecksum);
    }
  };
  await walk('', rootTree, rootMeta);
}

/** Writes `bytes` to `path` and fsyncs it. */
async function writeDurable(path: string, bytes: Uint8Array): Promise<void> {
  const fh = await open(path, 'w', 0o644);
  try {
    await fh.writeFile(bytes);
    await fh.sync();
  } finally {
    await fh.close();
  }
}

async function fsyncDir(path: string): Promise<void> {
  const fh = await open(path, 'r');
  try {
    await fh.sync();
  } finally {
    await fh.close();
  }
}

/** Generates a static delta FROM → TO in the repo (or `outDir`). */
export async function generateStaticDelta(repo: Repo, opts: GenerateOptions): Promise<GenerateResult> {
  const to = opts.to;
  const toCommit = await repo.loadCommit(to);
  let from: string | null = opts.from === undefined ? toCommit.parent : opts.from;
  if (opts.from === undefined && from === null) {
    throw new UpdaterError('DELTA_NO_PARENT', `commit ${to} has no parent to make a delta from`, { hint: 'use --from=REV, or --empty for a from-scratch delta' });
  }
  const name = deltaName(from, to);
  const minFallback = opts.minFallbackSize ?? 4 * MB;
  const maxChunk = opts.maxChunkSize ?? 32 * MB;
  const maxBsdiff = opts.maxBsdiffSize ?? 128 * MB;
  const compression = opts.compression ?? 'xz';

  // 1. What FROM has: metadata keys, content checksums, and regular files by path.
  const fromMeta = new Set<string>();
  const fromTrees = new Set<string>();
  const fromContent = new Set<string>();
  const fromPaths: Array<{ path: string; checksum: string }> = [];
  if (from !== null) {
    const fc = await repo.loadCommit(from).catch((err: unknown) => {
      throw new UpdaterError('DELTA_FROM_MISSING', `cannot make delta ${name}: FROM commit ${from} is not in ${repo.path}`, { cause: err });
    });
    await walkCommit(repo, fc.rootTree, fc.rootMeta, null, (p, c) => {
      fromContent.add(c);
      fromPaths.push({ path: p, checksum: c });
    }, (kind, c) => {
      fromMeta.add(`${c}.${kind}`);
      if (kind === 'dirtree') fromTrees.add(c);
    });
  }

  // 2. What TO adds: metadata in walk order, new content with the paths that reach it.
  const newMeta: Array<{ kind: 'dirtree' | 'dirmeta'; checksum: string }> = [];
  const seenMeta = new Set<string>();
  const newContentPaths = new Map<string, string>();
  await walkCommit(repo, toCommit.rootTree, toCommit.rootMeta, fromTrees, (p, c) => {
    if (!fromContent.has(c) && !newContentPaths.has(c)) newContentPaths.set(c, p);
  }, (kind, c) => {
    const key = `${c}.${kind}`;
    if (fromMeta.has(key) || seenMeta.has(key)) return;
    seenMeta.add(key);
    newMeta.push({ kind, checksum: c });
  });
  const newRegular: NewFile[] = [];
  const newLinks: NewFile[] = [];
  for (const [checksum, path] of newContentPaths) {
    const info = await repo.readContentInfo(checksum);
    const f = { path, checksum, header: info.header, size: info.size };
    (info.header.symlinkTarget ? newLinks : newRegular).push(f);
  }

  // 3. Pair modified files; only read sizes of old files that could pair.
  const pairs = new Map<string, { from: PathFile; reason: PairReason }>();
  if (from !== null && !opts.disableBsdiff && newRegular.length > 0) {
    const keys = new Set<string>();
    for (const f of newRegular) {
      keys.add(`p:${f.path}`);
      keys.add(`s:${versionShape(f.path)}`);
      keys.add(`b:${f.path.slice(f.path.lastIndexOf('/') + 1)}`);
      keys.add(`t:${stemOf(f.path)}`);
    }
    const oldFiles: PathFile[] = [];
    const sizes = new Map<string, number | null>();
    for (const o of fromPaths) {
      if (!keys.has(`p:${o.path}`) && !keys.has(`s:${versionShape(o.path)}`) && !keys.has(`b:${o.path.slice(o.path.lastIndexOf('/') + 1)}`) && !keys.has(`t:${stemOf(o.path)}`)) continue;
      let size = sizes.get(o.checksum);
      if (size === undefined) {
        const info = await repo.readContentInfo(o.checksum);
        // Only world-readable regular files can serve as sources (ostree's rule, for bare-user clients with a bare parent).
        size = info.header.symlinkTarget || (info.header.mode & 0o004) === 0 ? null : info.size;
        sizes.set(o.checksum, size);
      }
      if (size !== null) oldFiles.push({ path: o.path, checksum: o.checksum, size });
    }
    const found = pairModifiedFiles(oldFiles, newRegular.map((f) => ({ path: f.path, checksum: f.checksum, size: f.size })));
    for (const f of newRegular) {
      const p = found.get(f.checksum);
      if (p && p.from.size + f.size <= maxBsdiff) pairs.set(f.checksum, p);
    }
  }

  // 4. Build the parts in ostree's order: metadata, bsdiffs, whole files, symlinks.
  const built: BuiltPart[] = [];
  let part = new PartBuilder();
  const cut = (incoming: number): void => {
    if (!part.empty && part.blobLength + incoming > maxChunk) {
      built.push(part.finish(compression));
      part = new PartBuilder();
    }
  };
  for (const m of newMeta) {
    const bytes = await repo.readMetadata(m.checksum, m.kind);
    cut(bytes.length);
    part.addMetadata(m.kind === 'dirtree' ? ObjectType.DIR_TREE : ObjectType.DIR_META, m.checksum, bytes);
  }
  let bsdiffs = 0;
  let copies = 0;
  const whole: NewFile[] = [];
  for (const f of newRegular) {
    const p = pairs.get(f.checksum);
    if (!p) {
      whole.push(f);
      continue;
    }
    const [oldData, newData] = await Promise.all([
      repo.readContentInfo(p.from.checksum).then((i) => repo.readContentData(i)),
      repo.readContentInfo(f.checksum).then((i) => repo.readContentData(i)),
    ]);
    const patch = bsdiff(oldData, newData);
    // A pair with little in common gains nothing from a patch; ship the file whole.
    if (patchLiteralBytes(patch) > newData.length * 0.95) {
      whole.push(f);
      continue;
    }
    opts.onPair?.(f.checksum, p.from.checksum, p.reason, f.path);
    // Mostly shared bytes: copies and literals, which a client applies without
    // decompressing a diff block as large as the file. Otherwise (bytes changed all
    // over, as in a rebuilt binary) the patch, whose diff bytes compress better.
    // The bar: about twice the bytes that carry information in the patch anyway (its
    // non-zero diff and extra bytes), plus a sixteenth of the rest.
    const spans = copySpans(patch, oldData.length, newData);
    let cost = 0;
    for (const s of spans) cost += s.from < 0 ? s.len + COPY_OP_BYTES : COPY_OP_BYTES;
    const literal = patchLiteralBytes(patch);
    if (cost <= 2 * literal + (patch.length - literal) / 16 + SMALL_COPY_COST) {
      cut(cost + 32);
      part.addCopies(f.checksum, f.header, newData, p.from.checksum, spans);
      copies++;
      continue;
    }
    cut(patch.length + 32);
    part.addBsdiff(f.checksum, f.header, newData.length, p.from.checksum, patch);
    bsdiffs++;
  }
  const fallbacks: DeltaFallback[] = [];
  // Similar files next to each other compress better in one xz stream.
  const sortKey = (f: NewFile): string => {
    const base = f.path.slice(f.path.lastIndexOf('/') + 1);
    const dot = base.lastIndexOf('.');
    return `${dot > 0 ? base.slice(dot) : ''}\0${base}\0${f.path}`;
  };
  whole.sort((a, b) => (sortKey(a) < sortKey(b) ? -1 : sortKey(a) > sortKey(b) ? 1 : 0));
  for (const f of whole) {
    if (minFallback > 0 && f.size > minFallback) {
      const st = await stat(repo.objectPath(f.checksum, 'file'));
      fallbacks.push({ type: ObjectType.FILE, checksum: f.checksum, size: st.size, usize: f.size });
      continue;
    }
    const data = await repo.readContentData(await repo.readContentInfo(f.checksum));
    cut(data.length);
    part.addContent(f.checksum, f.header, data);
  }
  for (const f of newLinks) {
    cut(Buffer.byteLength(f.header.symlinkTarget));
    part.addContent(f.checksum, f.header, new Uint8Array(0));
  }
  if (!part.empty || built.length === 0) built.push(part.finish(compression));

  // 5. The superblock: user metadata, endianness, inline parts, TO's detached metadata.
  const metadata: VarDict = [...(opts.metadata ?? [])];
  metadata.push([ENDIANNESS_KEY, variant('y', 0x6c)]);
  if (opts.inline) {
    built.forEach((p, i) => metadata.push([inlinePartKey(from, to, i), variant('(yay)', [p.file[0]!, p.file.subarray(1)])]));
  }
  const detached = await repo.readCommitmeta(to);
  if (detached) metadata.push([commitmetaKey(from, to), variant('a{sv}', decodeVarDict(detached, `object ${to}.commitmeta`) as never)]);
  let superblock = encodeSuperblock({
    metadata, timestamp: opts.timestamp ?? Math.floor(Date.now() / 1000), from, to,
    commit: await repo.readMetadata(to, 'commit'),
    parts: built.map((p) => p.header), fallbacks,
  });
  if (opts.signKeys && opts.signKeys.length > 0) {
    const sigs: Uint8Array[] = [];
    for (const k of opts.signKeys) sigs.push(await signBytes(k, superblock));
    superblock = wrapSignedSuperblock(superblock, [['ostree.sign.ed25519', variant('aay', sigs)]]);
  }

  // 6. Assemble in a temp dir beside the target, superblock last, then rename into place.
  const dir = opts.outDir ?? join(repo.path, deltaRelDir(from, to));
  const tmpBase = opts.outDir ? dirname(dir) : join(repo.path, 'tmp');
  await mkdir(tmpBase, { recursive: true });
  const tmp = join(tmpBase, `.delta-${randomBytes(6).toString('hex')}`);
  await mkdir(tmp, { mode: 0o755 });
  try {
    if (!opts.inline) for (let i = 0; i < built.length; i++) await writeDurable(join(tmp, String(i)), built[i]!.file);
    await writeDurable(join(tmp, 'superblock'), superblock);
    await fsyncDir(tmp);
    await mkdir(dirname(dir), { recursive: true });
    await replaceDir(tmp, dir);
    await fsyncDir(dirname(dir));
  } catch (err) {
    await rm(tmp, { recursive: true, force: true });
    throw err;
  }
  const partBytes = opts.inline ? 0 : built.reduce((n, p) => n + p.file.length, 0);
  return {
    name, from, to, dir, superblockDigest: sha256Hex(superblock), parts: built.length, fallbacks: fallbacks.length, bsdiffs, copies,
    totalBytes: superblock.length + partBytes + fallbacks.reduce((n, f) => n + f.size, 0),
  };
}

/** Renames `tmp` to `dir`, replacing an existing delta directory (moved aside, then removed). */
async function replaceDir(tmp: string, dir: string): Promise<void> {
  try {
    await rename(tmp, dir);
    return;
  } catch (err) {
    if (!isErrno(err, 'ENOTEMPTY') && !isErrno(err, 'EEXIST') && !isErrno(err, 'EISDIR') && !isErrno(err, 'ENOTDIR')) throw err;
  }
  const old = `${tmp}-old`;
  await rename(dir, old);
  await rename(tmp, dir);
  await rm(old, { recursive: true, force: true });
}
