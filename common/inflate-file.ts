// Streaming raw-deflate reads of a file: the data part of archive-mode objects.

import { createReadStream } from 'node:fs';
import { createInflateRaw } from 'node:zlib';

/**
 * Inflates the raw-deflate stream that starts at byte `start` of `path`, handing each
 * inflated chunk to `onChunk`, which may return false to stop early. Returns the number of
 * bytes inflated; throws zlib's error (or the read error) for the caller to name the object.
 */
export async function inflateFile(path: string, start: number, onChunk: (chunk: Buffer) => boolean | void): Promise<number> {
  const raw = createReadStream(path, { start, highWaterMark: 1 << 20 });
  // Large output chunks: each one is a thread-pool round trip.
  const inflate = createInflateRaw({ chunkSize: 256 * 1024 });
  raw.on('error', (e) => inflate.destroy(e));
  let n = 0;
  try {
    for await (const chunk of raw.pipe(inflate)) {
      n += (chunk as Buffer).length;
      if (onChunk(chunk as Buffer) === false) break;
    }
  } finally {
    raw.destroy();
  }
  return n;
}
