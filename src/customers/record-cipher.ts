import { CUSTOMER_FIELDS, type CustomerField } from '../access/vocabulary.js';
import { decryptField, encryptField, zero } from '../crypto/index.js';
import { FIELD_COLUMNS, type CustomerRow } from './customer-columns.js';

/**
 * Revision of a new record. It is the column default of `customers.revision` (migration
 * 1764200610000), so the one-statement create needs no extra parameter; create encrypts under it.
 */
export const FIRST_REVISION = 1;

/** Where a record's fields go: the DEK (and its version) and the record's new revision. */
export interface SealTarget {
  dek: Uint8Array;
  dekVersion: number;
  revision: number;
}

/** Assignments `column = $n` and their parameters, numbered from `firstParam`. */
export interface ResealedColumns {
  sets: string[];
  params: Buffer[];
  /** Every field written (changed or carried over). */
  fields: CustomerField[];
}

/**
 * Every field of the record under a new revision (anti-rollback, DESIGN §2): each field in
 * `changes` (plaintext) encrypted anew, every other stored field decrypted under the row's revision
 * with `fromDek` and encrypted again for `to`. Afterwards no ciphertext of an earlier revision opens
 * in this row, whichever field it is copied into. Plaintexts are zeroed here, `changes` included.
 */
export function resealRecord(row: CustomerRow, fromDek: Uint8Array, to: SealTarget, changes: Partial<Record<CustomerField, Buffer>>, firstParam: number): ResealedColumns {
  const out: ResealedColumns = { sets: [], params: [], fields: [] };
  try {
    for (const field of CUSTOMER_FIELDS) {
      const changed = changes[field];
      const stored = row[FIELD_COLUMNS[field]] as Buffer | null;
      if (changed === undefined && stored === null) continue;
      const plaintext = changed ?? decryptField(fromDek, stored as Buffer, row.id, field, row.revision);
      try {
        out.params.push(encryptField(to.dek, to.dekVersion, row.id, field, to.revision, plaintext));
      } finally {
        zero(plaintext);
      }
      out.sets.push(`${FIELD_COLUMNS[field]} = $${firstParam + out.params.length - 1}`);
      out.fields.push(field);
    }
  } finally {
    for (const plaintext of Object.values(changes)) zero(plaintext);
  }
  return out;
}
