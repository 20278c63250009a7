// Binary diffs in the format ostree's `B` (bspatch) opcode consumes: Colin
// Percival's bsdiff as adapted by Matthew Endsley (the library form, no
// "ENDSLEY/BSDIFF43" header and no bzip2). The patch is a sequence of
//   ctrl = 3 × 8-byte sign-magnitude little-endian integers (diff length,
//          extra length, old-position seek),
//   diff bytes (new − old, bytewise, diff-length of them), extra bytes,
// repeated until the new file is complete. The new file's size is not in the
// patch: the delta's `o` op carries it. Matching uses a suffix array of the old
// file, built by prefix doubling with radix sorts.

import { UpdaterError } from '../../common/errors.ts';

/** Suffix array of `a` (positions sorted by suffix), by prefix doubling: O(n log n). */
export function suffixArray(a: Uint8Array): Int32Array {
  const n = a.length;
  const sa = new Int32Array(n);
  if (n === 0) return sa;
  let rank = new Int32Array(n);
  let tmp = new Int32Array(n);
  const sa2 = new Int32Array(n);
  // Initial order: counting sort by byte.
  const cnt0 = new Int32Array(257);
  for (let i = 0; i < n; i++) cnt0[a[i]! + 1]!++;
  for (let i = 1; i < 257; i++) cnt0[i]! += cnt0[i - 1]!;
  for (let i = 0; i < n; i++) sa[cnt0[a[i]!]!++] = i;
  rank[sa[0]!] = 0;
  let classes = 1;
  for (let i = 1; i < n; i++) {
    if (a[sa[i]!] !== a[sa[i - 1]!]) classes++;
    rank[sa[i]!] = classes - 1;
  }
  let cnt = new Int32Array(Math.max(classes, 1));
  for (let k = 1; classes < n; k <<= 1) {
    // Order by the second key (rank[i+k], with "past the end" first), then stable-sort by the first.
    let p = 0;
    for (let i = n - k; i < n; i++) sa2[p++] = i;
    for (let i = 0; i < n; i++) if (sa[i]! >= k) sa2[p++] = sa[i]! - k;
    if (cnt.length < classes) cnt = new Int32Array(classes);
    cnt.fill(0, 0, classes);
    for (let i = 0; i < n; i++) cnt[rank[i]!]!++;
    for (let i = 1; i < classes; i++) cnt[i]! += cnt[i - 1]!;
    for (let i = n - 1; i >= 0; i--) {
      const s = sa2[i]!;
      sa[--cnt[rank[s]!]!] = s;
    }
    tmp[sa[0]!] = 0;
    let c = 1;
    for (let i = 1; i < n; i++) {
      const x = sa[i]!;
      const y = sa[i - 1]!;
      const rx = x + k < n ? rank[x + k]! : -1;
      const ry = y + k < n ? rank[y + k]! : -1;
      if (rank[x] !== rank[y] || rx !== ry) c++;
      tmp[x] = c - 1;
    }
    [rank, tmp] = [tmp, rank];
    classes = c;
  }
  return sa;
}

function matchLen(a: Uint8Array, ai: number, b: Uint8Array, bi: number): number {
  const max = Math.min(a.length - ai, b.length - bi);
  let i = 0;
  while (i < max && a[ai + i] === b[bi + i]) i++;
  return i;
}

/**
 * Lexicographic comparison of old[op..] with neu[np..] (a proper prefix sorts
 * first). Percival's memcmp over the shorter length calls a prefix "equal" and
 * then walks towards shorter suffixes, which turns long runs (zero-filled
 * regions) into byte-by-byte scanning; the true order finds the long match.
 */
function compareAt(old: Uint8Array, op: number, neu: Uint8Array, np: number): number {
  const oldLen = old.length - op;
  const newLen = neu.length - np;
  const max = Math.min(oldLen, newLen);
  for (let i = 0; i < max; i++) {
    const d = old[op + i]! - neu[np + i]!;
    if (d !== 0) return d;
  }
  return oldLen < newLen ? -1 : 0;
}

/**
 * Longest match of neu[np..] among the old file's suffixes. `I` is the suffix
 * array with the empty suffix at index 0 (length old.length + 1).
 */
function search(I: Int32Array, old: Uint8Array, neu: Uint8Array, np: number, st0: number, en0: number): [len: number, pos: number] {
  let st = st0;
  let en = en0;
  while (en - st >= 2) {
    const x = st + ((en - st) >> 1);
    if (compareAt(old, I[x]!, neu, np) < 0) st = x;
    else en = x;
  }
  const x = matchLen(old, I[st]!, neu, np);
  const y = matchLen(old, I[en]!, neu, np);
  return x > y ? [x, I[st]!] : [y, I[en]!];
}

/** Growable byte buffer for the patch. */
class Out {
  buf = new Uint8Array(1 << 16);
  len = 0;
  reserve(n: number): void {
    if (this.len + n <= this.buf.length) return;
    let size = this.buf.length * 2;
    while (size < this.len + n) size *= 2;
    const b = new Uint8Array(size);
    b.set(this.buf.subarray(0, this.len));
    this.buf = b;
  }
  offt(v: number): void {
    this.reserve(8);
    let x = Math.abs(v);
    for (let i = 0; i < 8; i++) {
      this.buf[this.len + i] = x % 256;
      x = Math.floor(x / 256);
    }
    if (v < 0) this.buf[this.len + 7]! |= 0x80;
    this.len += 8;
  }
}

/** Computes a bsdiff patch turning `old` into `neu` (ostree's `B` payload). */
export function bsdiff(old: Uint8Array, neu: Uint8Array): Uint8Array {
  const oldsize = old.length;
  const newsize = neu.length;
  const sa = suffixArray(old);
  const I = new Int32Array(oldsize + 1);
  I[0] = oldsize; // the empty suffix sorts first
  I.set(sa, 1);
  const out = new Out();
  let scan = 0;
  let len = 0;
  let pos = 0;
  let lastscan = 0;
  let lastpos = 0;
  let lastoffset = 0;
  while (scan < newsize) {
    let oldscore = 0;
    scan += len;
    let scsc = scan;
    for (; scan < newsize; scan++) {
      [len, pos] = search(I, old, neu, scan, 0, oldsize);
      for (; scsc < scan + len; scsc++) {
        if (scsc + lastoffset < oldsize && old[scsc + lastoffset] === neu[scsc]) oldscore++;
      }
      if ((len === oldscore && len !== 0) || len > oldscore + 8) break;
      if (scan + lastoffset < oldsize && old[scan + lastoffset] === neu[scan]) oldscore--;
    }
    if (len !== oldscore || scan === newsize) {
      // Extend the previous match forwards and this one backwards, keeping the halves that match best.
      let s = 0;
      let sf = 0;
      let lenf = 0;
      for (let i = 0; lastscan + i < scan && lastpos + i < oldsize;) {
        if (old[lastpos + i] === neu[lastscan + i]) s++;
        i++;
        if (s * 2 - i > sf * 2 - lenf) {
          sf = s;
          lenf = i;
        }
      }
      let lenb = 0;
      if (scan < newsize) {
        s = 0;
        let sb = 0;
        for (let i = 1; scan >= lastscan + i && pos >= i; i++) {
          if (old[pos - i] === neu[scan - i]) s++;
          if (s * 2 - i > sb * 2 - lenb) {
            sb = s;
            lenb = i;
          }
        }
      }
      if (lastscan + lenf > scan - lenb) {
        const overlap = lastscan + lenf - (scan - lenb);
        s = 0;
        let ss = 0;
        let lens = 0;
        for (let i = 0; i < overlap; i++) {
          if (neu[lastscan + lenf - overlap + i] === old[lastpos + lenf - overlap + i]) s++;
          if (neu[scan - lenb + i] === old[pos - lenb + i]) s--;
          if (s > ss) {
            ss = s;
            lens = i + 1;
          }
        }
        lenf += lens - overlap;
        lenb -= lens;
      }
      const extra = scan - lenb - (lastscan + lenf);
      out.offt(lenf);
      out.offt(extra);
      out.offt(pos - lenb - (lastpos + lenf));
      out.reserve(lenf + extra);
      for (let i = 0; i < lenf; i++) out.buf[out.len + i] = (neu[lastscan + i]! - old[lastpos + i]!) & 0xff;
      out.len += lenf;
      out.buf.set(neu.subarray(lastscan + lenf, lastscan + lenf + extra), out.len);
      out.len += extra;
      lastscan = scan - lenb;
      lastpos = pos - lenb;
      lastoffset = pos - scan;
    }
  }
  return out.buf.slice(0, out.len);
}

function offtin(p: Uint8Array, at: number): number {
  let y = p[at + 7]! & 0x7f;
  for (let i = 6; i >= 0; i--) y = y * 256 + p[at + i]!;
  return p[at + 7]! & 0x80 ? -y : y;
}

/**
 * neu[newpos + i] = old[oldpos + i] + patch[p + i] (mod 256) for i < len, old bytes out of
 * range counting as 0; neu's bytes there are still 0. The old bytes are copied in one
 * go, then only the non-zero diff bytes are added, skipping zero runs eight bytes at a
 * time (most of a bsdiff diff is zeros). 3× faster than a per-byte loop.
 */
function addDiff(neu: Uint8Array, newpos: number, old: Uint8Array, oldpos: number, patch: Uint8Array, p: number, len: number): void {
  const lo = Math.max(0, -oldpos);
  const hi = Math.min(len, old.length - oldpos);
  if (hi > lo) neu.set(old.subarray(oldpos + lo, oldpos + hi), newpos + lo);
  let k = p;
  let j = newpos;
  const end = p + len;
  while (k < end && ((patch.byteOffset + k) & 7) !== 0) {
    const d = patch[k++]!;
    if (d !== 0) neu[j] = neu[j]! + d;
    j++;
  }
  const nwords = (end - k) >>> 3;
  const words = nwords === 0 ? null : new Float64Array(patch.buffer, patch.byteOffset + k, nwords);
  for (let i = 0; i < nwords; i++, k += 8, j += 8) {
    const x = words![i]!;
    if (x === 0 && 1 / x > 0) continue; // +0.0: eight zero bytes (-0.0 has a bit set)
    for (let q = 0; q < 8; q++) {
      const d = patch[k + q]!;
      if (d !== 0) neu[j + q] = neu[j + q]! + d;
    }
  }
  while (k < end) {
    const d = patch[k++]!;
    if (d !== 0) neu[j] = neu[j]! + d;
    j++;
  }
}

/** Applies a bsdiff patch to `old`, producing exactly `newsize` bytes; throws DELTA_CORRUPT on a bad patch. */
export function bspatch(old: Uint8Array, patch: Uint8Array, newsize: number, what = 'bsdiff patch'): Uint8Array {
  const neu = new Uint8Array(newsize);
  const bad = (why: string): never => {
    throw new UpdaterError('DELTA_CORRUPT', `${what}: ${why}`);
  };
  let p = 0;
  let oldpos = 0;
  let newpos = 0;
  while (newpos < newsize) {
    if (p + 24 > patch.length) bad(`truncated control block at patch offset ${p}`);
    const diffLen = offtin(patch, p);
    const extraLen = offtin(patch, p + 8);
    const seek = offtin(patch, p + 16);
    p += 24;
    if (diffLen < 0 || extraLen < 0 || newpos + diffLen > newsize) bad(`invalid control block at patch offset ${p - 24}`);
    if (p + diffLen > patch.length) bad(`truncated diff data at patch offset ${p}`);
    addDiff(neu, newpos, old, oldpos, patch, p, diffLen);
    p += diffLen;
    newpos += diffLen;
    oldpos += diffLen;
    if (newpos + extraLen > newsize) bad(`extra data overruns the output at patch offset ${p}`);
    if (p + extraLen > patch.length) bad(`truncated extra data at patch offset ${p}`);
    neu.set(patch.subarray(p, p + extraLen), newpos);
    p += extraLen;
    newpos += extraLen;
    oldpos += seek;
  }
  return neu;
}

/** Bytes of a patch that carry information: non-zero diff bytes plus extra bytes (a cheap proxy for its compressed size). */
export function patchLiteralBytes(patch: Uint8Array): number {
  let p = 0;
  let n = 0;
  while (p + 24 <= patch.length) {
    const diffLen = offtin(patch, p);
    const extraLen = offtin(patch, p + 8);
    p += 24;
    if (diffLen < 0 || extraLen < 0) break;
    for (let i = 0; i < diffLen && p + i < patch.length; i++) if (patch[p + i] !== 0) n++;
    p += diffLen;
    n += Math.min(extraLen, Math.max(0, patch.length - p));
    p += extraLen;
  }
  return n;
}

/**
 * A run of a new file's bytes: copied from the old file at `from`, or (`from` = -1)
 * literal, taken from the new file itself.
 */
export interface CopySpan {
  at: number;
  len: number;
  from: number;
}

/**
 * Rewrites a bsdiff patch of `old` → `neu` as copies and literals: every run of at least
 * `minRun` zero diff bytes (bytes the two files share at the patch's offset) becomes a
 * copy from the old file, the rest (other diff bytes, extra data) literal bytes of the new
 * file. For a file that changed in a few places this is the cheaper delta: its literals are
 * all a client decompresses, where the patch's diff block is as large as the file.
 */
export function copySpans(patch: Uint8Array, oldSize: number, neu: Uint8Array, minRun = 64): CopySpan[] {
  const spans: CopySpan[] = [];
  const push = (at: number, len: number, from: number): void => {
    const last = spans[spans.length - 1];
    if (last && last.at + last.len === at && (from < 0 ? last.from < 0 : last.from >= 0 && last.from + last.len === from)) last.len += len;
    else spans.push({ at, len, from });
  };
  let p = 0;
  let oldpos = 0;
  let newpos = 0;
  while (newpos < neu.length) {
    if (p + 24 > patch.length) throw new UpdaterError('DELTA_CORRUPT', `bsdiff patch: truncated control block at patch offset ${p}`);
    const diffLen = offtin(patch, p);
    const extraLen = offtin(patch, p + 8);
    const seek = offtin(patch, p + 16);
    p += 24;
    if (diffLen < 0 || extraLen < 0 || newpos + diffLen + extraLen > neu.length || p + diffLen + extraLen > patch.length) {
      throw new UpdaterError('DELTA_CORRUPT', `bsdiff patch: invalid control block at patch offset ${p - 24}`);
    }
    for (let i = 0; i < diffLen;) {
      let j = i;
      while (j < diffLen && patch[p + j] === 0 && oldpos + j >= 0 && oldpos + j < oldSize) j++;
      if (j - i >= minRun) {
        push(newpos + i, j - i, oldpos + i);
        i = j;
      } else {
        const n = Math.max(j - i, 1);
        push(newpos + i, n, -1);
        i += n;
      }
    }
    p += diffLen;
    newpos += diffLen;
    oldpos += diffLen;
    if (extraLen > 0) push(newpos, extraLen, -1);
    p += extraLen;
    newpos += extraLen;
    oldpos += seek;
  }
  return spans;
}
