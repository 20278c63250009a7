// Decompression of rpm-md metadata (gzip, zstd through Node's zlib; xz and bzip2 through
// libsolvext's solv_xfopen, the reader the solver itself uses), streamed into a digest so
// a download can be checked against repomd's open-size and open-checksum.

import { createHash } from 'node:crypto';
import { createReadStream } from 'node:fs';
import { Writable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { createGunzip, createZstdDecompress } from 'node:zlib';
import koffi from 'koffi';
import { UpdaterError } from '../../common/errors.ts';
import type { Compression } from './repomd.ts';

export interface ContentDigest {
  /** Bytes after decompression. */
  size: number;
  /** Hex digest of the decompressed bytes. */
  digest: string;
}

interface XfLib {
  solv_xfopen: (fn: string, mode: string) => unknown;
  fread: (buf: Buffer, size: number, n: number, fp: unknown) => number | bigint;
  ferror: (fp: unknown) => number;
  fclose: (fp: unknown) => number;
}

let xf: XfLib | null = null;

function xfLib(): XfLib {
  if (xf) return xf;
  koffi.opaque('RepomdXfFILE');
  const ext = koffi.load('libsolvext.so.1');
  const libc = koffi.load('libc.so.6');
  xf = {
    solv_xfopen: ext.func('RepomdXfFILE *solv_xfopen(const char *fn, const char *mode)') as XfLib['solv_xfopen'],
    fread: libc.func('size_t fread(_Out_ uint8_t *ptr, size_t size, size_t n, RepomdXfFILE *fp)') as XfLib['fread'],
    ferror: libc.func('int ferror(RepomdXfFILE *fp)') as XfLib['ferror'],
    fclose: libc.func('int fclose(RepomdXfFILE *fp)') as XfLib['fclose'],
  };
  return xf;
}

/** Reads `path` decompressed (by its `compression`), hashing with `algo`; throws REPOMD_METADATA_CORRUPT. */
export async function digestDecompressed(path: string, compression: Compression, algo: string, what = path): Promise<ContentDigest> {
  const hash = createHash(algo);
  let size = 0;
  const corrupt = (why: string, cause?: unknown): UpdaterError =>
    new UpdaterError('REPOMD_METADATA_CORRUPT', `${what}: cannot decompress (${compression}): ${why}`, cause === undefined ? {} : { cause });
  if (compression === 'xz' || compression === 'bz2') {
    const l = xfLib();
    const fp = l.solv_xfopen(path, 'r');
    if (fp === null) throw corrupt('cannot open');
    try {
      const buf = Buffer.alloc(1 << 20);
      for (;;) {
        const n = Number(l.fread(buf, 1, buf.length, fp));
        if (n > 0) {
          hash.update(buf.subarray(0, n));
          size += n;
        }
        if (n < buf.length) {
          if (l.ferror(fp) !== 0) throw corrupt('truncated or corrupt compressed data');
          break;
        }
      }
    } finally {
      l.fclose(fp);
    }
    return { size, digest: hash.digest('hex') };
  }
  const sink = new Writable({
    write(chunk: Buffer, _enc, cb) {
      hash.update(chunk);
      size += chunk.length;
      cb();
    },
  });
  try {
    if (compression === 'none') await pipeline(createReadStream(path), sink);
    else await pipeline(createReadStream(path), compression === 'gz' ? createGunzip() : createZstdDecompress(), sink);
  } catch (err) {
    throw corrupt((err as Error).message, err);
  }
  return { size, digest: hash.digest('hex') };
}
