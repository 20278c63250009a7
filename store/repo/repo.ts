// An OSTree repository on disk (ostree-format.md §1–2): config, loose objects
// under objects/XX/, refs under refs/heads and refs/remotes, commitpartial
// markers under state/. Reading lives here; writing goes through transaction.ts.

import { closeSync, constants, lstatSync, openSync, readdirSync, readFileSync, readlinkSync, readSync } from 'node:fs';
import { lstat, mkdir, open, readFile, readdir, stat, unlink, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { inflateRawSync } from 'node:zlib';
import { isErrno, UpdaterError } from '../../common/errors.ts';
import { writeFileAtomic } from '../../common/fs-atomic.ts';
import { getXattr, readAllXattrs } from '../../common/libc.ts';
import {
  assertChecksum, decodeArchivePrefix, decodeCommit, decodeDirmeta, decodeDirtree, decodeMetaTuple, isChecksum,
  sha256Hex, validateFileHeader, type Commit, type DirMeta, type DirTree, type FileHeader, type ObjectKind,
} from '../objects/index.ts';
import { KeyFile } from './keyfile.ts';
import { validateRef } from './refs.ts';

export type RepoMode = 'bare' | 'bare-user' | 'bare-user-only' | 'archive';
/** Entries (files plus subdirectories) the decoded-dirtree cache holds: ~100k, some 15 MB. */
const DIRTREE_CACHE_ENTRIES = 100_000;
/** Content objects up to this size are read with one synchronous call (readContentData). */
const SYNC_READ_LIMIT = 4 * 1024 * 1024;

export const REPO_MODES: readonly RepoMode[] = ['bare', 'bare-user', 'bare-user-only', 'archive'];

/** A content object's metadata and where its bytes are. */
export interface ContentInfo {
  header: FileHeader;
  /** Uncompressed size of the file data (0 for symlinks). */
  size: number;
  /** Path of the object file. */
  path: string;
}

export function shortName(csum: string, kind: ObjectKind): string {
  return `${csum}.${kind}`;
}

export class Repo {
  readonly path: string;
  readonly mode: RepoMode;
  config: KeyFile;
  private readonly dirmetaCache = new Map<string, DirMeta>();
  /**
   * Decoded dirtrees by checksum. One operation walks the same trees several times (a
   * host upgrade: the pull, the pre-flight checks, the checkout, the prune), and a
   * dirtree is immutable once its checksum is verified. Bounded by the entries held
   * (files plus subdirectories), oldest dropped first, so memory stays flat however
   * large the tree.
   */
  private readonly dirtreeCache = new Map<string, DirTree>();
  private dirtreeCacheEntries = 0;
  /** The cache's bound in entries (a property so tests can lower it). */
  dirtreeCacheLimit = DIRTREE_CACHE_ENTRIES;
  /** `objects/` under the repo path, normalized once. */
  private readonly objectsDir: string;

  private constructor(path: string, mode: RepoMode, config: KeyFile) {
    this.path = path;
    this.objectsDir = join(path, 'objects');
    this.mode = mode;
    this.config = config;
  }

  /** Creates a repository like `ostree init` (directories first, `objects/` last). */
  static async init(path: string, mode: RepoMode = 'bare', opts: { collectionId?: string } = {}): Promise<Repo> {
    if (!REPO_MODES.includes(mode)) throw new UpdaterError('STORE_BAD_MODE', `unknown repository mode '${mode}'`, { hint: `use one of ${REPO_MODES.join(', ')}` });
    await mkdir(path, { recursive: true });
    const configPath = join(path, 'config');
    const existing = await readFile(configPath, 'utf8').catch(() => null);
    if (existing === null) {
      const kf = new KeyFile();
      kf.set('core', 'repo_version', '1');
      kf.set('core', 'mode', mode === 'archive' ? 'archive-z2' : mode);
      if (opts.collectionId) kf.set('core', 'collection-id', opts.collectionId);
      await writeFileAtomic(configPath, kf.toString());
    }
    for (const d of ['tmp', 'extensions', 'state', 'refs', 'refs/heads', 'refs/mirrors', 'refs/remotes', 'objects']) {
      await mkdir(join(path, d), { recursive: true, mode: 0o775 });
    }
    const repo = await Repo.open(path);
    if (existing !== null && repo.mode !== mode) {
      throw new UpdaterError('STORE_BAD_MODE', `repository ${path} already exists with mode ${repo.mode}`);
    }
    return repo;
  }

  /** Opens an existing repository, validating its config. */
  static async open(path: string): Promise<Repo> {
    let text: string;
    try {
      text = await readFile(join(path, 'config'), 'utf8');
      await stat(join(path, 'objects'));
    } catch (err) {
      throw new UpdaterError('STORE_NOT_A_REPO', `${path} is not an OSTree repository (no config or objects/)`, { cause: err, hint: 'create one with `atomic repo init`' });
    }
    const config = KeyFile.parse(text, join(path, 'config'));
    const version = config.get('core', 'repo_version');
    if (version !== '1') throw new UpdaterError('STORE_BAD_CONFIG', `${path}/config: unsupported repo_version '${version ?? ''}'`);
    if (config.get('core', 'archive') === 'true') throw new UpdaterError('STORE_BAD_MODE', `${path}/config: legacy archive=true repositories are not supported`);
    const raw = config.get('core', 'mode') ?? 'bare';
    const mode = raw === 'archive-z2' ? 'archive' : raw;
    if (!REPO_MODES.includes(mode as RepoMode)) {
      throw new UpdaterError('STORE_BAD_MODE', `${path}/config: unknown repository mode '${raw}'`, { hint: `supported modes: ${REPO_MODES.join(', ')}, archive-z2` });
    }
    return new Repo(path, mode as RepoMode, config);
  }

  async saveConfig(): Promise<void> {
    await writeFileAtomic(join(this.path, 'config'), this.config.toString());
  }

  /** The loose-object path: objects/XX/REST.EXT (content is `.filez` in archive mode). */
  objectPath(csum: string, kind: ObjectKind): string {
    const ext = kind === 'file' && this.mode === 'archive' ? 'filez' : kind;
    // Concatenation, not join(): this runs once per object, and join normalizes every time.
    return `${this.objectsDir}/${csum.slice(0, 2)}/${csum.slice(2)}.${ext}`;
  }

  async hasObject(csum: string, kind: ObjectKind): Promise<boolean> {
    try {
      await lstat(this.objectPath(csum, kind));
      return true;
    } catch (err) {
      if (isErrno(err, 'ENOENT')) return false;
      throw err;
    }
  }

  /** Reads a metadata object's bytes and checks they hash to its name. */
  async readMetadata(csum: string, kind: 'commit' | 'dirtree' | 'dirmeta'): Promise<Buffer> {
    assertChecksum(csum);
    let bytes: Buffer;
    try {
      // Metadata objects are small: a synchronous read is cheaper than a thread-pool round trip.
      bytes = readFileSync(this.objectPath(csum, kind));
    } catch (err) {
      if (isErrno(err, 'ENOENT')) throw new UpdaterError('STORE_OBJECT_MISSING', `object ${csum}.${kind} is missing from ${this.path}`, { hint: 'run `atomic repo fsck`' });
      throw err;
    }
    const got = sha256Hex(bytes);
    if (got !== csum) {
      throw new UpdaterError('STORE_OBJECT_CORRUPT', `object ${csum}.${kind}: computed checksum ${got}`, { hint: 'run `atomic repo fsck --delete` and pull or commit again' });
    }
    return bytes;
  }

  async loadCommit(csum: string): Promise<Commit> {
    return decodeCommit(await this.readMetadata(csum, 'commit'), `object ${csum}.commit`);
  }

  async loadDirtree(csum: string): Promise<DirTree> {
    const hit = this.dirtreeCache.get(csum);
    if (hit) return hit;
    const dt = decodeDirtree(await this.readMetadata(csum, 'dirtree'), `object ${csum}.dirtree`);
    this.rememberDirtree(csum, dt);
    return dt;
  }

  /** Adds a dirtree whose bytes were verified against `csum` to the decoded-dirtree cache. */
  rememberDirtree(csum: string, dt: DirTree): void {
    if (this.dirtreeCache.has(csum)) return;
    const size = dt.files.length + dt.dirs.length + 1;
    if (size > this.dirtreeCacheLimit) return;
    this.dirtreeCache.set(csum, dt);
    this.dirtreeCacheEntries += size;
    for (const [k, v] of this.dirtreeCache) {
      if (this.dirtreeCacheEntries <= this.dirtreeCacheLimit) break;
      this.dirtreeCache.delete(k);
      this.dirtreeCacheEntries -= v.files.length + v.dirs.length + 1;
    }
  }

  async loadDirmeta(csum: string): Promise<DirMeta> {
    const hit = this.dirmetaCache.get(csum);
    if (hit) return hit;
    const m = decodeDirmeta(await this.readMetadata(csum, 'dirmeta'), `object ${csum}.dirmeta`);
    this.dirmetaCache.set(csum, m);
    return m;
  }

  /** Detached metadata of a commit, or null when there is none. */
  async readCommitmeta(csum: string): Promise<Buffer | null> {
    try {
      const b = await readFile(this.objectPath(csum, 'commitmeta'));
      return b.length === 0 ? null : b;
    } catch (err) {
      if (isErrno(err, 'ENOENT')) return null;
      throw err;
    }
  }

  /** Replaces a commit's detached metadata (tmp+rename, as ostree does). */
  async writeCommitmeta(csum: string, bytes: Uint8Array): Promise<void> {
    const p = this.objectPath(csum, 'commitmeta');
    await mkdir(join(this.path, 'objects', csum.slice(0, 2)), { recursive: true });
    await writeFileAtomic(p, bytes);
  }

  /** Reads a content object's header (ownership, mode, target, xattrs) in this repo's mode. */
  async readContentInfo(csum: string): Promise<ContentInfo> {
    return this.readContentInfoSync(csum);
  }

  /** readContentInfo without the promise: a few metadata syscalls, run inline. */
  readContentInfoSync(csum: string): ContentInfo {
    const path = this.objectPath(csum, 'file');
    const what = `object ${csum}.file`;
    let st;
    try {
      // Synchronous: one lstat (and an xattr read) per file; thread-pool hops would dominate.
      st = lstatSync(path);
    } catch (err) {
      if (isErrno(err, 'ENOENT')) throw new UpdaterError('STORE_OBJECT_MISSING', `${what} is missing from ${this.path}`, { hint: 'run `atomic repo fsck`' });
      throw err;
    }
    switch (this.mode) {
      case 'archive': {
        const fd = openSync(path, 'r');
        try {
          const head = Buffer.alloc(Math.min(st.size, 4096));
          readSync(fd, head, 0, head.length, 0);
          const len = head.length >= 4 ? head.readUInt32BE(0) : 0;
          const full = 8 + len <= head.length ? head : readFileSync(path);
          const { header, size } = decodeArchivePrefix(full, what);
          return { header, size, path };
        } finally {
          closeSync(fd);
        }
      }
      case 'bare': {
        const xattrs = readAllXattrs(path).map((x) => ({ name: x.name, value: x.value }));
        const isLink = st.isSymbolicLink();
        const header: FileHeader = { uid: st.uid, gid: st.gid, mode: st.mode, symlinkTarget: isLink ? readlinkSync(path) : '', xattrs };
        validateFileHeader(header, what);
        return { header, size: isLink ? 0 : st.size, path };
      }
      case 'bare-user': {
        const meta = getXattr(path, 'user.ostreemeta');
        if (meta === null) throw new UpdaterError('STORE_OBJECT_CORRUPT', `${what}: missing user.ostreemeta xattr`);
        const m = decodeMetaTuple(meta, `${what} user.ostreemeta`);
        const isLink = (m.mode & 0o170000) === 0o120000;
        let target = '';
        if (isLink) {
          const raw = readFileSync(path);
          if (raw.length === 0 || raw[raw.length - 1] !== 0) throw new UpdaterError('STORE_OBJECT_CORRUPT', `${what}: symlink target is not NUL-terminated`);
          target = raw.subarray(0, raw.length - 1).toString('utf8');
        }
        const header: FileHeader = { uid: m.uid, gid: m.gid, mode: m.mode, symlinkTarget: target, xattrs: m.xattrs };
        validateFileHeader(header, what);
        return { header, size: isLink ? 0 : st.size, path };
      }
      case 'bare-user-only': {
        const isLink = st.isSymbolicLink();
        const header: FileHeader = { uid: 0, gid: 0, mode: st.mode, symlinkTarget: isLink ? readlinkSync(path) : '', xattrs: [] };
        validateFileHeader(header, what);
        return { header, size: isLink ? 0 : st.size, path };
      }
    }
  }

  /** Reads a regular file object's data (inflating `.filez`). */
  async readContentData(info: ContentInfo): Promise<Buffer> {
    if (info.header.symlinkTarget) return Buffer.alloc(0);
    // Small objects read inline: a thread-pool round trip costs more than the read.
    const small = info.size <= SYNC_READ_LIMIT;
    if (this.mode !== 'archive') return small ? readFileSync(info.path) : readFile(info.path);
    const raw = small ? readFileSync(info.path) : await readFile(info.path);
    const dataOffset = 8 + raw.readUInt32BE(0);
    let data: Buffer;
    try {
      data = inflateRawSync(raw.subarray(dataOffset));
    } catch (err) {
      throw new UpdaterError('STORE_OBJECT_CORRUPT', `object ${info.path}: compressed data is corrupt`, { cause: err });
    }
    if (data.length !== info.size) throw new UpdaterError('STORE_OBJECT_CORRUPT', `object ${info.path}: inflated to ${data.length} bytes, header says ${info.size}`);
    return data;
  }

  // ---- refs ----

  private refPath(remote: string | null, ref: string): string {
    return remote === null ? join(this.path, 'refs', 'heads', ref) : join(this.path, 'refs', 'remotes', remote, ref);
  }

  /** Reads one ref (`REF` or `REMOTE:REF`); null when absent. */
  async readRef(refspec: string): Promise<string | null> {
    const { remote, ref } = splitRefspec(refspec);
    let text: string;
    try {
      text = await readFile(this.refPath(remote, ref), 'utf8');
    } catch (err) {
      return refReadError(err);
    }
    return refChecksum(refspec, text);
  }

  /** readRef without the promise: one small read, for callers that look up many refs. */
  readRefSync(refspec: string): string | null {
    const { remote, ref } = splitRefspec(refspec);
    let text: string;
    try {
      text = readFileSync(this.refPath(remote, ref), 'utf8');
    } catch (err) {
      return refReadError(err);
    }
    return refChecksum(refspec, text);
  }

  /**
   * Resolves a revision: a checksum, a unique checksum prefix, `REF`, `REMOTE:REF`,
   * each optionally followed by `^` (parent) any number of times.
   */
  async resolveRev(rev: string): Promise<string> {
    const m = /^(.*?)(\^*)$/.exec(rev)!;
    let csum = await this.resolveBase(m[1]!);
    for (let i = 0; i < m[2]!.length; i++) {
      const c = await this.loadCommit(csum);
      if (c.parent === null) throw new UpdaterError('STORE_REF_NOT_FOUND', `revision '${rev}': commit ${csum} has no parent`);
      csum = c.parent;
    }
    return csum;
  }

  private async resolveBase(rev: string): Promise<string> {
    if (isChecksum(rev)) return rev;
    if (/^[0-9a-f]{4,63}$/.test(rev)) {
      const matches = (await this.listCommitObjects()).filter((c) => c.startsWith(rev));
      if (matches.length === 1) return matches[0]!;
      if (matches.length > 1) throw new UpdaterError('STORE_REF_NOT_FOUND', `revision '${rev}' is ambiguous`);
    }
    const csum = await this.readRef(rev);
    if (csum === null) throw new UpdaterError('STORE_REF_NOT_FOUND', `ref '${rev}' not found in ${this.path}`);
    return csum;
  }

  /** Writes (or with null, deletes) a ref; durable before returning. */
  async writeRef(remote: string | null, ref: string, csum: string | null): Promise<void> {
    validateRef(ref);
    const p = this.refPath(remote, ref);
    if (csum === null) {
      await unlink(p).catch((err) => {
        if (!isErrno(err, 'ENOENT')) throw err;
      });
      return;
    }
    assertChecksum(csum);
    await mkdir(join(p, '..'), { recursive: true });
    await writeFileAtomic(p, `${csum}\n`);
  }

  /** Lists refs: local heads as `REF`, remote refs as `REMOTE:REF`, sorted. */
  async listRefs(opts: { heads?: boolean; remotes?: boolean } = {}): Promise<Map<string, string>> {
    const out = new Map<string, string>();
    if (opts.heads !== false) await this.walkRefs(join(this.path, 'refs', 'heads'), '', (n, c) => out.set(n, c));
    if (opts.remotes !== false) {
      const base = join(this.path, 'refs', 'remotes');
      for (const remote of await readdir(base).catch(() => [] as string[])) {
        await this.walkRefs(join(base, remote), '', (n, c) => out.set(`${remote}:${n}`, c));
      }
    }
    return new Map([...out].sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)));
  }

  private async walkRefs(dir: string, prefix: string, add: (name: string, csum: string) => void): Promise<void> {
    const entries = await readdir(dir, { withFileTypes: true }).catch(() => []);
    for (const e of entries) {
      // Ref names never start with '.': these are temp files of a ref write that was
      // interrupted (writeFileAtomic's `.NAME.tmp-…`), not refs.
      if (e.name.startsWith('.')) continue;
      const name = prefix ? `${prefix}/${e.name}` : e.name;
      if (e.isDirectory()) await this.walkRefs(join(dir, e.name), name, add);
      else if (e.isFile()) {
        const csum = (await readFile(join(dir, e.name), 'utf8')).trim();
        if (!isChecksum(csum)) throw new UpdaterError('STORE_BAD_REF', `ref ${name} in ${dir}: file does not hold a checksum`);
        add(name, csum);
      }
    }
  }

  // ---- object listing and partial commits ----

  /** Every loose object as [checksum, kind, path]. */
  async *listObjects(): AsyncGenerator<[string, ObjectKind, string]> {
    yield* this.listObjectsSync();
  }

  /** Every loose object as [checksum, kind, path]; one readdir per fan-out directory. */
  *listObjectsSync(): Generator<[string, ObjectKind, string]> {
    const base = join(this.path, 'objects');
    for (const d of readdirSync(base).sort()) {
      if (!/^[0-9a-f]{2}$/.test(d)) continue;
      for (const f of readdirSync(join(base, d))) {
        const dot = f.indexOf('.');
        const csum = d + f.slice(0, dot);
        let kind = f.slice(dot + 1);
        if (kind === 'filez') kind = 'file';
        if (!isChecksum(csum)) continue;
        yield [csum, kind as ObjectKind, join(base, d, f)];
      }
    }
  }

  /**
   * Every loose object as [key, fan-out directory path, file name], key being
   * `CHECKSUM.KIND` with an archive's `.filez` as `.file` (traverse.ts's keys). Only the
   * name's shape is checked here, not its hex: for passes over the whole store (prune),
   * which check the few names they act on.
   */
  *listObjectKeysSync(): Generator<[string, string, string]> {
    const base = join(this.path, 'objects');
    for (const d of readdirSync(base)) {
      if (d.length !== 2) continue;
      const dir = `${base}/${d}`;
      for (const f of readdirSync(dir)) {
        if (f.charCodeAt(62) !== 0x2e /* '.' */) continue;
        yield [f.endsWith('.filez') ? `${d}${f.slice(0, -1)}` : d + f, dir, f];
      }
    }
  }

  async listCommitObjects(): Promise<string[]> {
    const out: string[] = [];
    for await (const [csum, kind] of this.listObjects()) if (kind === 'commit') out.push(csum);
    return out;
  }

  private partialPath(csum: string): string {
    return join(this.path, 'state', `${csum}.commitpartial`);
  }

  async isCommitPartial(csum: string): Promise<boolean> {
    try {
      await stat(this.partialPath(csum));
      return true;
    } catch {
      return false;
    }
  }

  /** Marks a commit partial (before its commit object is written by a pull); fsck writes 'f'. */
  async markCommitPartial(csum: string, reason = ''): Promise<void> {
    await mkdir(join(this.path, 'state'), { recursive: true });
    await writeFile(this.partialPath(csum), reason, { flag: constants.O_CREAT | constants.O_WRONLY | constants.O_TRUNC });
  }

  async clearCommitPartial(csum: string): Promise<void> {
    await unlink(this.partialPath(csum)).catch((err) => {
      if (!isErrno(err, 'ENOENT')) throw err;
    });
  }
}

function splitRefspec(refspec: string): { remote: string | null; ref: string } {
  const i = refspec.indexOf(':');
  return { remote: i < 0 ? null : refspec.slice(0, i), ref: validateRef(i < 0 ? refspec : refspec.slice(i + 1)) };
}

/** A missing ref reads as null; other errors are thrown. */
function refReadError(err: unknown): null {
  if (isErrno(err, 'ENOENT') || isErrno(err, 'EISDIR') || isErrno(err, 'ENOTDIR')) return null;
  throw err;
}

function refChecksum(refspec: string, text: string): string {
  const csum = text.trim();
  if (!isChecksum(csum)) throw new UpdaterError('STORE_BAD_REF', `ref ${refspec}: file does not hold a checksum`);
  return csum;
}
