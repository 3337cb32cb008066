import { AbilityBuilder, createMongoAbility, type ForcedSubject, type MongoAbility } from '@casl/ability';
import { CONSENT_REQUIRED_PURPOSES, NON_SEARCHING_ROLES, OUTBOUND_PURPOSES, RESTRICTION_EXEMPT_PURPOSES, revealRow } from './reveal-table.js';
import { CUSTOMER_FIELDS, isRole, type Actor, type Purpose, type Role } from './vocabulary.js';

/**
 * Actions on customers:
 * - `read`: the actor may read customers for the purpose (it has a row in the reveal table). On a
 *   customer instance ({@link CustomerFacts}), also the purpose rules: consent and contact hold.
 * - `reveal` / `revealMasked` (per field): the field is returned in plaintext / masked.
 * - `search`, and the writes `create`, `correct`, `erase`, `consents`, `contactHold`, `readAudit`
 *   (the access report of one customer).
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
      if (!NON_SEARCHING_ROLES.includes(role)) can('search', 'Customer');
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

  return build();
}
