// An adaptive concurrency limit for requests (AIMD, as TCP does): the window
// grows by one after a window's worth of successes while it is full, and halves
// on a transient failure, so a struggling server or link gets fewer parallel requests.

export class AdaptiveLimiter {
  private active = 0;
  /** Waiters in arrival order from `head` on: a pull queues one per object, tens of thousands, so no shift(). */
  private waiting: Array<() => void> = [];
  private head = 0;
  private successes = 0;
  limit: number;
  readonly min: number;
  readonly max: number;

  constructor(initial = 8, min = 1, max = 32) {
    this.min = min;
    this.max = max;
    this.limit = Math.max(min, Math.min(max, initial));
  }

  private async acquire(): Promise<void> {
    if (this.active < this.limit) {
      this.active++;
      return;
    }
    await new Promise<void>((resolve) => this.waiting.push(resolve));
  }

  private release(): void {
    this.active--;
    while (this.active < this.limit && this.head < this.waiting.length) {
      this.active++;
      const next = this.waiting[this.head++]!;
      if (this.head === this.waiting.length) {
        this.waiting = [];
        this.head = 0;
      } else if (this.head >= 4096 && this.head * 2 >= this.waiting.length) {
        this.waiting = this.waiting.slice(this.head);
        this.head = 0;
      }
      next();
    }
  }

  /** Additive increase: one more slot per `limit` successes while every slot is busy. */
  success(): void {
    if (this.head === this.waiting.length && this.active < this.limit) return;
    if (++this.successes >= this.limit) {
      this.successes = 0;
      if (this.limit < this.max) this.limit++;
    }
  }

  /** Multiplicative decrease after a timeout, reset or 5xx. */
  failure(): void {
    this.successes = 0;
    this.limit = Math.max(this.min, Math.floor(this.limit / 2));
  }

  /** Runs `fn` in a slot. */
  async run<T>(fn: () => Promise<T>): Promise<T> {
    await this.acquire();
    try {
      return await fn();
    } finally {
      this.release();
    }
  }
}
