// Write transactions (ostree-format.md §1 "Write transaction"): objects are
// staged in tmp/staging-BOOTID-RANDOM/XX/, each fully written then renamed into
// the staging dir; commit() makes them durable with syncfs, renames them into
// objects/ (content and trees before commits), syncs again, then writes refs.
// A crash before commit() leaves only staging files, reused by the next
// transaction of the same boot (they are in the page cache) and discarded after a reboot.

import { createHash, randomBytes } from 'node:crypto';
import { createReadStream, createWriteStream } from 'node:fs';
import { chmod, chown, copyFile, lchown, lutimes, mkdir, open, readdir, readFile, rename, rm, stat, symlink, utimes, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { pipeline } from 'node:stream/promises';
import { createDeflateRaw, deflateRaw } from 'node:zlib';
import { promisify } from 'node:util';
import { isErrno, UpdaterError } from '../../common/errors.ts';
import { setXattr, syncfs } from '../../common/libc.ts';
import {
  contentStreamPrefix, encodeArchivePrefix, encodeDirmeta, isLinkMode, sha256Hex, type FileHeader, type ObjectKind,
} from '../objects/index.ts';
import { lockRepo, type LockOptions, type RepoLock } from './lock.ts';
import type { Repo } from './repo.ts';

const deflateRawAsync = promisify(deflateRaw);
/** Files up to this size are read into memory once and hashed/written from the buffer. */
const IN_MEMORY_LIMIT = 16 * 1024 * 1024;

/** Where a content object's data comes from. */
export type ContentSource = { path: string } | { data: Uint8Array };

export interface TransactionStats {
  metadataWritten: number;
  contentWritten: number;
  contentBytesWritten: number;
}

let bootIdCache: string | null = null;
async function bootId(): Promise<string> {
  if (bootIdCache === null) {
    const raw = await readFile('/proc/sys/kernel/random/boot_id', 'utf8').catch(() => 'unknown-boot');
    bootIdCache = raw.trim().replace(/-/g, '');
  }
  return bootIdCache;
}

export class Transaction {
  readonly repo: Repo;
  readonly staging: string;
  readonly stats: TransactionStats = { metadataWritten: 0, contentWritten: 0, contentBytesWritten: 0 };
  private readonly lock: RepoLock;
  private readonly refUpdates: Array<[string | null, string, string | null]> = [];
  private readonly madeDirs = new Set<string>();
  private tmpCounter = 0;
  private done = false;

  private constructor(repo: Repo, staging: string, lock: RepoLock) {
    this.repo = repo;
    this.staging = staging;
    this.lock = lock;
  }

  /** Takes the repository lock and opens (or reuses) a staging directory. */
  static async begin(repo: Repo, opts: LockOptions = {}): Promise<Transaction> {
    const lock = await lockRepo(repo.path, opts);
    try {
      const tmp = join(repo.path, 'tmp');
      await mkdir(tmp, { recursive: true });
      const boot = await bootId();
      let staging: string | null = null;
      for (const name of await readdir(tmp)) {
        if (!name.startsWith('staging-')) continue;
        // Same boot: its files are whole (renamed into place after writing) and in the page cache.
        if (staging === null && name.startsWith(`staging-${boot}-`)) staging = join(tmp, name);
        else await rm(join(tmp, name), { recursive: true, force: true });
      }
      if (staging === null) {
        staging = join(tmp, `staging-${boot}-${randomBytes(6).toString('hex')}`);
        await mkdir(staging);
      } else {
        for (const e of await readdir(staging)) if (!/^[0-9a-f]{2}$/.test(e)) await rm(join(staging, e), { recursive: true, force: true });
      }
      // A legacy `transaction` marker from old ostree makes every commit partial; 2022.7 deletes it.
      await rm(join(repo.path, 'transaction'), { force: true });
      return new Transaction(repo, staging, lock);
    } catch (err) {
      await lock.release();
      throw err;
    }
  }

  private stagedPath(csum: string, kind: ObjectKind): string {
    const ext = kind === 'file' && this.repo.mode === 'archive' ? 'filez' : kind;
    return join(this.staging, csum.slice(0, 2), `${csum.slice(2)}.${ext}`);
  }

  /** True when the object is in the repo or already staged. */
  async has(csum: string, kind: ObjectKind): Promise<boolean> {
    if (await this.repo.hasObject(csum, kind)) return true;
    try {
      await stat(this.stagedPath(csum, kind));
      return true;
    } catch {
      return false;
    }
  }

  private async newTmp(): Promise<string> {
    return join(this.staging, `tmp-${process.pid}-${this.tmpCounter++}`);
  }

  private async place(tmp: string, csum: string, kind: ObjectKind): Promise<void> {
    const dir = join(this.staging, csum.slice(0, 2));
    if (!this.madeDirs.has(dir)) {
      await mkdir(dir, { recursive: true });
      this.madeDirs.add(dir);
    }
    await rename(tmp, this.stagedPath(csum, kind));
  }

  /** Stages a metadata object; `expected` (from a pull) must match the computed checksum. */
  async writeMetadata(kind: 'commit' | 'dirtree' | 'dirmeta', bytes: Uint8Array, expected?: string): Promise<string> {
    const csum = sha256Hex(bytes);
    if (expected !== undefined && expected !== csum) {
      throw new UpdaterError('STORE_OBJECT_CORRUPT', `object ${expected}.${kind}: computed checksum ${csum}`);
    }
    if (await this.has(csum, kind)) return csum;
    const tmp = await this.newTmp();
    await writeFile(tmp, bytes, { mode: 0o644 });
    await this.place(tmp, csum, kind);
    this.stats.metadataWritten++;
    return csum;
  }

  /**
   * Stages a content object (regular file or symlink) in the repo's mode and
   * returns its checksum; `expected` must match when given (pulls, deltas).
   */
  async writeContent(header: FileHeader, source: ContentSource, expected?: string): Promise<string> {
    const isLink = isLinkMode(header.mode);
    const prefix = contentStreamPrefix(header);
    let data: Uint8Array | null = null;
    let csum: string;
    if (isLink) {
      csum = sha256Hex(prefix);
    } else if ('data' in source) {
      data = source.data;
      csum = sha256Hex(prefix, data);
    } else {
      const st = await stat(source.path);
      if (st.size <= IN_MEMORY_LIMIT) {
        data = await readFile(source.path);
        csum = sha256Hex(prefix, data);
      } else {
        const h = createHash('sha256').update(prefix);
        for await (const chunk of createReadStream(source.path, { highWaterMark: 1 << 20 })) h.update(chunk as Buffer);
        csum = h.digest('hex');
      }
    }
    if (expected !== undefined && expected !== csum) {
      throw new UpdaterError('STORE_OBJECT_CORRUPT', `object ${expected}.file: computed checksum ${csum}`);
    }
    if (await this.has(csum, 'file')) return csum;
    const tmp = await this.newTmp();
    try {
      await this.writeContentFile(tmp, header, data, source);
    } catch (err) {
      await rm(tmp, { force: true });
      if (isErrno(err, 'EPERM') && this.repo.mode === 'bare') {
        throw new UpdaterError('STORE_PERMISSION', `writing object ${csum}.file: bare repositories need root to set ownership`, { cause: err, hint: 'use a bare-user repository for unprivileged use' });
      }
      throw err;
    }
    await this.place(tmp, csum, 'file');
    this.stats.contentWritten++;
    this.stats.contentBytesWritten += data?.length ?? 0;
    return csum;
  }

  private async writeContentFile(tmp: string, h: FileHeader, data: Uint8Array | null, source: ContentSource): Promise<void> {
    const isLink = isLinkMode(h.mode);
    const perms = h.mode & 0o7777;
    const writeData = async (): Promise<void> => {
      if (data !== null) await writeFile(tmp, data, { mode: 0o600 });
      else await copyFile((source as { path: string }).path, tmp);
    };
    switch (this.repo.mode) {
      case 'bare':
        if (isLink) {
          await symlink(h.symlinkTarget, tmp);
          await lchown(tmp, h.uid, h.gid);
          for (const x of h.xattrs) setXattr(tmp, x.name, x.value);
          await lutimes(tmp, 0, 0);
        } else {
          await writeData();
          // chown before chmod: chown clears setuid/setgid bits.
          await chown(tmp, h.uid, h.gid);
          await chmod(tmp, perms);
          for (const x of h.xattrs) setXattr(tmp, x.name, x.value);
          await utimes(tmp, 0, 0);
        }
        return;
      case 'bare-user':
        // Real metadata goes into user.ostreemeta; symlinks become files holding target + NUL.
        if (isLink) await writeFile(tmp, Buffer.from(`${h.symlinkTarget}\0`), { mode: 0o644 });
        else await writeData();
        await chmod(tmp, isLink ? 0o644 : (perms & 0o775) | 0o400);
        setXattr(tmp, 'user.ostreemeta', encodeDirmeta({ uid: h.uid, gid: h.gid, mode: h.mode, xattrs: h.xattrs }));
        await utimes(tmp, 0, 0);
        return;
      case 'bare-user-only':
        if (h.uid !== 0 || h.gid !== 0 || h.xattrs.length > 0 || (!isLink && (perms & ~0o775) !== 0)) {
          throw new UpdaterError('STORE_OBJECT_INVALID', `content object with uid ${h.uid}, gid ${h.gid}, mode 0${perms.toString(8)} or xattrs cannot be stored in a bare-user-only repository`);
        }
        if (isLink) {
          await symlink(h.symlinkTarget, tmp);
          await lutimes(tmp, 0, 0);
        } else {
          await writeData();
          await chmod(tmp, perms);
          await utimes(tmp, 0, 0);
        }
        return;
      case 'archive': {
        const size = isLink ? 0 : data !== null ? data.length : (await stat((source as { path: string }).path)).size;
        const prefix = encodeArchivePrefix(h, size);
        if (isLink) {
          await writeFile(tmp, prefix, { mode: 0o644 });
        } else if (data !== null) {
          const z = await deflateRawAsync(data, { level: 6 });
          await writeFile(tmp, Buffer.concat([prefix, z]), { mode: 0o644 });
        } else {
          // Large file: stream it through deflate after the header.
          await writeFile(tmp, prefix, { mode: 0o644 });
          await pipeline(createReadStream((source as { path: string }).path), createDeflateRaw({ level: 6 }), createWriteStream(tmp, { flags: 'a' }));
        }
        return;
      }
    }
  }

  /** Queues a ref update, applied after the objects are durable. */
  setRef(remote: string | null, ref: string, csum: string | null): void {
    this.refUpdates.push([remote, ref, csum]);
  }

  /** Makes staged objects durable, moves them into objects/, then writes the refs. */
  async commit(): Promise<void> {
    if (this.done) throw new UpdaterError('INTERNAL', 'transaction already finished');
    try {
      const doSync = this.repo.config.getBoolean('core', 'fsync', true);
      const sync = async (): Promise<void> => {
        if (!doSync) return;
        const fh = await open(this.staging, 'r');
        try {
          syncfs(fh.fd, this.staging);
        } finally {
          await fh.close();
        }
      };
      await sync();
      const commits: Array<[string, string]> = [];
      const made = new Set<string>();
      for (const d of (await readdir(this.staging)).sort()) {
        if (!/^[0-9a-f]{2}$/.test(d)) continue;
        const target = join(this.repo.path, 'objects', d);
        for (const f of await readdir(join(this.staging, d))) {
          if (!made.has(target)) {
            await mkdir(target, { recursive: true });
            made.add(target);
          }
          if (f.endsWith('.commit')) commits.push([join(this.staging, d, f), join(target, f)]);
          else await rename(join(this.staging, d, f), join(target, f));
        }
      }
      // Commits last: a commit object never becomes visible before the tree it names.
      if (commits.length > 0) {
        await sync();
        for (const [from, to] of commits) await rename(from, to);
      }
      await sync();
      for (const [remote, ref, csum] of this.refUpdates) await this.repo.writeRef(remote, ref, csum);
      await rm(this.staging, { recursive: true, force: true });
    } finally {
      this.done = true;
      await this.lock.release();
    }
  }

  /** Drops the lock; staged objects stay for the next transaction of this boot to reuse. */
  async abort(): Promise<void> {
    if (this.done) return;
    this.done = true;
    await this.lock.release();
  }
}
