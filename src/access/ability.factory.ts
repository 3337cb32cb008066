import { AbilityBuilder, createMongoAbility, type ForcedSubject, type MongoAbility } from '@casl/ability';
import { CONSENT_REQUIRED_PURPOSES, EXTRA_SEARCH_FIELDS, HOLD_EXEMPT_ROLES, HOLD_GUARDED_FIELDS, NON_SEARCHING_ROLES, OUTBOUND_PURPOSES, RESTRICTION_EXEMPT_PURPOSES, revealRow } from './reveal-table.js';
import { CUSTOMER_FIELDS, isRole, VALUE_SEARCH_FIELDS, type Actor, type Purpose, type Role, type SearchField } from './vocabulary.js';

/**
 * Actions on customers:
 * - `read`: the actor may read customers for the purpose (it has a row in the reveal table). On a
 *   customer instance ({@link CustomerFacts}), also the purpose rules: consent and contact hold.
 * - `reveal` / `revealMasked` (per field): the field is returned in plaintext / masked.
 * - `search` (per search field, see {@link searchFields}), and the writes `create`, `correct`,
 *   `erase`, `consents`, `contactHold`, `readAudit` (the access report of one customer). On a
 *   customer instance, `correct` (per field) and `consents` also carry the contact-hold rule.
 * - The customer's rights: `disclose` (hand fields to a third party; on an instance, the consent and
 *   restriction rules), `readDisclosures`, `restrict`, `close` (the account ended), `subjectAccess`
 *   (the signed report, purpose `customer_request` only).
 */
export type CustomerAction =
  | 'read'
  | 'reveal'
  | 'revealMasked'
  | 'search'
  | 'create'
  | 'correct'
  | 'erase'
  | 'consents'
  | 'contactHold'
  | 'readAudit'
  | 'disclose'
  | 'readDisclosures'
  | 'restrict'
  | 'close'
  | 'subjectAccess';

/** What the purpose rules need to know about one customer; never a field value. */
export interface CustomerFacts {
  marketingConsent?: boolean;
  contactHeld?: boolean;
  /** Processing restricted at the customer's request. */
  restricted?: boolean;
  /** The customer's `thirdPartySharing` consent (disclosures). */
  thirdPartyConsent?: boolean;
  /** A disclosure on the basis of the customer's consent (not a legal obligation). */
  consentBased?: boolean;
}

export type CustomerSubject = 'Customer' | (CustomerFacts & ForcedSubject<'Customer'>);

export type AppAbility = MongoAbility<
  | [CustomerAction, CustomerSubject]
  /** Read, export and verify the whole audit log (and its public key). */
  | ['read', 'AuditLog']
  /** Principals and keys (incl. key rotation and a customer's rekey). */
  | ['administer', 'Principal' | 'Key']
  /** Who the caller itself is (GET /v1/me): every authenticated principal. */
  | ['read', 'Self']
>;

/** `Rule.reason` of the inverted purpose rules, so the policy can answer 403 or 423. */
export const DENIAL_REASONS = {
  consentRequired: 'consent_required',
  contactHold: 'contact_hold',
  processingRestricted: 'processing_restricted',
} as const;

/** Field lists of field-less rules cover every customer field (for `permittedFieldsOf`). */
export const ruleFields = (rule: { fields?: string[] | undefined }): string[] => rule.fields ?? [...CUSTOMER_FIELDS];

/**
 * The fields a role may search by under a purpose it has a row for (DESIGN §3): `externalRef` always
 * (not personal data); `email`, `phone`, `nationalId` only where the row shows them in plaintext,
 * plus {@link EXTRA_SEARCH_FIELDS} (security, fraud_investigation).
 */
export function searchFields(role: Role, purpose: Purpose): SearchField[] {
  const row = revealRow(role, purpose);
  if (!row || NON_SEARCHING_ROLES.includes(role)) return [];
  const extra = EXTRA_SEARCH_FIELDS[role]?.[purpose] ?? [];
  return ['externalRef', ...VALUE_SEARCH_FIELDS.filter((field) => row[field] === 'P' || extra.includes(field))];
}

/**
 * The one place the DESIGN §3 policy is encoded. `purpose` is the declared purpose of the request
 * (reads and searches need one; writes only when support corrects). Rules of several roles add up,
 * so the most revealing form of a field wins (P > M > -); `AccessPolicy` removes from the masked
 * list what is also plaintext. Unknown role strings are ignored.
 */
export function createAbility(actor: Actor, purpose?: Purpose): AppAbility {
  const { can, cannot, build } = new AbilityBuilder<AppAbility>(createMongoAbility);
  const roles = new Set<Role>(actor.roles.filter(isRole));

  if (purpose !== undefined) {
    for (const role of roles) {
      const row = revealRow(role, purpose);
      if (!row) continue;
      can('read', 'Customer');
      const plaintext = CUSTOMER_FIELDS.filter((field) => row[field] === 'P');
      const masked = CUSTOMER_FIELDS.filter((field) => row[field] === 'M');
      if (plaintext.length > 0) can('reveal', 'Customer', plaintext);
      if (masked.length > 0) can('revealMasked', 'Customer', masked);
      if (!NON_SEARCHING_ROLES.includes(role)) can('search', 'Customer', searchFields(role, purpose));
    }
    // Purpose rules, whoever asks; inverted rules come after the grants they restrict. On a
    // customer under hold and without consent, the later rule (consent, 403) is the relevant one:
    // waiting for the hold to be lifted would not help.
    if (OUTBOUND_PURPOSES.includes(purpose)) {
      cannot('read', 'Customer', { contactHeld: true }).because(DENIAL_REASONS.contactHold);
    }
    if (CONSENT_REQUIRED_PURPOSES.includes(purpose)) {
      cannot('read', 'Customer', { marketingConsent: { $ne: true } }).because(DENIAL_REASONS.consentRequired);
    }
    // Last, so it wins over the rules above: the customer asked for processing to stop, whatever
    // else holds. The exempt purposes are the customer's own request and the law's.
    if (!RESTRICTION_EXEMPT_PURPOSES.includes(purpose)) {
      cannot('read', 'Customer', { restricted: true }).because(DENIAL_REASONS.processingRestricted);
    }
  }

  if (roles.has('ingest') || roles.has('billing')) can('create', 'Customer');
  if (roles.has('ingest') || roles.has('privacy')) can('correct', 'Customer');
  if (roles.has('support') && purpose === 'customer_request') can('correct', 'Customer');
  if (roles.has('privacy')) can('erase', 'Customer');
  if (roles.has('ingest') || roles.has('support') || roles.has('privacy')) can('consents', 'Customer');
  if (roles.has('security')) can('contactHold', 'Customer');
  if (roles.has('security') || roles.has('privacy')) can('readAudit', 'Customer');
  if (roles.has('security')) can('read', 'AuditLog');
  if (roles.has('privacy')) {
    can(['disclose', 'restrict'], 'Customer');
    // A consent-based disclosure needs the consent (403), then no restriction (423): without consent,
    // waiting for the restriction to be lifted would not help, so the consent rule is the later one.
    cannot('disclose', 'Customer', { consentBased: true, restricted: true }).because(DENIAL_REASONS.processingRestricted);
    cannot('disclose', 'Customer', { consentBased: true, thirdPartyConsent: { $ne: true } }).because(DENIAL_REASONS.consentRequired);
  }
  if (roles.has('privacy') && purpose === 'customer_request') can('subjectAccess', 'Customer');
  if (roles.has('security') || roles.has('privacy')) can('readDisclosures', 'Customer');
  if (roles.has('ingest') || roles.has('billing') || roles.has('privacy')) can('close', 'Customer');
  if (roles.has('admin')) can('administer', ['Principal', 'Key']);
  can('read', 'Self');

  // Contact hold on writes: after the grants it restricts. Field-restricted and conditional, so it
  // binds only a held customer instance (and, for corrections, only the contact fields); checks on
  // the type alone ("may this principal correct at all?") are unaffected.
  if (!HOLD_EXEMPT_ROLES.some((role) => roles.has(role))) {
    cannot('correct', 'Customer', [...HOLD_GUARDED_FIELDS], { contactHeld: true }).because(DENIAL_REASONS.contactHold);
    cannot('consents', 'Customer', { contactHeld: true }).because(DENIAL_REASONS.contactHold);
  }

  return build();
}
