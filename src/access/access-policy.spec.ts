import { describe, expect, it } from '@jest/globals';
import { VaultError } from '../common/vault-error.js';
import { AccessPolicy, type AccessAction, type RevealCustomer } from './access-policy.js';
import { CUSTOMER_FIELDS, PURPOSES, ROLES, SEARCH_FIELDS, type Actor, type CustomerField, type Purpose, type Role, type SearchField } from './vocabulary.js';

/**
 * DESIGN.md §3 "Reveal policy", copied verbatim (not imported from reveal-table.ts), so these tests
 * check the code against the contract rather than against itself.
 */
const DESIGN_TABLE = `
| role, purpose | fullName | email | phone | address | nationalId | dateOfBirth | cardNumber | cardExpiry | cardholderName | bankAccount |
|---|---|---|---|---|---|---|---|---|---|---|
| support, service_support | P | P | P | M | M | M | M | - | M | M |
| billing, payment_confirmation | P | P | M | M | - | - | P | P | P | P |
| billing, renewal_notice | P | P | - | - | - | - | M | - | - | - |
| marketing, marketing (needs consent) | P | P | - | - | - | - | - | - | - | - |
| security, fraud_investigation | M | M | M | M | M | M | M | - | M | M |
| privacy, customer_request / legal_obligation | P | P | P | P | P | P | P | P | P | P |
| ingest, any purpose | M | M | M | M | M | M | M | - | M | M |
`;

type Cell = 'P' | 'M' | '-';

function parseDesignTable(text: string): Map<string, Record<CustomerField, Cell>> {
  const lines = text.trim().split('\n').map((line) => line.split('|').slice(1, -1).map((cell) => cell.trim()));
  const header = lines[0]!.slice(1);
  const rows = new Map<string, Record<CustomerField, Cell>>();
  for (const line of lines.slice(2)) {
    const [label, ...cells] = line;
    const [role, purposeText] = label!.split(',').map((part) => part.trim()) as [Role, string];
    const purposes: Purpose[] = purposeText === 'any purpose'
      ? [...PURPOSES]
      : purposeText.replace(/\(.*\)/, '').split('/').map((p) => p.trim() as Purpose);
    const row = Object.fromEntries(header.map((field, i) => [field, cells[i] as Cell])) as Record<CustomerField, Cell>;
    for (const purpose of purposes) rows.set(`${role}/${purpose}`, row);
  }
  return rows;
}

const TABLE = parseDesignTable(DESIGN_TABLE);
const policy = new AccessPolicy();
const actor = (...roles: Role[]): Actor => ({ id: 'p-1', name: 'tester', kind: 'service', roles });
const CONSENTING: RevealCustomer = { consents: { marketing: true, thirdPartySharing: false }, contactHold: null };
const NO_CONSENT: RevealCustomer = { consents: { marketing: false, thirdPartySharing: true }, contactHold: null };
const HELD = (marketing: boolean): RevealCustomer => ({
  consents: { marketing, thirdPartySharing: false },
  contactHold: { reason: 'fraud suspected', since: '2025-01-01T00:00:00Z', by: 'sec-1' },
});

function formOf(role: Role, purpose: Purpose, field: CustomerField): Cell {
  const plan = policy.planReveal(actor(role), purpose, CONSENTING);
  if (plan.plaintext.includes(field)) return 'P';
  if (plan.masked.includes(field)) return 'M';
  return '-';
}

function errorOf(fn: () => unknown): VaultError {
  try {
    fn();
  } catch (error) {
    if (error instanceof VaultError) return error;
    throw error;
  }
  throw new Error('expected a VaultError');
}

describe('the DESIGN transcription used by these tests', () => {
  it('has 14 role x purpose rows of 10 fields', () => {
    expect(TABLE.size).toBe(14);
    for (const row of TABLE.values()) expect(Object.keys(row).sort()).toEqual([...CUSTOMER_FIELDS].sort());
  });
});

describe('planReveal walks every cell of the DESIGN table', () => {
  const cells = [...TABLE].flatMap(([key, row]) => {
    const [role, purpose] = key.split('/') as [Role, Purpose];
    return CUSTOMER_FIELDS.map((field) => [role, purpose, field, row[field]] as const);
  });
  it('covers 140 cells', () => expect(cells).toHaveLength(140));

  it.each(cells)('%s for %s: %s is %s', (role, purpose, field, expected) => {
    expect(formOf(role, purpose, field)).toBe(expected);
  });

  it.each([...TABLE.keys()])('%s: plaintext and masked are disjoint and in field order', (key) => {
    const [role, purpose] = key.split('/') as [Role, Purpose];
    const plan = policy.planReveal(actor(role), purpose, CONSENTING);
    expect(plan.plaintext.filter((field) => plan.masked.includes(field))).toEqual([]);
    expect(plan.plaintext).toEqual(CUSTOMER_FIELDS.filter((field) => plan.plaintext.includes(field)));
    expect(plan.masked).toEqual(CUSTOMER_FIELDS.filter((field) => plan.masked.includes(field)));
  });
});

describe('role x purpose pairs not in the table are denied', () => {
  const denied = ROLES.flatMap((role) => PURPOSES.map((purpose) => [role, purpose] as const)).filter(
    ([role, purpose]) => !TABLE.has(`${role}/${purpose}`),
  );
  it('covers 35 pairs, admin for all 7 purposes among them', () => {
    expect(denied).toHaveLength(35);
    expect(denied.filter(([role]) => role === 'admin')).toHaveLength(7);
  });

  it.each(denied)('%s for %s: planReveal 403', (role, purpose) => {
    const error = errorOf(() => policy.planReveal(actor(role), purpose, CONSENTING));
    expect(error.code).toBe('forbidden');
  });

  it.each(denied)('%s for %s: assertCanReadCustomers 403', (role, purpose) => {
    expect(errorOf(() => policy.assertCanReadCustomers(actor(role), purpose)).code).toBe('forbidden');
  });

  it.each([...TABLE.keys()])('%s: assertCanReadCustomers passes', (key) => {
    const [role, purpose] = key.split('/') as [Role, Purpose];
    expect(() => policy.assertCanReadCustomers(actor(role), purpose)).not.toThrow();
  });

  it.each(PURPOSES)('no roles at all, %s: 403', (purpose) => {
    expect(errorOf(() => policy.planReveal(actor(), purpose, CONSENTING)).code).toBe('forbidden');
  });

  it('ignores role strings outside the vocabulary', () => {
    const stranger = { ...actor(), roles: ['root' as Role] };
    expect(errorOf(() => policy.planReveal(stranger, 'legal_obligation', CONSENTING)).code).toBe('forbidden');
  });

  it('a denied actor gets 403, not 423, on a held customer', () => {
    expect(errorOf(() => policy.planReveal(actor('support'), 'renewal_notice', HELD(true))).code).toBe('forbidden');
    expect(errorOf(() => policy.planReveal(actor('admin'), 'marketing', HELD(false))).code).toBe('forbidden');
  });
});

describe('several roles: the most revealing form wins', () => {
  it('support + billing for payment_confirmation: billing row (support has none)', () => {
    const plan = policy.planReveal(actor('support', 'billing'), 'payment_confirmation', CONSENTING);
    expect(plan).toEqual(policy.planReveal(actor('billing'), 'payment_confirmation', CONSENTING));
  });

  it('support + billing for service_support: support row', () => {
    const plan = policy.planReveal(actor('billing', 'support'), 'service_support', CONSENTING);
    expect(plan).toEqual(policy.planReveal(actor('support'), 'service_support', CONSENTING));
  });

  it('security + support for service_support: support row (security has none)', () => {
    const plan = policy.planReveal(actor('security', 'support'), 'service_support', CONSENTING);
    expect(plan.plaintext).toEqual(['fullName', 'email', 'phone']);
    expect(plan.masked).toEqual(['address', 'nationalId', 'dateOfBirth', 'cardNumber', 'cardholderName', 'bankAccount']);
  });

  it('ingest + billing for payment_confirmation: P beats M, M beats -', () => {
    const plan = policy.planReveal(actor('ingest', 'billing'), 'payment_confirmation', CONSENTING);
    expect(plan.plaintext).toEqual(['fullName', 'email', 'cardNumber', 'cardExpiry', 'cardholderName', 'bankAccount']);
    expect(plan.masked).toEqual(['phone', 'address', 'nationalId', 'dateOfBirth']);
  });

  it('ingest + privacy for customer_request: everything plaintext', () => {
    const plan = policy.planReveal(actor('privacy', 'ingest'), 'customer_request', CONSENTING);
    expect(plan).toEqual({ plaintext: [...CUSTOMER_FIELDS], masked: [] });
  });

  it('ingest + marketing for marketing: names and e-mail in plaintext, the rest masked', () => {
    const plan = policy.planReveal(actor('marketing', 'ingest'), 'marketing', CONSENTING);
    expect(plan.plaintext).toEqual(['fullName', 'email']);
    expect(plan.masked).toEqual(['phone', 'address', 'nationalId', 'dateOfBirth', 'cardNumber', 'cardholderName', 'bankAccount']);
  });

  it('admin + support: admin adds nothing and takes nothing', () => {
    expect(policy.planReveal(actor('admin', 'support'), 'service_support', CONSENTING)).toEqual(
      policy.planReveal(actor('support'), 'service_support', CONSENTING),
    );
  });
});

describe('consent and contact hold belong to the purpose', () => {
  it('marketing without the marketing consent: 403', () => {
    expect(errorOf(() => policy.planReveal(actor('marketing'), 'marketing', NO_CONSENT)).code).toBe('forbidden');
  });

  it('marketing with consent: fullName and email in plaintext, nothing else', () => {
    expect(policy.planReveal(actor('marketing'), 'marketing', CONSENTING)).toEqual({ plaintext: ['fullName', 'email'], masked: [] });
  });

  it('a non-boolean consent counts as no consent', () => {
    const odd = { consents: { marketing: 'yes' as unknown as boolean, thirdPartySharing: false }, contactHold: null };
    expect(errorOf(() => policy.planReveal(actor('marketing'), 'marketing', odd)).code).toBe('forbidden');
  });

  it('ingest for marketing without consent: 403 as well (whoever asks)', () => {
    expect(errorOf(() => policy.planReveal(actor('ingest'), 'marketing', NO_CONSENT)).code).toBe('forbidden');
  });

  it('thirdPartySharing does not stand in for the marketing consent', () => {
    expect(NO_CONSENT.consents.thirdPartySharing).toBe(true);
    expect(errorOf(() => policy.planReveal(actor('marketing', 'ingest'), 'marketing', NO_CONSENT)).code).toBe('forbidden');
  });

  it.each([
    ['marketing', 'marketing'],
    ['ingest', 'marketing'],
    ['billing', 'renewal_notice'],
    ['ingest', 'renewal_notice'],
  ] as const)('%s for %s under contact hold: 423', (role, purpose) => {
    const error = errorOf(() => policy.planReveal(actor(role), purpose, HELD(true)));
    expect(error.code).toBe('contact_hold');
  });

  it('held and without consent: 403 (consent first: waiting for the hold would not help)', () => {
    expect(errorOf(() => policy.planReveal(actor('marketing'), 'marketing', HELD(false))).code).toBe('forbidden');
  });

  it.each([
    ['support', 'service_support'],
    ['billing', 'payment_confirmation'],
    ['security', 'fraud_investigation'],
    ['privacy', 'customer_request'],
    ['privacy', 'legal_obligation'],
    ['ingest', 'service_support'],
  ] as const)('%s for %s under contact hold: allowed', (role, purpose) => {
    expect(() => policy.planReveal(actor(role), purpose, HELD(false))).not.toThrow();
  });

  it('contactHold undefined counts as no hold', () => {
    const plan = policy.planReveal(actor('billing'), 'renewal_notice', { consents: CONSENTING.consents, contactHold: undefined });
    expect(plan.plaintext).toEqual(['fullName', 'email']);
  });

  it('consent is not needed for renewal_notice', () => {
    expect(() => policy.planReveal(actor('billing'), 'renewal_notice', NO_CONSENT)).not.toThrow();
  });
});

describe('requestedFields', () => {
  it('a subset: only those fields, each in its form', () => {
    const plan = policy.planReveal(actor('support'), 'service_support', CONSENTING, ['cardNumber', 'email', 'email']);
    expect(plan).toEqual({ plaintext: ['email'], masked: ['cardNumber'] });
  });

  it('an empty list: an empty plan', () => {
    expect(policy.planReveal(actor('support'), 'service_support', CONSENTING, [])).toEqual({ plaintext: [], masked: [] });
  });

  it('a field the policy does not return: 403 naming the field, not a value', () => {
    const error = errorOf(() => policy.planReveal(actor('support'), 'service_support', CONSENTING, ['email', 'cardExpiry']));
    expect(error.code).toBe('forbidden');
    expect(error.details).toEqual([{ field: 'fields', problem: 'cardExpiry is not returned for this purpose' }]);
  });

  it.each([...TABLE].flatMap(([key, row]) => CUSTOMER_FIELDS.filter((f) => row[f] === '-').map((f) => [key, f] as const)))(
    '%s asking for %s (a - cell): 403',
    (key, field) => {
      const [role, purpose] = key.split('/') as [Role, Purpose];
      expect(errorOf(() => policy.planReveal(actor(role), purpose, CONSENTING, [field])).code).toBe('forbidden');
    },
  );

  it('role and purpose are checked before the fields', () => {
    expect(errorOf(() => policy.planReveal(actor('admin'), 'service_support', CONSENTING, ['email'])).message).not.toMatch(/email/);
  });

  it('hold is checked before the fields', () => {
    expect(errorOf(() => policy.planReveal(actor('billing'), 'renewal_notice', HELD(true), ['nationalId'])).code).toBe('contact_hold');
  });
});

describe('applyPlan', () => {
  const values = {
    fullName: 'Nguyen Van A',
    email: 'alice@example.com',
    phone: '+84912345958',
    cardNumber: '4111111111111111',
    cardExpiry: '12/29',
    nationalId: null,
  };

  it('plaintext as is, masked through the masks, missing values absent', () => {
    const plan = policy.planReveal(actor('support'), 'service_support', CONSENTING);
    expect(policy.applyPlan(plan, values)).toEqual({
      data: { fullName: 'Nguyen Van A', email: 'alice@example.com', phone: '+84912345958', cardNumber: '**** **** **** 1111' },
      revealed: ['fullName', 'email', 'phone'],
      masked: ['cardNumber'],
    });
  });

  it('a - field is absent even when the customer has a value', () => {
    const plan = policy.planReveal(actor('billing'), 'renewal_notice', CONSENTING);
    const result = policy.applyPlan(plan, values);
    expect(Object.keys(result.data).sort()).toEqual(['cardNumber', 'email', 'fullName']);
    expect('cardExpiry' in result.data).toBe(false);
  });
});

describe('search (every role x purpose x search field, against the DESIGN table)', () => {
  // DESIGN §3: a value search only where the row shows the field in plaintext, and security under
  // fraud_investigation; externalRef wherever the role may read; never marketing or admin.
  const expected = (role: Role, purpose: Purpose, field: SearchField): boolean => {
    const row = TABLE.get(`${role}/${purpose}`);
    if (!row || role === 'marketing' || role === 'admin') return false;
    if (field === 'externalRef') return true;
    return row[field] === 'P' || (role === 'security' && purpose === 'fraud_investigation');
  };
  const cases = ROLES.flatMap((role) => PURPOSES.flatMap((purpose) => SEARCH_FIELDS.map((field) => [role, purpose, field, expected(role, purpose, field)] as const)));

  it.each(cases)('%s searching for %s by %s: allowed %s', (role, purpose, field, allowed) => {
    if (allowed) {
      expect(() => policy.assertCanSearch(actor(role), purpose, field)).not.toThrow();
    } else {
      const error = errorOf(() => policy.assertCanSearch(actor(role), purpose, field));
      expect(error.code).toBe('search_not_allowed');
      expect(error.message).toContain(field);
      expect(error.message).toContain(purpose);
    }
  });

  it('the masked roles named in issue 12 are refused value searches', () => {
    expect(errorOf(() => policy.assertCanSearch(actor('ingest'), 'service_support', 'email')).code).toBe('search_not_allowed');
    expect(errorOf(() => policy.assertCanSearch(actor('billing'), 'payment_confirmation', 'nationalId')).code).toBe('search_not_allowed');
    expect(errorOf(() => policy.assertCanSearch(actor('billing'), 'payment_confirmation', 'phone')).code).toBe('search_not_allowed');
    expect(errorOf(() => policy.assertCanSearch(actor('support'), 'service_support', 'nationalId')).code).toBe('search_not_allowed');
  });

  it('several roles: the most revealing row decides per field', () => {
    // ingest sees email masked; support's row for service_support shows it in plaintext
    expect(() => policy.assertCanSearch(actor('ingest', 'support'), 'service_support', 'email')).not.toThrow();
    expect(errorOf(() => policy.assertCanSearch(actor('ingest', 'support'), 'service_support', 'nationalId')).code).toBe('search_not_allowed');
    // marketing never searches, but ingest may search by externalRef under any purpose
    expect(() => policy.assertCanSearch(actor('marketing', 'ingest'), 'marketing', 'externalRef')).not.toThrow();
    expect(errorOf(() => policy.assertCanSearch(actor('marketing', 'ingest'), 'marketing', 'email')).code).toBe('search_not_allowed');
  });
});

describe('writes and other actions', () => {
  const RIGHTS: Record<AccessAction, Role[]> = {
    create: ['ingest', 'billing'],
    correct: ['ingest', 'privacy'],
    erase: ['privacy'],
    consents: ['ingest', 'support', 'privacy'],
    contactHold: ['security'],
    readCustomerAudit: ['security', 'privacy'],
    readAuditLog: ['security'],
    managePrincipals: ['admin'],
    manageKeys: ['admin'],
    disclose: ['privacy'],
    readDisclosures: ['security', 'privacy'],
    restrict: ['privacy'],
    close: ['ingest', 'billing', 'privacy'],
    // only with purpose customer_request (below)
    subjectAccess: [],
  };
  const cases = (Object.keys(RIGHTS) as AccessAction[]).flatMap((action) =>
    ROLES.map((role) => [action, role, RIGHTS[action].includes(role)] as const),
  );

  it.each(cases)('%s by %s without a purpose: allowed %s', (action, role, allowed) => {
    expect(policy.can(actor(role), action)).toBe(allowed);
    if (allowed) expect(() => policy.assertCan(actor(role), action)).not.toThrow();
    else expect(errorOf(() => policy.assertCan(actor(role), action)).code).toBe('forbidden');
  });

  it.each(cases)('%s by %s with any purpose: the same, except support correcting', (action, role, allowed) => {
    for (const purpose of PURPOSES) {
      const expected = allowed || (action === 'correct' && role === 'support' && purpose === 'customer_request') ||
        (action === 'subjectAccess' && role === 'privacy' && purpose === 'customer_request');
      expect(policy.can(actor(role), action, purpose)).toBe(expected);
    }
  });

  it('support corrects only with purpose customer_request', () => {
    expect(() => policy.assertCan(actor('support'), 'correct', 'customer_request')).not.toThrow();
    expect(errorOf(() => policy.assertCan(actor('support'), 'correct')).code).toBe('forbidden');
    expect(errorOf(() => policy.assertCan(actor('support'), 'correct', 'service_support')).code).toBe('forbidden');
  });

  it('admin reads no customer data and has no customer rights', () => {
    for (const action of ['create', 'correct', 'erase', 'consents', 'contactHold', 'readCustomerAudit', 'readAuditLog'] as const) {
      expect(policy.can(actor('admin'), action, 'legal_obligation')).toBe(false);
    }
  });

  it('several roles add up', () => {
    const both = actor('billing', 'security');
    expect(policy.can(both, 'create')).toBe(true);
    expect(policy.can(both, 'contactHold')).toBe(true);
    expect(policy.can(both, 'erase')).toBe(false);
  });
});

describe('contact hold on writes (DESIGN §3: contact fields and consents frozen, security and privacy exempt)', () => {
  const CONTACT: CustomerField[] = ['email', 'phone', 'address'];
  const OTHER = CUSTOMER_FIELDS.filter((field) => !CONTACT.includes(field));
  /** Who may correct at all, with the purpose that gives the right (support needs customer_request). */
  const CORRECTORS: [Role[], Purpose | undefined, boolean][] = [
    [['ingest'], undefined, false],
    [['support'], 'customer_request', false],
    [['privacy'], undefined, true],
    [['privacy'], 'customer_request', true],
    [['support', 'security'], 'customer_request', true],
    [['ingest', 'privacy'], undefined, true],
  ];
  const correctionCases = CORRECTORS.flatMap(([roles, purpose, exempt]) =>
    CUSTOMER_FIELDS.map((field) => [roles.join('+'), purpose ?? '(none)', field, exempt || !CONTACT.includes(field)] as const),
  );

  it.each(correctionCases)('%s (purpose %s) correcting %s of a held customer: allowed %s', (roles, purpose, field, allowed) => {
    const who = actor(...(roles.split('+') as Role[]));
    const declared = purpose === '(none)' ? undefined : (purpose as Purpose);
    expect(() => policy.assertHoldAllows(who, declared, CONSENTING, [field])).not.toThrow();
    if (allowed) expect(() => policy.assertHoldAllows(who, declared, HELD(true), [field])).not.toThrow();
    else {
      const error = errorOf(() => policy.assertHoldAllows(who, declared, HELD(true), [field]));
      expect(error.code).toBe('contact_hold');
      expect(error.details).toEqual([{ field: `personal.${field}`, problem: 'frozen while the contact hold lasts' }]);
    }
  });

  it.each(CORRECTORS.filter(([, , exempt]) => !exempt).map(([roles, purpose]) => [roles.join('+'), purpose] as const))(
    'without a hold %s corrects every field',
    (roles, purpose) => {
      const who = actor(...(roles.split('+') as Role[]));
      expect(() => policy.assertHoldAllows(who, purpose, CONSENTING, [...CUSTOMER_FIELDS])).not.toThrow();
    },
  );

  it('a correction mixing fields names only the refused ones, and only field names', () => {
    const error = errorOf(() => policy.assertHoldAllows(actor('ingest'), undefined, HELD(false), ['fullName', 'phone', 'nationalId', 'address']));
    expect(error.code).toBe('contact_hold');
    expect(error.message).toBe('the customer is under a contact hold: phone, address cannot be changed by this principal');
    expect(error.details?.map((d) => d.field)).toEqual(['personal.phone', 'personal.address']);
    expect(() => policy.assertHoldAllows(actor('ingest'), undefined, HELD(false), OTHER)).not.toThrow();
  });

  it.each([
    [['ingest'], false],
    [['support'], false],
    [['privacy'], true],
    [['support', 'security'], true],
    [['ingest', 'privacy'], true],
  ] as [Role[], boolean][])('%p changing consents of a held customer: allowed %s', (roles, allowed) => {
    const who = actor(...roles);
    expect(() => policy.assertHoldAllows(who, 'customer_request', CONSENTING, 'consents')).not.toThrow();
    if (allowed) expect(() => policy.assertHoldAllows(who, 'customer_request', HELD(true), 'consents')).not.toThrow();
    else expect(errorOf(() => policy.assertHoldAllows(who, 'customer_request', HELD(true), 'consents')).code).toBe('contact_hold');
  });

  it('a principal without the right gets 403, never 423 (the hold tells nothing to whoever may not write)', () => {
    expect(errorOf(() => policy.assertHoldAllows(actor('billing'), undefined, HELD(true), ['email'])).code).toBe('forbidden');
    expect(errorOf(() => policy.assertHoldAllows(actor('billing'), 'customer_request', HELD(true), 'consents')).code).toBe('forbidden');
    expect(errorOf(() => policy.assertHoldAllows(actor('support'), 'service_support', HELD(true), ['email'])).code).toBe('forbidden');
  });

  it('the type-level rights are unchanged by the hold rule', () => {
    for (const role of ['ingest', 'support'] as Role[]) {
      expect(policy.can(actor(role), 'consents')).toBe(true);
      expect(policy.can(actor(role), 'correct', 'customer_request')).toBe(true);
    }
  });
});

describe('consent changes must be declared: purpose customer_request and a reason', () => {
  it('customer_request with a reason: accepted', () => {
    expect(() => policy.assertConsentChangeDeclared('customer_request', 'ticket CS-1')).not.toThrow();
  });

  it.each([undefined, ...PURPOSES.filter((p) => p !== 'customer_request')])('purpose %p: 400 purpose_required', (purpose) => {
    const error = errorOf(() => policy.assertConsentChangeDeclared(purpose, 'ticket CS-1'));
    expect(error.code).toBe('purpose_required');
    expect(error.details).toEqual([{ field: 'X-Access-Purpose', problem: purpose === undefined ? 'missing' : 'must be customer_request' }]);
  });

  it.each([null, '', '   '])('reason %p: 400 reason_required', (reason) => {
    const error = errorOf(() => policy.assertConsentChangeDeclared('customer_request', reason));
    expect(error.code).toBe('reason_required');
    expect(error.message).toBe('the X-Access-Reason header is required for purpose customer_request');
    expect(error.details).toEqual([{ field: 'X-Access-Reason', problem: 'missing' }]);
  });

  it('the purpose is checked before the reason', () => {
    expect(errorOf(() => policy.assertConsentChangeDeclared('marketing', null)).code).toBe('purpose_required');
  });
});

describe('restriction of processing (DESIGN §3)', () => {
  const RESTRICTED: RevealCustomer = { ...CONSENTING, restriction: { reason: 'dispute', since: '2026-01-01T00:00:00Z', by: 'p-2' } };
  const EXEMPT: readonly Purpose[] = ['customer_request', 'legal_obligation', 'fraud_investigation'];
  const readable = [...TABLE.keys()].map((key) => key.split('/') as [Role, Purpose]);

  it.each(readable)('%s reading for %s a restricted customer: 423 unless the purpose is exempt', (role, purpose) => {
    if (EXEMPT.includes(purpose)) {
      expect(policy.planReveal(actor(role), purpose, RESTRICTED)).toEqual(policy.planReveal(actor(role), purpose, CONSENTING));
    } else {
      expect(errorOf(() => policy.planReveal(actor(role), purpose, RESTRICTED)).code).toBe('processing_restricted');
    }
  });

  it('restriction wins over a missing consent and a contact hold (the customer asked)', () => {
    const all: RevealCustomer = { ...HELD(false), restriction: { reason: 'dispute' } };
    expect(errorOf(() => policy.planReveal(actor('marketing'), 'marketing', all)).code).toBe('processing_restricted');
    expect(errorOf(() => policy.planReveal(actor('billing'), 'renewal_notice', all)).code).toBe('processing_restricted');
  });

  it('a denied actor gets 403, not 423, on a restricted customer', () => {
    expect(errorOf(() => policy.planReveal(actor('support'), 'marketing', RESTRICTED)).code).toBe('forbidden');
  });

  it.each(PURPOSES)('search for %s includes restricted customers only for the exempt purposes', (purpose) => {
    expect(policy.searchIncludesRestricted(purpose)).toBe(EXEMPT.includes(purpose));
  });
});

describe('disclosures (policy s.1)', () => {
  const customer = (thirdPartySharing: boolean, restricted: boolean) => ({ consents: { thirdPartySharing }, restriction: restricted ? { reason: 'dispute' } : null });

  it.each([
    ['consent', true, false, undefined],
    ['consent', false, false, 'consent_required'],
    ['consent', true, true, 'processing_restricted'],
    // without consent, waiting for the restriction to be lifted would not help: 403 first
    ['consent', false, true, 'consent_required'],
    ['legal_obligation', false, false, undefined],
    ['legal_obligation', false, true, undefined],
  ] as const)('basis %s, consent %s, restricted %s: %s', (basis, consent, restricted, code) => {
    const run = () => policy.assertCanDisclose(actor('privacy'), basis, customer(consent, restricted));
    if (code === undefined) expect(run).not.toThrow();
    else expect(errorOf(run).code).toBe(code);
  });

  it.each(ROLES.filter((role) => role !== 'privacy'))('%s may not disclose, even a legal obligation: 403', (role) => {
    expect(errorOf(() => policy.assertCanDisclose(actor(role), 'legal_obligation', customer(true, false))).code).toBe('forbidden');
  });
});

describe('parsePurpose', () => {
  it.each(PURPOSES)('accepts %s', (purpose) => {
    expect(policy.parsePurpose(purpose)).toBe(purpose);
    expect(policy.parsePurpose(` ${purpose} `)).toBe(purpose);
  });

  it.each([undefined, '', '   '])('missing (%p): 400 missing', (header) => {
    const error = errorOf(() => policy.parsePurpose(header));
    expect(error.code).toBe('invalid_input');
    expect(error.details).toEqual([{ field: 'X-Access-Purpose', problem: 'missing' }]);
  });

  it.each(['Marketing', 'fraud', 'payment_confirmation,marketing', '<script>secret-4111</script>', 'all'])(
    'unknown (%p): 400 unknown purpose, the value is not echoed',
    (header) => {
      const error = errorOf(() => policy.parsePurpose(header));
      expect(error.code).toBe('invalid_input');
      expect(error.details).toEqual([{ field: 'X-Access-Purpose', problem: 'unknown purpose' }]);
      expect(JSON.stringify({ message: error.message, details: error.details })).not.toContain(header);
    },
  );
});

describe('parseFields', () => {
  it.each([undefined, '', ' ', ',', ' , '])('empty (%p): undefined', (query) => {
    expect(policy.parseFields(query)).toBeUndefined();
  });

  it('a comma list, spaces and duplicates fine', () => {
    expect(policy.parseFields('email, fullName,email,,cardExpiry')).toEqual(['email', 'fullName', 'cardExpiry']);
  });

  it('a repeated parameter is joined', () => {
    expect(policy.parseFields(['email', 'phone,address'])).toEqual(['email', 'phone', 'address']);
  });

  it.each(['email,passwordHash', 'EMAIL', 'email,secret-value-1234', '__proto__', 'constructor', 'toString'])(
    'unknown names (%p): 400 unknown field, not echoed',
    (query) => {
      const error = errorOf(() => policy.parseFields(query));
      expect(error.code).toBe('invalid_input');
      expect(error.details).toEqual([{ field: 'fields', problem: 'unknown field' }]);
      const shown = JSON.stringify({ message: error.message, details: error.details });
      for (const name of query.split(',')) if (name !== 'email') expect(shown).not.toContain(name);
    },
  );

  it('a non-string item: 400', () => {
    expect(errorOf(() => policy.parseFields([{} as unknown as string])).code).toBe('invalid_input');
  });
});
