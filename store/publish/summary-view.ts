// Text renderings of a `summary` file, as `ostree summary --view` and `--raw` print them
// (ostree 2022.7 ot-dump.c): refs with commit size, checksum and per-ref metadata, then the
// repository metadata with ostree's pretty names; `--raw` is the whole GVariant printed
// after a byte swap to big-endian, which is what ostree does on little-endian hosts.

import { bswap64, deserialize, parseType, type GValue, type GType, type Variant } from '../gvariant/index.ts';
import { decodeSummary, SUMMARY_TYPE, type SummaryRef } from '../objects/index.ts';
import { formatSize } from '../../common/format.ts';
import { formatGVariant } from '../gvariant/index.ts';
import { SUMMARY_KEYS } from './summary-build.ts';

const pad2 = (n: number): string => String(n).padStart(2, '0');

/** g_date_time_format(local time, "%FT%T%:::z"), or "invalid" outside GLib's date range. */
export function isoLocal(secs: bigint): string {
  if (secs > 253402300799n) return 'invalid';
  const d = new Date(Number(secs) * 1000);
  const off = -d.getTimezoneOffset();
  const sign = off < 0 ? '-' : '+';
  const abs = Math.abs(off);
  const zone = `${sign}${pad2(Math.floor(abs / 60))}${abs % 60 === 0 ? '' : `:${pad2(abs % 60)}`}`;
  return `${String(d.getFullYear()).padStart(4, '0')}-${pad2(d.getMonth() + 1)}-${pad2(d.getDate())}T${pad2(d.getHours())}:${pad2(d.getMinutes())}:${pad2(d.getSeconds())}${zone}`;
}

const REPO_MODES = new Set(['bare', 'bare-user', 'bare-user-only', 'archive', 'archive-z2', 'bare-split-xattrs']);

function beSecs(v: Variant): string {
  return v.type === 't' ? isoLocal(bswap64(v.value as bigint)) : formatGVariant(v.type, v.value, false);
}

function renderRef(collection: string | null, r: SummaryRef): string {
  const lines = [collection === null ? `* ${r.name}` : `* (${collection}, ${r.name})`];
  lines.push(`    Latest Commit (${formatSize(r.commitSize)}):`, `      ${r.checksum}`);
  for (const [key, value] of r.metadata) {
    if (key === SUMMARY_KEYS.commitTimestamp) lines.push(`    Timestamp (${key}): ${beSecs(value)}`);
    else if (key === SUMMARY_KEYS.commitVersion && value.type === 's') lines.push(`    Version (${key}): ${value.value as string}`);
    else lines.push(`    ${key}: ${formatGVariant(value.type, value.value, false)}`);
  }
  return `${lines.join('\n')}\n\n`;
}

function mapRefs(entries: GValue[]): SummaryRef[] {
  return entries.map((e) => {
    const [name, [size, csum, metadata]] = e as [string, [bigint, Uint8Array, SummaryRef['metadata']]];
    return { name, commitSize: Number(size), checksum: Buffer.from(csum).toString('hex'), metadata };
  });
}

/** `ostree summary --view`. Throws GVARIANT_* / STORE_BAD_CHECKSUM for a malformed summary. */
export function renderSummaryView(bytes: Uint8Array): string {
  const s = decodeSummary(bytes);
  const collectionId = s.metadata.find(([k, v]) => k === SUMMARY_KEYS.collectionId && v.type === 's')?.[1].value as string | undefined;
  let out = s.refs.map((r) => renderRef(collectionId ?? null, r)).join('');
  const map = s.metadata.find(([k, v]) => k === SUMMARY_KEYS.collectionMap && v.type === 'a{sa(s(taya{sv}))}');
  if (map !== undefined) {
    for (const [id, refs] of map[1].value as [string, GValue[]][]) out += mapRefs(refs).map((r) => renderRef(id, r)).join('');
  }
  for (const [key, value] of s.metadata) {
    let pretty: string | null = null;
    let text: string;
    if (key === SUMMARY_KEYS.staticDeltas) {
      pretty = 'Static Deltas';
      text = formatGVariant(value.type, value.value, false);
    } else if (key === SUMMARY_KEYS.lastModified || key === SUMMARY_KEYS.expires) {
      pretty = key === SUMMARY_KEYS.expires ? 'Expires' : 'Last-Modified';
      text = beSecs(value);
    } else if (key === SUMMARY_KEYS.collectionId && value.type === 's') {
      pretty = 'Collection ID';
      text = value.value as string;
    } else if (key === SUMMARY_KEYS.collectionMap) {
      pretty = 'Collection Map';
      text = '(printed above)';
    } else if (key === SUMMARY_KEYS.mode && value.type === 's') {
      pretty = 'Repository Mode';
      const mode = value.value as string;
      text = REPO_MODES.has(mode) ? mode : `Invalid (\u2018${mode}\u2019)`;
    } else if (key === SUMMARY_KEYS.tombstoneCommits && value.type === 'b') {
      pretty = 'Has Tombstone Commits';
      text = value.value ? 'Yes' : 'No';
    } else {
      text = formatGVariant(value.type, value.value, false);
    }
    out += pretty === null ? `${key}: ${text}\n` : `${pretty} (${key}): ${text}\n`;
  }
  return out;
}

function swap(t: GType, v: GValue): GValue {
  switch (t.kind) {
    case 'basic': {
      const buf = Buffer.alloc(8);
      switch (t.code) {
        case 'n': buf.writeInt16LE(v as number); return buf.readInt16BE(0);
        case 'q': buf.writeUInt16LE(v as number); return buf.readUInt16BE(0);
        case 'i': case 'h': buf.writeInt32LE(v as number); return buf.readInt32BE(0);
        case 'u': buf.writeUInt32LE(v as number); return buf.readUInt32BE(0);
        case 'x': return BigInt.asIntN(64, bswap64(v as bigint));
        case 't': return bswap64(v as bigint);
        case 'd': buf.writeDoubleLE(v as number); return buf.readDoubleBE(0);
        default: return v;
      }
    }
    case 'variant': {
      const inner = v as Variant;
      return { type: inner.type, value: swap(parseType(inner.type), inner.value) };
    }
    case 'maybe':
      return v === null ? null : swap(t.elem, v);
    case 'array':
      if (t.elem.kind === 'basic' && t.elem.code === 'y') return v;
      return (v as GValue[]).map((e) => swap(t.elem, e));
    case 'tuple':
    case 'dict-entry':
      return (v as GValue[]).map((e, i) => swap(t.members[i]!, e));
  }
}

/** `ostree summary --raw`: the summary GVariant, byte-swapped, in GVariant text format with types. */
export function renderSummaryRaw(bytes: Uint8Array): string {
  const value = deserialize(SUMMARY_TYPE, bytes, { what: 'summary' });
  return `${formatGVariant(SUMMARY_TYPE, swap(parseType(SUMMARY_TYPE), value), true)}\n`;
}
