// Pure parts of pulling: progress rendering, the adaptive limit, size parsing.

import { describe, expect, it } from 'vitest';
import { AdaptiveLimiter } from './adaptive-limit.ts';
import { emptyProgress, renderProgressJson, renderProgressLine, renderPullSummary } from './progress.ts';
import { parseSize } from './space.ts';

describe('pull progress', () => {
  it('renders the live line with percentage, bytes, rate and ETA', () => {
    const p = { ...emptyProgress(), phase: 'objects', metadataFetched: 5, contentFetched: 20, objectsRequested: 35, bytesTransferred: 2_400_000, elapsedMs: 2000 };
    expect(renderProgressLine(p)).toBe('Receiving objects: 71% (25/35) 2.4\u00a0MB | 1.2\u00a0MB/s | ETA 00:01');
    expect(renderProgressLine({ ...p, elapsedMs: 500 })).toBe('Receiving objects: 71% (25/35) 2.4\u00a0MB');
    expect(renderProgressLine({ ...p, phase: 'summary' })).toBe('Receiving summary…');
  });

  it('renders JSON lines and ostree\'s closing line', () => {
    const p = { ...emptyProgress(), phase: 'done', metadataFetched: 7, contentFetched: 6, bytesTransferred: 5300, contentBytesWritten: 78_100, elapsedMs: 400 };
    expect(JSON.parse(renderProgressJson(p))).toMatchObject({ phase: 'done', fetched: 13, requested: 13, bytesTransferred: 5300 });
    expect(renderPullSummary(p)).toBe('7 metadata, 6 content objects fetched; 5 KiB transferred in 0 seconds; 78.1\u00a0kB content written');
    expect(renderPullSummary({ ...p, metadataFetched: 2, contentFetched: 0, bytesTransferred: 300, contentBytesWritten: 0 }))
      .toBe('2 metadata, 0 content objects fetched; 300 B transferred in 0 seconds; 0 bytes content written');
  });
});

describe('AdaptiveLimiter', () => {
  it('grows while saturated, halves on failure, never exceeds the limit', async () => {
    const l = new AdaptiveLimiter(4, 1, 6);
    let active = 0;
    let peak = 0;
    const job = () => l.run(async () => {
      active++;
      peak = Math.max(peak, active);
      await new Promise((r) => setTimeout(r, 1));
      active--;
      l.success();
    });
    await Promise.all(Array.from({ length: 60 }, job));
    expect(l.limit).toBe(6);
    expect(peak).toBeLessThanOrEqual(6);
    l.failure();
    expect(l.limit).toBe(3);
    l.failure();
    l.failure();
    l.failure();
    expect(l.limit).toBe(1);
  });
});

describe('parseSize', () => {
  it('reads ostree min-free-space-size values', () => {
    expect(parseSize('500MB')).toBe(500e6);
    expect(parseSize('2GB')).toBe(2e9);
    expect(parseSize('1TB')).toBe(1e12);
    expect(parseSize('4096')).toBe(4096);
    expect(() => parseSize('lots')).toThrow(/cannot parse 'lots'/);
  });
});
