// The request window: first come, first served; never more in flight than the limit;
// tens of thousands of queued requests (one per object of a large pull) cost no more
// per request than a few.

import { describe, expect, it } from 'vitest';
import { AdaptiveLimiter } from './adaptive-limit.ts';

describe('AdaptiveLimiter', () => {
  it('runs queued work in arrival order, at most `limit` at a time', async () => {
    const l = new AdaptiveLimiter(4, 1, 4);
    let inFlight = 0;
    let most = 0;
    const order: number[] = [];
    await Promise.all(Array.from({ length: 50_000 }, (_, i) => l.run(async () => {
      inFlight++;
      most = Math.max(most, inFlight);
      order.push(i);
      await Promise.resolve();
      inFlight--;
    })));
    expect(most).toBe(4);
    expect(order).toEqual(Array.from({ length: 50_000 }, (_, i) => i));
  });

  it('halves on failure and grows back by one per window of successes while full', async () => {
    const l = new AdaptiveLimiter(8, 1, 9);
    l.failure();
    expect(l.limit).toBe(4);
    let release: () => void = () => {};
    const gate = new Promise<void>((r) => (release = r));
    const runs = Array.from({ length: 6 }, () => l.run(() => gate));
    for (let i = 0; i < 4; i++) l.success();
    expect(l.limit).toBe(5);
    release();
    await Promise.all(runs);
  });
});
