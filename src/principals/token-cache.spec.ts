import { describe, expect, it } from '@jest/globals';
import type { Actor } from '../access/vocabulary.js';
import { TokenCache } from './token-cache.js';

const actor = (id: string): Actor => ({ id, name: id, kind: 'service', roles: ['ingest'] });

describe('TokenCache', () => {
  it('trusts an entry for the TTL only', () => {
    let now = 1_000;
    const cache = new TokenCache(1_000, 10, () => now);
    cache.set('h1', actor('p1'));
    now += 999;
    expect(cache.get('h1')?.id).toBe('p1');
    now += 1;
    expect(cache.get('h1')).toBeUndefined();
    expect(cache.size).toBe(0);
  });

  it('is bounded: the oldest entry goes first', () => {
    const cache = new TokenCache(1_000, 3);
    for (const id of ['a', 'b', 'c', 'd']) cache.set(id, actor(id));
    expect(cache.size).toBe(3);
    expect(cache.get('a')).toBeUndefined();
    expect(cache.get('d')?.id).toBe('d');
  });

  it('evicts every entry of a revoked principal', () => {
    const cache = new TokenCache(1_000, 10);
    cache.set('h1', actor('p1'));
    cache.set('h2', actor('p1'));
    cache.set('h3', actor('p2'));
    cache.evictPrincipal('p1');
    expect(cache.get('h1')).toBeUndefined();
    expect(cache.get('h2')).toBeUndefined();
    expect(cache.get('h3')?.id).toBe('p2');
  });

  it('TTL 0 disables it', () => {
    const cache = new TokenCache(0, 10);
    cache.set('h1', actor('p1'));
    expect(cache.get('h1')).toBeUndefined();
  });
});
