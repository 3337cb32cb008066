import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import type { Role } from '../src/access/vocabulary.js';
import fc from 'fast-check';
import { EVENT_COLUMNS, RECORDSET_TYPES, inputToRow } from '../src/audit/audit-event.js';
import { AuditSealer } from '../src/audit/audit-sealer.js';
import { jcs } from '../src/common/jcs.js';
import { breakAuditInserts, cliEnv } from './audit/helpers.js';
import { findLeaks } from './helpers/leak-scan.js';
import { createPrincipal, type TestPrincipal } from './helpers/principals.js';
import { startTestApp, type TestApp } from './helpers/test-app.js';
import { lastLine, runCliAsync } from './helpers/vault-process.js';

/** Distinctive plaintexts for the leak scan. */
const PERSON = {
  externalRef: 'ACC-RIGHTS-1',
  personal: {
    fullName: 'Xylophant Quendra Bostwick',
    email: 'xylophant.bostwick@example.com',
    phone: '+84 912 345 678',
    address: { line1: '88 Zephyrmoor Street', city: 'Hanoi', country: 'VN' },
    nationalId: 'VNQ-551177',
  },
  payment: { cardNumber: '5555 5555 5555 4444', cardExpiry: '11/38', cardholderName: 'X Q Bostwick' },
  consents: { marketing: false, thirdPartySharing: true },
};
const NEEDLES = ['Xylophant', 'Quendra', 'xylophant.bostwick', '912345678', 'Zephyrmoor', '551177', '5555555555554444', 'X Q Bostwick'];

/** The verification script exactly as docs/SUBJECT-ACCESS.md shows it. */
function documentedScript(): string {
  const doc = readFileSync(path.join(process.cwd(), 'docs/SUBJECT-ACCESS.md'), 'utf8');
  const block = /```js\n([\s\S]*?)```/.exec(doc);
  if (!block) throw new Error('docs/SUBJECT-ACCESS.md has no js block');
  return block[1];
}

describe('customer rights: disclosures, consent history, subject access, restriction, closure and retention (HTTP, real PostgreSQL)', () => {
  let vault: TestApp;
  const principals = new Map<string, TestPrincipal>();
  const texts: Record<string, string> = {};
  let workDir: string;

  /** The Authorization header of the staff principal holding `role` (one per role, made in beforeAll). */
  function as(role: Role): string {
    return (principals.get(role) as TestPrincipal).authHeader;
  }
  async function createCustomer(body: object = PERSON): Promise<string> {
    const res = await vault.http().post('/v1/customers').set('Authorization', as('ingest')).send(body).expect(201);
    return res.body.id as string;
  }
  function read(id: string, role: Role, purpose: string) {
    return vault.http().get(`/v1/customers/${id}`).set('Authorization', as(role)).set('X-Access-Purpose', purpose).set('X-Access-Reason', 'ticket 42');
  }
  function disclose(id: string, body: object) {
    return vault.http().post(`/v1/customers/${id}/disclosures`).set('Authorization', as('privacy')).send(body);
  }
  function report(id: string) {
    return vault.http().get(`/v1/customers/${id}/subject-access`).set('Authorization', as('privacy')).set('X-Access-Purpose', 'customer_request').set('X-Access-Reason', 'DSAR-7');
  }
  async function events(action: string, customerId: string) {
    await vault.app.get(AuditSealer).sealNow();
    return vault.sql<{ actor_name: string; actor_id: string | null; outcome: string; status: number; fields_revealed: string[]; reason: string | null; details: Record<string, unknown> | null }>(
      'SELECT actor_name, actor_id, outcome, status, fields_revealed, reason, details FROM audit_events WHERE action = $1 AND resource_id = $2 ORDER BY seq',
      [action, customerId],
    );
  }
  const LOCAL = { recipient: { name: 'Tax Office District 1', country: 'VN' }, legalBasis: 'legal_obligation', reference: 'Decision 123/QD-CT', fields: ['fullName', 'nationalId'] };

  beforeAll(async () => {
    vault = await startTestApp();
    for (const role of ['ingest', 'billing', 'support', 'marketing', 'security', 'privacy', 'admin'] as Role[]) {
      principals.set(role, await createPrincipal(vault, { roles: [role], kind: 'staff', name: `staff-${role}-name` }));
    }
    workDir = mkdtempSync(path.join(os.tmpdir(), 'cv-rights-'));
  });
  afterAll(async () => {
    // The database leak scan covers every table, the new ones included, and what the API answered
    // outside the values it was asked for.
    const tables = await vault.sql<{ n: string }>(
      "SELECT (SELECT count(*) FROM customer_disclosures) + (SELECT count(*) FROM customer_consent_history) AS n",
    );
    expect(Number(tables[0].n)).toBeGreaterThan(0);
    expect(await findLeaks(vault, NEEDLES, texts)).toEqual([]);
    await vault.close();
    rmSync(workDir, { recursive: true, force: true });
  });

  it('documents the new routes in OpenAPI', async () => {
    const res = await vault.http().get('/docs-json').expect(200);
    expect(Object.keys(res.body.paths)).toEqual(
      expect.arrayContaining(['/v1/customers/{id}/disclosures', '/v1/customers/{id}/subject-access', '/v1/customers/{id}/restriction', '/v1/customers/{id}/closure']),
    );
  });

  describe('disclosures', () => {
    let id: string;
    beforeAll(async () => {
      id = await createCustomer();
    });

    it('consent basis with the thirdPartySharing consent: 201 with exactly the listed fields, once; the register keeps no value', async () => {
      const res = await disclose(id, { recipient: { name: 'Courier Co', country: 'vn' }, legalBasis: 'consent', fields: ['fullName', 'email', 'dateOfBirth', 'email'] }).expect(201);
      expect(res.body).toMatchObject({ customerId: id, recipient: { name: 'Courier Co', country: 'VN' }, legalBasis: 'consent', reference: null, crossBorder: false, fields: ['fullName', 'email', 'dateOfBirth'] });
      // dateOfBirth has no value: absent from data
      expect(res.body.data).toEqual({ fullName: PERSON.personal.fullName, email: PERSON.personal.email });
      const [row] = await vault.sql('SELECT * FROM customer_disclosures WHERE id = $1', [res.body.id]);
      expect(row).toMatchObject({ customer_id: id, legal_basis: 'consent', cross_border: false, fields: ['fullName', 'email', 'dateOfBirth'], by_id: principals.get('privacy')?.id });
      expect(JSON.stringify(row)).not.toContain('Xylophant');
      const [event] = await events('customer.disclose', id);
      expect(event).toMatchObject({ outcome: 'allowed', status: 201, fields_revealed: ['fullName', 'email'] });
      expect(event.details).toMatchObject({ legalBasis: 'consent', crossBorder: false, disclosureId: res.body.id });
    });

    it('consent basis without the consent: 403 consent_required, nothing registered', async () => {
      const other = await createCustomer({ personal: { fullName: 'Xylophant Without Consent' } });
      const res = await disclose(other, { recipient: { name: 'Courier Co', country: 'VN' }, legalBasis: 'consent', fields: ['fullName'] }).expect(403);
      expect(res.body.error.code).toBe('consent_required');
      expect(res.body.data).toBeUndefined();
      expect(await vault.sql('SELECT 1 FROM customer_disclosures WHERE customer_id = $1', [other])).toHaveLength(0);
      expect((await events('customer.disclose', other))[0]).toMatchObject({ outcome: 'denied', status: 403, fields_revealed: [] });
    });

    it('legal_obligation needs its reference (400), then goes through without consent', async () => {
      const other = await createCustomer({ personal: { fullName: 'Xylophant Legal' } });
      const { reference: _reference, ...withoutReference } = LOCAL;
      const res = await disclose(other, withoutReference).expect(400);
      expect(res.body.error).toMatchObject({ code: 'invalid_input', details: [{ field: 'reference', problem: 'required for legal_obligation' }] });
      const ok = await disclose(other, LOCAL).expect(201);
      expect(ok.body).toMatchObject({ legalBasis: 'legal_obligation', reference: 'Decision 123/QD-CT', data: { fullName: 'Xylophant Legal' } });
    });

    it('a recipient abroad needs the transfer impact assessment (400), and is marked cross-border', async () => {
      const abroad = { recipient: { name: 'Payments GmbH', country: 'DE' }, legalBasis: 'consent', fields: ['email'] };
      const res = await disclose(id, abroad).expect(400);
      expect(res.body.error.details).toEqual([{ field: 'transferAssessmentRef', problem: 'required for a recipient abroad' }]);
      const ok = await disclose(id, { ...abroad, transferAssessmentRef: 'TIA-2026-004' }).expect(201);
      expect(ok.body).toMatchObject({ crossBorder: true, transferAssessmentRef: 'TIA-2026-004', data: { email: PERSON.personal.email } });
    });

    it.each([
      ['an unknown field', { ...LOCAL, fields: ['fullName', 'passwordHash'] }],
      ['no field', { ...LOCAL, fields: [] }],
      ['an unknown property', { ...LOCAL, note: 'x' }],
      ['an unknown legal basis', { ...LOCAL, legalBasis: 'legitimate_interest' }],
      ['a bad country', { ...LOCAL, recipient: { name: 'X', country: 'Vietnam' } }],
      ['no recipient', { legalBasis: 'legal_obligation', reference: 'r', fields: ['email'] }],
    ])('%s: 400, nothing registered', async (_what, body) => {
      const before = await vault.sql('SELECT 1 FROM customer_disclosures WHERE customer_id = $1', [id]);
      const res = await disclose(id, body).expect(400);
      expect(res.body.error.code).toBe('invalid_input');
      expect(JSON.stringify(res.body)).not.toContain('passwordHash');
      expect(await vault.sql('SELECT 1 FROM customer_disclosures WHERE customer_id = $1', [id])).toHaveLength(before.length);
    });

    it.each(['security', 'support', 'ingest', 'billing', 'admin'] as Role[])('%s may not disclose: 403', async (role) => {
      const res = await vault.http().post(`/v1/customers/${id}/disclosures`).set('Authorization', as(role)).send(LOCAL).expect(403);
      expect(res.body.error.code).toBe('forbidden');
    });

    it('unknown customer 404, erased customer 410', async () => {
      await disclose('00000000-0000-4000-8000-000000000999', LOCAL).expect(404);
      const erased = await createCustomer({ personal: { fullName: 'Xylophant Erased' } });
      await vault.http().delete(`/v1/customers/${erased}`).set('Authorization', as('privacy')).expect(204);
      expect((await disclose(erased, LOCAL).expect(410)).body.error.code).toBe('gone');
    });

    it('the disclosure and its event commit together: with the audit log down, 503 and nothing registered', async () => {
      const before = await vault.sql('SELECT 1 FROM customer_disclosures WHERE customer_id = $1', [id]);
      await breakAuditInserts(vault, true);
      try {
        const res = await disclose(id, LOCAL);
        expect(res.status).toBe(503);
        expect(res.body.data).toBeUndefined();
        texts.failedDisclosure = JSON.stringify(res.body);
      } finally {
        await breakAuditInserts(vault, false);
      }
      expect(await vault.sql('SELECT 1 FROM customer_disclosures WHERE customer_id = $1', [id])).toHaveLength(before.length);
    });

    it('GET: the register for security and privacy, never values; 403 for others', async () => {
      for (const role of ['security', 'privacy'] as Role[]) {
        const res = await vault.http().get(`/v1/customers/${id}/disclosures`).set('Authorization', as(role)).expect(200);
        expect(res.body.disclosures.length).toBeGreaterThanOrEqual(2);
        expect(res.body.disclosures[0]).toMatchObject({ recipient: { name: 'Courier Co', country: 'VN' }, legalBasis: 'consent', fields: ['fullName', 'email', 'dateOfBirth'], by: { name: 'staff-privacy-name' } });
        expect(res.body.disclosures[0].data).toBeUndefined();
        texts[`register-${role}`] = JSON.stringify(res.body);
      }
      for (const role of ['support', 'ingest', 'billing', 'marketing', 'admin'] as Role[]) {
        await vault.http().get(`/v1/customers/${id}/disclosures`).set('Authorization', as(role)).expect(403);
      }
      await vault.http().get('/v1/customers/00000000-0000-4000-8000-000000000999/disclosures').set('Authorization', as('privacy')).expect(404);
    });
  });

  describe('consent history', () => {
    it('the values at creation are written by the create statement, each change in its transaction', async () => {
      const id = await createCustomer({ personal: { fullName: 'Xylophant History' }, consents: { marketing: true, thirdPartySharing: false } });
      const [created] = await vault.sql<{ created_at: Date }>('SELECT created_at FROM customers WHERE id = $1', [id]);
      await vault.http().put(`/v1/customers/${id}/consents`).set('Authorization', as('privacy')).set('X-Access-Purpose', 'customer_request').set('X-Access-Reason', 'withdrawal by e-mail').send({ marketing: false }).expect(200);
      const rows = await vault.sql<{ at: Date; marketing: boolean; third_party_sharing: boolean; actor_kind: string; actor_roles: string[]; actor_id: string }>(
        'SELECT at, marketing, third_party_sharing, actor_kind, actor_roles, actor_id FROM customer_consent_history WHERE customer_id = $1 ORDER BY id',
        [id],
      );
      expect(rows.map((r) => [r.marketing, r.third_party_sharing, r.actor_roles])).toEqual([[true, false, ['ingest']], [false, false, ['privacy']]]);
      expect(rows[0].at.getTime()).toBe(created.created_at.getTime());
      expect(rows[1].actor_id).toBe(principals.get('privacy')?.id);
    });

    it('a create whose history cannot be written stores nothing at all (one statement)', async () => {
      await vault.sql(`CREATE OR REPLACE FUNCTION cv_test_refuse_history() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN RAISE EXCEPTION 'history refuses writes (test)'; END $$;
        CREATE TRIGGER cv_test_refuse_history BEFORE INSERT ON customer_consent_history FOR EACH ROW EXECUTE FUNCTION cv_test_refuse_history()`);
      try {
        const before = await vault.sql<{ n: string }>('SELECT count(*) AS n FROM customers');
        const res = await vault.http().post('/v1/customers').set('Authorization', as('ingest')).send({ externalRef: 'ACC-NO-HISTORY', personal: { fullName: 'Xylophant Nohistory' } });
        expect(res.status).toBe(500);
        expect(await vault.sql<{ n: string }>('SELECT count(*) AS n FROM customers')).toEqual(before);
        expect(await vault.sql("SELECT 1 FROM audit_pending WHERE action = 'customer.create' AND outcome = 'allowed' AND status = 201 AND resource_id NOT IN (SELECT id::text FROM customers)")).toHaveLength(0);
      } finally {
        await vault.sql('DROP TRIGGER IF EXISTS cv_test_refuse_history ON customer_consent_history');
      }
    });
  });

  describe('restriction of processing', () => {
    let id: string;
    beforeAll(async () => {
      id = await createCustomer({ ...PERSON, externalRef: 'ACC-RESTRICTED' });
    });

    it('only privacy restricts and lifts; a reason is required', async () => {
      for (const role of ['security', 'support', 'ingest', 'admin'] as Role[]) {
        await vault.http().put(`/v1/customers/${id}/restriction`).set('Authorization', as(role)).send({ reason: 'dispute' }).expect(403);
        await vault.http().delete(`/v1/customers/${id}/restriction`).set('Authorization', as(role)).expect(403);
      }
      await vault.http().put(`/v1/customers/${id}/restriction`).set('Authorization', as('privacy')).send({}).expect(400);
      await vault.http().put(`/v1/customers/00000000-0000-4000-8000-000000000999/restriction`).set('Authorization', as('privacy')).send({ reason: 'dispute' }).expect(404);
      const res = await vault.http().put(`/v1/customers/${id}/restriction`).set('Authorization', as('privacy')).send({ reason: 'billing dispute, ticket 77' }).expect(200);
      expect(res.body.restriction).toMatchObject({ reason: 'billing dispute, ticket 77', by: principals.get('privacy')?.id });
    });

    it.each([
      ['support', 'service_support'],
      ['billing', 'payment_confirmation'],
      ['billing', 'renewal_notice'],
      ['ingest', 'service_support'],
      ['ingest', 'marketing'],
    ] as [Role, string][])('%s reading for %s: 423 processing_restricted, no value', async (role, purpose) => {
      const res = await read(id, role, purpose);
      expect(res.status).toBe(423);
      expect(res.body.error.code).toBe('processing_restricted');
      expect(res.body.data).toBeUndefined();
    });

    it.each([
      ['privacy', 'customer_request'],
      ['privacy', 'legal_obligation'],
      ['security', 'fraud_investigation'],
      ['ingest', 'customer_request'],
    ] as [Role, string][])('%s reading for %s still reads, and sees the restriction', async (role, purpose) => {
      const res = await read(id, role, purpose);
      expect(res.status).toBe(200);
      expect(res.body.restriction).toMatchObject({ reason: 'billing dispute, ticket 77' });
      texts[`restricted-${role}-${purpose}`] = JSON.stringify({ ...res.body, data: undefined });
    });

    it('a denied role gets 403, not 423 (it learns nothing about the customer)', async () => {
      expect((await read(id, 'support', 'marketing')).status).toBe(403);
    });

    it('searches for other purposes leave it out as if it had not matched; exempt purposes find it', async () => {
      const search = async (role: Role, purpose: string, body: object) =>
        (await vault.http().post('/v1/customers/search').set('Authorization', as(role)).set('X-Access-Purpose', purpose).set('X-Access-Reason', 'ticket 9').send(body).expect(200)).body.results as { id: string }[];
      expect(await search('support', 'service_support', { email: PERSON.personal.email })).not.toContainEqual({ id });
      expect(await search('billing', 'payment_confirmation', { externalRef: 'ACC-RESTRICTED' })).toEqual([]);
      expect(await search('billing', 'payment_confirmation', { externalRef: 'ACC-RIGHTS-NOBODY' })).toEqual([]);
      expect(await search('security', 'fraud_investigation', { email: PERSON.personal.email })).toContainEqual({ id });
      expect(await search('privacy', 'customer_request', { externalRef: 'ACC-RESTRICTED' })).toEqual([{ id }]);
      expect(await search('privacy', 'legal_obligation', { nationalId: PERSON.personal.nationalId })).toContainEqual({ id });
    });

    it('consent-based disclosures: 423; legal obligations still go through', async () => {
      const res = await disclose(id, { recipient: { name: 'Courier Co', country: 'VN' }, legalBasis: 'consent', fields: ['email'] }).expect(423);
      expect(res.body.error.code).toBe('processing_restricted');
      await disclose(id, LOCAL).expect(201);
    });

    it('lifting it (204) restores reads and searches', async () => {
      await vault.http().delete(`/v1/customers/${id}/restriction`).set('Authorization', as('privacy')).expect(204);
      const res = await read(id, 'support', 'service_support');
      expect(res.status).toBe(200);
      expect(res.body.restriction).toBeNull();
      const events = await vault.sql("SELECT action FROM audit_pending WHERE resource_id = $1 AND action LIKE 'customer.restriction.%' UNION ALL SELECT action FROM audit_events WHERE resource_id = $1 AND action LIKE 'customer.restriction.%'", [id]);
      expect(events.length).toBeGreaterThanOrEqual(2);
    });
  });

  describe('subject-access report', () => {
    let id: string;
    let body: { report: Record<string, unknown> & { accesses: Record<string, unknown>[] }; signature: { alg: string; keyId: string; value: string } };
    let raw: string;

    beforeAll(async () => {
      id = await createCustomer({ ...PERSON, externalRef: 'ACC-DSAR' });
      await read(id, 'support', 'service_support');
      await read(id, 'marketing', 'marketing'); // denied: no marketing consent
      await vault.http().put(`/v1/customers/${id}/consents`).set('Authorization', as('privacy')).set('X-Access-Purpose', 'customer_request').set('X-Access-Reason', 'asked by phone').send({ marketing: true }).expect(200);
      await disclose(id, LOCAL).expect(201);
      await vault.http().put(`/v1/customers/${id}/contact-hold`).set('Authorization', as('security')).send({ reason: 'fraud suspected' }).expect(200);
      const res = await report(id).expect(200);
      expect(res.headers['content-type']).toMatch(/^application\/json/);
      raw = res.text;
      body = JSON.parse(raw) as typeof body;
      texts.report = 'checked for values below';
    });

    it('carries every field in plaintext, consents and their history, hold, restriction, disclosures and accesses', () => {
      const r = body.report;
      expect(r).toMatchObject({ customerId: id, externalRef: 'ACC-DSAR', consents: { marketing: true, thirdPartySharing: true }, restriction: null });
      expect(r.data).toEqual({
        fullName: PERSON.personal.fullName,
        email: PERSON.personal.email,
        phone: '+84912345678',
        address: PERSON.personal.address,
        nationalId: PERSON.personal.nationalId,
        cardNumber: '5555555555554444',
        cardExpiry: '11/38',
        cardholderName: 'X Q Bostwick',
      });
      expect(r.consentHistory).toEqual([
        { at: expect.any(String), marketing: false, thirdPartySharing: true, by: { kind: 'staff', roles: ['ingest'] } },
        { at: expect.any(String), marketing: true, thirdPartySharing: true, by: { kind: 'staff', roles: ['privacy'] } },
      ]);
      expect(r.contactHold).toEqual({ reason: 'fraud suspected', since: expect.any(String), by: { kind: 'staff', roles: ['security'] } });
      expect(r.disclosures).toEqual([expect.objectContaining({ recipient: LOCAL.recipient, legalBasis: 'legal_obligation', reference: LOCAL.reference, fields: LOCAL.fields, by: { kind: 'staff', roles: ['privacy'] } })]);
      const actions = r.accesses.map((a) => `${String(a.action)}/${String(a.outcome)}`);
      expect(actions).toEqual(['customer.create/allowed', 'customer.read/allowed', 'customer.read/denied', 'customer.consents/allowed', 'customer.disclose/allowed', 'customer.contact_hold.set/allowed']);
      expect(r.accesses[1]).toEqual({
        at: expect.any(String),
        action: 'customer.read',
        purpose: 'service_support',
        outcome: 'allowed',
        fields: { revealed: ['fullName', 'email', 'phone'], masked: ['address', 'nationalId', 'cardNumber', 'cardholderName'] },
        by: { kind: 'staff', roles: ['support'] },
      });
    });

    it('leaves staff names and principal ids out', () => {
      for (const principal of principals.values()) {
        expect(raw).not.toContain(principal.name);
        expect(raw).not.toContain(principal.id);
      }
    });

    it('is sent in canonical form, signed with the audit key over RFC 8785 JSON of report', async () => {
      expect(raw).toBe(`{"report":${jcs(body.report)},"signature":${jcs(body.signature)}}`);
      const key = await vault.http().get('/v1/audit/public-key').set('Authorization', as('security')).expect(200);
      expect(body.signature).toMatchObject({ alg: 'Ed25519', keyId: key.body.keyId });
    });

    it('the documented script verifies it, and refuses tampered copies', async () => {
      const key = await vault.http().get('/v1/audit/public-key').set('Authorization', as('security')).expect(200);
      const script = path.join(workDir, 'verify-report.mjs');
      writeFileSync(script, documentedScript());
      writeFileSync(path.join(workDir, 'key.json'), JSON.stringify(key.body));
      const check = (name: string, document: unknown): { status: number; out: string } => {
        // pretty-printed on purpose: the verifier canonicalises, whatever the layout it is given
        writeFileSync(path.join(workDir, name), JSON.stringify(document, null, 2));
        try {
          return { status: 0, out: execFileSync(process.execPath, [script, path.join(workDir, name), path.join(workDir, 'key.json')], { encoding: 'utf8', stdio: 'pipe' }) };
        } catch (error) {
          const e = error as { status: number; stdout: string; stderr: string };
          return { status: e.status, out: `${e.stdout}${e.stderr}` };
        }
      };
      expect(check('genuine.json', body)).toEqual({ status: 0, out: 'signature valid\n' });
      const copy = (): typeof body => JSON.parse(raw) as typeof body;
      const noAccess = copy();
      noAccess.report.accesses.splice(2, 1); // hide the denied read
      const otherConsent = copy();
      (otherConsent.report.consents as Record<string, boolean>).marketing = false;
      const otherKey = copy();
      otherKey.signature.keyId = 'ffffffffffffffff';
      const otherSignature = copy();
      otherSignature.signature.value = Buffer.from(Buffer.from(body.signature.value, 'base64').map((b, i) => (i === 0 ? b ^ 1 : b))).toString('base64');
      for (const [name, document] of Object.entries({ noAccess, otherConsent, otherSignature })) {
        expect({ name, ...check(`${name}.json`, document) }).toEqual({ name, status: 1, out: 'signature INVALID\n' });
      }
      const unknown = check('otherKey.json', otherKey);
      expect(unknown.status).toBe(1);
      expect(unknown.out).toContain('unknown signing key');
    });

    it('is itself audited, with the fields it revealed, and the next report lists it', async () => {
      const [event] = await events('customer.subject_access', id);
      expect(event).toMatchObject({ outcome: 'allowed', status: 200, reason: 'DSAR-7', fields_revealed: ['fullName', 'email', 'phone', 'address', 'nationalId', 'cardNumber', 'cardExpiry', 'cardholderName'] });
      expect(event.details).toMatchObject({ accesses: 6 });
      const again = JSON.parse((await report(id).expect(200)).text) as typeof body;
      expect(again.report.accesses.at(-1)).toMatchObject({ action: 'customer.subject_access', purpose: 'customer_request', by: { kind: 'staff', roles: ['privacy'] } });
    });

    it('needs privacy, purpose customer_request and a reason', async () => {
      const get = (role: Role, headers: Record<string, string>) => {
        const req = vault.http().get(`/v1/customers/${id}/subject-access`).set('Authorization', as(role));
        for (const [name, value] of Object.entries(headers)) req.set(name, value);
        return req;
      };
      const noReason = await get('privacy', { 'X-Access-Purpose': 'customer_request' });
      expect(noReason.status).toBe(400);
      expect(noReason.body.error).toMatchObject({ code: 'reason_required', details: [{ field: 'X-Access-Reason', problem: 'required for this purpose' }] });
      expect((await get('privacy', { 'X-Access-Purpose': 'legal_obligation', 'X-Access-Reason': 'x' })).status).toBe(403);
      expect((await get('privacy', { 'X-Access-Reason': 'x' })).status).toBe(400);
      for (const role of ['security', 'support', 'ingest', 'admin'] as Role[]) {
        const res = await get(role, { 'X-Access-Purpose': 'customer_request', 'X-Access-Reason': 'x' });
        expect(res.status).toBe(403);
        expect(res.text).not.toContain('Xylophant');
      }
      const denied = await events('customer.subject_access', id);
      expect(denied.filter((e) => e.outcome === 'denied').length).toBeGreaterThanOrEqual(6);
    });

    it('pages through more than one keyset page, and writes any stored string exactly as RFC 8785 does', async () => {
      const other = await createCustomer({ personal: { fullName: 'Xylophant Pages' } });
      // More events than one page (5,000), written straight into the log as the sealer would find them.
      await vault.sql(
        `INSERT INTO audit_pending (${EVENT_COLUMNS.join(', ')})
         SELECT gen_random_uuid(), now() - ((6000 - i) || ' ms')::interval, 'req-' || i, NULL, 'bench', 'service', '{support}', 'customer.read', 'customer', $1,
           'service_support', NULL, '{fullName}', '{address}', '{}', 'allowed', 200, NULL, NULL FROM generate_series(1, 5003) AS i`,
        [other],
      );
      // Strings no vault code would write (controls, quotes, backslashes, non-BMP, U+2028), as a tampered or future row could hold.
      const text = fc.string({ unit: 'binary', maxLength: 12 }).filter((t) => !t.includes('\u0000'));
      const hostile = fc.sample(fc.record({ action: text, purpose: fc.option(text, { nil: null }), kind: text, roles: fc.array(text, { maxLength: 3 }), fields: fc.array(text, { maxLength: 3 }) }), 60);
      hostile.push({ action: 'a"b\\c\n\u0001\u001f\u007f\u2028/€😀', purpose: '\t\b\f\r', kind: '', roles: [], fields: ['\u00e9'] });
      const rows = hostile.map((h) => ({ ...inputToRow({ requestId: 'r', actor: { id: null, name: 'x', kind: 'service', roles: [] }, action: 'a', resource: { type: 'customer', id: other }, purpose: null, reason: null, fields: { revealed: [], masked: [], written: [] }, outcome: 'denied', status: 403, clientIp: null }),
        action: h.action, purpose: h.purpose, actor_kind: h.kind, actor_roles: h.roles, fields_revealed: h.fields, fields_masked: h.roles }));
      await vault.sql(`INSERT INTO audit_pending (${EVENT_COLUMNS.join(', ')}) SELECT ${EVENT_COLUMNS.join(', ')} FROM jsonb_to_recordset($1::jsonb) AS x(${RECORDSET_TYPES})`, [JSON.stringify(rows)]);
      const res = await report(other).expect(200);
      const parsed = JSON.parse(res.text) as typeof body;
      expect(res.text).toBe(`{"report":${jcs(parsed.report)},"signature":${jcs(parsed.signature)}}`);
      expect(parsed.report.accesses).toHaveLength(1 + 5003 + hostile.length);
      expect(parsed.report.accesses.slice(-hostile.length).map((a) => [a.action, a.purpose, (a.by as { kind: string }).kind])).toEqual(hostile.map((h) => [h.action, h.purpose, h.kind]));
      expect(parsed.report.accesses.every((a) => new Date(String(a.at)).toISOString() === a.at)).toBe(true);
    }, 120_000);

    it('unknown 404, erased 410', async () => {
      await report('00000000-0000-4000-8000-000000000999').expect(404);
      const erased = await createCustomer({ personal: { fullName: 'Xylophant Gone' } });
      await vault.http().delete(`/v1/customers/${erased}`).set('Authorization', as('privacy')).expect(204);
      await report(erased).expect(410);
      expect(await vault.sql('SELECT 1 FROM customer_consent_history WHERE customer_id = $1', [erased])).toHaveLength(0);
    });
  });

  describe('closure and retention', () => {
    it('closure: ingest, billing and privacy; the past is fine, the future and bad dates are 400', async () => {
      const id = await createCustomer({ personal: { fullName: 'Xylophant Closing' } });
      for (const role of ['security', 'support', 'marketing', 'admin'] as Role[]) {
        await vault.http().put(`/v1/customers/${id}/closure`).set('Authorization', as(role)).send({}).expect(403);
      }
      const future = new Date(Date.now() + 86_400_000).toISOString();
      expect((await vault.http().put(`/v1/customers/${id}/closure`).set('Authorization', as('billing')).send({ closedAt: future }).expect(400)).body.error.details).toEqual([
        { field: 'closedAt', problem: 'must not be in the future' },
      ]);
      await vault.http().put(`/v1/customers/${id}/closure`).set('Authorization', as('billing')).send({ closedAt: 'last week' }).expect(400);
      await vault.http().put(`/v1/customers/${id}/closure`).set('Authorization', as('billing')).send({ closedAt: '2026-01-01T00:00:00Z', extra: 1 }).expect(400);
      expect(await vault.sql('SELECT closed_at FROM customers WHERE id = $1', [id])).toEqual([{ closed_at: null }]);
      const now = await vault.http().put(`/v1/customers/${id}/closure`).set('Authorization', as('ingest')).send({}).expect(200);
      expect(Math.abs(Date.parse(now.body.closedAt) - Date.now())).toBeLessThan(60_000);
      const past = await vault.http().put(`/v1/customers/${id}/closure`).set('Authorization', as('privacy')).send({ closedAt: '2025-03-01T08:00:00Z' }).expect(200);
      expect(past.body).toEqual({ id, closedAt: '2025-03-01T08:00:00.000Z' });
      const [event] = (await events('customer.close', id)).filter((e) => e.outcome === 'allowed').slice(-1);
      expect(event.details).toMatchObject({ closedAt: '2025-03-01T08:00:00.000Z' });
    });

    it('retention:run --dry-run lists the customers due; a run erases them as DELETE does, as system:retention; restricted and recent ones are kept', async () => {
      const close = (id: string, closedAt: string) => vault.http().put(`/v1/customers/${id}/closure`).set('Authorization', as('billing')).send({ closedAt }).expect(200);
      const due = await createCustomer({ externalRef: 'ACC-DUE', personal: { fullName: 'Xylophant Due', email: 'xylophant.due@example.com' } });
      const restricted = await createCustomer({ personal: { fullName: 'Xylophant Disputed' } });
      const recent = await createCustomer({ personal: { fullName: 'Xylophant Recent' } });
      const old = new Date(Date.now() - 40 * 86_400_000).toISOString();
      await close(due, old);
      await close(restricted, old);
      await close(recent, new Date(Date.now() - 5 * 86_400_000).toISOString());
      await vault.http().put(`/v1/customers/${restricted}/restriction`).set('Authorization', as('privacy')).send({ reason: 'complaint to the regulator' }).expect(200);
      const env = { ...cliEnv(vault), VAULT_RETENTION_DAYS: '30' };

      const off = await runCliAsync(['retention:run', '--dry-run'], { ...cliEnv(vault), VAULT_RETENTION_DAYS: '0' });
      expect(off.status).toBe(1);
      expect(off.stderr).toContain('VAULT_RETENTION_DAYS');

      const dry = await runCliAsync(['retention:run', '--dry-run'], env);
      expect(dry.status).toBe(0);
      const listed = dry.stdout.trim().split('\n').map((line) => JSON.parse(line) as Record<string, unknown>);
      expect(listed.filter((l) => 'id' in l).map((l) => l.id)).toContain(due);
      expect(listed.map((l) => l.id)).not.toContain(restricted);
      expect(listed.map((l) => l.id)).not.toContain(recent);
      expect(listed).toContainEqual({ id: due, closedAt: new Date(old).toISOString() });
      expect(JSON.parse(lastLine(dry.stdout))).toMatchObject({ dryRun: true });
      expect(await vault.sql('SELECT erased_at FROM customers WHERE id = $1', [due])).toEqual([{ erased_at: null }]);

      const run = await runCliAsync(['retention:run'], env);
      expect(run.status).toBe(0);
      expect(run.stdout).toContain(due);
      expect(JSON.parse(lastLine(run.stdout))).toMatchObject({ dryRun: false, erased: listed.length - 1 });
      expect((await read(due, 'privacy', 'customer_request')).status).toBe(410);
      expect((await read(restricted, 'privacy', 'customer_request')).status).toBe(200);
      expect((await read(recent, 'privacy', 'customer_request')).status).toBe(200);
      const [tombstone] = await vault.sql<Record<string, unknown>>('SELECT * FROM customers WHERE id = $1', [due]);
      expect(tombstone).toMatchObject({ full_name: null, email: null, external_ref: null });
      expect(await vault.sql('SELECT 1 FROM customer_deks WHERE customer_id = $1 UNION ALL SELECT 1 FROM customer_blind_indexes WHERE customer_id = $1', [due])).toHaveLength(0);
      const [erasure] = await events('customer.erase', due);
      expect(erasure).toMatchObject({ actor_name: 'system:retention', actor_id: null, outcome: 'allowed', status: 204 });
      expect(erasure.reason).toContain('retention');

      // lifting the restriction lets the next run erase the disputed customer
      await vault.http().delete(`/v1/customers/${restricted}/restriction`).set('Authorization', as('privacy')).expect(204);
      const second = await runCliAsync(['retention:run'], env);
      expect(second.stdout).toContain(restricted);
      expect((await read(restricted, 'privacy', 'customer_request')).status).toBe(410);
    }, 180_000);

    it('one process at a time: while the lock is held elsewhere, a run does nothing and says so', async () => {
      const due = await createCustomer({ personal: { fullName: 'Xylophant Locked' } });
      await vault.http().put(`/v1/customers/${due}/closure`).set('Authorization', as('privacy')).send({ closedAt: '2024-01-01T00:00:00Z' }).expect(200);
      const { RETENTION_LOCK } = await import('../src/rights/retention.service.js');
      const pg = (await import('pg')).default;
      const holder = new pg.Client({ connectionString: vault.databaseUrl });
      await holder.connect();
      try {
        await holder.query('SELECT pg_advisory_lock($1)', [RETENTION_LOCK]);
        const run = await runCliAsync(['retention:run'], { ...cliEnv(vault), VAULT_RETENTION_DAYS: '30' });
        expect(run.status).toBe(1);
        expect(run.stderr).toContain('another process');
        expect((await read(due, 'privacy', 'customer_request')).status).toBe(200);
      } finally {
        await holder.end();
      }
    }, 120_000);
  });
});

describe('the background retention job', () => {
  it('erases a customer closed in the past on its own, and keeps a restricted one', async () => {
    const vault = await startTestApp({ env: { VAULT_RETENTION_DAYS: '30', VAULT_RETENTION_INTERVAL_MS: '200' } });
    try {
      const privacy = await createPrincipal(vault, { roles: ['privacy'] });
      const ingest = await createPrincipal(vault, { roles: ['ingest'] });
      const make = async (fullName: string) => (await vault.http().post('/v1/customers').set('Authorization', ingest.authHeader).send({ personal: { fullName } }).expect(201)).body.id as string;
      const due = await make('Xylophant Background');
      const kept = await make('Xylophant Kept');
      await vault.http().put(`/v1/customers/${kept}/restriction`).set('Authorization', privacy.authHeader).send({ reason: 'open dispute' }).expect(200);
      for (const id of [due, kept]) await vault.http().put(`/v1/customers/${id}/closure`).set('Authorization', ingest.authHeader).send({ closedAt: '2025-01-01T00:00:00Z' }).expect(200);
      const deadline = Date.now() + 20_000;
      while (Date.now() < deadline) {
        const [row] = await vault.sql<{ erased_at: Date | null }>('SELECT erased_at FROM customers WHERE id = $1', [due]);
        if (row.erased_at !== null) break;
        await new Promise((resolve) => setTimeout(resolve, 100));
      }
      expect((await vault.sql<{ erased_at: Date | null }>('SELECT erased_at FROM customers WHERE id = $1', [due]))[0].erased_at).not.toBeNull();
      expect((await vault.sql<{ erased_at: Date | null }>('SELECT erased_at FROM customers WHERE id = $1', [kept]))[0].erased_at).toBeNull();
      await vault.app.get(AuditSealer).sealNow();
      expect(await vault.sql("SELECT actor_name FROM audit_events WHERE action = 'customer.erase' AND resource_id = $1", [due])).toEqual([{ actor_name: 'system:retention' }]);
    } finally {
      await vault.close();
    }
  });
});
