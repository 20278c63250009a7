// The order in which GLib (2.74, Debian 12) iterates a GHashTable keyed by strings,
// modelled exactly: ostree builds the summary's metadata, its per-ref metadata, the
// `ostree.static-deltas` map and delta-index files through a GVariantDict, whose
// g_variant_dict_end() emits entries in hash-table iteration order. Byte-identical
// output needs the same order, so this reproduces g_str_hash, the open-addressing
// probe sequence, the resize rule and the in-place rehash of ghash.c.

/** GLib's g_str_hash (djb2 over *signed* chars), as an unsigned 32-bit value. */
export function gStrHash(key: string): number {
  let h = 5381;
  for (const byte of Buffer.from(key, 'utf8')) {
    const c = byte >= 0x80 ? byte - 0x100 : byte; // `const signed char *p`
    h = (Math.imul(h, 33) + c) >>> 0;
  }
  return h;
}

const MIN_SHIFT = 3;
/** ghash.c prime_mod[shift]: the modulus used for the initial bucket. */
const PRIME_MOD = [
  1, 2, 3, 7, 13, 31, 61, 127, 251, 509, 1021, 2039, 4093, 8191, 16381, 32749, 65521, 131071, 262139, 524287,
  1048573, 2097143, 4194301, 8388593, 16777213, 33554393, 67108859, 134217689, 268435399, 536870909, 1073741789, 2147483647,
];
const UNUSED = 0;

/**
 * A string-keyed GHashTable that only records where each key sits, supporting what
 * GVariantDict does here: insert (new key, or replace the value of an existing one)
 * and iteration. No removal: ostree never removes keys from these dicts.
 */
export class GHashOrder<V> {
  private size = 1 << MIN_SHIFT;
  private mod = PRIME_MOD[MIN_SHIFT]!;
  private mask = this.size - 1;
  private nnodes = 0;
  private noccupied = 0;
  private hashes: number[] = new Array<number>(this.size).fill(UNUSED);
  private keys: (string | undefined)[] = new Array<string | undefined>(this.size);
  private values: (V | undefined)[] = new Array<V | undefined>(this.size);

  private setShift(shift: number): void {
    this.size = 1 << shift;
    this.mod = PRIME_MOD[shift]!;
    this.mask = this.size - 1;
  }

  private toIndex(hash: number): number {
    return (Math.imul(hash, 11) >>> 0) % this.mod;
  }

  /** g_hash_table_insert: a new key takes the first free bucket of its probe sequence. */
  insert(key: string, value: V): void {
    let hash = gStrHash(key);
    if (hash < 2) hash = 2; // 0 and 1 mark unused and tombstone buckets
    let index = this.toIndex(hash);
    let step = 0;
    while (this.hashes[index] !== UNUSED) {
      if (this.hashes[index] === hash && this.keys[index] === key) {
        this.values[index] = value; // existing key: value replaced, position kept
        return;
      }
      step++;
      index = (index + step) & this.mask;
    }
    this.hashes[index] = hash;
    this.keys[index] = key;
    this.values[index] = value;
    this.nnodes++;
    this.noccupied++;
    this.maybeResize();
  }

  private maybeResize(): void {
    const { size, noccupied } = this;
    if ((size > this.nnodes * 4 && size > 1 << MIN_SHIFT) || size <= noccupied + Math.floor(noccupied / 16)) this.resize();
  }

  /** g_hash_table_resize: new size from nnodes × 1.333, then resize_map's in-place rehash with eviction. */
  private resize(): void {
    const oldSize = this.size;
    let n = Math.trunc(this.nnodes * 1.333);
    let shift = 0;
    while (n) {
      n >>= 1;
      shift++;
    }
    this.setShift(Math.max(shift, MIN_SHIFT));
    const total = Math.max(this.size, oldSize);
    for (let i = oldSize; i < total; i++) {
      this.hashes[i] = UNUSED;
      this.keys[i] = undefined;
      this.values[i] = undefined;
    }
    const placed = new Array<boolean>(total).fill(false);
    for (let i = 0; i < oldSize; i++) {
      let nodeHash = this.hashes[i]!;
      if (nodeHash < 2) {
        this.hashes[i] = UNUSED;
        continue;
      }
      if (placed[i]) continue; // already relocated through eviction
      this.hashes[i] = UNUSED;
      let key = this.keys[i];
      let value = this.values[i];
      this.keys[i] = undefined;
      this.values[i] = undefined;
      for (;;) {
        let at = this.toIndex(nodeHash);
        let step = 0;
        while (placed[at]) {
          step++;
          at = (at + step) & this.mask;
        }
        placed[at] = true;
        const replacedHash = this.hashes[at]!;
        const replacedKey = this.keys[at];
        const replacedValue = this.values[at];
        this.hashes[at] = nodeHash;
        this.keys[at] = key;
        this.values[at] = value;
        if (replacedHash < 2) break;
        nodeHash = replacedHash;
        key = replacedKey;
        value = replacedValue;
      }
    }
    this.hashes.length = this.size;
    this.keys.length = this.size;
    this.values.length = this.size;
    this.noccupied = this.nnodes;
  }

  /** Entries in g_hash_table_iter_next order (bucket index order). */
  entries(): [string, V][] {
    const out: [string, V][] = [];
    for (let i = 0; i < this.size; i++) if (this.hashes[i]! >= 2) out.push([this.keys[i]!, this.values[i]!]);
    return out;
  }
}

/** An a{sv} as g_variant_dict_end() orders it, from entries in insertion order (a repeated key keeps its first place, last value). */
export function hashOrderedDict<V>(entries: Iterable<[string, V]>): [string, V][] {
  const table = new GHashOrder<V>();
  for (const [k, v] of entries) table.insert(k, v);
  return table.entries();
}
