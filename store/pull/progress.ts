// Pull progress: the counters the engine keeps, and pure renderers for a live
// terminal line (`Receiving objects: 71% (25/35) 2.4 MB …`), JSON lines for
// programs, and ostree's closing line ("7 metadata, 6 content objects fetched; …").

import { formatSize } from '../../common/format.ts';

export interface PullProgress {
  /** What the pull is doing: summary, refs, objects, delta, writing, done. */
  phase: string;
  /** Objects fetched over the network (or from a file:// remote). */
  metadataFetched: number;
  contentFetched: number;
  /** Objects copied from a --localcache-repo. */
  localFetched: number;
  /** Objects known to be needed so far (fetched, queued or in flight). */
  objectsRequested: number;
  /** Objects needed that were already on disk (repo or staging). */
  objectsSkipped: number;
  /** Body bytes received. */
  bytesTransferred: number;
  /** Uncompressed content bytes written. */
  contentBytesWritten: number;
  /** Static delta parts: applied (or already present) / in the chosen deltas. */
  deltaPartsFetched: number;
  deltaPartsTotal: number;
  /** Bytes of the delta parts: done / in the chosen deltas. */
  deltaBytesFetched: number;
  deltaBytesTotal: number;
  /** Milliseconds since the pull started. */
  elapsedMs: number;
}

export function emptyProgress(): PullProgress {
  return { phase: 'start', metadataFetched: 0, contentFetched: 0, localFetched: 0, objectsRequested: 0, objectsSkipped: 0, bytesTransferred: 0, contentBytesWritten: 0,
    deltaPartsFetched: 0, deltaPartsTotal: 0, deltaBytesFetched: 0, deltaBytesTotal: 0, elapsedMs: 0 };
}

/** Sizes in our own messages: g_format_size's text with a plain space. */
export function formatBytes(n: number): string {
  return formatSize(n, ' ');
}

function formatDuration(s: number): string {
  const t = Math.max(0, Math.round(s));
  const h = Math.floor(t / 3600);
  const m = Math.floor((t % 3600) / 60);
  const sec = t % 60;
  const mm = String(m).padStart(2, '0');
  const ss = String(sec).padStart(2, '0');
  return h > 0 ? `${h}:${mm}:${ss}` : `${mm}:${ss}`;
}

/** The live terminal line. ETA extrapolates the object rate over the objects still known to be needed. */
export function renderProgressLine(p: PullProgress): string {
  const done = p.metadataFetched + p.contentFetched + p.localFetched;
  const total = Math.max(done, p.objectsRequested);
  const secs = p.elapsedMs / 1000;
  if (p.phase === 'delta') {
    let line = `Receiving delta parts: ${p.deltaPartsFetched}/${p.deltaPartsTotal} ${formatSize(p.deltaBytesFetched)}/${formatSize(p.deltaBytesTotal)}`;
    if (secs >= 1) {
      const rate = p.bytesTransferred / secs;
      line += ` | ${formatSize(Math.round(rate))}/s`;
      const left = p.deltaBytesTotal - p.deltaBytesFetched;
      if (rate > 0 && left > 0) line += ` | ETA ${formatDuration(left / rate)}`;
    }
    return line;
  }
  if (p.phase !== 'objects') return p.phase === 'writing' ? 'Writing objects…' : `Receiving ${p.phase}…`;
  const pct = total === 0 ? 0 : Math.floor((done * 100) / total);
  let line = `Receiving objects: ${pct}% (${done}/${total}) ${formatSize(p.bytesTransferred)}`;
  if (secs >= 1) {
    line += ` | ${formatSize(Math.round(p.bytesTransferred / secs))}/s`;
    if (done > 0 && total > done) line += ` | ETA ${formatDuration(((total - done) * secs) / done)}`;
  }
  return line;
}

/** One JSON object per line for `--progress=json`. */
export function renderProgressJson(p: PullProgress): string {
  const done = p.metadataFetched + p.contentFetched + p.localFetched;
  return JSON.stringify({
    phase: p.phase,
    fetched: done,
    requested: Math.max(done, p.objectsRequested),
    metadata: p.metadataFetched,
    content: p.contentFetched,
    local: p.localFetched,
    skipped: p.objectsSkipped,
    bytesTransferred: p.bytesTransferred,
    contentBytesWritten: p.contentBytesWritten,
    deltaParts: p.deltaPartsFetched,
    deltaPartsTotal: p.deltaPartsTotal,
    elapsedMs: Math.round(p.elapsedMs),
  });
}

/** ostree's transfer size: bytes below 1 KiB, then whole KiB / MiB / GiB. */
function transferred(n: number): string {
  if (n < 1024) return `${n} B`;
  if (n < 1024 ** 2) return `${Math.floor(n / 1024)} KiB`;
  if (n < 1024 ** 3) return `${Math.floor(n / 1024 ** 2)} MiB`;
  return `${Math.floor(n / 1024 ** 3)} GiB`;
}

/** The closing line of `ostree pull` (its delta form when a static delta was used). */
export function renderPullSummary(p: PullProgress): string {
  const local = p.localFetched > 0 ? ` (${p.localFetched} local)` : '';
  const what = p.deltaPartsTotal > 0
    ? `${p.deltaPartsFetched} delta parts, ${p.metadataFetched + p.contentFetched} loose fetched${local}`
    : `${p.metadataFetched} metadata, ${p.contentFetched} content objects fetched${local}`;
  return `${what}; ${transferred(p.bytesTransferred)} transferred in ${Math.floor(p.elapsedMs / 1000)} seconds; ${formatSize(p.contentBytesWritten)} content written`;
}
