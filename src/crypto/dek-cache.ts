import { CryptoUsageError } from './crypto.errors.js';
import { zero } from './envelope.js';

export interface DekCacheOptions {
  /** Most entries held (one per customer and DEK version); 0 disables the cache. */
  readonly maxEntries: number;
  /** Most age of an entry in ms, counted from `set` (reads do not extend it). */
  readonly ttlMs: number;
  /** Clock in ms; injectable for tests. Defaults to `performance.now()` (monotonic). */
  readonly now?: () => number;
}

interface Entry {
  readonly customerId: string;
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
 * Erasure: call `delete(customerId)` when a customer's DEKs are destroyed, so the cache never
 * holds a destroyed key. Other processes' caches still hold it for at most `ttlMs`; keep the TTL
 * short (the ciphertexts are deleted in the same transaction anyway).
 */
export class DekCache {
  readonly #max: number;
  readonly #ttl: number;
  readonly #now: () => number;
  /** Map iteration order is the LRU order: first = least recently used. */
  readonly #entries = new Map<string, Entry>();
  readonly #byCustomer = new Map<string, Set<string>>();

  constructor(options: DekCacheOptions) {
    if (!Number.isInteger(options.maxEntries) || options.maxEntries < 0) {
      throw new CryptoUsageError('maxEntries must be a non-negative integer');
    }
    if (!Number.isFinite(options.ttlMs) || options.ttlMs <= 0) throw new CryptoUsageError('ttlMs must be positive');
    this.#max = options.maxEntries;
    this.#ttl = options.ttlMs;
    this.#now = options.now ?? (() => performance.now());
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
    const k = cacheKey(customerId, dekVersion);
    const previous = this.#entries.get(k);
    if (previous !== undefined) this.#remove(k, previous);
    const now = this.#now();
    this.#entries.set(k, { customerId, key: Buffer.from(dek), expiresAt: now + this.#ttl });
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

  /** Drops, and zeroes, every entry whose age is past the TTL (otherwise dropped lazily). */
  prune(): void {
    const now = this.#now();
    for (const [k, entry] of this.#entries) {
      if (now >= entry.expiresAt) this.#remove(k, entry);
    }
  }

  /** Drops, and zeroes, everything. */
  clear(): void {
    for (const entry of this.#entries.values()) zero(entry.key);
    this.#entries.clear();
    this.#byCustomer.clear();
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
