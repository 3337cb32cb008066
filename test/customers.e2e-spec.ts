import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { REVEAL_TABLE } from '../src/access/reveal-table.js';
import { CUSTOMER_FIELDS, REASON_REQUIRED_PURPOSES, ROLES, PURPOSES, type CustomerField, type Purpose, type Role } from '../src/access/vocabulary.js';
import { findLeaks } from './helpers/leak-scan.js';
import { createPrincipal } from './helpers/principals.js';
import { startTestApp, type TestApp } from './helpers/test-app.js';

/** Test plaintexts: ASCII and distinctive, so the leak scan can look for them anywhere. */
const ALICE = {
  externalRef: 'ACC-000001',
  personal: {
    fullName: 'Alicia Quorra Vandermeer',
    email: 'alicia.vandermeer@example.com',
    phone: '+44 20 7946 0958',
    address: { line1: '17 Quillfeather Lane', city: 'Zanthorpe', postalCode: 'ZX9 8QW', country: 'GB' },
    nationalId: 'QX-778899-ZZ',
    dateOfBirth: '1987-06-15',
  },
  payment: { cardNumber: '4111 1111 1111 1111', cardExpiry: '12/39', cardholderName: 'Alicia Q Vandermeer', bankAccount: 'GB29NWBK60161331926819' },
};
const NEEDLES = ['Quorra', 'alicia.vandermeer', '7946 0958', '442079460958', 'Quillfeather', 'Zanthorpe', 'ZX9 8QW', '778899', '1987-06-15', '4111111111111111', 'NWBK60161331926819', 'Alicia Q'];

describe('customer records API (HTTP, real PostgreSQL, real libsodium)', () => {
  let vault: TestApp;
  const tokens = new Map<string, string>();
  let aliceId: string;

  /** A token holding exactly these roles (created once per combination). */
  async function tokenFor(...roles: Role[]): Promise<string> {
    const key = roles.join('+');
    if (!tokens.has(key)) tokens.set(key, (await createPrincipal(vault, { roles })).token);
    return tokens.get(key) as string;
  }
  function get(id: string, token: string, purpose?: string, query = '') {
    const req = vault.http().get(`/v1/customers/${id}${query}`).set('Authorization', `Bearer ${token}`);
    if (!purpose) return req;
    // The purposes that reveal most need a reason (DESIGN §3); the others are read without one here.
    return REASON_REQUIRED_PURPOSES.includes(purpose as Purpose) ? req.set('X-Access-Purpose', purpose).set('X-Access-Reason', 'TICKET-4711') : req.set('X-Access-Purpose', purpose);
  }

  beforeAll(async () => {
    vault = await startTestApp();
    const created = await vault.http().post('/v1/customers').set('Authorization', `Bearer ${await tokenFor('ingest')}`).send(ALICE).expect(201);
    aliceId = created.body.id;
    expect(Object.keys(created.body).sort()).toEqual(['createdAt', 'id']);
  });
  afterAll(async () => {
    await vault.close();
  });

  it('stores every field as a ciphertext in the DESIGN format, bound to the customer and field', async () => {
    const [row] = await vault.sql<Record<string, Buffer>>('SELECT * FROM customers WHERE id = $1', [aliceId]);
    for (const column of ['full_name', 'email', 'phone', 'address', 'national_id', 'date_of_birth', 'card_number', 'card_expiry', 'cardholder_name', 'bank_account']) {
      expect(row[column].subarray(0, 6)).toEqual(Buffer.from([1, 1, 0, 0, 0, 1]));
    }
    // a ciphertext moved to another field no longer decrypts: the read fails closed (500), nothing leaks
    const other = await vault.http().post('/v1/customers').set('Authorization', `Bearer ${await tokenFor('ingest')}`).send({ personal: { fullName: 'Moved Target' } }).expect(201);
    await vault.sql('UPDATE customers SET full_name = (SELECT email FROM customers WHERE id = $1) WHERE id = $2', [aliceId, other.body.id]);
    const res = await get(other.body.id, await tokenFor('privacy'), 'customer_request').expect(500);
    expect(res.body.error.code).toBe('internal');
  });

  const rows = Object.entries(REVEAL_TABLE).flatMap(([role, purposes]) =>
    Object.entries(purposes as Record<string, Record<CustomerField, 'P' | 'M' | '-'>>).map(([purpose, cells]) => [role as Role, purpose as Purpose, cells] as const),
  );

  it.each(rows)('%s reading for %s gets exactly the DESIGN row', async (role, purpose, cells) => {
    if (purpose === 'marketing') {
      await vault.http().put(`/v1/customers/${aliceId}/consents`).set('Authorization', `Bearer ${await tokenFor('privacy')}`)
        .set('X-Access-Purpose', 'customer_request').set('X-Access-Reason', 'consent given by phone, CS-1').send({ marketing: true }).expect(200);
    }
    const res = await get(aliceId, await tokenFor(role), purpose).expect(200);
    const expectedPlain = CUSTOMER_FIELDS.filter((f) => cells[f] === 'P');
    const expectedMasked = CUSTOMER_FIELDS.filter((f) => cells[f] === 'M');
    expect(res.body.revealed.sort()).toEqual([...expectedPlain].sort());
    expect(res.body.masked.sort()).toEqual([...expectedMasked].sort());
    expect(Object.keys(res.body.data).sort()).toEqual([...expectedPlain, ...expectedMasked].sort());
    expect(res.body).toMatchObject({ id: aliceId, externalRef: 'ACC-000001' });
    if (cells.email === 'P') expect(res.body.data.email).toBe('alicia.vandermeer@example.com');
    if (cells.email === 'M') expect(res.body.data.email).toBe('a***@example.com');
    if (cells.cardNumber === 'P') expect(res.body.data.cardNumber).toBe('4111111111111111');
    if (cells.cardNumber === 'M') expect(res.body.data.cardNumber).toBe('**** **** **** 1111');
    if (cells.phone === 'P') expect(res.body.data.phone).toBe('+442079460958');
    if (cells.address === 'M') expect(res.body.data.address).toBe('***, GB');
    if (cells.fullName === 'M') expect(res.body.data.fullName).toBe('A. Q. V.');
    if (cells.dateOfBirth === 'M') expect(res.body.data.dateOfBirth).toBe('1987-**-**');
  });

  const denied = ROLES.flatMap((role) => PURPOSES.filter((purpose) => !(REVEAL_TABLE as Record<string, Record<string, unknown>>)[role]?.[purpose]).map((purpose) => [role, purpose] as const));
  it.each(denied)('%s reading for %s is refused (403)', async (role, purpose) => {
    const res = await get(aliceId, await tokenFor(role), purpose).expect(403);
    expect(res.body.error.code).toBe('forbidden');
  });

  it('admin cannot read customer data for any purpose', async () => {
    for (const purpose of PURPOSES) await get(aliceId, await tokenFor('admin'), purpose).expect(403);
  });

  it('several roles: the most revealing form wins', async () => {
    const res = await get(aliceId, await tokenFor('support', 'billing'), 'payment_confirmation').expect(200);
    expect(res.body.data.cardNumber).toBe('4111111111111111');
    const both = await get(aliceId, await tokenFor('security', 'support'), 'service_support').expect(200);
    expect(both.body.data.email).toBe('alicia.vandermeer@example.com');
  });

  it('marketing without the customer\'s consent is refused (403)', async () => {
    const bob = await vault.http().post('/v1/customers').set('Authorization', `Bearer ${await tokenFor('billing')}`).send({ personal: { fullName: 'Bob Nocontact', email: 'bob.nocontact@example.com' } }).expect(201);
    const res = await get(bob.body.id, await tokenFor('marketing'), 'marketing').expect(403);
    expect(res.body.error.message).toContain('consent');
  });

  it('a contact hold refuses outbound purposes (423) until lifted', async () => {
    const carol = await vault.http().post('/v1/customers').set('Authorization', `Bearer ${await tokenFor('ingest')}`).send({ personal: { fullName: 'Carol Held', email: 'carol.held@example.com' }, consents: { marketing: true } }).expect(201);
    const id = carol.body.id;
    const hold = await vault.http().put(`/v1/customers/${id}/contact-hold`).set('Authorization', `Bearer ${await tokenFor('security')}`).send({ reason: 'suspected fraud, ticket SEC-42' });
    expect(hold.status).toBe(200);
    expect(hold.body.contactHold).toMatchObject({ reason: 'suspected fraud, ticket SEC-42' });
    expect((await get(id, await tokenFor('marketing'), 'marketing').expect(423)).body.error.code).toBe('contact_hold');
    await get(id, await tokenFor('billing'), 'renewal_notice').expect(423);
    const support = await get(id, await tokenFor('support'), 'service_support').expect(200);
    expect(support.body.contactHold).toMatchObject({ reason: 'suspected fraud, ticket SEC-42' });
    await vault.http().put(`/v1/customers/${id}/contact-hold`).set('Authorization', `Bearer ${await tokenFor('support')}`).send({ reason: 'x' }).expect(403);
    await vault.http().delete(`/v1/customers/${id}/contact-hold`).set('Authorization', `Bearer ${await tokenFor('security')}`).expect(204);
    await get(id, await tokenFor('marketing'), 'marketing').expect(200);
  });

  it('reads need a known purpose (400) and a valid id (400); unknown customers are 404', async () => {
    const token = await tokenFor('support');
    const missing = await get(aliceId, token).expect(400);
    expect(missing.body.error.details).toEqual([{ field: 'X-Access-Purpose', problem: 'missing' }]);
    const unknown = await get(aliceId, token, 'curiosity-xyz').expect(400);
    expect(JSON.stringify(unknown.body)).not.toContain('curiosity-xyz');
    await get('not-a-uuid', token, 'service_support').expect(400);
    await get('00000000-0000-4000-8000-000000000000', token, 'service_support').expect(404);
    const longReason = await get(aliceId, token, 'service_support').set('X-Access-Reason', 'r'.repeat(201)).expect(400);
    expect(longReason.body.error.details[0].field).toBe('X-Access-Reason');
  });

  it('401 without a token or with a bad one, and the customer\'s access report shows the attempts', async () => {
    await vault.http().get(`/v1/customers/${aliceId}`).set('X-Access-Purpose', 'service_support').expect(401);
    await get(aliceId, 'cv_' + 'A'.repeat(43), 'service_support').expect(401);
    await get(aliceId, 'not-a-token', 'service_support').expect(401);
    const report = await vault.http().get(`/v1/customers/${aliceId}/access-report`).set('Authorization', `Bearer ${await tokenFor('security')}`).expect(200);
    const failed = report.body.events.filter((e: { action: string }) => e.action === 'auth.failed');
    expect(failed).toHaveLength(3);
    expect(failed[0]).toMatchObject({ outcome: 'denied', status: 401, resource: { type: 'customer', id: aliceId } });
    const allowedRead = report.body.events.find((e: { action: string; outcome: string }) => e.action === 'customer.read' && e.outcome === 'allowed');
    expect(allowedRead.fields.revealed.length + allowedRead.fields.masked.length).toBeGreaterThan(0);
  });

  it('?fields= narrows the answer; a field beyond the policy is 403; an unknown name is 400', async () => {
    const token = await tokenFor('support');
    const res = await get(aliceId, token, 'service_support', '?fields=email,phone').expect(200);
    expect(Object.keys(res.body.data).sort()).toEqual(['email', 'phone']);
    await get(aliceId, token, 'service_support', '?fields=email,cardExpiry').expect(403);
    const unknown = await get(aliceId, token, 'service_support', '?fields=email,shoeSize').expect(400);
    expect(JSON.stringify(unknown.body)).not.toContain('shoeSize');
  });

  it('search normalises: "  ALICE@Example.COM " finds the stored e-mail; ids only', async () => {
    const token = await tokenFor('support');
    const search = (body: object, purpose = 'service_support') => vault.http().post('/v1/customers/search').set('Authorization', `Bearer ${token}`).set('X-Access-Purpose', purpose).send(body);
    const byEmail = await search({ email: '  ALICIA.Vandermeer@Example.COM ' }).expect(200);
    expect(byEmail.body).toEqual({ results: [{ id: aliceId }] });
    expect((await search({ phone: '+442079460958' }).expect(200)).body.results).toEqual([{ id: aliceId }]);
    // support sees the national id masked: no search by it (DESIGN §3); privacy may, and it normalises
    expect((await search({ nationalId: 'qx778899zz' }).expect(403)).body.error.code).toBe('search_not_allowed');
    const privacySearch = await vault.http().post('/v1/customers/search').set('Authorization', `Bearer ${await tokenFor('privacy')}`).set('X-Access-Purpose', 'customer_request').set('X-Access-Reason', 'TICKET-4711').send({ nationalId: 'qx778899zz' }).expect(200);
    expect(privacySearch.body.results).toEqual([{ id: aliceId }]);
    expect((await search({ externalRef: 'ACC-000001' }).expect(200)).body.results).toEqual([{ id: aliceId }]);
    expect((await search({ email: 'nobody@example.com' }).expect(200)).body.results).toEqual([]);
    await search({ email: 'a@example.com', phone: '+442079460958' }).expect(400);
    await search({}).expect(400);
    await vault.http().post('/v1/customers/search').set('Authorization', `Bearer ${token}`).send({ email: 'a@example.com' }).expect(400);
    await vault.http().post('/v1/customers/search').set('Authorization', `Bearer ${await tokenFor('marketing')}`).set('X-Access-Purpose', 'marketing').send({ email: 'a@example.com' }).expect(403);
    await vault.http().post('/v1/customers/search').set('Authorization', `Bearer ${await tokenFor('admin')}`).set('X-Access-Purpose', 'service_support').send({ email: 'a@example.com' }).expect(403);
  });

  it('a correction is visible on the next read and moves the search index', async () => {
    const created = await vault.http().post('/v1/customers').set('Authorization', `Bearer ${await tokenFor('ingest')}`).send({ personal: { fullName: 'Dora Before', email: 'dora.before@example.com' } }).expect(201);
    const id = created.body.id;
    await vault.http().patch(`/v1/customers/${id}`).set('Authorization', `Bearer ${await tokenFor('support')}`).send({ personal: { email: 'dora.after@example.com' } }).expect(403);
    const patched = await vault.http().patch(`/v1/customers/${id}`).set('Authorization', `Bearer ${await tokenFor('support')}`).set('X-Access-Purpose', 'customer_request').set('X-Access-Reason', 'TICKET-4711').send({ personal: { email: 'dora.after@example.com' } }).expect(200);
    expect(Object.keys(patched.body).sort()).toEqual(['id', 'updatedAt']);
    const read = await get(id, await tokenFor('privacy'), 'customer_request').expect(200);
    expect(read.body.data).toMatchObject({ fullName: 'Dora Before', email: 'dora.after@example.com' });
    const search = (email: string) => vault.http().post('/v1/customers/search').set('Authorization', `Bearer ${tokens.get('privacy')}`).set('X-Access-Purpose', 'customer_request').set('X-Access-Reason', 'TICKET-4711').send({ email });
    expect((await search('dora.after@example.com').expect(200)).body.results).toEqual([{ id }]);
    expect((await search('dora.before@example.com').expect(200)).body.results).toEqual([]);
    await vault.http().patch(`/v1/customers/${id}`).set('Authorization', `Bearer ${await tokenFor('billing')}`).send({ personal: { fullName: 'X' } }).expect(403);
  });

  it('externalRef is unique (409) and nothing is half-written', async () => {
    const before = await vault.sql<{ n: number }>('SELECT count(*)::int AS n FROM customer_deks');
    const res = await vault.http().post('/v1/customers').set('Authorization', `Bearer ${await tokenFor('ingest')}`).send({ externalRef: 'ACC-000001', personal: { fullName: 'Dup Licate' } }).expect(409);
    expect(res.body.error.code).toBe('conflict');
    const after = await vault.sql<{ n: number }>('SELECT count(*)::int AS n FROM customer_deks');
    expect(after[0].n).toBe(before[0].n);
  });

  it('writes are refused to roles without the right', async () => {
    for (const role of ['support', 'marketing', 'security', 'privacy', 'admin'] as Role[]) {
      await vault.http().post('/v1/customers').set('Authorization', `Bearer ${await tokenFor(role)}`).send({ personal: { fullName: 'No Body' } }).expect(403);
    }
    await vault.http().put(`/v1/customers/${aliceId}/consents`).set('Authorization', `Bearer ${await tokenFor('billing')}`).send({ marketing: false }).expect(403);
  });

  const invalid: [string, object, string][] = [
    ['a malformed e-mail', { personal: { email: 'not-an-email' } }, 'personal.email'],
    ['an over-long e-mail', { personal: { email: `${'a'.repeat(250)}@example.com` } }, 'personal.email'],
    ['a phone without country code', { personal: { phone: '020 7946 0958' } }, 'personal.phone'],
    ['an invalid phone', { personal: { phone: '+44 12' } }, 'personal.phone'],
    ['a card number failing Luhn', { personal: { fullName: 'A B' }, payment: { cardNumber: '4111 1111 1111 1112' } }, 'payment.cardNumber'],
    ['a too short card number', { personal: { fullName: 'A B' }, payment: { cardNumber: '42424242424' } }, 'payment.cardNumber'],
    ['an expiry in the past', { personal: { fullName: 'A B' }, payment: { cardExpiry: '01/20' } }, 'payment.cardExpiry'],
    ['a malformed expiry', { personal: { fullName: 'A B' }, payment: { cardExpiry: '2029-12' } }, 'payment.cardExpiry'],
    ['a future birth date', { personal: { dateOfBirth: '2999-01-01' } }, 'personal.dateOfBirth'],
    ['a birth date before 1900', { personal: { dateOfBirth: '1899-12-31' } }, 'personal.dateOfBirth'],
    ['an impossible birth date', { personal: { dateOfBirth: '1990-02-30' } }, 'personal.dateOfBirth'],
    ['a national id with symbols', { personal: { nationalId: 'AB$12345' } }, 'personal.nationalId'],
    ['a too short national id', { personal: { nationalId: 'AB1' } }, 'personal.nationalId'],
    ['a name over 500 characters', { personal: { fullName: 'N'.repeat(501) } }, 'personal.fullName'],
    ['an unknown country', { personal: { address: { line1: 'x', city: 'y', country: 'XX' } } }, 'personal.address.country'],
    ['an unknown property', { personal: { fullName: 'A B', shoeSize: 44 } }, 'personal.shoeSize'],
    ['an unknown top-level property', { personal: { fullName: 'A B' }, extra: true }, 'extra'],
    ['a missing personal object', { payment: { cardholderName: 'A B' } }, 'personal'],
    ['a wrong type', { personal: { fullName: 42 } }, 'personal.fullName'],
    ['control characters', { personal: { fullName: 'A\u0000B' } }, 'personal.fullName'],
    ['a bidi override', { personal: { fullName: 'A\u202eB' } }, 'personal.fullName'],
  ];
  it.each(invalid)('rejects %s with 400 naming the field, without echoing the value', async (_name, body, field) => {
    const res = await vault.http().post('/v1/customers').set('Authorization', `Bearer ${await tokenFor('ingest')}`).send(body).expect(400);
    expect(res.body.error.code).toBe('invalid_input');
    expect(res.body.error.details.map((d: { field: string }) => d.field)).toContain(field);
    for (const value of ['not-an-email', '020 7946 0958', '4111 1111 1111 1112', '01/20', '2999-01-01', 'AB$12345', 'NNNNNNNNNN']) {
      expect(JSON.stringify(res.body)).not.toContain(value);
    }
  });

  it('leaves no test plaintext in any column of any table, nor in the logs', async () => {
    const leaks = await findLeaks(vault, NEEDLES);
    expect(leaks).toEqual([]);
  });
});
