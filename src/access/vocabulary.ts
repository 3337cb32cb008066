/**
 * The vocabulary of the reveal policy (DESIGN §3): roles, purposes, customer fields, the acting
 * principal. Everything else in `src/access/` is written in these terms.
 */

export const ROLES = ['admin', 'ingest', 'billing', 'support', 'marketing', 'security', 'privacy'] as const;
export type Role = (typeof ROLES)[number];

/** Values of the `X-Access-Purpose` header. */
export const PURPOSES = [
  'payment_confirmation',
  'service_support',
  'renewal_notice',
  'marketing',
  'fraud_investigation',
  'customer_request',
  'legal_obligation',
] as const;
export type Purpose = (typeof PURPOSES)[number];

/** The purposes that reveal most: a request under one of them must say why (`X-Access-Reason`, else 400 `reason_required`). */
export const REASON_REQUIRED_PURPOSES: readonly Purpose[] = ['customer_request', 'legal_obligation', 'fraud_investigation'];

/** Roles that store or administer; a principal holding one may hold no reading role (DESIGN §3). */
export const NON_READING_ROLES = ['ingest', 'admin'] as const;
/** Roles that read customer data (they have rows in the reveal table). */
export const READING_ROLES = ['support', 'billing', 'marketing', 'security', 'privacy'] as const;

/**
 * The role pairs a principal may not hold together: `ingest` or `admin` with a reading role, so a
 * service that stores data (or an administrator) cannot also read it back. null when allowed.
 */
export function conflictingRoles(roles: readonly string[]): { nonReading: string[]; reading: string[] } | null {
  const nonReading = NON_READING_ROLES.filter((role) => roles.includes(role));
  const reading = READING_ROLES.filter((role) => roles.includes(role));
  return nonReading.length > 0 && reading.length > 0 ? { nonReading, reading } : null;
}

export const PERSONAL_FIELDS = ['fullName', 'email', 'phone', 'address', 'nationalId', 'dateOfBirth'] as const;
export type PersonalField = (typeof PERSONAL_FIELDS)[number];

export const PAYMENT_FIELDS = ['cardNumber', 'cardExpiry', 'cardholderName', 'bankAccount'] as const;
export type PaymentField = (typeof PAYMENT_FIELDS)[number];

/** All encrypted customer fields, in the column order of the DESIGN reveal table. */
export const CUSTOMER_FIELDS = [...PERSONAL_FIELDS, ...PAYMENT_FIELDS] as const;
export type CustomerField = (typeof CUSTOMER_FIELDS)[number];

/**
 * Keys of `POST /v1/customers/search` (DESIGN §4): the three blind-indexed fields, and `externalRef`
 * (the calling system's own id, stored in plain, not personal data).
 */
export const SEARCH_FIELDS = ['email', 'phone', 'nationalId', 'externalRef'] as const;
export type SearchField = (typeof SEARCH_FIELDS)[number];
/** Search fields whose search confirms a personal value: allowed only where it is revealed in plaintext. */
export const VALUE_SEARCH_FIELDS = ['email', 'phone', 'nationalId'] as const satisfies readonly (SearchField & CustomerField)[];

/** The authenticated principal a request acts for (DESIGN §3, without the bookkeeping dates). */
export interface Actor {
  id: string;
  name: string;
  kind: 'service' | 'staff';
  roles: Role[];
}

function member<T extends string>(list: readonly T[]): (value: unknown) => value is T {
  const set: ReadonlySet<string> = new Set(list);
  return (value: unknown): value is T => typeof value === 'string' && set.has(value);
}

export const isRole: (value: unknown) => value is Role = member(ROLES);
export const isPurpose: (value: unknown) => value is Purpose = member(PURPOSES);
export const isSearchField: (value: unknown) => value is SearchField = member(SEARCH_FIELDS);
export const isCustomerField: (value: unknown) => value is CustomerField = member(CUSTOMER_FIELDS);
export const isPersonalField: (value: unknown) => value is PersonalField = member(PERSONAL_FIELDS);
export const isPaymentField: (value: unknown) => value is PaymentField = member(PAYMENT_FIELDS);
