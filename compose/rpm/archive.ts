// Walks an uncompressed RPM payload against the package header: each cpio entry
// is matched to its header file (metadata comes from the signed header, content
// from the payload), contents are streamed and checked against the header's file
// digests, hardlink sets are reported once with content, ghosts are skipped and
// header files missing from the payload are an error. Pure: no file I/O.

import { createHash } from 'node:crypto';
import { Readable } from 'node:stream';
import { UpdaterError } from '../../common/errors.ts';
import { encodeFileCaps } from './caps.ts';
import { ByteReader, CPIO_TRAILER, type CpioHeader, normalizePayloadPath, readCpioHeader } from './cpio.ts';
import type { RpmFileInfo, RpmPackage } from './package.ts';

export type RpmEntryType = 'file' | 'hardlink' | 'symlink' | 'directory' | 'chardev' | 'blockdev' | 'fifo' | 'socket';

/** One installable entry of the payload. */
export interface RpmPayloadEntry {
  /** Absolute path, e.g. `/usr/bin/x`. */
  path: string;
  type: RpmEntryType;
  /** Full st_mode from the header (type and permission bits, setuid included). */
  mode: number;
  size: number;
  /** Members of this file's hardlink set in the package (1 when not hardlinked). */
  nlink: number;
  ino: number;
  dev: number;
  rdev: number;
  mtime: number;
  user: string;
  group: string;
  /** Symlink target; for a hardlink, the path of the set member that carried the content. */
  linkTarget: string | null;
  /** Extended attributes to set: `security.capability` from FILECAPS. */
  xattrs: { name: string; value: Uint8Array }[];
  /** The header's description of the file (flags: config, doc, license…). */
  file: RpmFileInfo;
  /** Index of the file in the header's file list. */
  index: number;
  /**
   * The content of a `file` entry; null otherwise. Read it before asking for the
   * next entry: whatever is left unread is then skipped (and still digest-checked).
   * Ends with RPM_FILE_DIGEST_MISMATCH when the content does not match the header.
   */
  content: Readable | null;
}

const S_IFMT = 0o170000;
const TYPES: Record<number, RpmEntryType> = {
  0o100000: 'file',
  0o120000: 'symlink',
  0o040000: 'directory',
  0o020000: 'chardev',
  0o060000: 'blockdev',
  0o010000: 'fifo',
  0o140000: 'socket',
};

export function entryType(mode: number): RpmEntryType | undefined {
  return TYPES[mode & S_IFMT];
}

const CHUNK = 1 << 20;

function corrupt(what: string, msg: string): UpdaterError {
  return new UpdaterError('RPM_PAYLOAD_CORRUPT', `${what}: ${msg}`);
}

/** Hardlink sets: regular, non-ghost files sharing device and inode; key → member indexes. */
function hardlinkSets(files: RpmFileInfo[]): Map<string, number[]> {
  const sets = new Map<string, number[]>();
  files.forEach((f, i) => {
    if (f.ghost || entryType(f.mode) !== 'file') return;
    const key = `${f.device}:${f.inode}`;
    const s = sets.get(key);
    if (s) s.push(i);
    else sets.set(key, [i]);
  });
  return sets;
}

/**
 * Reads the entries of an uncompressed cpio payload of `pkg`. `what` names the
 * package file in errors. The iterator finishes only after the cpio trailer and
 * after checking that every non-ghost header file was present.
 */
export async function* readPayloadEntries(pkg: RpmPackage, source: AsyncIterable<Uint8Array>, what: string): AsyncGenerator<RpmPayloadEntry> {
  const r = new ByteReader(source);
  const files = pkg.files;
  const byPath = new Map<string, number>();
  files.forEach((f, i) => byPath.set(f.path, i));
  const seen = new Uint8Array(files.length);
  const sets = hardlinkSets(files);
  const setOf = (i: number): number[] | undefined => {
    const s = sets.get(`${files[i]!.device}:${files[i]!.inode}`);
    return s && s.length > 1 && s.includes(i) ? s : undefined;
  };
  // Members of a hardlink set seen before the one carrying the data, and the path that carried it.
  const pending = new Map<number[], number[]>();
  const written = new Map<number[], string>();

  for (;;) {
    const h: CpioHeader = await readCpioHeader(r, what);
    let index: number;
    if (h.stripped) {
      index = h.fileIndex;
      if (index >= files.length) throw corrupt(what, `payload entry at offset ${h.offset} names file index ${index}, the header lists ${files.length} files`);
    } else {
      if (h.name === CPIO_TRAILER) break;
      const path = normalizePayloadPath(h.name);
      if (path === null) throw new UpdaterError('RPM_UNSAFE_PATH', `${what}: payload path "${h.name}" escapes the root (payload offset ${h.offset})`);
      const i = byPath.get(path);
      if (i === undefined) throw corrupt(what, `payload entry "${h.name}" is not in the package header (payload offset ${h.offset})`);
      index = i;
    }
    const f = files[index]!;
    if (seen[index]) throw corrupt(what, `payload holds ${f.path} twice`);
    seen[index] = 1;
    if (f.ghost) throw corrupt(what, `payload holds ${f.path}, which the header marks %ghost`);
    const type = entryType(f.mode);
    if (!type) throw corrupt(what, `${f.path} has unknown file type in mode 0${f.mode.toString(8)}`);
    const set = type === 'file' ? setOf(index) : undefined;

    // How many data bytes follow this header.
    let size: number;
    if (h.stripped) {
      if (type === 'file') size = set && set[set.length - 1] !== index ? 0 : f.size;
      else if (type === 'symlink') size = Buffer.byteLength(f.linkTo);
      else size = 0;
    } else {
      size = h.size;
      if ((h.mode & S_IFMT) !== (f.mode & S_IFMT)) {
        throw corrupt(what, `${f.path}: payload mode 0${h.mode.toString(8)} has another file type than the header's 0${f.mode.toString(8)}`);
      }
      if (type === 'file' && size !== f.size && !(set && size === 0)) {
        throw corrupt(what, `${f.path}: payload has ${size} bytes, the header says ${f.size}`);
      }
    }

    const base = (): RpmPayloadEntry => entryOf(files, index, type as RpmEntryType, set?.length ?? 1, null);

    if (type === 'symlink') {
      if (size !== Buffer.byteLength(f.linkTo)) throw corrupt(what, `${f.path}: payload link target has ${size} bytes, the header's "${f.linkTo}" has ${Buffer.byteLength(f.linkTo)}`);
      const target = await r.exact(size);
      if (!target) throw truncatedIn(what, f.path);
      if (target.toString('utf8') !== f.linkTo) throw corrupt(what, `${f.path}: payload link target "${target.toString('utf8')}" differs from the header's "${f.linkTo}"`);
      yield { ...base(), linkTarget: f.linkTo };
      continue;
    }
    if (type !== 'file') {
      if (size !== 0 && !(await r.skip(size))) throw truncatedIn(what, f.path);
      yield base();
      continue;
    }
    if (set) {
      const dataPath = written.get(set);
      if (dataPath !== undefined) {
        // A member after the one that carried the data (not how rpm writes sets, but harmless when empty).
        if (size !== 0) throw corrupt(what, `${f.path}: hardlink set of ${dataPath} carries data twice`);
        yield { ...base(), type: 'hardlink', linkTarget: dataPath };
        continue;
      }
      const waiting = pending.get(set) ?? [];
      const isLast = waiting.length + 1 === set.length;
      if (size === 0 && !isLast) {
        waiting.push(index);
        pending.set(set, waiting);
        continue;
      }
      pending.delete(set);
      written.set(set, f.path);
      yield* streamFile(r, base(), pkg, what);
      for (const j of waiting) yield entryOf(files, j, 'hardlink', set.length, f.path);
      continue;
    }
    yield* streamFile(r, base(), pkg, what);
  }

  const missing = files.filter((f, i) => !f.ghost && !seen[i]);
  if (missing.length > 0) {
    throw new UpdaterError('RPM_PAYLOAD_MISSING_FILE', `${what}: ${missing.length} file(s) of the header are not in the payload: ${missing.slice(0, 5).map((f) => f.path).join(', ')}${missing.length > 5 ? ', …' : ''}`);
  }
  for (const [set, waiting] of pending) {
    throw corrupt(what, `hardlink set of ${files[set[0]!]!.path} ends with ${waiting.length} of ${set.length} members and no data`);
  }
  // Trailing padding after the trailer is allowed; read it so the caller sees the whole stream.
  await r.drain();
}

/** The entry for header file `i`, metadata from the header. */
function entryOf(files: RpmFileInfo[], i: number, type: RpmEntryType, nlink: number, linkTarget: string | null): RpmPayloadEntry {
  const f = files[i]!;
  const caps = f.caps ? encodeFileCaps(f.caps) : null;
  return {
    path: f.path, type, mode: f.mode, size: type === 'file' || type === 'hardlink' ? f.size : 0, nlink,
    ino: f.inode, dev: f.device, rdev: f.rdev, mtime: f.mtime, user: f.user, group: f.group, linkTarget,
    xattrs: caps ? [{ name: 'security.capability', value: caps }] : [], file: f, index: i, content: null,
  };
}

function truncatedIn(what: string, path: string): UpdaterError {
  return new UpdaterError('RPM_TRUNCATED', `${what}: payload ends inside ${path}`);
}

/** Yields a file entry whose content streams from `r`, then skips what the consumer left and checks the digest. */
async function* streamFile(r: ByteReader, entry: RpmPayloadEntry, pkg: RpmPackage, what: string): AsyncGenerator<RpmPayloadEntry> {
  const f = entry.file;
  const hash = f.digest ? createHash(pkg.fileDigestAlgo) : null;
  let remaining = entry.size;
  let failure: UpdaterError | null = null;
  let inflight: Promise<void> | null = null;
  let taken = false; // the iterator took over reading (consumer moved on)

  const step = async (): Promise<Buffer | null> => {
    const c = await r.chunk(Math.min(CHUNK, remaining));
    if (!c) throw truncatedIn(what, f.path);
    remaining -= c.length;
    hash?.update(c);
    return c;
  };
  let checked = false;
  const check = (): void => {
    if (checked) return;
    checked = true;
    if (!hash) return;
    const got = hash.digest('hex');
    if (got !== f.digest) {
      failure = new UpdaterError('RPM_FILE_DIGEST_MISMATCH', `${what}: ${f.path}: ${pkg.fileDigestAlgo} digest ${got} does not match the header's ${f.digest}`);
    }
  };

  const content = new Readable({
    highWaterMark: CHUNK,
    read(): void {
      if (taken || inflight) return;
      if (remaining === 0) {
        check();
        if (failure) this.destroy(failure);
        else this.push(null);
        return;
      }
      inflight = step().then(
        (c) => {
          inflight = null;
          if (!taken) this.push(c);
        },
        (err: unknown) => {
          inflight = null;
          failure = err as UpdaterError;
          this.destroy(failure);
        },
      );
    },
  });
  // Errors are delivered to readers of `content`; the iterator rethrows them itself.
  content.on('error', () => {});

  yield { ...entry, content };

  // The consumer asked for the next entry: finish this file's bytes ourselves.
  taken = true;
  if (inflight) await inflight;
  if (failure) throw failure;
  while (remaining > 0) await step();
  check();
  if (!content.readableEnded && !content.destroyed) content.destroy(failure ?? undefined);
  if (failure) throw failure;
}
