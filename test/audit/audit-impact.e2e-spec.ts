import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { CUSTOMER_FIELDS } from '../../src/access/vocabulary.js';
import type { AuditEventView } from '../../src/audit/audit-event.js';
import { findLeaks } from '../helpers/leak-scan.js';
import { createPrincipal, type TestPrincipal } from '../helpers/principals.js';
import { startTestApp, type TestApp } from '../helpers/test-app.js';
import { lastLine } from '../helpers/vault-process.js';
import { cliEnv, runCli, textParser } from './helpers.js';

const CARD = { cardNumber: '4111 1111 1111 1111', cardExpiry: '12/39', cardholderName: 'Wendeline Q Ashgrove', bankAccount: 'GB29NWBK60161331926819' };
const person = (n: number) => ({
  externalRef: `ACC-IMPACT-${n}`,
  personal: {
    fullName: `Isembard Quorra Velloway${n}`,
    email: `isembard.velloway${n}@example.com`,
    phone: `+44 20 7946 08${10 + n}`,
    address: { line1: `${n} Thistledown Row`, city: 'Marrowick', country: 'GB' },
    nationalId: `QX-7781${n}0-ZZ`,
  },
  payment: CARD,
});
const NEEDLES = ['Quorra', 'Velloway', 'isembard.velloway', 'Thistledown', 'Marrowick', 'QX-7781', '4111111111111111', '4111 1111', 'Wendeline', 'Ashgrove', 'GB29NWBK', '60161331926819'];

type Impact = {
  actor: { id: string; name: string; kind: string; roles: string[]; revokedAt: string | null };
  from: string;
  to: string;
  customers: number;
  byField: Record<string, { plaintext: number; masked: number }>;
  customerIds: string[];
};

const tick = () => new Promise((resolve) => setTimeout(resolve, 15));

describe('breach impact (GET /v1/audit/impact, CLI audit:impact)', () => {
  let vault: TestApp;
  let ingest: TestPrincipal;
  let billing: TestPrincipal;
  let otherBilling: TestPrincipal;
  let support: TestPrincipal;
  let security: TestPrincipal;
  let privacy: TestPrincipal;
  let admin: TestPrincipal;
  let c: string[];
  let from: string;
  let to: string;
  /** What billing's allowed reads in the window returned, per customer: the expected answer. */
  const seen = new Map<string, { revealed: Set<string>; masked: Set<string> }>();

  const get = (p: TestPrincipal, path: string) => vault.http().get(path).set('Authorization', p.authHeader);
  const read = async (p: TestPrincipal, id: string, purpose: string, expected: number, fields?: string) => {
    const res = await get(p, `/v1/customers/${id}${fields ? `?fields=${fields}` : ''}`).set('X-Access-Purpose', purpose).set('X-Access-Reason', 'CASE-9');
    expect(res.status).toBe(expected);
    return res.body as { revealed: string[]; masked: string[] };
  };
  const impact = (query: string, p: TestPrincipal = security) => get(p, `/v1/audit/impact?${query}`);

  beforeAll(async () => {
    vault = await startTestApp();
    [ingest, billing, otherBilling, support, security, privacy, admin] = await Promise.all(
      (['ingest', 'billing', 'billing', 'support', 'security', 'privacy', 'admin'] as const).map((role) => createPrincipal(vault, { roles: [role] })),
    );
    c = [];
    for (let n = 0; n < 5; n++) c.push((await vault.http().post('/v1/customers').set('Authorization', ingest.authHeader).send(person(n)).expect(201)).body.id);

    // Before the window: billing reads customer 3.
    await read(billing, c[3], 'payment_confirmation', 200);
    await tick();
    from = new Date().toISOString();
    await tick();
    // In the window, by billing (the principal assessed):
    for (const [id, purpose] of [[c[0], 'renewal_notice'], [c[0], 'payment_confirmation'], [c[1], 'renewal_notice'], [c[1], 'renewal_notice']] as const) {
      const body = await read(billing, id, purpose, 200);
      const entry = seen.get(id) ?? { revealed: new Set<string>(), masked: new Set<string>() };
      body.revealed.forEach((f) => entry.revealed.add(f));
      body.masked.forEach((f) => entry.masked.add(f));
      seen.set(id, entry);
    }
    // denied attempts revealed nothing: customer 2 never counts
    await read(billing, c[2], 'marketing', 403);
    await read(billing, c[2], 'service_support', 403);
    await read(billing, c[2], 'payment_confirmation', 403, 'nationalId');
    // a search reveals no field (its found ids will count once search events carry them)
    await vault.http().post('/v1/customers/search').set('Authorization', billing.authHeader).set('X-Access-Purpose', 'payment_confirmation')
      .send({ externalRef: 'ACC-IMPACT-2' }).expect(200);
    // reads by others in the window
    await read(otherBilling, c[2], 'payment_confirmation', 200);
    await read(support, c[3], 'service_support', 200);
    await tick();
    to = new Date().toISOString();
    await tick();
    // After the window: billing reads customer 4.
    await read(billing, c[4], 'payment_confirmation', 200);
  }, 120_000);
  afterAll(async () => {
    await vault?.close();
  }, 120_000);

  it('counts exactly the customers billing saw in the window, per field: plaintext, or masked only', async () => {
    const body = (await impact(`actorId=${billing.id}&from=${from}&to=${to}`).expect(200)).body as Impact;
    expect(body.actor).toEqual({ id: billing.id, name: billing.name, kind: 'service', roles: ['billing'], revokedAt: null });
    expect([body.from, body.to]).toEqual([from, to]);
    expect(body.customerIds).toEqual([c[0], c[1]].sort());
    expect(body.customers).toBe(2);
    expect(Object.keys(body.byField)).toEqual([...CUSTOMER_FIELDS]);
    for (const field of CUSTOMER_FIELDS) {
      const plaintext = [...seen.values()].filter((s) => s.revealed.has(field)).length;
      const masked = [...seen.values()].filter((s) => s.masked.has(field) && !s.revealed.has(field)).length;
      expect([field, body.byField[field]]).toEqual([field, { plaintext, masked }]);
    }
    // customer 0: card number masked (renewal notice) then plaintext (payment confirmation): plaintext only;
    // customer 1: masked only. Never both for one customer.
    expect(body.byField.cardNumber).toEqual({ plaintext: 1, masked: 1 });
    expect(body.byField.fullName).toEqual({ plaintext: 2, masked: 0 });
    expect(body.byField.phone).toEqual({ plaintext: 0, masked: 1 });
    expect(body.byField.nationalId).toEqual({ plaintext: 0, masked: 0 });
  }, 120_000);

  it('the window is [from, to): the bounds move what counts', async () => {
    const all = (await impact(`actorId=${billing.id}&from=2000-01-01&to=2999-01-01`).expect(200)).body as Impact;
    expect(all.customerIds).toEqual([c[0], c[1], c[3], c[4]].sort());
    const none = (await impact(`actorId=${billing.id}&from=2000-01-01&to=2000-01-02`).expect(200)).body as Impact;
    expect(none).toMatchObject({ customers: 0, customerIds: [] });
    expect(Object.values(none.byField).every((v) => v.plaintext === 0 && v.masked === 0)).toBe(true);
    const other = (await impact(`actorId=${otherBilling.id}&from=${from}&to=${to}`).expect(200)).body as Impact;
    expect(other.customerIds).toEqual([c[2]]);
  }, 120_000);

  it('answers the same after the principal is revoked (the audit log alone), naming the revocation', async () => {
    await vault.http().delete(`/v1/principals/${billing.id}`).set('Authorization', admin.authHeader).expect(204);
    await get(billing, `/v1/customers/${c[0]}`).set('X-Access-Purpose', 'payment_confirmation').expect(401);
    const body = (await impact(`actorId=${billing.id}&from=${from}&to=${to}`).expect(200)).body as Impact;
    expect(body.customerIds).toEqual([c[0], c[1]].sort());
    expect(body.actor.name).toBe(billing.name);
    expect(Date.parse(body.actor.revokedAt ?? '')).toBeGreaterThan(Date.parse(to));
  }, 120_000);

  it('CSV: one row per customer, a column per field (plaintext, masked or empty)', async () => {
    const res = await impact(`actorId=${billing.id}&from=${from}&to=${to}&format=csv`).buffer(true).parse(textParser).expect(200);
    expect(res.headers['content-type']).toMatch(/^text\/csv/);
    expect(res.headers['content-disposition']).toMatch(/attachment/);
    const rows = (res.body as string).split('\r\n');
    expect(rows.pop()).toBe('');
    expect(rows[0]).toBe(`customerId,firstAt,lastAt,${CUSTOMER_FIELDS.join(',')}`);
    expect(rows.slice(1).map((r) => r.split(',')[0])).toEqual([c[0], c[1]].sort());
    for (const row of rows.slice(1)) {
      const [id, firstAt, lastAt, ...cells] = row.split(',');
      const s = seen.get(id);
      expect(s).toBeDefined();
      expect(cells).toEqual(CUSTOMER_FIELDS.map((f) => (s?.revealed.has(f) ? 'plaintext' : s?.masked.has(f) ? 'masked' : '')));
      expect(firstAt >= from && lastAt < to && firstAt <= lastAt).toBe(true);
    }
  }, 120_000);

  it('refuses bad queries with 400 and details, unknown principals with 404, others than security with 403, anonymous with 401', async () => {
    const cases: [string, string][] = [
      [`from=${from}&to=${to}`, 'actorId'],
      [`actorId=nope&from=${from}&to=${to}`, 'actorId'],
      [`actorId=${billing.id}&to=${to}`, 'from'],
      [`actorId=${billing.id}&from=yesterday&to=${to}`, 'from'],
      [`actorId=${billing.id}&from=${from}`, 'to'],
      [`actorId=${billing.id}&from=${from}&to=2026-13-01`, 'to'],
      [`actorId=${billing.id}&from=${to}&to=${from}`, 'to'],
      [`actorId=${billing.id}&from=${from}&to=${from}`, 'to'],
      [`actorId=${billing.id}&from=${from}&to=${to}&format=xml`, 'format'],
      [`actorId=${billing.id}&from=${from}&to=${to}&customerId=${c[0]}`, 'customerId'],
    ];
    for (const [query, field] of cases) {
      const res = await impact(query);
      expect([query, res.status, res.body.error?.code]).toEqual([query, 400, 'invalid_input']);
      expect(res.body.error.details.map((d: { field: string }) => d.field)).toContain(field);
    }
    const unknown = await impact(`actorId=7b0c3f36-0a3c-4c55-9f60-6a1b0b7f5e21&from=${from}&to=${to}`).expect(404);
    expect(unknown.body.error.code).toBe('not_found');
    for (const p of [support, privacy, admin, ingest, otherBilling]) await impact(`actorId=${billing.id}&from=${from}&to=${to}`, p).expect(403);
    await vault.http().get(`/v1/audit/impact?actorId=${billing.id}&from=${from}&to=${to}`).expect(401);
  }, 120_000);

  it('each report is audited, about the principal assessed, allowed or refused', async () => {
    const events = ((await get(security, `/v1/audit/events?action=audit.impact&limit=1000`).expect(200)).body as { events: AuditEventView[] }).events;
    const mine = events.filter((e) => e.resource.id === billing.id);
    expect(mine.length).toBeGreaterThanOrEqual(5);
    expect(mine.every((e) => e.resource.type === 'principal')).toBe(true);
    expect(mine.find((e) => e.outcome === 'allowed')?.details).toMatchObject({ from, to, format: 'json' });
    // Roles without the right are refused by the route's policy before the handler names the principal assessed.
    expect(events.filter((e) => e.status === 403).map((e) => e.actor.id).sort()).toEqual([support, privacy, admin, ingest, otherBilling].map((p) => p.id).sort());
    expect(events.some((e) => e.status === 404 && e.resource.id === '7b0c3f36-0a3c-4c55-9f60-6a1b0b7f5e21')).toBe(true);
  }, 120_000);

  it('CLI audit:impact: the same report as the API (JSON last line, or CSV), and refuses bad input', async () => {
    const api = (await impact(`actorId=${billing.id}&from=${from}&to=${to}`).expect(200)).body as Impact;
    const [json, csv, bad, unknown] = await Promise.all([
      runCli(['audit:impact', '--actor', billing.id, '--from', from, '--to', to], cliEnv(vault)),
      runCli(['audit:impact', '--actor', billing.id, '--from', from, '--to', to, '--format', 'csv'], cliEnv(vault)),
      runCli(['audit:impact', '--actor', billing.id, '--from', to, '--to', from], cliEnv(vault)),
      runCli(['audit:impact', '--actor', '7b0c3f36-0a3c-4c55-9f60-6a1b0b7f5e21', '--from', from, '--to', to], cliEnv(vault)),
    ]);
    expect(json.status).toBe(0);
    expect(JSON.parse(lastLine(json.stdout))).toEqual(api);
    expect(csv.status).toBe(0);
    const apiCsv = await impact(`actorId=${billing.id}&from=${from}&to=${to}&format=csv`).buffer(true).parse(textParser).expect(200);
    expect(csv.stdout).toBe(apiCsv.body);
    expect(bad.status).not.toBe(0);
    expect(bad.stderr).toContain('to must be after from');
    expect(unknown.status).not.toBe(0);
    expect(unknown.stderr).toContain('no such principal');
    const cliEvents = ((await get(security, '/v1/audit/events?action=audit.impact&limit=1000').expect(200)).body as { events: AuditEventView[] }).events
      .filter((e) => e.actor.id === null);
    expect(cliEvents.map((e) => e.outcome).sort()).toEqual(['allowed', 'allowed', 'denied']);
  }, 180_000);

  it('no test plaintext or token in any table, log line or report', async () => {
    const reports = [
      (await impact(`actorId=${billing.id}&from=2000-01-01&to=2999-01-01`).expect(200)).text,
      (await impact(`actorId=${billing.id}&from=2000-01-01&to=2999-01-01&format=csv`).buffer(true).parse(textParser).expect(200)).body as string,
    ].join('\n');
    const tokens = [ingest, billing, otherBilling, support, security, privacy, admin].map((p) => p.token);
    expect(await findLeaks(vault, [...NEEDLES, ...tokens], { reports })).toEqual([]);
  }, 120_000);
});
