import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import pg from 'pg';
import type { AuditEventView } from '../../src/audit/audit-event.js';
import { BlindIndexReindexWorker, REINDEX_LOCK } from '../../src/customers/blind-reindex.worker.js';
import { KeyRing } from '../../src/keys/key-ring.service.js';
import { findLeaks } from '../helpers/leak-scan.js';
import { createPrincipal, type TestPrincipal } from '../helpers/principals.js';
import { startTestApp, type TestApp } from '../helpers/test-app.js';

/**
 * Issue 12 §1 and §6, as an attacker tries them through HTTP: a role that sees a field masked (or
 * not at all) confirms a guessed value with an exact search; searches at full request rate; a
 * search that leaves no trace in the found customer's access report; duplicates the normaliser
 * misses. Real PostgreSQL, real libsodium.
 */

/** Distinctive test values (the leak scan looks for them everywhere). */
const NADIA = {
  externalRef: 'ACC-SRCH-0001',
  personal: {
    fullName: 'Nadia Quillon Oyelaran',
    email: 'nadia.oyelaran@gmail.com',
    // a +44 7911 mobile the bundled metadata does not list as valid: refused before issue 12 §6
    phone: '+44 7911 300922',
    nationalId: 'NQ-551177-OY',
  },
};
/** Same e-mail as Nadia (a shared family address): one search finds both. */
const TOBIAS = { externalRef: 'ACC-SRCH-0002', personal: { fullName: 'Tobias Quillon Oyelaran', email: 'NADIA.Oyelaran@gmail.com' } };

const GUESSES = { email: 'nadia.oyelaran@gmail.com', phone: '+447911300922', nationalId: 'nq551177oy' } as const;
type ValueField = keyof typeof GUESSES;
const NEEDLES = ['Quillon', 'oyelaran', '7911300922', '7911 300922', '551177', 'nobody.zzqx@example.net', 'ACC-NOPE-99'];

type Page = { customerId: string; events: AuditEventView[]; nextCursor: string | null };

describe('search: policy, limit, access report, metrics (HTTP)', () => {
  let vault: TestApp;
  const principals = new Map<string, TestPrincipal>();
  let nadia: string;
  let tobias: string;

  async function as(role: 'ingest' | 'billing' | 'support' | 'security' | 'privacy' | 'marketing' | 'admin'): Promise<TestPrincipal> {
    if (!principals.has(role)) principals.set(role, await createPrincipal(vault, { roles: [role] }));
    return principals.get(role) as TestPrincipal;
  }
  const search = (p: TestPrincipal, purpose: string, body: object) =>
    vault.http().post('/v1/customers/search').set('Authorization', p.authHeader).set('X-Access-Purpose', purpose).set('X-Access-Reason', 'CASE-7').send(body);
  /** Pending and sealed events (the sealer moves rows from one table to the other). */
  async function searchEvents(actorId: string): Promise<{ outcome: string; status: number; purpose: string; details: Record<string, unknown> }[]> {
    const sql = (table: string) => `SELECT outcome, status, purpose, details, at FROM ${table} WHERE action = 'customer.search' AND actor_id = $1`;
    return vault.sql(`SELECT outcome, status, purpose, details FROM (${sql('audit_pending')} UNION ALL ${sql('audit_events')}) e ORDER BY at`, [actorId]);
  }
  async function accessReport(customerId: string): Promise<AuditEventView[]> {
    const res = await vault.http().get(`/v1/customers/${customerId}/access-report`).set('Authorization', (await as('security')).authHeader).expect(200);
    return (res.body as Page).events;
  }

  beforeAll(async () => {
    // An hour-long window: the limit test's 25 searches must fall in one window even on a loaded machine.
    vault = await startTestApp({ env: { VAULT_SEARCH_LIMIT_PER_MINUTE: '25', VAULT_RATE_LIMIT_WINDOW_MS: '3600000' } });
    const ingest = await as('ingest');
    nadia = (await vault.http().post('/v1/customers').set('Authorization', ingest.authHeader).send(NADIA).expect(201)).body.id;
    tobias = (await vault.http().post('/v1/customers').set('Authorization', ingest.authHeader).send(TOBIAS).expect(201)).body.id;
  });
  afterAll(async () => {
    await vault?.close();
  });

  // Every role x purpose x value field the DESIGN row shows masked or not at all, and marketing/admin.
  const refused: [string, string, ValueField][] = [
    ['ingest', 'service_support', 'email'],
    ['ingest', 'customer_request', 'email'],
    ['ingest', 'fraud_investigation', 'phone'],
    ['ingest', 'legal_obligation', 'nationalId'],
    ['billing', 'payment_confirmation', 'nationalId'],
    ['billing', 'payment_confirmation', 'phone'],
    ['billing', 'renewal_notice', 'phone'],
    ['support', 'service_support', 'nationalId'],
    ['marketing', 'marketing', 'email'],
    ['admin', 'service_support', 'email'],
  ];

  it.each(refused)('%s under %s may not confirm a guessed %s: 403 search_not_allowed, audited as denied', async (role, purpose, field) => {
    const p = await as(role as 'ingest');
    const res = await search(p, purpose, { [field]: GUESSES[field] }).expect(403);
    expect(res.body.error.code).toBe('search_not_allowed');
    // A role that may not search at all for the purpose is refused by the route's policy, before the
    // body is looked at: its message names the purpose only.
    const wholeRoute = role === 'marketing' || role === 'admin';
    if (!wholeRoute) expect(res.body.error.message).toContain(field);
    expect(res.body.error.message).toContain(purpose);
    expect(res.text).not.toContain(nadia);
    const events = (await searchEvents(p.id)).filter((e) => e.purpose === purpose && (wholeRoute || e.details.searchBy === field));
    expect(events).toHaveLength(1);
    expect(events[0]).toMatchObject({ outcome: 'denied', status: 403 });
    expect(events[0].details?.customerIds).toBeUndefined();
  });

  it('plaintext rows may search by their plaintext fields; security under fraud_investigation by every value field', async () => {
    const found = async (p: TestPrincipal, purpose: string, body: object) => (await search(p, purpose, body).expect(200)).body.results;
    expect(await found(await as('support'), 'service_support', { email: GUESSES.email })).toEqual([{ id: nadia }, { id: tobias }].sort((a, b) => a.id.localeCompare(b.id)));
    expect(await found(await as('support'), 'service_support', { phone: '+44 7911 300 922' })).toEqual([{ id: nadia }]);
    expect(await found(await as('billing'), 'payment_confirmation', { email: GUESSES.email })).toHaveLength(2);
    for (const field of ['email', 'phone', 'nationalId'] as const) {
      expect(await found(await as('security'), 'fraud_investigation', { [field]: GUESSES[field] })).toContainEqual({ id: nadia });
      expect(await found(await as('privacy'), 'customer_request', { [field]: GUESSES[field] })).toContainEqual({ id: nadia });
    }
    // security may not search under a purpose it has no row for
    expect((await search(await as('security'), 'customer_request', { externalRef: NADIA.externalRef }).expect(403)).body.error.code).toBe('search_not_allowed');
  });

  it('externalRef stays open to every role that may read under the purpose', async () => {
    const open: [string, string][] = [
      ['ingest', 'service_support'], ['ingest', 'marketing'], ['billing', 'payment_confirmation'], ['billing', 'renewal_notice'],
      ['support', 'service_support'], ['security', 'fraud_investigation'], ['privacy', 'legal_obligation'],
    ];
    for (const [role, purpose] of open) {
      expect((await search(await as(role as 'ingest'), purpose, { externalRef: NADIA.externalRef }).expect(200)).body.results).toEqual([{ id: nadia }]);
    }
    expect((await search(await as('marketing'), 'marketing', { externalRef: NADIA.externalRef }).expect(403)).body.error.code).toBe('search_not_allowed');
  });

  it('each found customer sees the search in its access report (ids in the event, never the term)', async () => {
    const support = await as('support');
    await search(support, 'service_support', { email: '  NADIA.oyelaran@GMAIL.com ' }).expect(200);
    for (const id of [nadia, tobias]) {
      const searches = (await accessReport(id)).filter((e) => e.action === 'customer.search' && e.actor.id === support.id);
      expect(searches.length).toBeGreaterThanOrEqual(1);
      const last = searches[searches.length - 1];
      expect(last).toMatchObject({ outcome: 'allowed', purpose: 'service_support', resource: { type: 'customer', id: null } });
      expect(last.details).toMatchObject({ searchBy: 'email', results: 2 });
      expect(String(last.details?.customerIds).split(',').sort()).toEqual([nadia, tobias].sort());
    }
    // a search by Nadia's national id names Nadia only
    await search(await as('privacy'), 'customer_request', { nationalId: GUESSES.nationalId }).expect(200);
    const tobiasReport = await accessReport(tobias);
    expect(tobiasReport.some((e) => e.action === 'customer.search' && e.details?.searchBy === 'nationalId')).toBe(false);
    expect((await accessReport(nadia)).some((e) => e.action === 'customer.search' && e.details?.searchBy === 'nationalId')).toBe(true);
    // the chain still verifies with these events in it
    const verify = await vault.http().get('/v1/audit/verify').set('Authorization', (await as('security')).authHeader).expect(200);
    expect(verify.body.valid).toBe(true);
  });

  it('the access report finds them through the GIN index, not a scan of the log', async () => {
    await vault.sql('ANALYZE audit_events');
    // A test log is small enough for a scan to win; with scans off, the plan shows what serves the condition.
    const client = new pg.Client({ connectionString: vault.databaseUrl });
    await client.connect();
    try {
      await client.query('SET enable_seqscan = off');
      // the arm that finds a search's customers: answered by the partial GIN index
      const forced = await client.query<{ 'QUERY PLAN': string }>(
        `EXPLAIN SELECT seq FROM audit_events WHERE details ? 'customerIds' AND string_to_array(details ->> 'customerIds', ',') @> ARRAY[$1::text]`,
        [nadia],
      );
      expect(forced.rows.map((row) => row['QUERY PLAN']).join('\n')).toContain('audit_events_customer_ids');
    } finally {
      await client.end();
    }
  });

  it('a search that finds nothing is counted in /metrics by field only', async () => {
    const count = async (field: string): Promise<number> => {
      const text = (await vault.http().get('/metrics').expect(200)).text;
      const match = new RegExp(`^vault_customer_searches_empty_total\\{field="${field}"\\} (\\d+)$`, 'm').exec(text);
      return match ? Number(match[1]) : 0;
    };
    const privacy = await as('privacy');
    const before = { email: await count('email'), externalRef: await count('externalRef') };
    await search(privacy, 'customer_request', { email: 'nobody.zzqx@example.net' }).expect(200);
    await search(privacy, 'customer_request', { email: 'nobody.zzqx@example.net' }).expect(200);
    await search(privacy, 'customer_request', { externalRef: 'ACC-NOPE-99' }).expect(200);
    await search(privacy, 'customer_request', { email: GUESSES.email }).expect(200); // found: not counted
    expect(await count('email')).toBe(before.email + 2);
    expect(await count('externalRef')).toBe(before.externalRef + 1);
    // refused searches are not "found nothing": they are 403s, counted by the request metrics
    await search(await as('ingest'), 'service_support', { email: 'nobody.zzqx@example.net' }).expect(403);
    expect(await count('email')).toBe(before.email + 2);
  });

  it('a principal over VAULT_SEARCH_LIMIT_PER_MINUTE gets 429 with Retry-After, audited; other requests and principals go on', async () => {
    const busy = await createPrincipal(vault, { roles: ['support'] });
    const other = await createPrincipal(vault, { roles: ['support'] });
    for (let i = 0; i < 25; i++) await search(busy, 'service_support', { email: `guess${i}.oyelaran@gmail.com` }).expect(200);
    const limited = await search(busy, 'service_support', { email: GUESSES.email }).expect(429);
    expect(limited.body.error.code).toBe('rate_limited');
    expect(limited.text).not.toContain(nadia);
    const retryAfter = Number(limited.headers['retry-after']);
    expect(retryAfter).toBeGreaterThanOrEqual(1);
    expect(retryAfter).toBeLessThanOrEqual(3600);
    // refused probes count too: a masked role cannot probe past the limit either
    await search(busy, 'service_support', { nationalId: GUESSES.nationalId }).expect(429);
    // separate from the general limit: reads go on
    await vault.http().get(`/v1/customers/${nadia}`).set('Authorization', busy.authHeader).set('X-Access-Purpose', 'service_support').expect(200);
    await search(other, 'service_support', { email: GUESSES.email }).expect(200);
    const events = await searchEvents(busy.id);
    expect(events).toHaveLength(27);
    const denied = events.filter((e) => e.status === 429);
    expect(denied).toHaveLength(2);
    for (const event of denied) {
      expect(event.outcome).toBe('denied');
      expect(event.details).toMatchObject({ limit: 'search' });
      expect(event.details.customerIds).toBeUndefined();
    }
  }, 180_000);

  it('no search term in any table, log line or metric (leak scan)', async () => {
    const metrics = (await vault.http().get('/metrics').expect(200)).text;
    expect(await findLeaks(vault, [...NEEDLES, 'guess3.oyelaran'], { metrics })).toEqual([]);
  });
});

describe('re-indexing rows of an older normalisation (resumable job)', () => {
  let vault: TestApp;
  let privacy: TestPrincipal;
  const ids: string[] = [];
  /** Holds the re-index lock as "another process" would, so the worker's own timer stays out of the way. */
  let holder: pg.Client;

  beforeAll(async () => {
    vault = await startTestApp();
    holder = new pg.Client({ connectionString: vault.databaseUrl });
    await holder.connect();
    await holder.query('SELECT pg_advisory_lock($1)', [REINDEX_LOCK]);
    const ingest = await createPrincipal(vault, { roles: ['ingest'] });
    privacy = await createPrincipal(vault, { roles: ['privacy'] });
    for (let i = 0; i < 3; i++) {
      const body = { personal: { fullName: `Reindex Person ${i}`, email: `Anna${i}@Bücher.example`, nationalId: `RX-90${i}-AB` } };
      ids.push((await vault.http().post('/v1/customers').set('Authorization', ingest.authHeader).send(body).expect(201)).body.id);
    }
    ids.sort();
    // Turn them into rows as the vault wrote them before normalisation 2: e-mail trimmed and
    // lower-cased only (the Unicode domain kept), recorded as version 1.
    const keys = vault.app.get(KeyRing);
    for (let i = 0; i < 3; i++) {
      const [row] = await vault.sql<{ id: string }>(`SELECT b.customer_id AS id FROM customer_blind_indexes b WHERE b.field = 'email' AND b.digest = $1`, [
        keys.indexDigest('email', `anna${i}@xn--bcher-kva.example`).digest,
      ]);
      const legacy = keys.indexDigest('email', `anna${i}@bücher.example`);
      await vault.sql(`UPDATE customer_blind_indexes SET digest = $2, norm_version = 1 WHERE customer_id = $1 AND field = 'email'`, [row.id, legacy.digest]);
      await vault.sql(`UPDATE customer_blind_indexes SET norm_version = 1 WHERE customer_id = $1`, [row.id]);
    }
  });
  afterAll(async () => {
    await holder?.end();
    await vault?.close();
  });

  const find = async (email: string): Promise<string[]> =>
    ((await vault.http().post('/v1/customers/search').set('Authorization', privacy.authHeader).set('X-Access-Purpose', 'customer_request').set('X-Access-Reason', 'T-1').send({ email }).expect(200)).body.results as { id: string }[]).map((r) => r.id);
  const stale = async (): Promise<string[]> => (await vault.sql<{ id: string }>('SELECT DISTINCT customer_id AS id FROM customer_blind_indexes WHERE norm_version < 2 ORDER BY 1')).map((r) => r.id);

  it('legacy rows miss the IDNA duplicate; an interrupted pass leaves whole customers done; the next pass finishes', async () => {
    const found = async (): Promise<number> => {
      let n = 0;
      for (let i = 0; i < 3; i++) n += (await find(`anna${i}@xn--bcher-kva.example`)).length;
      return n;
    };
    expect(await stale()).toEqual(ids);
    expect(await found()).toBe(0);

    const worker = vault.app.get(BlindIndexReindexWorker);
    // another process holds the lock: this one does nothing
    expect(await worker.run()).toMatchObject({ ran: false, customers: 0 });
    expect(await stale()).toEqual(ids);
    await holder.query('SELECT pg_advisory_unlock($1)', [REINDEX_LOCK]);

    // interrupted after one batch of one customer: that customer is done (all its rows), the others untouched
    expect(await worker.run({ batchSize: 1, maxBatches: 1 })).toEqual({ ran: true, customers: 1, batches: 1, complete: false });
    expect(await stale()).toEqual(ids.slice(1));
    expect(await found()).toBe(1);
    const [{ n }] = await vault.sql<{ n: number }>(`SELECT count(*)::int AS n FROM customer_blind_indexes WHERE customer_id = $1 AND norm_version = 2`, [ids[0]]);
    expect(n).toBe(2); // email and nationalId

    // resumed: the rest
    expect(await worker.run({ batchSize: 1 })).toEqual({ ran: true, customers: 2, batches: 2, complete: true });
    expect(await stale()).toEqual([]);
    expect(await found()).toBe(3);
    // the Unicode spelling of the domain finds the same customer
    const anna1 = await find('anna1@xn--bcher-kva.example');
    expect(anna1).toHaveLength(1);
    expect(await find('ANNA1@bücher.EXAMPLE')).toEqual(anna1);
    // nothing left: a pass is a no-op
    expect(await worker.run()).toEqual({ ran: false, customers: 0, batches: 0, complete: true });
  });

  it('each batch is audited, naming the customers whose values it decrypted; the chain verifies', async () => {
    const security = await createPrincipal(vault, { roles: ['security'] });
    for (const id of ids) {
      const res = await vault.http().get(`/v1/customers/${id}/access-report`).set('Authorization', security.authHeader).expect(200);
      const rebuilds = (res.body as Page).events.filter((e) => e.action === 'customers.blind_index.rebuild');
      expect(rebuilds).toHaveLength(1);
      expect(rebuilds[0]).toMatchObject({ actor: { name: 'system:blind-index', id: null }, outcome: 'allowed', details: { normVersion: 2, customerIds: id } });
    }
    expect((await vault.http().get('/v1/audit/verify').set('Authorization', security.authHeader).expect(200)).body.valid).toBe(true);
    expect(await findLeaks(vault, ['bücher', 'xn--bcher', 'Reindex Person', 'RX-90'])).toEqual([]);
  });
});
