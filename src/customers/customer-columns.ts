import type { CustomerField } from '../access/vocabulary.js';

/** Column of each encrypted field in `customers` (one bytea ciphertext each). */
export const FIELD_COLUMNS: Record<CustomerField, string> = {
  fullName: 'full_name',
  email: 'email',
  phone: 'phone',
  address: 'address',
  nationalId: 'national_id',
  dateOfBirth: 'date_of_birth',
  cardNumber: 'card_number',
  cardExpiry: 'card_expiry',
  cardholderName: 'cardholder_name',
  bankAccount: 'bank_account',
};

/** A customer row with the wrapped DEK it needs, as one query returns it. */
export interface CustomerRow {
  id: string;
  external_ref: string | null;
  dek_version: number;
  consent_marketing: boolean;
  consent_third_party: boolean;
  hold_reason: string | null;
  hold_since: Date | null;
  hold_by: string | null;
  restriction_reason: string | null;
  restriction_since: Date | null;
  restriction_by: string | null;
  closed_at: Date | null;
  created_at: Date;
  updated_at: Date;
  erased_at: Date | null;
  /** Bound into every field's AD; incremented by every write of the fields (0: written before that). */
  revision: number;
  dek_kek_version: number | null;
  dek_wrapped: Buffer | null;
  [column: string]: unknown;
}
