// Per-process limits on requests to one endpoint and model: at most N in flight, and requests started no faster
// than a set rate. Shared by every step in the worker process, so concurrent activities respect them together.
// (Across processes, the llm task queue's worker options bound how many activities run at once.)
export class RequestLimiter {
  private static readonly shared = new Map<string, RequestLimiter>();
  private inFlight = 0;
  private nextStart = 0;
  private readonly waiting: (() => void)[] = [];

  private constructor(
    private readonly maxConcurrency: number,
    private readonly requestsPerSecond: number,
  ) {}

  /** The limiter of an endpoint and model in this process (the first settings seen for it apply). */
  static for(key: string, maxConcurrency: number, requestsPerSecond: number): RequestLimiter {
    let l = RequestLimiter.shared.get(key);
    if (!l) {
      l = new RequestLimiter(maxConcurrency, requestsPerSecond);
      RequestLimiter.shared.set(key, l);
    }
    return l;
  }

  /** Waits for a free slot and the next start time; returns the function that frees the slot. */
  async acquire(): Promise<() => void> {
    while (this.inFlight >= this.maxConcurrency) await new Promise<void>((r) => this.waiting.push(r));
    this.inFlight++;
    const now = Date.now();
    const start = Math.max(now, this.nextStart);
    this.nextStart = start + 1000 / this.requestsPerSecond;
    if (start > now) await new Promise((r) => setTimeout(r, start - now));
    let released = false;
    return () => {
      if (released) return;
      released = true;
      this.inFlight--;
      this.waiting.shift()?.();
    };
  }
}
