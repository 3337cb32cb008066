import { subject } from '@casl/ability';
import { permittedFieldsOf } from '@casl/ability/extra';
import { describe, expect, it } from '@jest/globals';
import { createAbility, ruleFields, searchFields } from './ability.factory.js';
import { REVEAL_TABLE, type RevealRow } from './reveal-table.js';
import { SEARCH_FIELDS, type Actor, type Purpose, type Role } from './vocabulary.js';

const actor = (...roles: Role[]): Actor => ({ id: 'p-1', name: 'tester', kind: 'staff', roles });
const customer = (marketingConsent: boolean, contactHeld: boolean) => subject('Customer', { marketingConsent, contactHeld });

describe('createAbility (CASL)', () => {
  it('without a purpose, no customer may be read or searched', () => {
    for (const role of ['privacy', 'ingest', 'support'] as const) {
      const ability = createAbility(actor(role));
      expect(ability.can('read', 'Customer')).toBe(false);
      expect(ability.can('search', 'Customer')).toBe(false);
      expect(permittedFieldsOf(ability, 'reveal', 'Customer', { fieldsFrom: ruleFields })).toEqual([]);
    }
  });

  it('reveal and revealMasked are per field', () => {
    const ability = createAbility(actor('billing'), 'payment_confirmation');
    expect(ability.can('reveal', 'Customer', 'cardNumber')).toBe(true);
    expect(ability.can('reveal', 'Customer', 'phone')).toBe(false);
    expect(ability.can('revealMasked', 'Customer', 'phone')).toBe(true);
    expect(ability.can('revealMasked', 'Customer', 'nationalId')).toBe(false);
  });

  it('purpose rules apply to a customer instance, not to the type', () => {
    const ability = createAbility(actor('marketing'), 'marketing');
    expect(ability.can('read', 'Customer')).toBe(true);
    expect(ability.can('read', customer(true, false))).toBe(true);
    expect(ability.can('read', customer(false, false))).toBe(false);
    expect(ability.can('read', customer(true, true))).toBe(false);
    expect(ability.relevantRuleFor('read', customer(true, true))?.reason).toBe('contact_hold');
    expect(ability.relevantRuleFor('read', customer(false, true))?.reason).toBe('consent_required');
  });

  it('the hold does not bind non-outbound purposes', () => {
    expect(createAbility(actor('security'), 'fraud_investigation').can('read', customer(false, true))).toBe(true);
  });

  it('the contact hold freezes contact fields and consents on a held customer instance only', () => {
    const ingest = createAbility(actor('ingest'));
    expect(ingest.can('correct', 'Customer', 'email')).toBe(true);
    expect(ingest.can('correct', customer(false, false), 'email')).toBe(true);
    expect(ingest.can('correct', customer(false, true), 'email')).toBe(false);
    expect(ingest.relevantRuleFor('correct', customer(false, true), 'phone')?.reason).toBe('contact_hold');
    expect(ingest.can('correct', customer(false, true), 'fullName')).toBe(true);
    expect(ingest.can('consents', customer(false, true))).toBe(false);
    const privacy = createAbility(actor('privacy'));
    expect(privacy.can('correct', customer(false, true), 'address')).toBe(true);
    expect(privacy.can('consents', customer(false, true))).toBe(true);
  });

  // Every row of the reveal table x search field: a value search needs the value in plaintext
  // (security under fraud_investigation aside); externalRef is open; marketing never searches.
  const searchCases = Object.entries(REVEAL_TABLE).flatMap(([role, purposes]) =>
    Object.entries(purposes as Record<string, RevealRow>).flatMap(([purpose, row]) =>
      SEARCH_FIELDS.map((field) => {
        const allowed = role !== 'marketing' && (field === 'externalRef' || row[field] === 'P' || (role === 'security' && purpose === 'fraud_investigation'));
        return [role as Role, purpose as Purpose, field, allowed] as const;
      }),
    ),
  );
  it.each(searchCases)('%s for %s may search by %s: %s', (role, purpose, field, allowed) => {
    expect(createAbility(actor(role), purpose).can('search', 'Customer', field)).toBe(allowed);
    expect(searchFields(role, purpose).includes(field)).toBe(allowed);
  });

  it('admin: principals and keys only', () => {
    const ability = createAbility(actor('admin'), 'legal_obligation');
    expect(ability.can('administer', 'Principal')).toBe(true);
    expect(ability.can('administer', 'Key')).toBe(true);
    expect(ability.can('read', 'Customer')).toBe(false);
    expect(ability.can('read', 'AuditLog')).toBe(false);
  });
});
