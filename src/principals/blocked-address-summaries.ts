/** The refused requests of one blocked address in one rate-limit window. */
export interface BlockedSummary {
  address: string;
  /** the request id of the first refused request, so the summary event can be found from a log line */
  firstRequestId: string;
  firstAt: number;
  lastAt: number;
  windowEndsAt: number;
  count: number;
}

/**
 * Counts, per client address and window, the requests refused because the address is blocked for
 * failed authentications. Each window becomes one audit event (written by the Authenticator when
 * the window ends), so someone without a token cannot grow the audit log at will: per address and
 * window the log holds at most the failures that led to the block plus this one summary.
 * Bounded: with `maxAddresses` open summaries, the oldest is handed out early to be written.
 */
export class BlockedAddressSummaries {
  private readonly open = new Map<string, BlockedSummary>();

  constructor(private readonly maxAddresses = 100_000) {}

  get size(): number {
    return this.open.size;
  }

  /** Counts one refused request. Returns summaries to write now: a finished window, or the oldest when full. */
  note(address: string, requestId: string, windowEndsAt: number, now: number): BlockedSummary[] {
    const ready: BlockedSummary[] = [];
    const current = this.open.get(address);
    if (current !== undefined && current.windowEndsAt === windowEndsAt) {
      current.count++;
      current.lastAt = now;
      return ready;
    }
    if (current !== undefined) {
      this.open.delete(address);
      ready.push(current);
    }
    while (this.open.size >= this.maxAddresses) {
      const oldest = this.open.entries().next();
      if (oldest.done === true) break;
      this.open.delete(oldest.value[0]);
      ready.push(oldest.value[1]);
    }
    this.open.set(address, { address, firstRequestId: requestId, firstAt: now, lastAt: now, windowEndsAt, count: 1 });
    return ready;
  }

  /** Removes and returns the summaries whose window has ended (all of them with `everything`). */
  take(now: number, everything = false): BlockedSummary[] {
    const ready: BlockedSummary[] = [];
    for (const [address, summary] of this.open) {
      if (everything || summary.windowEndsAt <= now) {
        this.open.delete(address);
        ready.push(summary);
      }
    }
    return ready;
  }

  /** Puts back a summary that could not be written, to try again (merged with a newer one of the same window). */
  restore(summary: BlockedSummary): void {
    const current = this.open.get(summary.address);
    if (current === undefined) {
      if (this.open.size < this.maxAddresses) this.open.set(summary.address, summary);
      return;
    }
    if (current.windowEndsAt === summary.windowEndsAt) {
      current.count += summary.count;
      current.firstAt = Math.min(current.firstAt, summary.firstAt);
      current.firstRequestId = summary.firstRequestId;
    }
  }
}
