/**
 * A fixed-window counter per key (a principal id, a client address), in this process's memory.
 * Small on purpose instead of @nestjs/throttler's guard: the vault needs to *peek* at a key before
 * counting (failed-authentication limiting decides before the token lookup and counts only
 * failures), and to run inside the bearer guard so the ordering and the audit event are explicit.
 *
 * Limits are per process: N vault processes behind a balancer admit up to N times the limit
 * (docs/SECURITY.md). Memory is bounded: expired windows are swept, and past `maxKeys` the oldest
 * windows are dropped (a dropped key starts a fresh window, i.e. errs on the side of admitting).
 */
export interface RateDecision {
  allowed: boolean;
  /** whole seconds until the current window ends (Retry-After), at least 1 */
  retryAfterSeconds: number;
}

interface Window {
  startedAt: number;
  count: number;
}

export class RateLimiter {
  private readonly windows = new Map<string, Window>();
  private lastSweep = 0;

  constructor(
    /** hits admitted per window; 0 disables the limiter */
    readonly limit: number,
    readonly windowMs: number,
    private readonly maxKeys = 100_000,
    private readonly now: () => number = Date.now,
  ) {}

  get enabled(): boolean {
    return this.limit > 0;
  }

  /** Is `key` already over its limit? Does not count. */
  peek(key: string): RateDecision {
    const window = this.current(key);
    return this.decide(window, window !== undefined && window.count >= this.limit);
  }

  /** When the current window of `key` ends (epoch ms), or undefined when it has none. */
  windowEndOf(key: string): number | undefined {
    const window = this.current(key);
    return window === undefined ? undefined : window.startedAt + this.windowMs;
  }

  /** Counts one hit for `key`; refused when this hit would exceed the limit (refused hits count too). */
  hit(key: string): RateDecision {
    if (!this.enabled) return { allowed: true, retryAfterSeconds: 0 };
    const now = this.now();
    this.sweep(now);
    let window = this.current(key);
    if (window === undefined) {
      window = { startedAt: now, count: 0 };
      this.windows.delete(key);
      this.windows.set(key, window);
    }
    window.count++;
    return this.decide(window, window.count > this.limit);
  }

  private decide(window: Window | undefined, refused: boolean): RateDecision {
    if (!this.enabled || !refused || window === undefined) return { allowed: true, retryAfterSeconds: 0 };
    const remaining = window.startedAt + this.windowMs - this.now();
    return { allowed: false, retryAfterSeconds: Math.max(1, Math.ceil(remaining / 1000)) };
  }

  private current(key: string): Window | undefined {
    const window = this.windows.get(key);
    if (window !== undefined && this.now() - window.startedAt >= this.windowMs) {
      this.windows.delete(key);
      return undefined;
    }
    return window;
  }

  private sweep(now: number): void {
    if (now - this.lastSweep >= this.windowMs) {
      this.lastSweep = now;
      for (const [key, window] of this.windows) if (now - window.startedAt >= this.windowMs) this.windows.delete(key);
    }
    // Insertion order is window start order: the first keys are the oldest windows.
    while (this.windows.size >= this.maxKeys) {
      const oldest = this.windows.keys().next();
      if (oldest.done === true) break;
      this.windows.delete(oldest.value);
    }
  }
}
