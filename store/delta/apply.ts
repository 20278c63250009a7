// Applying a static delta (ostree-format.md §8) to a repository of any mode:
// each part's sha256 is checked before it is decoded, every object is
// rebuilt in memory and staged through a Transaction that verifies its
// checksum, fallbacks are fetched as loose objects, and the TO commit (from
// the superblock) is staged last. Until the transaction commits nothing is
// visible in objects/, so a bad part or a missing FROM leaves the repo as it was.

import { inflateRawSync } from 'node:zlib';
import { UpdaterError } from '../../common/errors.ts';
import { dictGet, serialize, type GValue, type VarDict } from '../gvariant/index.ts';
import { decodeArchivePrefix, isLinkMode, isRegMode, ObjectType, sha256Hex, validateFileHeader, type FileHeader } from '../objects/index.ts';
import type { Repo } from '../repo/repo.ts';
import { Transaction } from '../repo/transaction.ts';
import { bspatch } from './bsdiff.ts';
import { decodeOps, decodePartFile, type PartPayload } from './part.ts';
import {
  commitmetaKey, decodeSuperblock, deltaName, inlinePartKey, type DeltaFallback, type DeltaPartHeader, type Superblock,
} from './superblock.ts';

export interface ApplyOptions {
  /** Returns the bytes of part `index` (not needed for inline parts). */
  fetchPart?: (index: number, header: DeltaPartHeader) => Promise<Uint8Array>;
  /** Returns a fallback object as served by an archive repo (`.filez` bytes). Without it, fallbacks must already be local. */
  fetchFallback?: (fallback: DeltaFallback) => Promise<Uint8Array>;
  /** Stage into this transaction and leave committing to the caller (a pull); otherwise one is opened and committed. */
  transaction?: Transaction;
  /** Called after each part is applied. */
  onPart?: (index: number, header: DeltaPartHeader, skipped: boolean) => void;
  /** Leave fallback objects to the caller (a pull fetches them as loose objects in its tree walk). */
  skipFallbacks?: boolean;
  /** Write the superblock's copy of the commit's detached metadata (default true; a pull writes the remote's itself). */
  writeCommitmeta?: boolean;
}

export interface ApplyResult {
  name: string;
  from: string | null;
  to: string;
  partsApplied: number;
  partsSkipped: number;
  objectsWritten: number;
  fallbacksFetched: number;
}

const META_KIND = { [ObjectType.DIR_TREE]: 'dirtree', [ObjectType.DIR_META]: 'dirmeta', [ObjectType.COMMIT]: 'commit' } as const;

/** Applies a delta given its superblock bytes; see ApplyOptions for where parts come from. */
export async function applyStaticDelta(repo: Repo, superblockBytes: Uint8Array, opts: ApplyOptions = {}): Promise<ApplyResult> {
  const sb = decodeSuperblock(superblockBytes, 'static-delta superblock');
  const name = deltaName(sb.from, sb.to);
  if (sb.from !== null && !(await repo.hasObject(sb.from, 'commit'))) {
    throw new UpdaterError('DELTA_FROM_MISSING', `delta ${name} applies on top of commit ${sb.from}, which is not in ${repo.path}`, {
      hint: 'pull or apply the FROM commit first, or use a from-scratch delta',
    });
  }
  const tx = opts.transaction ?? (await Transaction.begin(repo));
  const result: ApplyResult = { name, from: sb.from, to: sb.to, partsApplied: 0, partsSkipped: 0, objectsWritten: 0, fallbacksFetched: 0 };
  try {
    for (let i = 0; i < sb.parts.length; i++) {
      const header = sb.parts[i]!;
      let have = true;
      for (const o of header.objects) if (!(await tx.has(o.checksum, o.type === ObjectType.FILE ? 'file' : META_KIND[o.type as 2 | 3 | 4]))) have = false;
      if (have) {
        result.partsSkipped++;
        opts.onPart?.(i, header, true);
        continue;
      }
      const what = `part ${i} of delta ${name}`;
      const bytes = await partBytes(sb, i, header, opts, what);
      const got = sha256Hex(bytes);
      if (got !== header.checksum) {
        throw new UpdaterError('DELTA_PART_CORRUPT', `${what}: sha256 ${got} does not match the superblock's ${header.checksum}`, {
          hint: 'the part was damaged in transit or on the server; fetch it again',
        });
      }
      if (bytes.length !== header.size) throw new UpdaterError('DELTA_PART_CORRUPT', `${what}: ${bytes.length} bytes, superblock says ${header.size}`);
      result.objectsWritten += await executePart(repo, tx, header, decodePartFile(bytes, what), what);
      result.partsApplied++;
      opts.onPart?.(i, header, false);
    }
    for (const fb of opts.skipFallbacks ? [] : sb.fallbacks) {
      const kind = fb.type === ObjectType.FILE ? 'file' : META_KIND[fb.type as 2 | 3 | 4];
      if (kind === undefined) throw new UpdaterError('DELTA_CORRUPT', `delta ${name}: fallback ${fb.checksum} has invalid type ${fb.type}`);
      if (await tx.has(fb.checksum, kind)) continue;
      if (!opts.fetchFallback) {
        throw new UpdaterError('DELTA_FALLBACK_MISSING', `delta ${name} needs object ${fb.checksum}.${kind}, which is fetched separately (a fallback) and is not in ${repo.path}`, {
          hint: 'pull the commit from a remote instead of applying the delta offline',
        });
      }
      await stageFallback(tx, fb, kind, await opts.fetchFallback(fb), `fallback object ${fb.checksum}.${kind} of delta ${name}`);
      result.fallbacksFetched++;
    }
    // The commit's detached metadata (signatures) lands before the commit becomes visible.
    const cm = dictGet(sb.metadata, commitmetaKey(sb.from, sb.to), 'a{sv}') as VarDict | undefined;
    if (cm !== undefined && opts.writeCommitmeta !== false) await repo.writeCommitmeta(sb.to, serialize('a{sv}', cm as unknown as GValue));
    await tx.writeMetadata('commit', sb.commit, sb.to);
    if (!opts.transaction) await tx.commit();
  } catch (err) {
    if (!opts.transaction) await tx.abort();
    throw err;
  }
  return result;
}

async function partBytes(sb: Superblock, i: number, header: DeltaPartHeader, opts: ApplyOptions, what: string): Promise<Uint8Array> {
  const inline = dictGet(sb.metadata, inlinePartKey(sb.from, sb.to, i), '(yay)') as [number, Uint8Array] | undefined;
  if (inline !== undefined) {
    const out = new Uint8Array(1 + inline[1].length);
    out[0] = inline[0];
    out.set(inline[1], 1);
    return out;
  }
  if (!opts.fetchPart) throw new UpdaterError('DELTA_PART_MISSING', `${what} is not inline and no way to fetch it was given`);
  return opts.fetchPart(i, header);
}

async function stageFallback(tx: Transaction, fb: DeltaFallback, kind: string, bytes: Uint8Array, what: string): Promise<void> {
  if (kind !== 'file') {
    await tx.writeMetadata(kind as 'dirtree' | 'dirmeta' | 'commit', bytes, fb.checksum);
    return;
  }
  const { header, size, dataOffset } = decodeArchivePrefix(bytes, what);
  let data: Uint8Array = new Uint8Array(0);
  if (!header.symlinkTarget) {
    try {
      data = inflateRawSync(bytes.subarray(dataOffset));
    } catch (err) {
      throw new UpdaterError('STORE_OBJECT_CORRUPT', `${what}: compressed data is corrupt`, { cause: err });
    }
    if (data.length !== size) throw new UpdaterError('STORE_OBJECT_CORRUPT', `${what}: inflated to ${data.length} bytes, header says ${size}`);
  }
  await tx.writeContent(header, { data }, fb.checksum);
}

interface OpenObject {
  checksum: string;
  header: FileHeader;
  buf: Uint8Array;
  pos: number;
  skip: boolean;
}

/** Runs one part's opcodes; returns how many objects were newly staged. */
async function executePart(repo: Repo, tx: Transaction, header: DeltaPartHeader, part: PartPayload, what: string): Promise<number> {
  const objects = header.objects;
  const isMeta = (i: number): boolean => i < objects.length && objects[i]!.type !== ObjectType.FILE;
  const ops = decodeOps(part.ops, isMeta, what);
  const blob = part.blob;
  const bad = (why: string): never => {
    throw new UpdaterError('DELTA_CORRUPT', `${what}: ${why}`);
  };
  const slice = (off: number, len: number): Uint8Array => {
    if (off + len > blob.length) bad(`offset ${off} + length ${len} is outside the ${blob.length}-byte payload`);
    return blob.subarray(off, off + len);
  };
  const headerFor = (mode: number, xattr: number, target: string): FileHeader => {
    const m = part.modes[mode] ?? bad(`mode index ${mode} out of range`);
    const x = part.xattrs[xattr] ?? bad(`xattr index ${xattr} out of range`);
    const h: FileHeader = { uid: m.uid, gid: m.gid, mode: m.mode, symlinkTarget: target, xattrs: x };
    validateFileHeader(h, `${what}: object ${objects[index]?.checksum ?? '?'}`);
    return h;
  };
  let index = 0;
  let written = 0;
  let source: Uint8Array | null = null;
  let lastSource = null as { csum: string; data: Uint8Array } | null;
  let open: OpenObject | null = null;
  const target = () => objects[index] ?? bad(`more objects in the op stream than the ${objects.length} listed`);
  const stage = async (write: () => Promise<unknown>, checksum: string, kind: 'file' | 'dirtree' | 'dirmeta' | 'commit'): Promise<void> => {
    if (await tx.has(checksum, kind)) return;
    await write();
    written++;
  };
  for (const op of ops) {
    switch (op.code) {
      case 'S': {
        const t = target();
        if (op.meta) {
          const kind = META_KIND[t.type as 2 | 3 | 4];
          const bytes = slice(op.off, op.len);
          await stage(() => tx.writeMetadata(kind, bytes, t.checksum), t.checksum, kind);
        } else {
          const mode = part.modes[op.mode]?.mode ?? bad(`mode index ${op.mode} out of range`);
          const bytes = slice(op.off, op.len);
          const h = headerFor(op.mode, op.xattr, isLinkMode(mode) ? Buffer.from(bytes).toString('utf8') : '');
          await stage(() => tx.writeContent(h, { data: isLinkMode(mode) ? new Uint8Array(0) : bytes }, t.checksum), t.checksum, 'file');
        }
        index++;
        source = null;
        break;
      }
      case 'o': {
        const t = target();
        if (open) bad(`'open' while object ${open.checksum} is still open`);
        if (t.type !== ObjectType.FILE) bad(`'open' for metadata object ${t.checksum}`);
        const h = headerFor(op.mode, op.xattr, '');
        if (!isRegMode(h.mode)) bad(`'open' for a non-regular file ${t.checksum}`);
        const skip = await tx.has(t.checksum, 'file');
        open = { checksum: t.checksum, header: h, buf: new Uint8Array(skip ? 0 : op.size), pos: 0, skip };
        break;
      }
      case 'w': {
        const o = open ?? bad(`'write' with no open object`);
        if (o.skip) break;
        const src = source ?? blob;
        if (op.off + op.len > src.length) bad(`write of ${op.len} bytes at ${op.off} is outside the ${source ? 'read source' : 'payload'}`);
        if (o.pos + op.len > o.buf.length) bad(`write overruns object ${o.checksum} (${o.buf.length} bytes)`);
        o.buf.set(src.subarray(op.off, op.off + op.len), o.pos);
        o.pos += op.len;
        break;
      }
      case 'r': {
        const csum = Buffer.from(slice(op.off, 32)).toString('hex');
        // Copies from one source come as r w R r w R …: read it once.
        if (lastSource?.csum === csum) {
          source = lastSource.data;
          break;
        }
        const info = await repo.readContentInfo(csum).catch((err: unknown) => {
          throw new UpdaterError('DELTA_SOURCE_MISSING', `${what}: source object ${csum}.file is not in ${repo.path}`, { cause: err, hint: 'the delta was made against a different FROM commit' });
        });
        if (info.header.symlinkTarget) bad(`read source ${csum} is a symlink`);
        source = await repo.readContentData(info);
        lastSource = { csum, data: source };
        break;
      }
      case 'R':
        source = null;
        break;
      case 'B': {
        const o = open ?? bad(`'bspatch' with no open object`);
        const patch = slice(op.off, op.len);
        if (o.skip) break;
        if (!source) bad(`'bspatch' for ${o.checksum} with no read source`);
        o.buf.set(bspatch(source!, patch, o.buf.length, `${what}: bsdiff patch for ${o.checksum}`));
        o.pos = o.buf.length;
        break;
      }
      case 'c': {
        const o = open;
        if (o) {
          if (!o.skip) {
            if (o.pos !== o.buf.length) bad(`object ${o.checksum} closed after ${o.pos} of ${o.buf.length} bytes`);
            await stage(() => tx.writeContent(o.header, { data: o.buf }, o.checksum), o.checksum, 'file');
          }
          open = null;
        }
        source = null;
        index++;
        break;
      }
    }
  }
  if (open) bad(`object ${open.checksum} left open at the end of the op stream`);
  if (index !== objects.length) bad(`op stream produced ${index} objects, the superblock lists ${objects.length}`);
  return written;
}
