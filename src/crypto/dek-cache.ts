import { CryptoUsageError } from './crypto.errors.js';
import { zero } from './envelope.js';

export interface DekCacheOptions {
  /** Most entries held (one per customer and DEK version); 0 disables the cache. */
  readonly maxEntries: number;
  /** Most age of an entry in ms, counted from `set` (reads do not extend it); 0 disables the cache. */
  readonly ttlMs: number;
  /**
   * Period of the prune timer in ms (drops and zeroes expired entries even when nobody reads);
   * default: the TTL, at most 1 s. The timer is unref'd; `close()` stops it. 0: no timer.
   */
  readonly pruneIntervalMs?: number;
  /** Clock in ms; injectable for tests. Defaults to `performance.now()` (monotonic). */
  readonly now?: () => number;
}

/** How long an eviction is remembered (see `evict`), at least; longer when the TTL is longer. */
const TOMBSTONE_MIN_MS = 5 * 60_000;
/** Most evictions remembered; the oldest are forgotten first. */
const MAX_TOMBSTONES = 100_000;

interface Tombstone {
  /** Versions below this one are destroyed (Infinity: every version, an erasure). */
  readonly below: number;
  readonly at: number;
}

interface Entry {
  readonly customerId: string;
  readonly version: number;
  readonly key: Buffer;
  readonly expiresAt: number;
}

/**
 * In-memory cache of unwrapped DEKs, bounded in entries (least recently used evicted first) and in
 * age (DESIGN section 2). Keyed by `${customerId}:${dekVersion}`.
 *
 * Ownership: the cache owns its buffers. `set` stores a copy, `get` returns a fresh copy, so the
 * cache can zero what it evicts, expires or deletes without ever zeroing a buffer a caller still
 * holds, and callers may zero their copies when done.
 *
 * Destroyed keys: `evict(customerId, below)` when a customer's DEKs are destroyed (erasure: every
 * version; re-key: the versions below the new one). It drops them and remembers the eviction (a
 * tombstone), so a read that unwrapped the key from a row it loaded before the destruction
 * committed cannot put it back with `set`. The vault calls it in every process (KeyRing, through
 * PostgreSQL LISTEN/NOTIFY).
 *
 * Expiry is not only lazy: a prune timer drops and zeroes expired entries of an idle process.
 */
export class DekCache {
  readonly #max: number;
  readonly #ttl: number;
  readonly #now: () => number;
  /** Map iteration order is the LRU order: first = least recently used. */
  readonly #entries = new Map<string, Entry>();
  readonly #byCustomer = new Map<string, Set<string>>();
  /** Insertion order = age order: first = oldest. */
  readonly #tombstones = new Map<string, Tombstone>();
  readonly #tombstoneMs: number;
  #pruneTimer?: NodeJS.Timeout;

  constructor(options: DekCacheOptions) {
    if (!Number.isInteger(options.maxEntries) || options.maxEntries < 0) {
      throw new CryptoUsageError('maxEntries must be a non-negative integer');
    }
    if (!Number.isFinite(options.ttlMs) || options.ttlMs < 0) throw new CryptoUsageError('ttlMs must be zero (cache off) or positive');
    // A zero TTL turns the cache off, like a zero size (VAULT_DEK_CACHE_TTL_MS=0).
    this.#max = options.ttlMs === 0 ? 0 : options.maxEntries;
    this.#ttl = options.ttlMs;
    this.#tombstoneMs = Math.max(TOMBSTONE_MIN_MS, options.ttlMs);
    this.#now = options.now ?? (() => performance.now());
    const every = options.pruneIntervalMs ?? Math.min(options.ttlMs, 1_000);
    if (this.#max > 0 && every > 0) {
      this.#pruneTimer = setInterval(() => this.prune(), every);
      this.#pruneTimer.unref();
    }
  }

  /** Whether anything is ever cached (size and TTL both non-zero). */
  get enabled(): boolean {
    return this.#max > 0;
  }

  get size(): number {
    return this.#entries.size;
  }

  /** A copy of the cached DEK, or undefined when absent or expired (an expired entry is dropped). */
  get(customerId: string, dekVersion: number): Buffer | undefined {
    const k = cacheKey(customerId, dekVersion);
    const entry = this.#entries.get(k);
    if (entry === undefined) return undefined;
    if (this.#now() >= entry.expiresAt) {
      this.#remove(k, entry);
      return undefined;
    }
    this.#entries.delete(k);
    this.#entries.set(k, entry);
    return Buffer.from(entry.key);
  }

  /** Stores a copy of `dek` (the caller keeps, and may zero, its own buffer). */
  set(customerId: string, dekVersion: number, dek: Uint8Array): void {
    if (this.#max === 0) return;
    const tombstone = this.#tombstones.get(customerId);
    if (tombstone !== undefined && dekVersion < tombstone.below) return; // destroyed meanwhile
    const k = cacheKey(customerId, dekVersion);
    const previous = this.#entries.get(k);
    if (previous !== undefined) this.#remove(k, previous);
    const now = this.#now();
    this.#entries.set(k, { customerId, version: dekVersion, key: Buffer.from(dek), expiresAt: now + this.#ttl });
    let keys = this.#byCustomer.get(customerId);
    if (keys === undefined) {
      keys = new Set();
      this.#byCustomer.set(customerId, keys);
    }
    keys.add(k);
    this.#evict(now);
  }

  /** Drops, and zeroes, every cached DEK version of the customer. */
  delete(customerId: string): void {
    const keys = this.#byCustomer.get(customerId);
    if (keys === undefined) return;
    for (const k of [...keys]) {
      const entry = this.#entries.get(k);
      if (entry !== undefined) this.#remove(k, entry);
    }
  }

  /**
   * A customer's DEK versions below `below` were destroyed (Infinity: all of them, an erasure): drops
   * and zeroes them, and refuses to `set` them again for a while (a read racing the destruction).
   */
  evict(customerId: string, below = Number.POSITIVE_INFINITY): void {
    const keys = this.#byCustomer.get(customerId);
    if (keys !== undefined) {
      for (const k of [...keys]) {
        const entry = this.#entries.get(k);
        if (entry !== undefined && entry.version < below) this.#remove(k, entry);
      }
    }
    if (this.#max === 0) return;
    const previous = this.#tombstones.get(customerId);
    this.#tombstones.delete(customerId); // re-inserted last: the newest
    this.#tombstones.set(customerId, { below: Math.max(below, previous?.below ?? 0), at: this.#now() });
    if (this.#tombstones.size > MAX_TOMBSTONES) {
      const oldest = this.#tombstones.keys().next();
      if (oldest.done !== true) this.#tombstones.delete(oldest.value);
    }
  }

  /** Drops, and zeroes, every entry whose age is past the TTL; forgets old tombstones. */
  prune(): void {
    const now = this.#now();
    for (const [k, entry] of this.#entries) {
      if (now >= entry.expiresAt) this.#remove(k, entry);
    }
    for (const [customerId, tombstone] of this.#tombstones) {
      if (now - tombstone.at < this.#tombstoneMs) break;
      this.#tombstones.delete(customerId);
    }
  }

  /** Drops, and zeroes, everything (tombstones stay: they guard against racing reads). */
  clear(): void {
    for (const entry of this.#entries.values()) zero(entry.key);
    this.#entries.clear();
    this.#byCustomer.clear();
  }

  /** Stops the prune timer and drops, and zeroes, everything. */
  close(): void {
    clearInterval(this.#pruneTimer);
    this.#pruneTimer = undefined;
    this.clear();
    this.#tombstones.clear();
  }

  #evict(now: number): void {
    // Least recently used first; expired entries at the head go too (cheap, no full scan).
    for (const [k, entry] of this.#entries) {
      if (this.#entries.size <= this.#max && now < entry.expiresAt) break;
      this.#remove(k, entry);
    }
  }

  #remove(k: string, entry: Entry): void {
    this.#entries.delete(k);
    const keys = this.#byCustomer.get(entry.customerId);
    if (keys !== undefined) {
      keys.delete(k);
      if (keys.size === 0) this.#byCustomer.delete(entry.customerId);
    }
    zero(entry.key);
  }
}

function cacheKey(customerId: string, dekVersion: number): string {
  return `${customerId}:${dekVersion}`;
}
