import { VALUE_SEARCH_FIELDS, type CustomerField, type Purpose, type Role } from './vocabulary.js';

/** P = plaintext, M = masked, - = not returned (the key is absent from `data`). */
export type Reveal = 'P' | 'M' | '-';

/** `cardExpiry` is never masked (DESIGN §3): its cell can only be P or -, checked by the compiler. */
export type RevealCell<F extends CustomerField> = F extends 'cardExpiry' ? 'P' | '-' : Reveal;

/** One row of the table: a cell for every field; a missing cell does not compile. */
export type RevealRow = { readonly [F in CustomerField]: RevealCell<F> };

/**
 * Role -> purpose -> row. A purpose absent from a role's entry means that role is denied (403) for
 * that purpose. Every role needs an entry (admin's is empty), and `ingest` needs a row for every
 * purpose ("any purpose").
 */
export type RevealTable = { readonly [R in Exclude<Role, 'ingest'>]: { readonly [P in Purpose]?: RevealRow } } & {
  readonly ingest: { readonly [P in Purpose]: RevealRow };
};

const ALL_PLAIN: RevealRow = {
  fullName: 'P', email: 'P', phone: 'P', address: 'P', nationalId: 'P', dateOfBirth: 'P',
  cardNumber: 'P', cardExpiry: 'P', cardholderName: 'P', bankAccount: 'P',
};

/** The security and ingest rows: everything masked, cardExpiry (never masked) not returned. */
const ALL_MASKED: RevealRow = {
  fullName: 'M', email: 'M', phone: 'M', address: 'M', nationalId: 'M', dateOfBirth: 'M',
  cardNumber: 'M', cardExpiry: '-', cardholderName: 'M', bankAccount: 'M',
};

/** DESIGN §3 "Reveal policy", transcribed. Change it only together with DESIGN.md. */
export const REVEAL_TABLE: RevealTable = {
  admin: {},
  support: {
    service_support: {
      fullName: 'P', email: 'P', phone: 'P', address: 'M', nationalId: 'M', dateOfBirth: 'M',
      cardNumber: 'M', cardExpiry: '-', cardholderName: 'M', bankAccount: 'M',
    },
  },
  billing: {
    payment_confirmation: {
      fullName: 'P', email: 'P', phone: 'M', address: 'M', nationalId: '-', dateOfBirth: '-',
      cardNumber: 'P', cardExpiry: 'P', cardholderName: 'P', bankAccount: 'P',
    },
    renewal_notice: {
      fullName: 'P', email: 'P', phone: '-', address: '-', nationalId: '-', dateOfBirth: '-',
      cardNumber: 'M', cardExpiry: '-', cardholderName: '-', bankAccount: '-',
    },
  },
  marketing: {
    marketing: {
      fullName: 'P', email: 'P', phone: '-', address: '-', nationalId: '-', dateOfBirth: '-',
      cardNumber: '-', cardExpiry: '-', cardholderName: '-', bankAccount: '-',
    },
  },
  security: {
    fraud_investigation: ALL_MASKED,
  },
  privacy: {
    customer_request: ALL_PLAIN,
    legal_obligation: ALL_PLAIN,
  },
  ingest: {
    payment_confirmation: ALL_MASKED,
    service_support: ALL_MASKED,
    renewal_notice: ALL_MASKED,
    marketing: ALL_MASKED,
    fraud_investigation: ALL_MASKED,
    customer_request: ALL_MASKED,
    legal_obligation: ALL_MASKED,
  },
};

/** Roles that never search, even for a purpose they may read under (DESIGN §3). */
export const NON_SEARCHING_ROLES: readonly Role[] = ['marketing', 'admin'];

/**
 * Searches by a personal value beyond the role's plaintext cells (DESIGN §3): security looks up the
 * customers of a fraud case by the e-mail, phone or national id it was given, while it only ever
 * sees them masked. Everywhere else a search by a value needs that value in plaintext in the row:
 * a masked view plus an exact search would confirm guessed values one by one.
 */
export const EXTRA_SEARCH_FIELDS: { readonly [R in Role]?: { readonly [P in Purpose]?: readonly (typeof VALUE_SEARCH_FIELDS)[number][] } } = {
  security: { fraud_investigation: VALUE_SEARCH_FIELDS },
};

/**
 * Rules that belong to the purpose, whoever asks (DESIGN §3): reveals for an outbound purpose are
 * refused (423) while the customer is under a contact hold; reveals for `marketing` need the
 * customer's marketing consent (403).
 */
export const OUTBOUND_PURPOSES: readonly Purpose[] = ['marketing', 'renewal_notice'];
export const CONSENT_REQUIRED_PURPOSES: readonly Purpose[] = ['marketing'];

/**
 * While a customer's processing is restricted (DESIGN §3), reads for every other purpose answer 423
 * and searches for them leave the customer out: the customer's own request, the law and fraud
 * investigation still go through.
 */
export const RESTRICTION_EXEMPT_PURPOSES: readonly Purpose[] = ['customer_request', 'legal_obligation', 'fraud_investigation'];

/** The row of a role for a purpose, or undefined when the role is denied for it. */
export function revealRow(role: Role, purpose: Purpose): RevealRow | undefined {
  const byPurpose: { readonly [P in Purpose]?: RevealRow } = REVEAL_TABLE[role];
  return byPurpose[purpose];
}

/**
 * Contact hold on writes (DESIGN §3): while a customer is held (fraud suspected, e.g. an account
 * takeover in progress), the contact fields and the consents may not change (423), except by the
 * staff who investigate and resolve it. Otherwise a hold would not stop the attacker redirecting
 * the customer's contact details to themselves.
 */
export const HOLD_GUARDED_FIELDS: readonly CustomerField[] = ['email', 'phone', 'address'];
export const HOLD_EXEMPT_ROLES: readonly Role[] = ['security', 'privacy'];

/** A consent change needs this purpose and an `X-Access-Reason` (DESIGN §3, "Consents"). */
export const CONSENT_CHANGE_PURPOSE: Purpose = 'customer_request';
