import { beforeAll, describe, expect, it, jest } from '@jest/globals';
import { CryptoUsageError } from './crypto.errors.js';
import { DekCache } from './dek-cache.js';
import { generateKey } from './envelope.js';
import { initSodium } from './sodium.js';

const A = 'a0000000-0000-4000-8000-000000000001';
const B = 'b0000000-0000-4000-8000-000000000002';
const C = 'c0000000-0000-4000-8000-000000000003';

function clock(start = 1_000): { now: () => number; advance: (ms: number) => void } {
  let t = start;
  return { now: () => t, advance: (ms) => (t += ms) };
}

beforeAll(async () => {
  await initSodium();
});

describe('DekCache', () => {
  it('returns what was set, per customer and version', () => {
    const cache = new DekCache({ maxEntries: 10, ttlMs: 60_000 });
    const k1 = generateKey();
    const k2 = generateKey();
    cache.set(A, 1, k1);
    cache.set(A, 2, k2);
    expect(cache.get(A, 1)).toEqual(k1);
    expect(cache.get(A, 2)).toEqual(k2);
    expect(cache.get(A, 3)).toBeUndefined();
    expect(cache.get(B, 1)).toBeUndefined();
    expect(cache.size).toBe(2);
  });

  it('is bounded in entries and evicts the least recently used, zeroing it', () => {
    const cache = new DekCache({ maxEntries: 2, ttlMs: 60_000 });
    cache.set(A, 1, generateKey());
    cache.set(B, 1, generateKey());
    const heldA = cache.get(A, 1); // A is now more recently used than B
    cache.set(C, 1, generateKey());
    expect(cache.size).toBe(2);
    expect(cache.get(B, 1)).toBeUndefined();
    expect(cache.get(A, 1)).toEqual(heldA);
    expect(cache.get(C, 1)).toBeDefined();
  });

  it('expires entries by age with the injected clock (reads do not extend it)', () => {
    const c = clock();
    const cache = new DekCache({ maxEntries: 10, ttlMs: 1_000, now: c.now });
    cache.set(A, 1, generateKey());
    c.advance(999);
    expect(cache.get(A, 1)).toBeDefined();
    c.advance(1);
    expect(cache.get(A, 1)).toBeUndefined();
    expect(cache.size).toBe(0);
  });

  it('prune() drops every expired entry; set() drops expired ones at the LRU head', () => {
    const c = clock();
    const cache = new DekCache({ maxEntries: 10, ttlMs: 1_000, now: c.now });
    cache.set(A, 1, generateKey());
    cache.set(B, 1, generateKey());
    c.advance(500);
    cache.set(C, 1, generateKey());
    c.advance(600);
    cache.prune();
    expect(cache.size).toBe(1);
    expect(cache.get(C, 1)).toBeDefined();
    c.advance(1_000);
    cache.set(A, 2, generateKey());
    expect(cache.size).toBe(1);
  });

  it('delete(customerId) drops every version of that customer only', () => {
    const cache = new DekCache({ maxEntries: 10, ttlMs: 60_000 });
    const keys = [generateKey(), generateKey(), generateKey()];
    const snapshot = keys.map((k) => Buffer.from(k));
    cache.set(A, 1, keys[0]);
    cache.set(A, 2, keys[1]);
    cache.set(B, 1, keys[2]);
    cache.delete(A);
    expect(cache.get(A, 1)).toBeUndefined();
    expect(cache.get(A, 2)).toBeUndefined();
    expect(cache.get(B, 1)).toEqual(keys[2]);
    expect(cache.size).toBe(1);
    expect(keys).toEqual(snapshot); // the caller's buffers are never zeroed
    cache.delete(C); // unknown customer: no-op
    expect(cache.size).toBe(1);
  });

  it('zeroes its own copies on delete, eviction, expiry and clear', () => {
    const c = clock();
    const cache = new DekCache({ maxEntries: 2, ttlMs: 1_000, now: c.now });
    const stored = new Map<string, Buffer>();
    // The copy the cache keeps is the Buffer.from(dek) made inside set(): capture it.
    const set = (id: string, version: number): void => {
      const spy = jest.spyOn(Buffer, 'from');
      try {
        cache.set(id, version, generateKey());
        const copy = spy.mock.results.at(-1)?.value;
        if (!Buffer.isBuffer(copy)) throw new Error('no copy captured');
        stored.set(`${id}:${version}`, copy);
      } finally {
        spy.mockRestore();
      }
    };
    const isZero = (k: string): boolean => stored.get(k)?.every((b) => b === 0) ?? false;

    set(A, 1);
    set(A, 2);
    expect(isZero(`${A}:1`)).toBe(false);
    cache.delete(A);
    expect(isZero(`${A}:1`) && isZero(`${A}:2`)).toBe(true);

    set(A, 1);
    set(B, 1);
    set(C, 1); // evicts A:1, the least recently used
    expect(isZero(`${A}:1`)).toBe(true);
    expect(isZero(`${B}:1`)).toBe(false);

    c.advance(1_000);
    expect(cache.get(B, 1)).toBeUndefined();
    expect(isZero(`${B}:1`)).toBe(true);

    set(A, 3);
    cache.clear();
    expect(cache.size).toBe(0);
    expect(isZero(`${A}:3`) && isZero(`${C}:1`)).toBe(true);
  });

  it('stores a copy on set and hands out copies on get', () => {
    const cache = new DekCache({ maxEntries: 10, ttlMs: 60_000 });
    const key = generateKey();
    const original = Buffer.from(key);
    cache.set(A, 1, key);
    key.fill(0); // the caller zeroes its own buffer
    const got = cache.get(A, 1);
    expect(got).toEqual(original);
    got?.fill(0xff); // the caller scribbles on its copy
    expect(cache.get(A, 1)).toEqual(original);
    cache.delete(A);
    expect(got?.every((b) => b === 0xff)).toBe(true); // a held copy is never zeroed by the cache
  });

  it('replacing a version keeps one entry; maxEntries 0 disables caching', () => {
    const cache = new DekCache({ maxEntries: 10, ttlMs: 60_000 });
    const k2 = generateKey();
    cache.set(A, 1, generateKey());
    cache.set(A, 1, k2);
    expect(cache.size).toBe(1);
    expect(cache.get(A, 1)).toEqual(k2);
    const off = new DekCache({ maxEntries: 0, ttlMs: 60_000 });
    off.set(A, 1, k2);
    expect(off.get(A, 1)).toBeUndefined();
  });

  it('validates its options', () => {
    expect(() => new DekCache({ maxEntries: -1, ttlMs: 1 })).toThrow(CryptoUsageError);
    expect(() => new DekCache({ maxEntries: 1.5, ttlMs: 1 })).toThrow(CryptoUsageError);
    expect(() => new DekCache({ maxEntries: 1, ttlMs: -1 })).toThrow(CryptoUsageError);
    expect(() => new DekCache({ maxEntries: 1, ttlMs: Number.NaN })).toThrow(CryptoUsageError);
  });

  it('a zero TTL turns the cache off (VAULT_DEK_CACHE_TTL_MS=0), like a zero size', () => {
    const off = new DekCache({ maxEntries: 10, ttlMs: 0 });
    expect(off.enabled).toBe(false);
    off.set(A, 1, generateKey());
    expect(off.get(A, 1)).toBeUndefined();
    expect(off.size).toBe(0);
    off.evict(A);
    off.prune();
    off.close();
    expect(new DekCache({ maxEntries: 0, ttlMs: 60_000 }).enabled).toBe(false);
    expect(new DekCache({ maxEntries: 1, ttlMs: 1 }).enabled).toBe(true);
  });

  it('prunes on a timer: an idle cache drops and zeroes expired keys without being read', () => {
    jest.useFakeTimers();
    try {
      const c = clock();
      const cache = new DekCache({ maxEntries: 10, ttlMs: 1_000, pruneIntervalMs: 500, now: c.now });
      const spy = jest.spyOn(Buffer, 'from');
      cache.set(A, 1, generateKey());
      const copy = spy.mock.results.at(-1)?.value as Buffer;
      spy.mockRestore();
      cache.set(B, 1, generateKey());
      c.advance(600);
      jest.advanceTimersByTime(500);
      expect(cache.size).toBe(2); // not expired yet
      c.advance(400);
      jest.advanceTimersByTime(500); // nobody reads: the timer prunes
      expect(cache.size).toBe(0);
      expect(copy.every((b) => b === 0)).toBe(true);
      cache.close();
      expect(jest.getTimerCount()).toBe(0); // close() stops the timer
    } finally {
      jest.useRealTimers();
    }
  });

  it('evict() drops destroyed versions and a racing read cannot put them back (tombstone)', () => {
    const c = clock();
    const cache = new DekCache({ maxEntries: 10, ttlMs: 60_000, now: c.now });
    const v1 = generateKey();
    cache.set(A, 1, v1);
    cache.set(A, 2, generateKey());
    cache.set(B, 1, generateKey());
    // re-key of A to version 3: versions below 3 destroyed
    cache.evict(A, 3);
    expect(cache.get(A, 1)).toBeUndefined();
    expect(cache.get(A, 2)).toBeUndefined();
    expect(cache.get(B, 1)).toBeDefined();
    // a read that loaded the row before the re-key committed unwraps version 1 and tries to cache it
    cache.set(A, 1, v1);
    expect(cache.get(A, 1)).toBeUndefined();
    cache.set(A, 3, generateKey()); // the new version is cacheable
    expect(cache.get(A, 3)).toBeDefined();
    // erasure of B: every version, now and for a racing read
    cache.evict(B);
    cache.set(B, 1, generateKey());
    cache.set(B, 7, generateKey());
    expect(cache.get(B, 1)).toBeUndefined();
    expect(cache.get(B, 7)).toBeUndefined();
    // tombstones survive clear() (a reconnection) and are forgotten only after a while
    cache.clear();
    cache.set(B, 1, generateKey());
    expect(cache.size).toBe(0);
    c.advance(5 * 60_000);
    cache.prune();
    cache.set(B, 1, generateKey());
    expect(cache.size).toBe(1);
    cache.close();
  });
});
