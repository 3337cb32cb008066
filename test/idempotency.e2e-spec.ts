import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { randomUUID } from 'node:crypto';
import pg from 'pg';
import type { Response } from 'supertest';
import { IdempotencyStore } from '../src/idempotency/idempotency.store.js';
import { count, eventsOf } from './helpers/audit-events.js';
import { findLeaks } from './helpers/leak-scan.js';
import { PgCutProxy } from './helpers/pg-cut-proxy.js';
import { createPrincipal, type TestPrincipal } from './helpers/principals.js';
import { createTestDatabase, dropTestDatabase, startTestApp, type TestApp } from './helpers/test-app.js';

/**
 * Idempotent writes (issue 16, DESIGN §4 "Idempotency-Key"), through HTTP on real PostgreSQL: a
 * retry with the same key and request is answered from the stored answer without a second write, the
 * key is per principal, another request with it is 422, concurrent duplicates write once, keys
 * expire, nothing stored holds a value, and a commit whose answer was lost (the connection cut
 * mid-commit by a TCP proxy) answers 503 outcome_unknown, after which a retry with the key gives
 * exactly one customer.
 */

/** Test plaintexts: distinctive, so the leak scans can look for them. */
const PERSON = { fullName: 'Idempotina Quarrington', email: 'idempotina.quarrington@example.com', phone: '+84 912 345 679', nationalId: 'IDM-770011' };
const NEEDLES = ['Idempotina', 'Quarrington', 'idempotina.quarrington', '912345679', 'IDM-770011'];
const HOLD_REASON = 'suspected takeover, ticket HOLD-8812';

const REPLAYED = 'idempotent-replayed';

const requestIdOf = (res: Response): string => res.headers['x-request-id'] as string;

describe('Idempotency-Key on writes', () => {
  let vault: TestApp;
  let ingest: TestPrincipal;
  let ingest2: TestPrincipal;
  let privacy: TestPrincipal;
  let security: TestPrincipal;
  let admin: TestPrincipal;
  let customerId: string;
  const secrets: string[] = [];

  const create = (who: TestPrincipal, key: string | undefined, body: object) => {
    const req = vault.http().post('/v1/customers').set('Authorization', who.authHeader);
    return (key === undefined ? req : req.set('Idempotency-Key', key)).send(body);
  };

  beforeAll(async () => {
    vault = await startTestApp();
    ingest = await createPrincipal(vault, { roles: ['ingest'] });
    ingest2 = await createPrincipal(vault, { roles: ['ingest'] });
    privacy = await createPrincipal(vault, { roles: ['privacy'] });
    security = await createPrincipal(vault, { roles: ['security'] });
    admin = await createPrincipal(vault, { roles: ['admin'] });
    secrets.push(ingest.token, ingest2.token, privacy.token, security.token, admin.token);
  });
  afterAll(async () => {
    await vault?.close();
  });

  it('the same key and request twice: one customer, the same status and answer, marked replayed; the replay is audited as a replay of the first', async () => {
    const key = randomUUID();
    const body = { externalRef: 'IDEM-1', personal: { fullName: PERSON.fullName, email: PERSON.email, phone: PERSON.phone } };
    const first = await create(ingest, key, body).expect(201);
    expect(first.headers[REPLAYED]).toBeUndefined();
    customerId = first.body.id as string;
    const again = await create(ingest, key, { personal: body.personal, externalRef: 'IDEM-1' }).expect(201);
    expect(again.headers[REPLAYED]).toBe('true');
    expect(again.body).toEqual(first.body);
    expect(await count(vault, "SELECT count(*) FROM customers WHERE external_ref = 'IDEM-1'")).toBe(1);

    // Without an externalRef nothing else stands in the way of a duplicate: the key alone does.
    const before = await count(vault, 'SELECT count(*) FROM customers');
    const plainKey = randomUUID();
    const plain = { personal: { fullName: PERSON.fullName, nationalId: PERSON.nationalId } };
    const one = await create(ingest, plainKey, plain).expect(201);
    const two = await create(ingest, plainKey, plain).expect(201);
    const three = await create(ingest, plainKey, plain).expect(201);
    expect([two.body, three.body]).toEqual([one.body, one.body]);
    expect([two.headers[REPLAYED], three.headers[REPLAYED]]).toEqual(['true', 'true']);
    expect(await count(vault, 'SELECT count(*) FROM customers')).toBe(before + 1);

    // The original committed with its event; the replay has its own, naming the original request.
    const [original] = await eventsOf(vault, requestIdOf(first));
    expect(original).toMatchObject({ action: 'customer.create', outcome: 'allowed', status: 201, resource_id: customerId });
    expect(original!.fields_written.sort()).toEqual(['email', 'fullName', 'phone']);
    const replay = await eventsOf(vault, requestIdOf(again));
    expect(replay).toEqual([
      expect.objectContaining({ action: 'customer.create', outcome: 'allowed', status: 201, resource_id: customerId, fields_written: [], fields_revealed: [], details: { replayOf: requestIdOf(first) } }),
    ]);
    // One row per key, with ids only.
    const rows = await vault.sql<{ principal_id: string; request_id: string; resource_id: string; status: number; answer: unknown }>(
      'SELECT principal_id, request_id, resource_id, status, answer FROM idempotency_keys WHERE key = $1',
      [key],
    );
    expect(rows).toEqual([{ principal_id: ingest.id, request_id: requestIdOf(first), resource_id: customerId, status: 201, answer: first.body }]);
  });

  it('the same key with another request is 422 idempotency_key_reused and writes nothing: another body, route, resource, purpose or reason', async () => {
    const key = randomUUID();
    const body = { personal: { fullName: 'Reused Key Person' } };
    await create(ingest, key, body).expect(201);
    const customers = await count(vault, 'SELECT count(*) FROM customers');
    const other = await create(ingest, key, { personal: { fullName: 'Another Person Entirely' } }).expect(422);
    expect(other.body.error).toMatchObject({ code: 'idempotency_key_reused', requestId: requestIdOf(other) });
    expect(other.text).not.toContain('Another Person');
    // Member order and whitespace are not the request: the same body reordered is a replay.
    const reordered = await vault.http().post('/v1/customers').set('Authorization', ingest.authHeader).set('Idempotency-Key', key)
      .set('Content-Type', 'application/json').send('{ "personal" : { "fullName" : "Reused Key Person" } }').expect(201);
    expect(reordered.headers[REPLAYED]).toBe('true');
    expect(await count(vault, 'SELECT count(*) FROM customers')).toBe(customers);
    const [refused] = await eventsOf(vault, requestIdOf(other));
    expect(refused).toMatchObject({ action: 'customer.create', outcome: 'denied', status: 422 });

    // The same principal on another route with the key: 422, the customer untouched.
    const revision = await count(vault, 'SELECT revision FROM customers WHERE id = $1', [customerId]);
    await vault.http().patch(`/v1/customers/${customerId}`).set('Authorization', ingest.authHeader).set('Idempotency-Key', key).send(body).expect(422);
    expect(await count(vault, 'SELECT revision FROM customers WHERE id = $1', [customerId])).toBe(revision);

    // The declared reason is part of the request: the same consent change with another reason is another request.
    const consentKey = randomUUID();
    const consents = (reason: string) => vault.http().put(`/v1/customers/${customerId}/consents`).set('Authorization', privacy.authHeader)
      .set('X-Access-Purpose', 'customer_request').set('X-Access-Reason', reason).set('Idempotency-Key', consentKey).send({ marketing: true });
    const set = await consents('DSAR 2026-101').expect(200);
    expect((await consents('DSAR 2026-101').expect(200)).body).toEqual(set.body);
    await consents('DSAR 2026-102').expect(422);
    expect(await count(vault, 'SELECT count(*) FROM customer_consent_history WHERE customer_id = $1', [customerId])).toBe(2);
  });

  it('keys are per principal: another principal with the same key and body writes on its own', async () => {
    const key = randomUUID();
    const body = { personal: { fullName: 'Scoped Key Person' } };
    const mine = await create(ingest, key, body).expect(201);
    const theirs = await create(ingest2, key, body).expect(201);
    expect(theirs.headers[REPLAYED]).toBeUndefined();
    expect(theirs.body.id).not.toBe(mine.body.id);
    expect((await create(ingest2, key, body).expect(201)).body).toEqual(theirs.body);
    expect(await count(vault, 'SELECT count(*) FROM idempotency_keys WHERE key = $1', [key])).toBe(2);
  });

  it('a failed request stores nothing: the key stays free for the corrected request', async () => {
    const key = randomUUID();
    await create(ingest, key, { personal: { fullName: 'Broken Body', email: 'not-an-email' } }).expect(400);
    expect(await count(vault, 'SELECT count(*) FROM idempotency_keys WHERE key = $1', [key])).toBe(0);
    const fixed = await create(ingest, key, { personal: { fullName: 'Broken Body', email: 'fixed.body@example.com' } }).expect(201);
    expect(fixed.headers[REPLAYED]).toBeUndefined();

    const patchKey = randomUUID();
    await vault.http().patch(`/v1/customers/${randomUUID()}`).set('Authorization', privacy.authHeader).set('Idempotency-Key', patchKey).send({ personal: { fullName: 'Nobody Here' } }).expect(404);
    const patched = await vault.http().patch(`/v1/customers/${fixed.body.id}`).set('Authorization', privacy.authHeader).set('Idempotency-Key', patchKey).send({ personal: { fullName: 'Broken Body Fixed' } }).expect(200);
    expect(patched.headers[REPLAYED]).toBeUndefined();
  });

  it('a malformed key is 400 invalid_input naming the header, audited, and writes nothing', async () => {
    const customers = await count(vault, 'SELECT count(*) FROM customers');
    for (const bad of ['', 'with space', 'x'.repeat(256), 'caf\u00e9', ['one', 'two']]) {
      const res = await create(ingest, bad as string, { personal: { fullName: 'Malformed Key Person' } });
      expect({ bad, status: res.status, code: res.body.error?.code, details: res.body.error?.details }).toEqual({
        bad,
        status: 400,
        code: 'invalid_input',
        details: [{ field: 'Idempotency-Key', problem: '1 to 255 visible ASCII characters (no spaces), sent once' }],
      });
      expect(await eventsOf(vault, requestIdOf(res))).toEqual([expect.objectContaining({ action: 'customer.create', outcome: 'denied', status: 400 })]);
    }
    await create(ingest, 'x'.repeat(255), { personal: { fullName: 'Longest Key Person' } }).expect(201);
    expect(await count(vault, 'SELECT count(*) FROM customers')).toBe(customers + 1);
    // A search is a read: the key is checked, not stored, and a retry searches again.
    const search = () => vault.http().post('/v1/customers/search').set('Authorization', privacy.authHeader).set('X-Access-Purpose', 'customer_request').set('X-Access-Reason', 'DSAR 2026-103');
    await search().set('Idempotency-Key', 'with space').send({ externalRef: 'IDEM-1' }).expect(400);
    const searchKey = randomUUID();
    const found = await search().set('Idempotency-Key', searchKey).send({ externalRef: 'IDEM-1' }).expect(200);
    expect(found.body).toEqual({ results: [{ id: customerId }] });
    const again = await search().set('Idempotency-Key', searchKey).send({ externalRef: 'IDEM-1' }).expect(200);
    expect(again.headers[REPLAYED]).toBeUndefined();
    expect(await count(vault, 'SELECT count(*) FROM idempotency_keys WHERE key = $1', [searchKey])).toBe(0);
  });

  it('concurrent requests with one key: exactly one write, every answer the same (the others wait for it, then replay it)', async () => {
    const before = await count(vault, 'SELECT count(*) FROM customers');
    const key = randomUUID();
    const body = { personal: { fullName: 'Concurrent Twin', email: 'concurrent.twin@example.com' } };
    const answers = await Promise.all(Array.from({ length: 8 }, () => create(ingest, key, body)));
    expect(answers.map((res) => res.status)).toEqual(Array(8).fill(201));
    expect(new Set(answers.map((res) => res.body.id)).size).toBe(1);
    expect(answers.filter((res) => res.headers[REPLAYED] === undefined)).toHaveLength(1);
    expect(await count(vault, 'SELECT count(*) FROM customers')).toBe(before + 1);

    // A correction in a transaction: one new revision, however many arrive together.
    const id = answers[0]!.body.id as string;
    const revision = await count(vault, 'SELECT revision FROM customers WHERE id = $1', [id]);
    const patchKey = randomUUID();
    const patches = await Promise.all(Array.from({ length: 6 }, () => vault.http().patch(`/v1/customers/${id}`).set('Authorization', privacy.authHeader).set('Idempotency-Key', patchKey).send({ personal: { fullName: 'Concurrent Twin Corrected' } })));
    expect(patches.map((res) => res.status)).toEqual(Array(6).fill(200));
    expect(new Set(patches.map((res) => JSON.stringify(res.body))).size).toBe(1);
    expect(patches.filter((res) => res.headers[REPLAYED] === undefined)).toHaveLength(1);
    expect(await count(vault, 'SELECT revision FROM customers WHERE id = $1', [id])).toBe(revision + 1);
  });

  it('a replay passes authentication and the route policy first: a revoked token gets 401, a missing reason 400, not the stored answer', async () => {
    const doomed = await createPrincipal(vault, { roles: ['ingest'] });
    secrets.push(doomed.token);
    const key = randomUUID();
    const body = { personal: { fullName: 'Revoked Replay Person' } };
    await create(doomed, key, body).expect(201);
    await vault.http().delete(`/v1/principals/${doomed.id}`).set('Authorization', admin.authHeader).expect(204);
    const refused = await create(doomed, key, body).expect(401);
    expect(refused.text).not.toContain('"id"');

    const consentKey = randomUUID();
    const consents = vault.http().put(`/v1/customers/${customerId}/consents`).set('Authorization', privacy.authHeader).set('X-Access-Purpose', 'customer_request').set('Idempotency-Key', consentKey);
    await consents.set('X-Access-Reason', 'DSAR 2026-104').send({ thirdPartySharing: true }).expect(200);
    const noReason = await vault.http().put(`/v1/customers/${customerId}/consents`).set('Authorization', privacy.authHeader).set('X-Access-Purpose', 'customer_request').set('Idempotency-Key', consentKey).send({ thirdPartySharing: true }).expect(400);
    expect(noReason.body.error.code).toBe('reason_required');
  });

  it('answers that carry values, secrets or free text are replayed without them: a disclosure without data, a new principal without its token, a hold without its reason', async () => {
    const disclosureKey = randomUUID();
    const disclose = () => vault.http().post(`/v1/customers/${customerId}/disclosures`).set('Authorization', privacy.authHeader).set('Idempotency-Key', disclosureKey)
      .send({ recipient: { name: 'Tax Department', country: 'VN' }, legalBasis: 'legal_obligation', reference: 'Decision 77/QD-CT', fields: ['fullName', 'email'] });
    const disclosed = await disclose().expect(201);
    expect(disclosed.body.data).toEqual({ fullName: PERSON.fullName, email: PERSON.email });
    const replayed = await disclose().expect(201);
    expect(replayed.headers[REPLAYED]).toBe('true');
    const { data, ...register } = disclosed.body as { data: unknown };
    expect(data).toBeDefined();
    expect(replayed.body).toEqual(register);
    expect(await count(vault, 'SELECT count(*) FROM customer_disclosures WHERE customer_id = $1', [customerId])).toBe(1);
    const [replayEvent] = await eventsOf(vault, requestIdOf(replayed));
    expect(replayEvent).toMatchObject({ action: 'customer.disclose', outcome: 'allowed', fields_revealed: [], details: { replayOf: requestIdOf(disclosed) } });

    const principalKey = randomUUID();
    const newPrincipal = () => vault.http().post('/v1/principals').set('Authorization', admin.authHeader).set('Idempotency-Key', principalKey).send({ name: 'replayed-service', kind: 'service', roles: ['billing'] });
    const created = await newPrincipal().expect(201);
    secrets.push(created.body.token as string);
    const again = await newPrincipal().expect(201);
    const { token, ...principal } = created.body as { token: string };
    expect(token).toMatch(/^cv_/);
    expect(again.body).toEqual(principal);
    expect(await count(vault, "SELECT count(*) FROM principals WHERE name = 'replayed-service'")).toBe(1);

    const holdKey = randomUUID();
    const hold = () => vault.http().put(`/v1/customers/${customerId}/contact-hold`).set('Authorization', security.authHeader).set('Idempotency-Key', holdKey).send({ reason: HOLD_REASON });
    const held = await hold().expect(200);
    expect(held.body.contactHold.reason).toBe(HOLD_REASON);
    const heldAgain = await hold().expect(200);
    const { reason, ...mark } = held.body.contactHold as { reason: string };
    expect(reason).toBe(HOLD_REASON);
    expect(heldAgain.body).toEqual({ id: customerId, contactHold: mark });
    await vault.http().delete(`/v1/customers/${customerId}/contact-hold`).set('Authorization', security.authHeader).expect(204);
  });

  it('keys of key operations: a retried rotation rotates once', async () => {
    const key = randomUUID();
    const rotated = await vault.http().post('/v1/keys/rotate').set('Authorization', admin.authHeader).set('Idempotency-Key', key).expect(202);
    const again = await vault.http().post('/v1/keys/rotate').set('Authorization', admin.authHeader).set('Idempotency-Key', key).expect(202);
    expect(again.body).toEqual(rotated.body);
    expect(again.headers[REPLAYED]).toBe('true');
    expect(await count(vault, 'SELECT max(version) FROM kek_versions')).toBe(rotated.body.version as number);
  });

  it('stores no field value, token or reason: the idempotency table, the whole database and the logs hold none', async () => {
    const stored = (await vault.sql<{ row: string }>("SELECT concat_ws(' ', principal_id, key, encode(request_hash, 'escape'), request_id, resource_id, answer::text) AS row FROM idempotency_keys")).map((r) => r.row).join('\n');
    expect(stored.length).toBeGreaterThan(0);
    for (const needle of [...NEEDLES, ...secrets, HOLD_REASON, 'Reused Key Person', 'Concurrent Twin']) expect({ needle, found: stored.toLowerCase().includes(needle.toLowerCase()) }).toEqual({ needle, found: false });
    expect(await findLeaks(vault, [...NEEDLES, ...secrets])).toEqual([]);
  });
});

describe('Idempotency-Key expiry (VAULT_IDEMPOTENCY_TTL)', () => {
  let vault: TestApp;
  let ingest: TestPrincipal;

  beforeAll(async () => {
    vault = await startTestApp({ env: { VAULT_IDEMPOTENCY_TTL: '3s' } });
    ingest = await createPrincipal(vault, { roles: ['ingest'] });
  });
  afterAll(async () => {
    await vault?.close();
  });

  /** Longer than the TTL (3 s: room for a slow machine between a write and its replay). */
  const expiry = () => new Promise((resolve) => setTimeout(resolve, 3_300));

  it('an expired key is free again (a new write, even with another body), and the purge deletes expired keys', async () => {
    const key = randomUUID();
    const create = (fullName: string) => vault.http().post('/v1/customers').set('Authorization', ingest.authHeader).set('Idempotency-Key', key).send({ personal: { fullName } });
    const first = await create('Expiring Key Person').expect(201);
    expect((await create('Expiring Key Person').expect(201)).headers[REPLAYED]).toBe('true');
    await expiry();
    const later = await create('Expiring Key Person').expect(201);
    expect(later.headers[REPLAYED]).toBeUndefined();
    expect(later.body.id).not.toBe(first.body.id);
    await create('Someone Else').expect(422);
    await expiry();
    const other = await create('Someone Else').expect(201);
    expect(other.headers[REPLAYED]).toBeUndefined();
    expect(await count(vault, 'SELECT count(*) FROM customers')).toBe(3);

    await expiry();
    expect(await count(vault, 'SELECT count(*) FROM idempotency_keys')).toBe(1);
    expect(await vault.app.get(IdempotencyStore).purgeExpired()).toBe(1);
    expect(await count(vault, 'SELECT count(*) FROM idempotency_keys')).toBe(0);
  });
});

describe('outcome_unknown: the connection to PostgreSQL cut while a commit is in flight (TCP proxy)', () => {
  let databaseUrl: string;
  let proxy: PgCutProxy;
  let vault: TestApp;
  let direct: pg.Pool;
  let ingest: TestPrincipal;
  let privacy: TestPrincipal;

  const create = (key: string | undefined, externalRef: string) => {
    const req = vault.http().post('/v1/customers').set('Authorization', ingest.authHeader);
    return (key === undefined ? req : req.set('Idempotency-Key', key)).send({ externalRef, personal: { fullName: PERSON.fullName, email: PERSON.email } });
  };
  const customersWith = async (externalRef: string): Promise<string[]> =>
    (await direct.query<{ id: string }>('SELECT id FROM customers WHERE external_ref = $1', [externalRef])).rows.map((row) => row.id);
  /** A create whose connection the proxy cuts at its statement (the create commits by itself); its 503 outcome_unknown. */
  async function createAcrossCut(key: string | undefined, ref: string, mode: 'before-send' | 'after-reply'): Promise<Response> {
    const cut = proxy.arm({ marker: ref, at: 'statement', mode });
    const lost = await create(key, ref);
    await cut;
    expect(lost.status).toBe(503);
    expect(lost.body.error).toMatchObject({ code: 'outcome_unknown', requestId: requestIdOf(lost) });
    return lost;
  }

  beforeAll(async () => {
    databaseUrl = await createTestDatabase();
    proxy = await PgCutProxy.start(databaseUrl);
    vault = await startTestApp({ databaseUrl: proxy.urlFor(databaseUrl) });
    direct = new pg.Pool({ connectionString: databaseUrl, max: 2 });
    ingest = await createPrincipal(vault, { roles: ['ingest'] });
    privacy = await createPrincipal(vault, { roles: ['privacy'] });
  });
  afterAll(async () => {
    await vault?.close();
    await proxy?.close();
    await direct?.end();
    if (databaseUrl !== undefined) await dropTestDatabase(databaseUrl);
  });

  it('the create committed but its answer was lost: 503 outcome_unknown; the retry with the key answers the stored customer, and there is exactly one', async () => {
    const key = randomUUID();
    const lost = await createAcrossCut(key, 'CUT-AFTER-1', 'after-reply');
    // It did land, with its event.
    const stored = await customersWith('CUT-AFTER-1');
    expect(stored).toHaveLength(1);
    expect((await direct.query("SELECT 1 FROM audit_pending WHERE request_id = $1 AND action = 'customer.create' AND outcome = 'allowed' UNION ALL SELECT 1 FROM audit_events WHERE request_id = $1 AND action = 'customer.create' AND outcome = 'allowed'", [requestIdOf(lost)])).rowCount).toBe(1);

    const retry = await create(key, 'CUT-AFTER-1').expect(201);
    expect(retry.headers[REPLAYED]).toBe('true');
    expect(retry.body.id).toBe(stored[0]);
    expect(await customersWith('CUT-AFTER-1')).toEqual(stored);
    const [replay] = await eventsOf(vault, requestIdOf(retry));
    expect(replay!.details).toEqual({ replayOf: requestIdOf(lost) });
  });

  it('the create never reached PostgreSQL: 503 outcome_unknown too (the vault cannot tell); the retry with the key writes it once', async () => {
    const key = randomUUID();
    await createAcrossCut(key, 'CUT-BEFORE-1', 'before-send');
    expect(await customersWith('CUT-BEFORE-1')).toEqual([]);
    const retry = await create(key, 'CUT-BEFORE-1').expect(201);
    expect(retry.headers[REPLAYED]).toBeUndefined();
    expect(await customersWith('CUT-BEFORE-1')).toEqual([retry.body.id]);
    expect((await create(key, 'CUT-BEFORE-1').expect(201)).headers[REPLAYED]).toBe('true');
    expect(await customersWith('CUT-BEFORE-1')).toHaveLength(1);
  });

  it('without a key the same cut leaves the caller stuck: the retry is refused as a duplicate (what the key is for)', async () => {
    await createAcrossCut(undefined, 'CUT-NOKEY-1', 'after-reply');
    expect((await create(undefined, 'CUT-NOKEY-1').expect(409)).body.error.code).toBe('conflict');
    expect(await customersWith('CUT-NOKEY-1')).toHaveLength(1);
  });

  /** A customer, and a keyed correction of it whose connection the proxy cuts at its COMMIT. */
  async function correctionAcrossCut(ref: string, fullName: string, mode: 'before-send' | 'after-reply') {
    const id = (await create(undefined, ref).expect(201)).body.id as string;
    const revision = async () => (await direct.query<{ revision: number }>('SELECT revision FROM customers WHERE id = $1', [id])).rows[0]!.revision;
    const before = await revision();
    const key = randomUUID();
    const correct = () => vault.http().patch(`/v1/customers/${id}`).set('Authorization', privacy.authHeader).set('Idempotency-Key', key).send({ personal: { fullName } });
    const cut = proxy.arm({ marker: id, at: 'commit', mode });
    const lost = await correct();
    await cut;
    expect(lost.status).toBe(503);
    expect(lost.body.error.code).toBe('outcome_unknown');
    return { id, before, revision, correct };
  }

  it('a correction whose COMMIT landed but whose answer was lost: 503 outcome_unknown; the retry replays it and the record moved one revision', async () => {
    const { id, before, revision, correct } = await correctionAcrossCut('CUT-PATCH-1', 'Corrected Across A Cut', 'after-reply');
    expect(await revision()).toBe(before + 1);
    const retry = await correct().expect(200);
    expect(retry.headers[REPLAYED]).toBe('true');
    expect(retry.body.id).toBe(id);
    expect(await revision()).toBe(before + 1);
    const read = await vault.http().get(`/v1/customers/${id}`).set('Authorization', privacy.authHeader).set('X-Access-Purpose', 'customer_request').set('X-Access-Reason', 'DSAR 2026-105').expect(200);
    expect(read.body.data.fullName).toBe('Corrected Across A Cut');
    expect(read.body.updatedAt).toBe(retry.body.updatedAt);
  });

  it('a correction cut before its COMMIT was sent rolled back: 503 outcome_unknown, and the retry corrects once', async () => {
    const { before, revision, correct } = await correctionAcrossCut('CUT-PATCH-2', 'Corrected After A Cut', 'before-send');
    expect(await revision()).toBe(before);
    const retry = await correct().expect(200);
    expect(retry.headers[REPLAYED]).toBeUndefined();
    expect(await revision()).toBe(before + 1);
  });
});
