import type { Actor } from '../access/vocabulary.js';

interface Entry {
  actor: Actor;
  expiresAt: number;
}

/**
 * Per-process cache of verified tokens: token hash (hex) -> actor, each entry trusted for `ttlMs`
 * (at most 1 s by configuration), so a revocation made by any process takes effect everywhere
 * within that time. Only successful lookups are cached: a well-formed unknown token costs one
 * indexed lookup, and caching misses would let strangers push valid entries out. Bounded: when
 * full, the oldest entry goes (entries live a second at most, so oldest is close to least useful).
 */
export class TokenCache {
  private readonly entries = new Map<string, Entry>();

  constructor(
    readonly ttlMs: number,
    readonly maxEntries = 10_000,
    private readonly now: () => number = Date.now,
  ) {}

  get(hashHex: string): Actor | undefined {
    const entry = this.entries.get(hashHex);
    if (!entry) return undefined;
    if (entry.expiresAt <= this.now()) {
      this.entries.delete(hashHex);
      return undefined;
    }
    // A copy: a request must not be able to change what the next one is trusted with.
    return { ...entry.actor, roles: [...entry.actor.roles] };
  }

  set(hashHex: string, actor: Actor): void {
    if (this.ttlMs <= 0 || this.maxEntries <= 0) return;
    this.entries.delete(hashHex);
    while (this.entries.size >= this.maxEntries) {
      const oldest = this.entries.keys().next().value;
      if (oldest === undefined) break;
      this.entries.delete(oldest);
    }
    this.entries.set(hashHex, { actor, expiresAt: this.now() + this.ttlMs });
  }

  /** Drops every entry of a principal (on revocation in this process; others wait for the TTL). */
  evictPrincipal(principalId: string): void {
    for (const [key, entry] of this.entries) if (entry.actor.id === principalId) this.entries.delete(key);
  }

  get size(): number {
    return this.entries.size;
  }
}
