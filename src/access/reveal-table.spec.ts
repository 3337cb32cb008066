import { describe, expect, it } from '@jest/globals';
import { REVEAL_TABLE, revealRow, type RevealRow, type RevealTable } from './reveal-table.js';
import { CUSTOMER_FIELDS, PURPOSES } from './vocabulary.js';

describe('REVEAL_TABLE typing', () => {
  it('a row without a cell, or a masked cardExpiry, does not compile', () => {
    // @ts-expect-error bankAccount is missing
    const incomplete: RevealRow = { fullName: 'P', email: 'P', phone: 'P', address: 'P', nationalId: 'P', dateOfBirth: 'P', cardNumber: 'P', cardExpiry: 'P', cardholderName: 'P' };
    const maskedExpiry: RevealRow = {
      fullName: 'M', email: 'M', phone: 'M', address: 'M', nationalId: 'M', dateOfBirth: 'M', cardNumber: 'M',
      // @ts-expect-error cardExpiry is never masked
      cardExpiry: 'M',
      cardholderName: 'M', bankAccount: 'M',
    };
    // @ts-expect-error ingest needs every purpose
    const noIngest: RevealTable['ingest'] = { marketing: REVEAL_TABLE.ingest.marketing };
    expect([incomplete, maskedExpiry, noIngest]).toHaveLength(3);
  });

  it('ingest has a row for every purpose; admin has none', () => {
    for (const purpose of PURPOSES) {
      expect(revealRow('ingest', purpose)).toBeDefined();
      expect(revealRow('admin', purpose)).toBeUndefined();
    }
  });

  it('no row masks cardExpiry', () => {
    for (const byPurpose of Object.values(REVEAL_TABLE)) {
      for (const row of Object.values(byPurpose) as RevealRow[]) {
        expect(row.cardExpiry).not.toBe('M');
        expect(Object.keys(row).sort()).toEqual([...CUSTOMER_FIELDS].sort());
      }
    }
  });
});
