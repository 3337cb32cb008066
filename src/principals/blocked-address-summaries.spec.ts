import { describe, expect, it } from '@jest/globals';
import { BlockedAddressSummaries } from './blocked-address-summaries.js';

describe('BlockedAddressSummaries', () => {
  it('counts one summary per address and window, handed out when the window ends', () => {
    const summaries = new BlockedAddressSummaries();
    for (let i = 0; i < 1000; i++) expect(summaries.note('10.0.0.1', `r${i}`, 60_000, 1_000 + i)).toEqual([]);
    summaries.note('10.0.0.2', 'other', 61_000, 2_000);
    expect(summaries.take(59_999)).toEqual([]);
    expect(summaries.take(60_000)).toEqual([{ address: '10.0.0.1', firstRequestId: 'r0', firstAt: 1_000, lastAt: 1_999, windowEndsAt: 60_000, count: 1000 }]);
    expect(summaries.size).toBe(1);
    expect(summaries.take(0, true)).toHaveLength(1);
    expect(summaries.size).toBe(0);
  });

  it('hands out the previous window of an address when a new one starts', () => {
    const summaries = new BlockedAddressSummaries();
    summaries.note('a', 'r1', 1_000, 10);
    summaries.note('a', 'r2', 1_000, 20);
    expect(summaries.note('a', 'r3', 2_000, 1_500)).toMatchObject([{ address: 'a', count: 2, windowEndsAt: 1_000 }]);
    expect(summaries.take(2_000)).toMatchObject([{ address: 'a', count: 1, firstRequestId: 'r3' }]);
  });

  it('is bounded: past maxAddresses the oldest summary is handed out early', () => {
    const summaries = new BlockedAddressSummaries(2);
    summaries.note('a', 'r1', 1_000, 0);
    summaries.note('b', 'r2', 1_000, 0);
    expect(summaries.note('c', 'r3', 1_000, 0)).toMatchObject([{ address: 'a', count: 1 }]);
    expect(summaries.size).toBe(2);
  });

  it('restores a summary that could not be written, merging with a newer count of the same window', () => {
    const summaries = new BlockedAddressSummaries();
    summaries.note('a', 'r1', 1_000, 0);
    const [taken] = summaries.take(1_000);
    summaries.note('a', 'r2', 1_000, 5);
    summaries.restore(taken!);
    expect(summaries.take(1_000)).toMatchObject([{ address: 'a', count: 2, firstRequestId: 'r1', firstAt: 0 }]);
  });
});
