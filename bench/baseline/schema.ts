/**
 * The plaintext twin of the vault's `customers` table (migrations/1764100001000-keys-and-customers.ts):
 * same columns, text/jsonb instead of bytea ciphertexts, no DEK version, and ordinary btree indexes
 * on the searchable columns where the vault has blind-index digests.
 */
export const BASELINE_SCHEMA = [
  `CREATE TABLE IF NOT EXISTS customers (
     id                  uuid PRIMARY KEY,
     external_ref        text UNIQUE,
     full_name           text,
     email               text,
     phone               text,
     address             jsonb,
     national_id         text,
     date_of_birth       text,
     card_number         text,
     card_expiry         text,
     cardholder_name     text,
     bank_account        text,
     consent_marketing   boolean NOT NULL DEFAULT false,
     consent_third_party boolean NOT NULL DEFAULT false,
     hold_reason         text,
     hold_since          timestamptz,
     hold_by             uuid,
     created_at          timestamptz NOT NULL DEFAULT now(),
     updated_at          timestamptz NOT NULL DEFAULT now(),
     erased_at           timestamptz
   )`,
  'CREATE INDEX IF NOT EXISTS customers_email ON customers (email)',
  'CREATE INDEX IF NOT EXISTS customers_phone ON customers (phone)',
  'CREATE INDEX IF NOT EXISTS customers_national_id ON customers (national_id)',
];

/** Field name -> column, as the vault's FIELD_COLUMNS. */
export const COLUMNS = {
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
} as const;

export type Field = keyof typeof COLUMNS;
export const FIELDS = Object.keys(COLUMNS) as Field[];
export const PERSONAL: readonly Field[] = ['fullName', 'email', 'phone', 'address', 'nationalId', 'dateOfBirth'];
export const PAYMENT: readonly Field[] = ['cardNumber', 'cardExpiry', 'cardholderName', 'bankAccount'];
