// repomd.xml (rpm-md's index, http://linux.duke.edu/metadata/repo) through xml2js:
// one <data type="..."> record per metadata file, each with its location, the checksum
// and size of the file as stored and (optionally) of its decompressed content.

import xml2js from 'xml2js';
import { UpdaterError } from '../../common/errors.ts';

export interface Checksum {
  /** Node's digest name: sha1, sha224, sha256, sha384, sha512, md5. */
  type: string;
  value: string;
}

/** One `<data>` record. */
export interface RepomdRecord {
  /** `primary`, `filelists`, `other`, `primary_db`, `updateinfo`, `group`, ... */
  type: string;
  /** `<location href>`, relative to the repo's base URL. */
  href: string;
  /** Checksum and size of the file as downloaded (compressed). */
  checksum: Checksum;
  size?: number;
  /** Checksum and size after decompression. */
  openChecksum?: Checksum;
  openSize?: number;
  /** Unix seconds. */
  timestamp?: number;
}

export interface Repomd {
  revision?: string;
  records: Map<string, RepomdRecord>;
}

// repomd's checksum type names → Node's (`sha` is yum's old name for SHA-1).
const DIGESTS: Record<string, string> = { sha: 'sha1', sha1: 'sha1', sha224: 'sha224', sha256: 'sha256', sha384: 'sha384', sha512: 'sha512', md5: 'md5' };

type XmlNode = { _?: string; $?: Record<string, string> } & Record<string, unknown>;

/** Parses repomd.xml; `what` (the URL or path) names it in errors (REPOMD_INVALID). */
export async function parseRepomd(text: string, what: string): Promise<Repomd> {
  const bad = (msg: string, cause?: unknown): never => {
    throw new UpdaterError('REPOMD_INVALID', `${what}: ${msg}`, cause === undefined ? {} : { cause });
  };
  let doc: Record<string, unknown>;
  try {
    doc = (await new xml2js.Parser({ explicitArray: true, strict: true }).parseStringPromise(text)) as Record<string, unknown>;
  } catch (err) {
    return bad(`not well-formed XML: ${(err as Error).message.split('\n').join(' ')}`, err);
  }
  const root = doc?.['repomd'] as XmlNode | undefined;
  if (!root || typeof root !== 'object') return bad('no <repomd> root element');
  const textOf = (n: unknown): string | undefined => {
    if (n === undefined) return undefined;
    const first = (n as unknown[])[0];
    if (typeof first === 'string') return first.trim();
    const t = (first as XmlNode | undefined)?._;
    return typeof t === 'string' ? t.trim() : undefined;
  };
  const num = (n: unknown, field: string, type: string): number | undefined => {
    const t = textOf(n);
    if (t === undefined) return undefined;
    if (!/^\d+$/.test(t)) bad(`<data type="${type}">: <${field}> '${t}' is not a number`);
    return Number(t);
  };
  const checksum = (n: unknown, field: string, type: string): Checksum | undefined => {
    if (n === undefined) return undefined;
    const node = (n as XmlNode[])[0]!;
    const algo = typeof node === 'object' ? node.$?.['type'] : undefined;
    const value = textOf(n);
    if (!algo || !value) return bad(`<data type="${type}">: <${field}> lacks a type or value`);
    const digest = DIGESTS[algo.toLowerCase()];
    if (!digest) return bad(`<data type="${type}">: unsupported checksum type '${algo}'`);
    if (!/^[0-9a-fA-F]+$/.test(value)) return bad(`<data type="${type}">: <${field}> '${value}' is not hex`);
    return { type: digest, value: value.toLowerCase() };
  };
  const records = new Map<string, RepomdRecord>();
  for (const d of (root['data'] as XmlNode[] | undefined) ?? []) {
    const type = d.$?.['type'];
    if (!type) return bad('<data> without a type attribute');
    const loc = (d['location'] as XmlNode[] | undefined)?.[0]?.$?.['href'];
    if (!loc) return bad(`<data type="${type}"> has no <location href>`);
    // The href must stay inside the repo: no absolute URLs, no '..' segments.
    if (/^[a-z][a-z0-9+.-]*:/i.test(loc) || loc.startsWith('/') || loc.split('/').includes('..')) {
      return bad(`<data type="${type}">: location '${loc}' points outside the repository`);
    }
    const sum = checksum(d['checksum'], 'checksum', type);
    if (!sum) return bad(`<data type="${type}"> has no <checksum>`);
    const rec: RepomdRecord = { type, href: loc, checksum: sum };
    const size = num(d['size'], 'size', type);
    if (size !== undefined) rec.size = size;
    const oc = checksum(d['open-checksum'], 'open-checksum', type);
    if (oc) rec.openChecksum = oc;
    const os = num(d['open-size'], 'open-size', type);
    if (os !== undefined) rec.openSize = os;
    const ts = num(d['timestamp'], 'timestamp', type);
    if (ts !== undefined) rec.timestamp = ts;
    if (records.has(type)) return bad(`two <data type="${type}"> records`);
    records.set(type, rec);
  }
  if (!records.has('primary')) return bad('no <data type="primary"> record');
  const revision = textOf(root['revision']);
  return revision === undefined ? { records } : { revision, records };
}

export type Compression = 'gz' | 'xz' | 'zst' | 'bz2' | 'none';

/**
 * The compression of a metadata file from its name, as libsolv's solv_xfopen decides it;
 * null for a kind neither libsolv nor this code reads (zchunk, lzma).
 */
export function compressionOf(href: string): Compression | null {
  const m = /\.(gz|xz|zst|bz2|xml|sqlite)$/.exec(href);
  if (!m) return null;
  return m[1] === 'xml' || m[1] === 'sqlite' ? 'none' : (m[1] as Compression);
}
