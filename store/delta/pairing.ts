// Which old file each new file of a delta is diffed against. ostree 2022.7
// pairs by name only: the same basename, or the same part before the first dot
// (libfoo.so.1.2 ~ libfoo.so.1.3), with sizes within 30%, taking the first
// candidate in size order. So a file that grew by more than 30%, a version in
// the stem (libLLVM-15.so → libLLVM-16.so), or one of many same-named files
// (Makefile, __init__.py) in different directories gets no diff or a diff
// against an unrelated file. We pair, in order:
//   1. the same path (any size);
//   2. the same path once every digit run is masked ("version shape":
//      usr/lib/modules/5.10.0-1/… ~ 5.10.0-2/…), the closest size winning;
//   3. ostree's rules (same basename, then same stem before the first dot,
//      sizes within 30%), so we pair at least what ostree pairs.
// Pure: the caller supplies the paths, checksums and sizes.

/** A regular file in a commit. */
export interface PathFile {
  /** Path inside the commit, without a leading slash. */
  path: string;
  checksum: string;
  size: number;
}

export type PairReason = 'path' | 'version' | 'basename' | 'stem';

export interface Pairing {
  from: PathFile;
  reason: PairReason;
}

const basename = (p: string): string => p.slice(p.lastIndexOf('/') + 1);
/** The part of a basename before its first dot, or null without one (ostree's fuzzy match). */
const stem = (p: string): string | null => {
  const b = basename(p);
  const dot = b.indexOf('.');
  return dot > 0 ? b.slice(0, dot) : null;
};

/** Masks digit runs: `usr/lib/modules/5.10.0-1/x.ko` → `usr/lib/modules/#.#.#-#/x.ko`. */
export function versionShape(path: string): string {
  return path.replace(/[0-9]+/g, '#');
}

function within(a: number, b: number, percent: number): boolean {
  const max = Math.max(a, b);
  const min = Math.min(a, b);
  return max === 0 || (max - min) * 100 <= max * percent;
}

function closest(cands: PathFile[], size: number, path: string): PathFile | undefined {
  let best: PathFile | undefined;
  for (const c of cands) {
    if (best === undefined) best = c;
    else {
      const d = Math.abs(c.size - size) - Math.abs(best.size - size);
      // Ties: prefer the lexically nearest path (usually the previous version).
      if (d < 0 || (d === 0 && Math.abs(c.path.localeCompare(path)) < Math.abs(best.path.localeCompare(path)))) best = c;
    }
  }
  return best;
}

/**
 * Pairs each new regular file with an old regular file to diff against.
 * `oldFiles` are the FROM commit's regular files; `newFiles` the TO commit's
 * regular files whose content is new. Returns new checksum → pairing (a
 * content object reached by several paths takes the first pairing found).
 */
export function pairModifiedFiles(oldFiles: PathFile[], newFiles: PathFile[], opts: { similarityPercent?: number } = {}): Map<string, Pairing> {
  const percent = opts.similarityPercent ?? 30;
  const byPath = new Map<string, PathFile>();
  const byShape = new Map<string, PathFile[]>();
  const byBase = new Map<string, PathFile[]>();
  const byStem = new Map<string, PathFile[]>();
  for (const f of oldFiles) {
    const st = stem(f.path);
    if (st !== null) (byStem.get(st) ?? byStem.set(st, []).get(st)!).push(f);
    byPath.set(f.path, f);
    const s = versionShape(f.path);
    (byShape.get(s) ?? byShape.set(s, []).get(s)!).push(f);
    const b = basename(f.path);
    (byBase.get(b) ?? byBase.set(b, []).get(b)!).push(f);
  }
  const out = new Map<string, Pairing>();
  const tryPass = (pick: (f: PathFile) => Pairing | undefined): void => {
    for (const f of newFiles) {
      if (out.has(f.checksum)) continue;
      const p = pick(f);
      if (p && p.from.checksum !== f.checksum) out.set(f.checksum, p);
    }
  };
  tryPass((f) => {
    const o = byPath.get(f.path);
    return o ? { from: o, reason: 'path' } : undefined;
  });
  tryPass((f) => {
    const o = closest((byShape.get(versionShape(f.path)) ?? []).filter((c) => c.checksum !== f.checksum), f.size, f.path);
    return o ? { from: o, reason: 'version' } : undefined;
  });
  tryPass((f) => {
    const o = closest((byBase.get(basename(f.path)) ?? []).filter((c) => c.checksum !== f.checksum && within(c.size, f.size, percent)), f.size, f.path);
    return o ? { from: o, reason: 'basename' } : undefined;
  });
  tryPass((f) => {
    const st = stem(f.path);
    if (st === null) return undefined;
    const o = closest((byStem.get(st) ?? []).filter((c) => c.checksum !== f.checksum && within(c.size, f.size, percent)), f.size, f.path);
    return o ? { from: o, reason: 'stem' } : undefined;
  });
  return out;
}
