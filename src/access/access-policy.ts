import { subject } from '@casl/ability';
import { permittedFieldsOf } from '@casl/ability/extra';
import { Injectable } from '@nestjs/common';
import { VaultError } from '../common/vault-error.js';
import { createAbility, DENIAL_REASONS, ruleFields, type AppAbility, type CustomerSubject } from './ability.factory.js';
import { RESTRICTION_EXEMPT_PURPOSES } from './reveal-table.js';
import { maskField } from './masks.js';
import { isPlainText } from '../customers/validators.js';
import { CONSENT_CHANGE_PURPOSE } from './reveal-table.js';
import type { PolicyRule } from './route-policy.js';
import { CUSTOMER_FIELDS, isCustomerField, isPersonalField, isPurpose, REASON_REQUIRED_PURPOSES, type Actor, type CustomerField, type Purpose, type SearchField } from './vocabulary.js';

/** The fields to return for one read, each exactly once; `-` fields are in neither list. */
export interface RevealPlan {
  plaintext: CustomerField[];
  masked: CustomerField[];
}

/** What `planReveal` and the write rules need to know about the customer (its consents and contact hold only). */
export interface RevealCustomer {
  consents: { marketing: boolean; thirdPartySharing: boolean };
  /** null (or undefined) when no hold is set. */
  contactHold: unknown;
  /** null (or undefined) when processing is not restricted. */
  restriction?: unknown;
}

/** What a disclosure decision needs to know about the customer. */
export interface DisclosureCustomer {
  consents: { thirdPartySharing: boolean };
  /** null (or undefined) when processing is not restricted. */
  restriction: unknown;
}

export type AccessAction =
  | 'create'
  | 'correct'
  | 'erase'
  | 'consents'
  | 'contactHold'
  | 'readCustomerAudit'
  | 'readAuditLog'
  | 'managePrincipals'
  | 'manageKeys'
  | 'disclose'
  | 'readDisclosures'
  | 'restrict'
  | 'close'
  | 'subjectAccess';

/** The `data`, `revealed` and `masked` parts of a customer read (DESIGN §4). */
export interface RevealedData {
  data: Partial<Record<CustomerField, unknown>>;
  revealed: CustomerField[];
  masked: CustomerField[];
}

export const PURPOSE_HEADER = 'X-Access-Purpose';
export const REASON_HEADER = 'X-Access-Reason';
export const REASON_MAX = 200;

/** The access headers of one request, as checked by the PoliciesGuard. */
export interface DeclaredAccess {
  purpose?: Purpose;
  reason?: string;
}

/** AccessAction names of the route rules, for messages that read like the service's own checks. */
function actionName(rule: PolicyRule): AccessAction | string {
  const [action, subject] = rule;
  if (subject === 'AuditLog') return 'readAuditLog';
  if (subject === 'Principal') return 'managePrincipals';
  if (subject === 'Key') return 'manageKeys';
  return action === 'readAudit' ? 'readCustomerAudit' : action;
}

/**
 * Whether a reason says anything: a letter or digit once invisible format characters (soft hyphen,
 * zero-width) are set aside. Blank, invisible or punctuation-only reasons (two empty headers arrive
 * joined as ", ") count as none.
 */
export function saysSomething(reason: string): boolean {
  return /[\p{L}\p{N}]/u.test(reason.replace(/\p{Cf}/gu, ''));
}

function forbidden(message: string, details?: { field: string; problem: string }[]): VaultError {
  return new VaultError('forbidden', message, details);
}

/** The facts the purpose and hold rules look at; never a field value. */
function factsOf(customer: RevealCustomer): CustomerSubject {
  return subject('Customer', {
    marketingConsent: customer.consents.marketing === true,
    contactHeld: customer.contactHold !== null && customer.contactHold !== undefined,
    restricted: customer.restriction !== null && customer.restriction !== undefined,
  });
}

/**
 * The reveal policy of DESIGN §3, as the customer service calls it. All decisions come from the CASL
 * ability of `createAbility`; this class turns them into plans and errors. Messages name roles,
 * purposes and field names (all from the fixed vocabulary), never a value or client input.
 */
@Injectable()
export class AccessPolicy {
  /**
   * Abilities depend only on the set of roles and the purpose (at most 2^7 x 8 of them), so each is
   * built once: building a CASL ability on every request was a measurable share of a read.
   */
  private readonly abilities = new Map<string, AppAbility>();

  /** The CASL ability of an actor for a purpose, for callers that need more than the methods below. */
  abilityFor(actor: Actor, purpose?: Purpose): AppAbility {
    const key = `${[...new Set(actor.roles)].sort().join(',')}|${purpose ?? ''}`;
    let ability = this.abilities.get(key);
    if (ability === undefined) {
      ability = createAbility(actor, purpose);
      this.abilities.set(key, ability);
    }
    return ability;
  }

  /**
   * What to return of one customer, or why not. Order of checks:
   * 1. role x purpose: no role of the actor has a row for the purpose -> 403 (before anything
   *    about the customer is considered, so a denied actor learns nothing about it);
   * 2. purpose rules, whoever asks: `marketing` without the marketing consent -> 403, then an
   *    outbound purpose (`marketing`, `renewal_notice`) under contact hold -> 423 (a customer
   *    without consent gets 403 even when also held: waiting for the hold would not help); a
   *    restricted customer -> 423 `processing_restricted` for every purpose but customer_request,
   *    legal_obligation and fraud_investigation (this one wins over the others);
   * 3. fields: `requestedFields` (undefined = every field the policy returns) naming a field the
   *    policy does not return for this actor and purpose -> 403, with the field names in details.
   * Several roles: plaintext wins over masked wins over absent. An empty `requestedFields` gives an
   * empty plan. Fields the customer has no value for are the caller's to leave out (see `applyPlan`).
   */
  planReveal(actor: Actor, purpose: Purpose, customer: RevealCustomer, requestedFields?: readonly CustomerField[]): RevealPlan {
    const ability = this.abilityFor(actor, purpose);
    this.assertReadable(ability, purpose);

    const facts = factsOf(customer);
    if (!ability.can('read', facts)) {
      const rule = ability.relevantRuleFor('read', facts);
      if (rule?.reason === DENIAL_REASONS.processingRestricted) {
        throw new VaultError('processing_restricted', `processing of this customer is restricted: no reads for purpose ${purpose}`);
      }
      if (rule?.reason === DENIAL_REASONS.contactHold) {
        throw new VaultError('contact_hold', `the customer is under a contact hold: no reveals for purpose ${purpose}`);
      }
      if (rule?.reason === DENIAL_REASONS.consentRequired) {
        throw forbidden(`the customer has not consented to purpose ${purpose}`);
      }
      throw forbidden(`reading customers for purpose ${purpose} is not allowed to this principal`);
    }

    const plain = new Set(permittedFieldsOf(ability, 'reveal', 'Customer', { fieldsFrom: ruleFields }));
    const masked = new Set(permittedFieldsOf(ability, 'revealMasked', 'Customer', { fieldsFrom: ruleFields }));
    const wanted = requestedFields === undefined ? undefined : new Set<CustomerField>(requestedFields);
    if (wanted) {
      const refused = CUSTOMER_FIELDS.filter((field) => wanted.has(field) && !plain.has(field) && !masked.has(field));
      if (refused.length > 0) {
        throw forbidden(
          `fields not returned to this principal for purpose ${purpose}: ${refused.join(', ')}`,
          refused.map((field) => ({ field: 'fields', problem: `${field} is not returned for this purpose` })),
        );
      }
    }
    const included = (field: CustomerField): boolean => wanted === undefined || wanted.has(field);
    return {
      plaintext: CUSTOMER_FIELDS.filter((field) => included(field) && plain.has(field)),
      masked: CUSTOMER_FIELDS.filter((field) => included(field) && !plain.has(field) && masked.has(field)),
    };
  }

  /**
   * Builds `data`, `revealed` and `masked` of a read from a plan and the customer's decrypted
   * values: plaintext fields as they are, masked ones through `maskField`; a field without a value
   * (undefined or null) is absent and listed in neither list.
   */
  applyPlan(plan: RevealPlan, values: Partial<Record<CustomerField, unknown>>): RevealedData {
    const result: RevealedData = { data: {}, revealed: [], masked: [] };
    for (const field of plan.plaintext) {
      const value = values[field];
      if (value === undefined || value === null) continue;
      result.data[field] = value;
      result.revealed.push(field);
    }
    for (const field of plan.masked) {
      const value = values[field];
      if (value === undefined || value === null) continue;
      result.data[field] = maskField(field, value);
      result.masked.push(field);
    }
    return result;
  }

  /** Early check before loading a customer: 403 unless a role of the actor has a row for the purpose. */
  assertCanReadCustomers(actor: Actor, purpose: Purpose): void {
    this.assertReadable(this.abilityFor(actor, purpose), purpose);
  }

  /**
   * 403 `search_not_allowed` unless a role of the actor may search by `field` for the purpose (see
   * `searchFields`): a value only where it is revealed in plaintext, externalRef wherever the actor
   * may read; never marketing or admin. The message names the field and purpose, never the term.
   */
  assertCanSearch(actor: Actor, purpose: Purpose, field: SearchField): void {
    if (!this.abilityFor(actor, purpose).can('search', 'Customer', field)) {
      throw new VaultError(
        'search_not_allowed',
        `searching customers by ${field} for purpose ${purpose} is not allowed to this principal` +
          (field === 'externalRef' ? '' : ` (allowed only where ${field} is revealed to it in plaintext)`),
        [{ field, problem: `not searchable for purpose ${purpose}` }],
      );
    }
  }

  /**
   * Whether a search for `purpose` may return restricted customers. When not, they are filtered out
   * of the results silently: a refusal would tell the caller the term matched someone restricted.
   */
  searchIncludesRestricted(purpose: Purpose): boolean {
    return RESTRICTION_EXEMPT_PURPOSES.includes(purpose);
  }

  /**
   * A disclosure to a third party (policy s.1): privacy only (403); on the basis of consent, the
   * customer's `thirdPartySharing` consent (403 `consent_required`), then no restriction (423
   * `processing_restricted`). A legal obligation needs neither: the law's claim stands.
   */
  assertCanDisclose(actor: Actor, legalBasis: 'consent' | 'legal_obligation', customer: DisclosureCustomer): void {
    this.assertCan(actor, 'disclose');
    const facts = subject('Customer', {
      consentBased: legalBasis === 'consent',
      thirdPartyConsent: customer.consents.thirdPartySharing === true,
      restricted: customer.restriction !== null && customer.restriction !== undefined,
    });
    const ability = this.abilityFor(actor);
    if (ability.can('disclose', facts)) return;
    const rule = ability.relevantRuleFor('disclose', facts);
    if (rule?.reason === DENIAL_REASONS.processingRestricted) {
      throw new VaultError('processing_restricted', 'processing of this customer is restricted: no disclosures on the basis of consent');
    }
    throw new VaultError('consent_required', 'the customer has not consented to sharing with third parties');
  }

  /** Whether the actor may perform a non-read action (`purpose` matters only for support's corrections). */
  can(actor: Actor, action: AccessAction, purpose?: Purpose): boolean {
    const ability = this.abilityFor(actor, purpose);
    switch (action) {
      case 'readCustomerAudit':
        return ability.can('readAudit', 'Customer');
      case 'readAuditLog':
        return ability.can('read', 'AuditLog');
      case 'managePrincipals':
        return ability.can('administer', 'Principal');
      case 'manageKeys':
        return ability.can('administer', 'Key');
      default:
        return ability.can(action, 'Customer');
    }
  }

  /** 403 unless `can(actor, action, purpose)`. Support's corrections need purpose `customer_request`. */
  assertCan(actor: Actor, action: AccessAction, purpose?: Purpose): void {
    if (!this.can(actor, action, purpose)) {
      const hint = action === 'correct' && actor.roles.includes('support') && purpose !== 'customer_request'
        ? ' (support corrects only with purpose customer_request)'
        : action === 'subjectAccess' && actor.roles.includes('privacy') && purpose !== 'customer_request'
          ? ' (only with purpose customer_request)'
          : '';
      throw forbidden(`action ${action} is not allowed to this principal${hint}`);
    }
  }

  /**
   * The contact-hold rule on writes (DESIGN §3). On a held customer, a correction writing `email`,
   * `phone` or `address`, or a consent change (`write` = 'consents'), is refused with 423
   * `contact_hold` naming the refused fields, unless the actor has `security` or `privacy`. Other
   * fields stay correctable. Call after `assertCan` (a principal without the right at all gets 403
   * before anything about the customer is considered), with the customer row locked, so a hold set
   * concurrently is either seen here or set after this write commits.
   */
  assertHoldAllows(actor: Actor, purpose: Purpose | undefined, customer: RevealCustomer, write: readonly CustomerField[] | 'consents'): void {
    const ability = this.abilityFor(actor, purpose);
    const action = write === 'consents' ? 'consents' : 'correct';
    // Without the right at all, the hold rule is not what refuses (and says nothing about the customer).
    if (!ability.can(action, 'Customer')) throw forbidden(`action ${action} is not allowed to this principal`);
    const facts = factsOf(customer);
    if (write === 'consents') {
      if (ability.can('consents', facts)) return;
      throw new VaultError('contact_hold', 'the customer is under a contact hold: consents cannot be changed by this principal', [
        { field: 'body', problem: 'consents are frozen while the contact hold lasts' },
      ]);
    }
    const refused = write.filter((field) => !ability.can('correct', facts, field));
    if (refused.length === 0) return;
    throw new VaultError(
      'contact_hold',
      `the customer is under a contact hold: ${refused.join(', ')} cannot be changed by this principal`,
      refused.map((field) => ({ field: `${isPersonalField(field) ? 'personal' : 'payment'}.${field}`, problem: 'frozen while the contact hold lasts' })),
    );
  }

  /**
   * A consent change must say on the record why it is made (DESIGN §3, "Consents"): purpose
   * `customer_request` (400 `purpose_required`) and a non-blank `X-Access-Reason` (400
   * `reason_required`, as for every purpose that requires one). Neither header value is echoed.
   */
  assertConsentChangeDeclared(purpose: Purpose | undefined, reason: string | null): void {
    if (purpose !== CONSENT_CHANGE_PURPOSE) {
      throw new VaultError('purpose_required', `a consent change needs the ${PURPOSE_HEADER} header ${CONSENT_CHANGE_PURPOSE}`, [
        { field: PURPOSE_HEADER, problem: purpose === undefined ? 'missing' : `must be ${CONSENT_CHANGE_PURPOSE}` },
      ]);
    }
    if (reason === null || !saysSomething(reason)) {
      throw new VaultError('reason_required', `the ${REASON_HEADER} header is required for purpose ${purpose}`, [{ field: REASON_HEADER, problem: 'missing' }]);
    }
  }

  /**
   * A route's declared rule (`@Policy`), checked by the PoliciesGuard for the request's purpose
   * before any pipe or handler runs: 403 unless a role of the actor grants it.
   */
  assertRoute(actor: Actor, rule: PolicyRule, purpose?: Purpose): void {
    const ability = this.abilityFor(actor, purpose);
    if ((ability.can as (action: string, subject: string) => boolean)(rule[0], rule[1])) return;
    if (rule[1] === 'Customer' && rule[0] === 'read') throw forbidden(`reading customers for purpose ${purpose ?? 'none'} is not allowed to this principal`);
    if (rule[1] === 'Customer' && rule[0] === 'search') throw new VaultError('search_not_allowed', `searching customers for purpose ${purpose ?? 'none'} is not allowed to this principal`);
    const action = actionName(rule);
    const hint = action === 'correct' && actor.roles.includes('support') && purpose !== 'customer_request' ? ' (support corrects only with purpose customer_request)' : '';
    throw forbidden(`action ${action} is not allowed to this principal${hint}`);
  }

  /**
   * `X-Access-Purpose` and `X-Access-Reason` of a request. The purpose is required when
   * `purposeRequired`, else checked and returned when sent (400 when unknown). The reason: at most
   * REASON_MAX printable characters (shown to auditors: no control or bidi characters), and required
   * (400 `reason_required`) for the purposes that reveal most. Header values are never echoed.
   */
  parseAccessHeaders(headers: Record<string, string | string[] | undefined>, purposeRequired: boolean): DeclaredAccess {
    const access: DeclaredAccess = {};
    const reason = headers['x-access-reason'];
    if (reason !== undefined) {
      if (typeof reason !== 'string' || reason.length > REASON_MAX || !isPlainText(reason)) {
        throw new VaultError('invalid_input', `${REASON_HEADER} is invalid`, [{ field: REASON_HEADER, problem: `at most ${REASON_MAX} printable characters` }]);
      }
      if (saysSomething(reason)) access.reason = reason;
    }
    if (headers['x-access-purpose'] === undefined && !purposeRequired) return access;
    access.purpose = this.parsePurpose(headers['x-access-purpose']);
    if (access.reason === undefined && REASON_REQUIRED_PURPOSES.includes(access.purpose)) {
      throw new VaultError('reason_required', `purpose ${access.purpose} needs an ${REASON_HEADER} header (e.g. a ticket id)`, [
        { field: REASON_HEADER, problem: 'required for this purpose' },
      ]);
    }
    return access;
  }

  /** The purpose of `X-Access-Purpose`: 400 when missing or unknown; the header value is never echoed. */
  parsePurpose(header: string | readonly string[] | undefined): Purpose {
    const value = Array.isArray(header) ? header.join(',') : header;
    if (typeof value !== 'string' || value.trim() === '') {
      throw new VaultError('invalid_input', `the ${PURPOSE_HEADER} header is missing`, [
        { field: PURPOSE_HEADER, problem: 'missing' },
      ]);
    }
    const purpose = value.trim();
    if (!isPurpose(purpose)) {
      throw new VaultError('invalid_input', `the ${PURPOSE_HEADER} header names an unknown purpose`, [
        { field: PURPOSE_HEADER, problem: 'unknown purpose' },
      ]);
    }
    return purpose;
  }

  /**
   * `?fields=a,b`: a comma list of field names (spaces around names and empty items ignored,
   * duplicates allowed; a repeated parameter is joined). Missing or empty -> undefined (every field
   * the policy returns). An unknown name -> 400, without echoing it.
   */
  parseFields(query: string | readonly string[] | undefined): CustomerField[] | undefined {
    if (query === undefined) return undefined;
    const items = (Array.isArray(query) ? query : [query]) as readonly unknown[];
    if (!items.every((item) => typeof item === 'string')) {
      throw new VaultError('invalid_input', 'the fields parameter must be a comma-separated list', [
        { field: 'fields', problem: 'not a list of field names' },
      ]);
    }
    const names = (items as readonly string[])
      .flatMap((item) => item.split(','))
      .map((name) => name.trim())
      .filter((name) => name !== '');
    if (names.length === 0) return undefined;
    const fields: CustomerField[] = [];
    for (const name of names) {
      if (!isCustomerField(name)) {
        throw new VaultError('invalid_input', 'the fields parameter names an unknown field', [
          { field: 'fields', problem: 'unknown field' },
        ]);
      }
      if (!fields.includes(name)) fields.push(name);
    }
    return fields;
  }

  private assertReadable(ability: AppAbility, purpose: Purpose): void {
    if (!ability.can('read', 'Customer')) {
      throw forbidden(`reading customers for purpose ${purpose} is not allowed to this principal`);
    }
  }
}
