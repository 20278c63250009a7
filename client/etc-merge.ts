// The /etc 3-way merge of ostree 2022.7 (format §10): diff the merge deployment's
// defaults (O = usr/etc) against its live config (M = etc), ignoring xattrs, then
// apply that diff to the new deployment's etc (N, a copy of its usr/etc): removed
// paths are deleted; modified, then added paths are copied whole from M.

import { createHash, randomBytes } from 'node:crypto';
import { chmodSync, chownSync, copyFileSync, lchownSync, lstatSync, mkdirSync, readdirSync, readFileSync, readlinkSync, renameSync, rmSync, symlinkSync, unlinkSync, utimesSync, type Stats } from 'node:fs';
import { dirname, join } from 'node:path';
import { isErrno, UpdaterError } from '../common/errors.ts';
import { lstatOrNull } from '../common/fs.ts';
import { readAllXattrs, setXattr } from '../common/libc.ts';

/** Paths relative to /etc, as `ostree admin config-diff` lists them. */
export interface EtcDiff {
  modified: string[];
  removed: string[];
  added: string[];
}

function fileType(st: Stats): 'd' | 'l' | 'f' | 'o' {
  return st.isDirectory() ? 'd' : st.isSymbolicLink() ? 'l' : st.isFile() ? 'f' : 'o';
}

function contentHash(path: string): string {
  return createHash('sha256').update(readFileSync(path)).digest('hex');
}

/**
 * ostree compares the §4.3/§4.1 checksums computed without xattrs: owner, mode and
 * content (or symlink target) for files, owner and mode for directories.
 */
function sameIdentity(a: string, sa: Stats, b: string, sb: Stats): boolean {
  if (sa.uid !== sb.uid || sa.gid !== sb.gid || sa.mode !== sb.mode) return false;
  if (sa.isDirectory()) return true;
  if (sa.isSymbolicLink()) return readlinkSync(a) === readlinkSync(b);
  if (!sa.isFile()) return true;
  if (sa.dev === sb.dev && sa.ino === sb.ino) return true;
  return sa.size === sb.size && contentHash(a) === contentHash(b);
}

function addRecursive(root: string, rel: string, out: string[]): void {
  for (const name of readdirSync(join(root, rel)).sort()) {
    const p = `${rel}/${name}`;
    out.push(p);
    if (lstatSync(join(root, p)).isDirectory()) addRecursive(root, p, out);
  }
}

/** `ostree_diff_dirs` with xattrs ignored: what changed from `orig` (O) to `modified` (M). */
export function diffEtc(orig: string, modified: string): EtcDiff {
  const diff: EtcDiff = { modified: [], removed: [], added: [] };
  const walk = (rel: string): void => {
    const o = rel === '' ? orig : join(orig, rel);
    const m = rel === '' ? modified : join(modified, rel);
    const child = (name: string): string => (rel === '' ? name : `${rel}/${name}`);
    for (const name of readdirSync(o).sort()) {
      const p = child(name);
      const so = lstatSync(join(orig, p));
      const sm = lstatOrNull(join(modified, p));
      if (sm === null) {
        diff.removed.push(p);
        continue;
      }
      if (fileType(so) !== fileType(sm)) {
        diff.modified.push(p);
        continue;
      }
      if (!sameIdentity(join(orig, p), so, join(modified, p), sm)) diff.modified.push(p);
      if (so.isDirectory()) walk(p);
    }
    for (const name of readdirSync(m).sort()) {
      const p = child(name);
      if (lstatOrNull(join(orig, p)) !== null) continue;
      diff.added.push(p);
      if (lstatSync(join(modified, p)).isDirectory()) addRecursive(modified, p, diff.added);
    }
  };
  walk('');
  return diff;
}

/** xattrs, then owner, then mode, as dirfd_copy_attributes_and_xattrs does. */
function copyDirAttributes(src: string, dest: string, st: Stats): void {
  for (const x of readAllXattrs(src)) setXattr(dest, x.name, x.value);
  chownSync(dest, st.uid, st.gid);
  chmodSync(dest, st.mode & 0o7777);
}

/**
 * Copies one regular file or symlink with owner, mode and xattrs, replacing `dest`
 * (glnx_file_copy_at with OVERWRITE): written under a temporary name, then renamed.
 */
export function copyFileWithAttributes(src: string, dest: string, st: Stats): void {
  const tmp = join(dirname(dest), `.${randomBytes(6).toString('hex')}.etc-tmp`);
  try {
    if (st.isSymbolicLink()) {
      symlinkSync(readlinkSync(src), tmp);
      lchownSync(tmp, st.uid, st.gid);
    } else {
      copyFileSync(src, tmp);
      chownSync(tmp, st.uid, st.gid);
      chmodSync(tmp, st.mode & 0o7777);
      for (const x of readAllXattrs(src)) setXattr(tmp, x.name, x.value);
      utimesSync(tmp, st.atime, st.mtime);
    }
    renameSync(tmp, dest);
  } catch (err) {
    rmSync(tmp, { force: true });
    throw err;
  }
}

/** copy_dir_recurse: creates (or reuses) `dest`, copies the directory's attributes, then its entries. */
export function copyDirRecurse(src: string, dest: string, log?: (line: string) => void): void {
  const st = lstatSync(src);
  try {
    mkdirSync(dest, { mode: 0o700 });
  } catch (err) {
    if (!isErrno(err, 'EEXIST')) throw err;
  }
  copyDirAttributes(src, dest, st);
  for (const name of readdirSync(src).sort()) {
    const s = join(src, name);
    const cst = lstatSync(s);
    if (cst.isDirectory()) copyDirRecurse(s, join(dest, name), log);
    else if (cst.isFile() || cst.isSymbolicLink()) copyFileWithAttributes(s, join(dest, name), cst);
    else log?.(`Ignoring non-regular/non-symlink file found during /etc merge: ${s}`);
  }
}

/** What a merge step sees of N, the new /etc: on disk (mergeEtc) or modelled from the commit (planEtcMerge). */
export interface EtcTarget {
  /** lstat type of N/rel: a directory, anything else, or absent. */
  kind(rel: string): 'dir' | 'other' | null;
  /** mkdir N/rel (its parent is a directory). */
  mkdir(rel: string): void;
  /** Gives directory N/rel the attributes of `src`. */
  setDirAttributes(rel: string, src: string, st: Stats): void;
  /** rm -rf N/rel. */
  remove(rel: string): void;
  /** unlink N/rel (not a directory). */
  unlink(rel: string): void;
  /** Copies the directory `src` to N/rel, which does not exist. */
  copyDir(rel: string, src: string): void;
  /** Copies the file or symlink `src` to N/rel. */
  copyFile(rel: string, src: string, st: Stats): void;
}

/** N on disk: the real merge. */
function diskTarget(newEtc: string, log?: (line: string) => void): EtcTarget {
  return {
    kind: (rel) => {
      const st = lstatOrNull(join(newEtc, rel));
      return st === null ? null : st.isDirectory() ? 'dir' : 'other';
    },
    mkdir: (rel) => mkdirSync(join(newEtc, rel), { mode: 0o700 }),
    setDirAttributes: (rel, src, st) => copyDirAttributes(src, join(newEtc, rel), st),
    remove: (rel) => rmSync(join(newEtc, rel), { recursive: true, force: true }),
    unlink: (rel) => unlinkSync(join(newEtc, rel)),
    copyDir: (rel, src) => copyDirRecurse(src, join(newEtc, rel), log),
    copyFile: (rel, src, st) => copyFileWithAttributes(src, join(newEtc, rel), st),
  };
}

/**
 * N modelled as path -> type, seeded from the new commit's /usr/etc: the merge run on
 * it makes the same decisions as on disk, so conflicts are known before any write.
 */
export function modelTarget(types: Map<string, 'dir' | 'other'>, log?: (line: string) => void): EtcTarget {
  const addTree = (rel: string, src: string): void => {
    types.set(rel, 'dir');
    for (const name of readdirSync(src).sort()) {
      const st = lstatSync(join(src, name));
      if (st.isDirectory()) addTree(`${rel}/${name}`, join(src, name));
      else if (st.isFile() || st.isSymbolicLink()) types.set(`${rel}/${name}`, 'other');
      else log?.(`Ignoring non-regular/non-symlink file found during /etc merge: ${join(src, name)}`);
    }
  };
  return {
    kind: (rel) => types.get(rel) ?? null,
    mkdir: (rel) => void types.set(rel, 'dir'),
    setDirAttributes: () => {},
    remove: (rel) => {
      for (const k of [...types.keys()]) if (k === rel || k.startsWith(`${rel}/`)) types.delete(k);
    },
    unlink: (rel) => void types.delete(rel),
    copyDir: addTree,
    copyFile: (rel) => void types.set(rel, 'other'),
  };
}

/** ensure_directory_from_template: N/rel exists as a directory with M's attributes (ancestors too, when created). */
function ensureDirFromTemplate(m: string, t: EtcTarget, rel: string): void {
  const src = join(m, rel);
  const srcSt = lstatSync(src);
  if (!srcSt.isDirectory()) throw new UpdaterError('ETC_MERGE_FAILED', `/etc/${rel} in the current /etc is not a directory`);
  let kind = t.kind(rel);
  if (kind === null) {
    // mkdir fails with ENOENT (parent missing: create it from its template first) or
    // ENOTDIR (parent is not a directory: the conflict is reported for the parent).
    if (rel.includes('/') && t.kind(dirname(rel)) !== 'dir') ensureDirFromTemplate(m, t, dirname(rel));
    t.mkdir(rel);
    kind = 'dir';
  }
  if (kind !== 'dir') {
    throw new UpdaterError('ETC_MERGE_CONFLICT', `/etc/${rel} is a directory in the current /etc but not in the new default configuration`, {
      hint: `move /etc/${rel} aside, then retry`,
    });
  }
  t.setDirAttributes(rel, src, srcSt);
}

/** copy_modified_config_file: makes N/rel what M/rel is. */
function copyModified(m: string, t: EtcTarget, rel: string, log?: (line: string) => void): void {
  const mst = lstatSync(join(m, rel));
  if (rel.includes('/')) ensureDirFromTemplate(m, t, dirname(rel));
  const kind = t.kind(rel);
  if (kind !== null) {
    if (kind === 'dir') {
      if (!mst.isDirectory()) {
        throw new UpdaterError('ETC_MERGE_CONFLICT', `Modified config file newly defaults to directory '${rel}', cannot merge`, {
          hint: `move /etc/${rel} aside (the new default is a directory), then retry`,
        });
      }
      return; // directory contents are handled entry by entry
    }
    t.unlink(rel);
  }
  if (mst.isDirectory()) t.copyDir(rel, join(m, rel));
  else if (mst.isFile() || mst.isSymbolicLink()) t.copyFile(rel, join(m, rel), mst);
  else log?.(`Ignoring non-regular/non-symlink file found during /etc merge: ${rel}`);
}

/**
 * Applies `diff` (O -> M) to the target: removed paths are deleted; modified, then
 * added paths are copied whole from M. With `onConflict`, an ETC_MERGE_* error of one
 * path is handed to it and the merge goes on (planning); without, it is thrown.
 */
export function applyEtcDiff(diff: EtcDiff, m: string, t: EtcTarget, log?: (line: string) => void, onConflict?: (err: UpdaterError) => void): void {
  const step = (fn: () => void): void => {
    try {
      fn();
    } catch (err) {
      if (onConflict !== undefined && err instanceof UpdaterError && err.code.startsWith('ETC_MERGE_')) onConflict(err);
      else throw err;
    }
  };
  for (const rel of diff.removed) step(() => t.remove(rel));
  for (const rel of diff.modified) step(() => copyModified(m, t, rel, log));
  for (const rel of diff.added) step(() => copyModified(m, t, rel, log));
}

/**
 * Merges: O = `origEtc` (old usr/etc), M = `modifiedEtc` (old etc), into N = `newEtc`
 * (already a copy of the new usr/etc). Returns the diff that was applied.
 * Errors are ETC_MERGE_CONFLICT / ETC_MERGE_FAILED; N is then only partly merged, and
 * the caller discards the new deployment (planEtcMerge finds conflicts before that).
 */
export function mergeEtc(origEtc: string, modifiedEtc: string, newEtc: string, log?: (line: string) => void): EtcDiff {
  const diff = diffEtc(origEtc, modifiedEtc);
  try {
    applyEtcDiff(diff, modifiedEtc, diskTarget(newEtc, log), log);
  } catch (err) {
    throw etcMergeError(err);
  }
  return diff;
}

/** Adds ostree's `during /etc merge:` context, keeping the code. */
export function etcMergeError(err: unknown): UpdaterError {
  if (err instanceof UpdaterError) return new UpdaterError(err.code, `during /etc merge: ${err.message}`, { hint: err.hint, cause: err });
  return new UpdaterError('ETC_MERGE_FAILED', `during /etc merge: ${(err as Error).message}`, { cause: err });
}

/** The line ostree logs: `Copying /etc changes: N modified, N removed, N added`. */
export function formatEtcMergeSummary(d: EtcDiff): string {
  return `Copying /etc changes: ${d.modified.length} modified, ${d.removed.length} removed, ${d.added.length} added`;
}
