import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import type { Response } from 'supertest';
import type { Role } from '../../src/access/vocabulary.js';
import { findLeaks } from '../helpers/leak-scan.js';
import { createPrincipal } from '../helpers/principals.js';
import { startTestApp, type TestApp } from '../helpers/test-app.js';

/**
 * Attacks on the contact hold and on consents (issue 12, items 3 and 4), through HTTP on real
 * PostgreSQL:
 * - an account takeover under way: the customer is held, and support or a service redirects the
 *   e-mail, phone or address (or flips the consents) to the attacker;
 * - consent granted with no purpose or reason on the record, and creation consents missing from
 *   the log.
 */

interface Event {
  action: string;
  outcome: string;
  status: number;
  purpose: string | null;
  reason: string | null;
  resource: { type: string; id: string | null };
  fields: { revealed: string[]; masked: string[]; written: string[] };
  details: Record<string, unknown> | null;
}

/** Test plaintexts, distinctive so the leak scan can look for them anywhere. */
const HANA = {
  externalRef: 'HOLD-0001',
  personal: {
    fullName: 'Hanabeth Quillon',
    email: 'hanabeth.quillon@example.com',
    phone: '+44 20 7946 0321',
    address: { line1: '4 Wrenfold Row', city: 'Ostermere', country: 'GB' },
  },
};
/** What an attacker would write: none of it may end up stored, echoed, logged or audited. */
const ATTACK = {
  email: 'takeover.mallory@evil.example',
  phone: '+44 20 7946 0777',
  address: { line1: '9 Crookback Yard', city: 'Thievesdale', country: 'GB' },
};
const NEEDLES = ['Quillon', 'hanabeth', '7946 0321', '442079460321', 'Wrenfold', 'Ostermere', 'takeover.mallory', '442079460777', 'Crookback', 'Thievesdale'];

describe('contact hold and consent provenance (attacks, HTTP, real PostgreSQL)', () => {
  let vault: TestApp;
  const tokens = new Map<string, string>();

  async function auth(...roles: Role[]): Promise<string> {
    const key = roles.join('+');
    if (!tokens.has(key)) tokens.set(key, `Bearer ${(await createPrincipal(vault, { roles })).token}`);
    return tokens.get(key) as string;
  }
  async function create(body: object = HANA): Promise<string> {
    const res = await vault.http().post('/v1/customers').set('Authorization', await auth('ingest')).send(body).expect(201);
    return res.body.id as string;
  }
  async function hold(id: string): Promise<void> {
    await vault.http().put(`/v1/customers/${id}/contact-hold`).set('Authorization', await auth('security')).send({ reason: 'account takeover suspected, SEC-77' }).expect(200);
  }
  /** The customer as privacy staff see it (every field in plaintext). */
  async function readAsPrivacy(id: string): Promise<{ data: Record<string, unknown>; consents: Record<string, boolean>; updatedAt: string }> {
    const res = await vault.http().get(`/v1/customers/${id}`).set('Authorization', await auth('privacy')).set('X-Access-Purpose', 'customer_request').set('X-Access-Reason', 'verification CS-1').expect(200);
    return res.body;
  }
  /** Everything stored about the customer: its row and its blind indexes. */
  async function stored(id: string): Promise<unknown> {
    const [row] = await vault.sql('SELECT * FROM customers WHERE id = $1', [id]);
    const indexes = await vault.sql('SELECT field, key_version, digest FROM customer_blind_indexes WHERE customer_id = $1 ORDER BY field, key_version', [id]);
    return { row, indexes };
  }
  async function events(id: string, action: string): Promise<Event[]> {
    const res = await vault.http().get(`/v1/customers/${id}/access-report`).set('Authorization', await auth('security')).expect(200);
    return (res.body.events as Event[]).filter((event) => event.action === action);
  }
  /** A correction as each kind of caller sends it (support needs purpose customer_request). */
  async function patch(id: string, roles: Role[], personal: object, status: number): Promise<Response> {
    const req = vault.http().patch(`/v1/customers/${id}`).set('Authorization', await auth(...roles));
    if (roles.includes('support')) req.set('X-Access-Purpose', 'customer_request').set('X-Access-Reason', 'caller asked, CS-9');
    return req.send({ personal }).expect(status);
  }
  const DECLARED = { 'X-Access-Purpose': 'customer_request', 'X-Access-Reason': 'customer asked by phone, CS-12' };
  async function putConsents(id: string, roles: Role[], body: object, status: number, headers: Record<string, string> = DECLARED): Promise<Response> {
    const req = vault.http().put(`/v1/customers/${id}/consents`).set('Authorization', await auth(...roles));
    for (const [name, value] of Object.entries(headers)) req.set(name, value);
    return req.send(body).expect(status);
  }

  beforeAll(async () => {
    vault = await startTestApp();
  });
  afterAll(async () => {
    await vault.close();
  });

  describe('contact hold: an account takeover is stopped', () => {
    const attempts: [string, Role[], Record<string, unknown>, string[]][] = [
      ['support changes the e-mail', ['support'], { email: ATTACK.email }, ['email']],
      ['support changes the phone', ['support'], { phone: ATTACK.phone }, ['phone']],
      ['support changes the address', ['support'], { address: ATTACK.address }, ['address']],
      ['ingest changes the e-mail', ['ingest'], { email: ATTACK.email }, ['email']],
      ['ingest changes the phone', ['ingest'], { phone: ATTACK.phone }, ['phone']],
      ['ingest changes the address', ['ingest'], { address: ATTACK.address }, ['address']],
      ['ingest changes the name and, with it, the e-mail', ['ingest'], { fullName: 'Mallory Takeover', email: ATTACK.email }, ['email']],
    ];

    it.each(attempts)('%s of a held customer: 423 contact_hold, nothing changed, one denied event naming the fields', async (_name, roles, personal, refused) => {
      const id = await create({ ...HANA, externalRef: undefined });
      await hold(id);
      const before = await stored(id);

      const res = await patch(id, roles, personal, 423);
      expect(res.body.error.code).toBe('contact_hold');
      expect(res.body.error.details.map((d: { field: string }) => d.field)).toEqual(refused.map((field) => `personal.${field}`));
      expect(JSON.stringify(res.body)).not.toMatch(/mallory|7946 0777|Crookback/i);

      // Nothing changed: not the row (values, updated_at), not the search index.
      expect(await stored(id)).toEqual(before);
      const read = await readAsPrivacy(id);
      expect(read.data).toMatchObject({ fullName: HANA.personal.fullName, email: HANA.personal.email, phone: '+442079460321', address: HANA.personal.address });
      const search = await vault.http().post('/v1/customers/search').set('Authorization', await auth('privacy')).set('X-Access-Purpose', 'customer_request').set('X-Access-Reason', 'verification CS-1').send({ email: ATTACK.email }).expect(200);
      expect(search.body.results).toEqual([]);

      const denied = await events(id, 'customer.correct');
      expect(denied).toHaveLength(1);
      expect(denied[0]).toMatchObject({ outcome: 'denied', status: 423, resource: { type: 'customer', id } });
      expect(denied[0].fields.written).toEqual(Object.keys(personal));
      expect(JSON.stringify(denied[0])).not.toMatch(/mallory|7946 0777|Crookback/i);
    });

    it('a correction touching only other fields stays allowed under hold', async () => {
      const id = await create({ ...HANA, externalRef: undefined });
      await hold(id);
      await patch(id, ['support'], { fullName: 'Hanabeth Q. Quillon' }, 200);
      await patch(id, ['ingest'], { dateOfBirth: '1991-03-04', nationalId: 'HQ-55667788' }, 200);
      const read = await readAsPrivacy(id);
      expect(read.data).toMatchObject({ fullName: 'Hanabeth Q. Quillon', dateOfBirth: '1991-03-04', email: HANA.personal.email });
    });

    it('security and privacy staff may change contact data under hold (they resolve the case)', async () => {
      const id = await create({ ...HANA, externalRef: undefined });
      await hold(id);
      await patch(id, ['privacy'], { email: 'hanabeth.new@example.com' }, 200);
      // security holds no correction right of its own: with support's right, the hold does not bind it
      await patch(id, ['support', 'security'], { phone: '+44 20 7946 0322', address: { line1: '5 Wrenfold Row', city: 'Ostermere', country: 'GB' } }, 200);
      await patch(id, ['security'], { email: 'hanabeth.sec@example.com' }, 403);
      const read = await readAsPrivacy(id);
      expect(read.data).toMatchObject({ email: 'hanabeth.new@example.com', phone: '+442079460322', address: { line1: '5 Wrenfold Row' } });
      const allowed = (await events(id, 'customer.correct')).filter((event) => event.outcome === 'allowed');
      expect(allowed.map((event) => event.fields.written)).toEqual([['email'], ['phone', 'address']]);
    });

    it('no hold, or a lifted hold: support and ingest correct contact data as before', async () => {
      const id = await create({ ...HANA, externalRef: undefined });
      await patch(id, ['ingest'], { email: 'hanabeth.one@example.com' }, 200);
      await hold(id);
      await patch(id, ['ingest'], { email: 'hanabeth.two@example.com' }, 423);
      await vault.http().delete(`/v1/customers/${id}/contact-hold`).set('Authorization', await auth('security')).expect(204);
      await patch(id, ['support'], { email: 'hanabeth.three@example.com' }, 200);
      expect((await readAsPrivacy(id)).data.email).toBe('hanabeth.three@example.com');
    });

    it('a hold does not turn 403 or 404 into 423: who may not write, or writes nowhere, learns nothing of the hold', async () => {
      const id = await create({ ...HANA, externalRef: undefined });
      await hold(id);
      expect((await patch(id, ['billing'], { email: ATTACK.email }, 403)).body.error.code).toBe('forbidden');
      await vault.http().patch(`/v1/customers/${id}`).set('Authorization', await auth('support')).send({ personal: { email: ATTACK.email } }).expect(403);
      expect((await putConsents(id, ['billing'], { marketing: true }, 403)).body.error.code).toBe('forbidden');
      await patch('00000000-0000-4000-8000-00000000dead', ['ingest'], { email: ATTACK.email }, 404);
    });
  });

  describe('consents under a contact hold', () => {
    it.each([
      ['ingest', ['ingest']],
      ['support', ['support']],
    ] as [string, Role[]][])('%s changing consents of a held customer: 423 contact_hold, nothing changed, one denied event', async (_name, roles) => {
      const id = await create({ ...HANA, externalRef: undefined, consents: { marketing: false, thirdPartySharing: false } });
      await hold(id);
      const before = await stored(id);
      const res = await putConsents(id, roles, { marketing: true, thirdPartySharing: true }, 423);
      expect(res.body.error.code).toBe('contact_hold');
      expect(await stored(id)).toEqual(before);
      expect((await readAsPrivacy(id)).consents).toEqual({ marketing: false, thirdPartySharing: false });
      const denied = await events(id, 'customer.consents');
      expect(denied).toHaveLength(1);
      expect(denied[0]).toMatchObject({ outcome: 'denied', status: 423, resource: { type: 'customer', id }, details: { consentsWritten: 'marketing,thirdPartySharing' } });
      // names, never values: nothing says what the refused change would have set
      expect(Object.keys(denied[0].details ?? {})).toEqual(['consentsWritten']);
    });

    it.each([
      ['privacy', ['privacy']],
      ['security with support', ['support', 'security']],
    ] as [string, Role[]][])('%s may change consents under hold', async (_name, roles) => {
      const id = await create({ ...HANA, externalRef: undefined });
      await hold(id);
      const res = await putConsents(id, roles, { marketing: true }, 200);
      expect(res.body.consents).toEqual({ marketing: true, thirdPartySharing: false });
      expect((await readAsPrivacy(id)).consents).toEqual({ marketing: true, thirdPartySharing: false });
    });
  });

  describe('consent provenance', () => {
    it('the create event carries the consent values given at creation (defaults recorded too)', async () => {
      const given = await create({ personal: { fullName: 'Consenting Quillon' }, consents: { marketing: true, thirdPartySharing: false } });
      const [createdGiven] = await events(given, 'customer.create');
      expect(createdGiven).toMatchObject({ outcome: 'allowed', status: 201, details: { marketing: true, thirdPartySharing: false } });
      const both = await create({ personal: { fullName: 'Sharing Quillon' }, consents: { marketing: false, thirdPartySharing: true } });
      expect((await events(both, 'customer.create'))[0].details).toEqual({ marketing: false, thirdPartySharing: true });
      const none = await create({ personal: { fullName: 'Silent Quillon' } });
      expect((await events(none, 'customer.create'))[0].details).toEqual({ marketing: false, thirdPartySharing: false });
    });

    const undeclared: [string, Record<string, string>, string, string][] = [
      ['no purpose', { 'X-Access-Reason': 'CS-12' }, 'purpose_required', 'X-Access-Purpose'],
      ['another purpose', { 'X-Access-Purpose': 'service_support', 'X-Access-Reason': 'CS-12' }, 'purpose_required', 'X-Access-Purpose'],
      ['a marketing purpose', { 'X-Access-Purpose': 'marketing', 'X-Access-Reason': 'campaign' }, 'purpose_required', 'X-Access-Purpose'],
      ['no reason', { 'X-Access-Purpose': 'customer_request' }, 'reason_required', 'X-Access-Reason'],
      ['a blank reason', { 'X-Access-Purpose': 'customer_request', 'X-Access-Reason': '   ' }, 'reason_required', 'X-Access-Reason'],
      ['no headers at all', {}, 'purpose_required', 'X-Access-Purpose'],
    ];
    const callers: Role[][] = [['ingest'], ['support'], ['privacy']];
    const cases = undeclared.flatMap(([name, headers, code, field]) => callers.map((roles) => [roles.join('+'), name, headers, code, field, roles] as const));

    it.each(cases)('%s granting marketing consent with %s: 400, nothing changed, a denied event', async (_who, _name, headers, code, field, roles) => {
      const id = await create({ personal: { fullName: 'Undeclared Quillon' } });
      const before = await stored(id);
      const res = await putConsents(id, roles, { marketing: true }, 400, headers);
      expect(res.body.error.code).toBe(code);
      expect(res.body.error.details).toEqual([expect.objectContaining({ field })]);
      expect(await stored(id)).toEqual(before);
      const denied = await events(id, 'customer.consents');
      expect(denied).toHaveLength(1);
      expect(denied[0]).toMatchObject({ outcome: 'denied', status: 400, resource: { type: 'customer', id } });
    });

    it('a declared change is recorded with purpose, reason, and the old and new values', async () => {
      const id = await create({ personal: { fullName: 'Declared Quillon' }, consents: { thirdPartySharing: true } });
      const res = await putConsents(id, ['support'], { marketing: true }, 200);
      expect(res.body).toEqual({ id, consents: { marketing: true, thirdPartySharing: true } });
      await putConsents(id, ['ingest'], { marketing: false, thirdPartySharing: false }, 200, { 'X-Access-Purpose': 'customer_request', 'X-Access-Reason': 'withdrawn in app, CS-13' });
      const changes = (await events(id, 'customer.consents')).filter((event) => event.outcome === 'allowed');
      expect(changes).toHaveLength(2);
      expect(changes[0]).toMatchObject({ purpose: 'customer_request', reason: 'customer asked by phone, CS-12' });
      expect(changes[0].details).toEqual({ consentsWritten: 'marketing', marketing: true, thirdPartySharing: true, previousMarketing: false, previousThirdPartySharing: true });
      expect(changes[1]).toMatchObject({ reason: 'withdrawn in app, CS-13' });
      expect(changes[1].details).toEqual({ consentsWritten: 'marketing,thirdPartySharing', marketing: false, thirdPartySharing: false, previousMarketing: true, previousThirdPartySharing: true });
      expect((await readAsPrivacy(id)).consents).toEqual({ marketing: false, thirdPartySharing: false });
    });
  });

  it('leaves no test plaintext in any column of any table, nor in the logs', async () => {
    expect(await findLeaks(vault, NEEDLES)).toEqual([]);
  });
});
