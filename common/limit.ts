// A counting semaphore: bounds how much I/O is in flight at once, so a walk over
// tens of thousands of files keeps memory flat while the thread pool stays busy.

export class Limiter {
  private active = 0;
  private readonly waiting: Array<() => void> = [];
  readonly max: number;

  constructor(max: number) {
    this.max = max;
  }

  /** Waits for a free slot; call `release()` when the work is done. */
  async acquire(): Promise<void> {
    if (this.active < this.max) {
      this.active++;
      return;
    }
    await new Promise<void>((resolve) => this.waiting.push(resolve));
  }

  release(): void {
    const next = this.waiting.shift();
    if (next) next();
    else this.active--;
  }

  /** Runs `fn` inside a slot. */
  async run<T>(fn: () => Promise<T>): Promise<T> {
    await this.acquire();
    try {
      return await fn();
    } finally {
      this.release();
    }
  }
}

/** Maps over `items` with at most `max` calls in flight, keeping result order. */
export async function mapLimit<T, R>(items: readonly T[], max: number, fn: (item: T, i: number) => Promise<R>): Promise<R[]> {
  const out = new Array<R>(items.length);
  let next = 0;
  const worker = async (): Promise<void> => {
    while (next < items.length) {
      const i = next++;
      out[i] = await fn(items[i]!, i);
    }
  };
  await Promise.all(Array.from({ length: Math.min(max, items.length) }, worker));
  return out;
}
