import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { randomUUID } from 'node:crypto';
import type { Server } from 'node:http';
import { connect, type AddressInfo } from 'node:net';
import pg from 'pg';
import type { Response } from 'supertest';
import { IDEMPOTENCY_PURGE_LOCK, IdempotencyStore } from '../../src/idempotency/idempotency.store.js';
import { count, eventsOf, type EventRow } from '../helpers/audit-events.js';
import { PgCutProxy } from '../helpers/pg-cut-proxy.js';
import { createPrincipal, type TestPrincipal } from '../helpers/principals.js';
import { createTestDatabase, dropTestDatabase, startTestApp, type TestApp } from '../helpers/test-app.js';
import { waitFor } from '../helpers/wait.js';

/**
 * Red team of the Idempotency-Key (issue 16, DESIGN §4 and the deviations in docs/DESIGN.md), through
 * HTTP against real PostgreSQL: what an adversary holding a token (or a revoked one, or one of a
 * narrower role) can get out of another principal's keys, out of a replay after the customer or the
 * policy changed, out of bodies the canonicalisation might confuse, out of races around one key and
 * its expiry, out of the key table's growth, out of keys that look like data, and what the audit log
 * says about replays and refusals.
 */

const REPLAYED = 'idempotent-replayed';

const requestIdOf = (res: Response): string => res.headers['x-request-id'] as string;
const keyRows = (vault: TestApp, key: string): Promise<number> => count(vault, 'SELECT count(*) FROM idempotency_keys WHERE key = $1', [key]);
const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));

/** What a client sees of an answer besides its body: the headers that vary per request left out. */
function headerNames(res: Response): string[] {
  return Object.keys(res.headers).filter((name) => !['date', 'x-request-id', 'content-length', 'etag'].includes(name)).sort();
}

describe('Idempotency-Key under attack', () => {
  let vault: TestApp;
  let server: Server;
  let ingest: TestPrincipal;
  let ingest2: TestPrincipal;
  let billing: TestPrincipal;
  let support: TestPrincipal;
  let privacy: TestPrincipal;
  let security: TestPrincipal;
  let admin: TestPrincipal;

  const create = (who: TestPrincipal, key: string | undefined, body: object) => {
    const req = vault.http().post('/v1/customers').set('Authorization', who.authHeader);
    return (key === undefined ? req : req.set('Idempotency-Key', key)).send(body);
  };
  const consents = (id: string, key: string, reason = 'DSAR 2026-900') =>
    vault.http().put(`/v1/customers/${id}/consents`).set('Authorization', privacy.authHeader).set('X-Access-Purpose', 'customer_request').set('X-Access-Reason', reason).set('Idempotency-Key', key);
  const newCustomer = async (fullName: string, extra: object = {}): Promise<string> => (await create(ingest, undefined, { personal: { fullName, email: `${fullName.toLowerCase().replace(/\W+/g, '.')}@example.com` }, ...extra }).expect(201)).body.id as string;

  beforeAll(async () => {
    vault = await startTestApp();
    server = vault.app.getHttpServer() as Server;
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', () => resolve()));
    ingest = await createPrincipal(vault, { roles: ['ingest'] });
    ingest2 = await createPrincipal(vault, { roles: ['ingest'] });
    billing = await createPrincipal(vault, { roles: ['billing'] });
    support = await createPrincipal(vault, { roles: ['support'] });
    privacy = await createPrincipal(vault, { roles: ['privacy'] });
    security = await createPrincipal(vault, { roles: ['security'] });
    admin = await createPrincipal(vault, { roles: ['admin'] });
  });
  afterAll(async () => {
    await vault?.close();
  });

  it("another principal cannot replay, probe or block someone else's key: same role, narrower role, a revoked token, a namesake of a revoked principal", async () => {
    const key = `probe-${randomUUID()}`;
    const body = { personal: { fullName: 'Probed Keyholder' } };
    const mine = await create(ingest, key, body).expect(201);
    const baseline = await create(ingest2, `never-used-${randomUUID()}`, body).expect(201);

    // Another principal of the same role with the key and ANOTHER body: no 422 (that would tell it the key exists).
    const otherBody = await create(ingest2, key, { personal: { fullName: 'Someone The Prober Made Up' } }).expect(201);
    expect(otherBody.headers[REPLAYED]).toBeUndefined();
    // Another principal with the key and the SAME body: its own first write, like any unused key.
    const sameBody = await create(billing, key, body).expect(201);
    expect(sameBody.headers[REPLAYED]).toBeUndefined();
    expect(new Set([mine.body.id, otherBody.body.id, sameBody.body.id, baseline.body.id]).size).toBe(4);
    expect([headerNames(otherBody), headerNames(sameBody)]).toEqual([headerNames(baseline), headerNames(baseline)]);

    // A narrower role (support may not create): the route policy refuses before any key is looked at.
    const narrow = await create(support, key, body).expect(403);
    expect(narrow.headers[REPLAYED]).toBeUndefined();
    expect(narrow.text).not.toContain(mine.body.id as string);
    // ... and its own writes with the key are its own (support corrects with purpose customer_request).
    const supportPatch = await vault.http().patch(`/v1/customers/${mine.body.id}`).set('Authorization', support.authHeader).set('X-Access-Purpose', 'customer_request')
      .set('X-Access-Reason', 'TICKET-77').set('Idempotency-Key', key).send(body).expect(200);
    expect(supportPatch.headers[REPLAYED]).toBeUndefined();

    // A revoked token: 401, nothing of the stored answer; a new principal under the revoked one's name inherits nothing.
    const doomed = await createPrincipal(vault, { roles: ['ingest'] });
    const doomedKey = `doomed-${randomUUID()}`;
    const theirs = await create(doomed, doomedKey, body).expect(201);
    await vault.http().delete(`/v1/principals/${doomed.id}`).set('Authorization', admin.authHeader).expect(204);
    const revoked = await create(doomed, doomedKey, body).expect(401);
    expect(revoked.headers[REPLAYED]).toBeUndefined();
    expect(revoked.text).not.toContain(theirs.body.id as string);
    const namesake = await createPrincipal(vault, { roles: ['ingest'], name: doomed.name });
    const heir = await create(namesake, doomedKey, body).expect(201);
    expect(heir.headers[REPLAYED]).toBeUndefined();
    expect(heir.body.id).not.toBe(theirs.body.id);

    // The key holder's stored answer is untouched by all of it.
    const rows = await vault.sql<{ principal_id: string; request_id: string; answer: unknown }>('SELECT principal_id, request_id, answer FROM idempotency_keys WHERE key = $1 ORDER BY created_at', [key]);
    expect(rows.find((row) => row.principal_id === ingest.id)).toEqual({ principal_id: ingest.id, request_id: requestIdOf(mine), answer: mine.body });
    expect((await create(ingest, key, body).expect(201)).body).toEqual(mine.body);
  });

  it('a replay after the customer or the policy changed hands out nothing the caller may not see now: no disclosure data after consent withdrawal, restriction or erasure', async () => {
    const PLAIN = { fullName: 'Dorotea Xanthopoulou', email: 'dorotea.xanthopoulou@example.com' };
    const id = (await create(ingest, undefined, { personal: PLAIN, consents: { thirdPartySharing: true } }).expect(201)).body.id as string;
    const key = randomUUID();
    const disclose = () => vault.http().post(`/v1/customers/${id}/disclosures`).set('Authorization', privacy.authHeader).set('Idempotency-Key', key)
      .send({ recipient: { name: 'Partner Insurance', country: 'VN' }, legalBasis: 'consent', fields: ['fullName', 'email'] });
    const first = await disclose().expect(201);
    expect(first.body.data).toEqual(PLAIN);
    const { data: _data, ...register } = first.body as { data: unknown };

    const replayNow = async (): Promise<void> => {
      const replay = await disclose().expect(201);
      expect(replay.headers[REPLAYED]).toBe('true');
      expect(replay.body).toEqual(register);
      for (const value of Object.values(PLAIN)) expect(replay.text.toLowerCase()).not.toContain(value.toLowerCase());
      const [event] = await eventsOf(vault, requestIdOf(replay));
      expect(event).toMatchObject({ action: 'customer.disclose', outcome: 'allowed', fields_revealed: [], fields_masked: [], details: { replayOf: requestIdOf(first) } });
    };
    // Consent withdrawn: a new consent-based disclosure is refused, the replay carries no value.
    await consents(id, randomUUID()).send({ thirdPartySharing: false }).expect(200);
    await vault.http().post(`/v1/customers/${id}/disclosures`).set('Authorization', privacy.authHeader).send({ recipient: { name: 'Partner Insurance', country: 'VN' }, legalBasis: 'consent', fields: ['fullName'] }).expect(403);
    await replayNow();
    // Restricted, then erased.
    await vault.http().put(`/v1/customers/${id}/restriction`).set('Authorization', privacy.authHeader).send({ reason: 'customer asked, ticket R-1' }).expect(200);
    await replayNow();
    await vault.http().delete(`/v1/customers/${id}`).set('Authorization', privacy.authHeader).expect(204);
    await vault.http().post(`/v1/customers/${id}/disclosures`).set('Authorization', privacy.authHeader).send({ recipient: { name: 'Partner Insurance', country: 'VN' }, legalBasis: 'legal_obligation', reference: 'Order 1', fields: ['fullName'] }).expect(410);
    await replayNow();
    expect(await count(vault, 'SELECT count(*) FROM customer_disclosures WHERE customer_id = $1', [id])).toBe(1);
  });

  it('after an erasure, the replays of every write on the customer carry no externalRef, reason or value, and the key table holds none', async () => {
    const REF = 'ERASED-REF-5521';
    const HOLD = 'hold: phishing report PH-5521';
    const RESTRICTION = 'restriction: objection letter OL-5521';
    const NAME = 'Erasmus Quintavalle';
    const keys = { create: randomUUID(), patch: randomUUID(), hold: randomUUID(), restriction: randomUUID(), closure: randomUUID(), consents: randomUUID() };
    const sends: Record<keyof typeof keys, () => ReturnType<ReturnType<TestApp['http']>['post']>> = {
      create: () => create(ingest, keys.create, { externalRef: REF, personal: { fullName: NAME } }),
      patch: () => vault.http().patch(`/v1/customers/${ids.id}`).set('Authorization', privacy.authHeader).set('Idempotency-Key', keys.patch).send({ personal: { fullName: `${NAME} Jr` } }),
      hold: () => vault.http().put(`/v1/customers/${ids.id}/contact-hold`).set('Authorization', security.authHeader).set('Idempotency-Key', keys.hold).send({ reason: HOLD }),
      restriction: () => vault.http().put(`/v1/customers/${ids.id}/restriction`).set('Authorization', privacy.authHeader).set('Idempotency-Key', keys.restriction).send({ reason: RESTRICTION }),
      closure: () => vault.http().put(`/v1/customers/${ids.id}/closure`).set('Authorization', privacy.authHeader).set('Idempotency-Key', keys.closure).send({}),
      consents: () => consents(ids.id, keys.consents).send({ marketing: true }),
    };
    const ids = { id: '' };
    const firsts: Partial<Record<keyof typeof keys, Response>> = {};
    firsts.create = await sends.create().expect(201);
    ids.id = firsts.create.body.id as string;
    firsts.patch = await sends.patch().expect(200);
    firsts.consents = await sends.consents().expect(200);
    firsts.closure = await sends.closure().expect(200);
    firsts.restriction = await sends.restriction().expect(200);
    firsts.hold = await sends.hold().expect(200);
    expect(firsts.hold.body.contactHold.reason).toBe(HOLD);
    await vault.http().delete(`/v1/customers/${ids.id}`).set('Authorization', privacy.authHeader).expect(204);

    for (const name of Object.keys(keys) as (keyof typeof keys)[]) {
      const replay = await sends[name]();
      expect({ name, status: replay.status, replayed: replay.headers[REPLAYED] }).toEqual({ name, status: firsts[name]!.status, replayed: 'true' });
      for (const needle of [REF, HOLD, RESTRICTION, NAME]) expect({ name, needle, found: replay.text.includes(needle) }).toEqual({ name, needle, found: false });
    }
    const stored = (await vault.sql<{ answer: unknown }>('SELECT answer FROM idempotency_keys WHERE key = ANY($1)', [Object.values(keys)])).map((row) => JSON.stringify(row.answer)).join('\n');
    for (const needle of [REF, HOLD, RESTRICTION, NAME]) expect(stored).not.toContain(needle);
  });

  it('request-digest confusion: what the vault reads differently is 422, only what it reads the same is a replay', async () => {
    const id = await newCustomer('Digest Confusion Target');
    const other = await newCustomer('Digest Confusion Other');
    const key = randomUUID();
    const history = () => count(vault, 'SELECT count(*) FROM customer_consent_history WHERE customer_id = $1', [id]);
    const first = await consents(id, key, 'DSAR 2026-901').send({ marketing: true, thirdPartySharing: false }).expect(200);
    const written = await history();

    const raw = (text: string, type = 'application/json') => consents(id, key, 'DSAR 2026-901').set('Content-Type', type).send(text);
    // Read the same: member order and whitespace, escapes, the charset parameter, a query string no write
    // route reads, a duplicated member (JSON.parse keeps the last, as the write does), another X-Request-Id.
    const same: [string, () => Promise<Response>][] = [
      ['reordered, spaced', () => raw('{ "thirdPartySharing" : false ,\n\t"marketing" : true }')],
      ['escaped member names', () => raw('{"\\u006darketing":true,"thirdPartySharing":false}')],
      ['charset parameter', () => raw('{"marketing":true,"thirdPartySharing":false}', 'application/json; charset=utf-8')],
      ['duplicate member, last wins', () => raw('{"marketing":false,"thirdPartySharing":false,"marketing":true}')],
      ['query string', () => vault.http().put(`/v1/customers/${id}/consents?marketing=false`).set('Authorization', privacy.authHeader).set('X-Access-Purpose', 'customer_request').set('X-Access-Reason', 'DSAR 2026-901').set('Idempotency-Key', key).send({ marketing: true, thirdPartySharing: false })],
      ['another X-Request-Id', () => consents(id, key, 'DSAR 2026-901').set('X-Request-Id', 'client-retry-2').send({ marketing: true, thirdPartySharing: false })],
    ];
    for (const [name, send] of same) {
      const res = await send();
      expect({ name, status: res.status, replayed: res.headers[REPLAYED], body: res.body }).toEqual({ name, status: 200, replayed: 'true', body: first.body });
    }
    // Read differently: 422, never a replay, nothing written.
    const differs: [string, () => Promise<Response>][] = [
      ['a member missing', () => consents(id, key, 'DSAR 2026-901').send({ marketing: true })],
      ['a value changed', () => consents(id, key, 'DSAR 2026-901').send({ marketing: true, thirdPartySharing: true })],
      ['duplicate member, last differs', () => raw('{"marketing":true,"thirdPartySharing":false,"marketing":false}')],
      ['another reason', () => consents(id, key, 'DSAR 2026-902').send({ marketing: true, thirdPartySharing: false })],
      ['the reason with a trailing dot', () => consents(id, key, 'DSAR 2026-901.').send({ marketing: true, thirdPartySharing: false })],
      ['another customer', () => consents(other, key, 'DSAR 2026-901').send({ marketing: true, thirdPartySharing: false })],
      ['another route, same resource', () => vault.http().put(`/v1/customers/${id}/restriction`).set('Authorization', privacy.authHeader).set('Idempotency-Key', key).send({ reason: 'DSAR 2026-901' })],
      ['a number for a boolean', () => raw('{"marketing":1,"thirdPartySharing":false}')],
      ['a string for a boolean', () => raw('{"marketing":"true","thirdPartySharing":false}')],
      // The same customer spelled in capitals is the same resource, but the digest takes the path as sent:
      // conservative (a retry must repeat its request), never a replay of another resource.
      ['the id in capitals', () => consents(id.toUpperCase(), key, 'DSAR 2026-901').send({ marketing: true, thirdPartySharing: false })],
    ];
    for (const [name, send] of differs) {
      const res = await send();
      expect({ name, status: res.status, code: res.body.error?.code, replayed: res.headers[REPLAYED] }).toEqual({ name, status: 422, code: 'idempotency_key_reused', replayed: undefined });
    }
    expect(await history()).toBe(written);
    expect(await count(vault, 'SELECT count(*) FROM customer_consent_history WHERE customer_id = $1', [other])).toBe(1);
    expect(await count(vault, 'SELECT count(*) FROM customers WHERE id = $1 AND restriction_since IS NOT NULL', [id])).toBe(0);

    // Unicode: a composed and a decomposed "é" are stored as different values, so they are different requests.
    const nameKey = randomUUID();
    const composed = await create(ingest, nameKey, { personal: { fullName: 'Jos\u00e9 Composed' } }).expect(201);
    const escaped = await vault.http().post('/v1/customers').set('Authorization', ingest.authHeader).set('Idempotency-Key', nameKey).set('Content-Type', 'application/json')
      .send('{"personal":{"fullName":"Jos\\u00e9 Composed"}}').expect(201);
    expect(escaped.headers[REPLAYED]).toBe('true');
    expect(escaped.body).toEqual(composed.body);
    const decomposed = await create(ingest, nameKey, { personal: { fullName: 'Jose\u0301 Composed' } }).expect(422);
    expect(decomposed.body.error.code).toBe('idempotency_key_reused');
  });

  it('a body the digest cannot canonicalise (a number beyond double range) is 400 invalid_input, with or without a stored key, never a 500', async () => {
    const id = await newCustomer('Huge Number Target');
    const key = randomUUID();
    await consents(id, key).send({ marketing: true }).expect(200);
    const errors = vault.logs.lines.filter((line) => line.includes('"level":50')).length;
    for (const sendKey of [key, randomUUID()]) {
      const res = await consents(id, sendKey).set('Content-Type', 'application/json').send('{"marketing":1e400}');
      expect({ status: res.status, code: res.body.error?.code }).toEqual({ status: 400, code: 'invalid_input' });
      const [event] = await eventsOf(vault, requestIdOf(res));
      expect(event).toMatchObject({ outcome: 'denied', status: 400 });
    }
    // Without a key the validator answers the same.
    const plain = await vault.http().put(`/v1/customers/${id}/consents`).set('Authorization', privacy.authHeader).set('X-Access-Purpose', 'customer_request').set('X-Access-Reason', 'DSAR 2026-900')
      .set('Content-Type', 'application/json').send('{"marketing":1e400}');
    expect(plain.status).toBe(400);
    expect(vault.logs.lines.filter((line) => line.includes('"level":50')).length).toBe(errors);
  });

  it('a keyed write that fails stores nothing, wherever it fails (validation, policy inside the transaction, a taken externalRef, a contact hold, a refused retirement): the corrected request is a first write', async () => {
    const id = await newCustomer('Failing Write Target');
    // Refused inside the transaction after the row was locked and read: consent-based disclosure without consent.
    const key = randomUUID();
    const refused = await vault.http().post(`/v1/customers/${id}/disclosures`).set('Authorization', privacy.authHeader).set('Idempotency-Key', key)
      .send({ recipient: { name: 'Partner', country: 'VN' }, legalBasis: 'consent', fields: ['fullName'] }).expect(403);
    expect(refused.body.error.code).toBe('consent_required');
    expect(await keyRows(vault, key)).toBe(0);
    const corrected = await vault.http().post(`/v1/customers/${id}/disclosures`).set('Authorization', privacy.authHeader).set('Idempotency-Key', key)
      .send({ recipient: { name: 'Partner', country: 'VN' }, legalBasis: 'legal_obligation', reference: 'Court order 9', fields: ['fullName'] }).expect(201);
    expect(corrected.headers[REPLAYED]).toBeUndefined();

    // A taken externalRef (the create's single statement fails on its unique index).
    await newCustomer('Taken Ref Holder', { externalRef: 'TAKEN-REF-1' });
    const refKey = randomUUID();
    await create(ingest, refKey, { externalRef: 'TAKEN-REF-1', personal: { fullName: 'Second Holder' } }).expect(409);
    expect(await keyRows(vault, refKey)).toBe(0);
    expect((await create(ingest, refKey, { externalRef: 'TAKEN-REF-2', personal: { fullName: 'Second Holder' } }).expect(201)).headers[REPLAYED]).toBeUndefined();

    // A contact hold refusing the correction of an e-mail address (423, inside the transaction).
    await vault.http().put(`/v1/customers/${id}/contact-hold`).set('Authorization', security.authHeader).send({ reason: 'takeover suspected' }).expect(200);
    const holdKey = randomUUID();
    await vault.http().patch(`/v1/customers/${id}`).set('Authorization', ingest.authHeader).set('Idempotency-Key', holdKey).send({ personal: { email: 'new.address@example.com' } }).expect(423);
    expect(await keyRows(vault, holdKey)).toBe(0);
    await vault.http().delete(`/v1/customers/${id}/contact-hold`).set('Authorization', security.authHeader).expect(204);
    expect((await vault.http().patch(`/v1/customers/${id}`).set('Authorization', ingest.authHeader).set('Idempotency-Key', holdKey).send({ personal: { email: 'new.address@example.com' } }).expect(200)).headers[REPLAYED]).toBeUndefined();

    // Retiring the active KEK (409, after the advisory lock and the row lock).
    const active = await count(vault, "SELECT version FROM kek_versions WHERE state = 'active'");
    const retireKey = randomUUID();
    await vault.http().post(`/v1/keys/${active}/retire`).set('Authorization', admin.authHeader).set('Idempotency-Key', retireKey).expect(409);
    expect(await keyRows(vault, retireKey)).toBe(0);
  });

  it('concurrent requests with one key and different bodies: exactly one is written; the others replay it (same body) or get 422 (other body); never two writes, never a 5xx', async () => {
    const before = await count(vault, 'SELECT count(*) FROM customers');
    const key = randomUUID();
    const bodies = [{ personal: { fullName: 'Racer Alpha' } }, { personal: { fullName: 'Racer Bravo' } }];
    const answers = await Promise.all(Array.from({ length: 10 }, (_, i) => create(ingest, key, bodies[i % 2]!).then((res) => ({ i, res }))));
    expect(await count(vault, 'SELECT count(*) FROM customers')).toBe(before + 1);
    const fresh = answers.filter(({ res }) => res.status === 201 && res.headers[REPLAYED] === undefined);
    expect(fresh).toHaveLength(1);
    const winner = fresh[0]!.i % 2;
    for (const { i, res } of answers) {
      if (i % 2 === winner) expect({ i, status: res.status, id: res.body.id }).toEqual({ i, status: 201, id: fresh[0]!.res.body.id });
      else expect({ i, status: res.status, code: res.body.error?.code }).toEqual({ i, status: 422, code: 'idempotency_key_reused' });
    }

    // The same in transactions (a correction takes the row lock first): one new revision.
    const id = await newCustomer('Racing Correction');
    const revision = await count(vault, 'SELECT revision FROM customers WHERE id = $1', [id]);
    const patchKey = randomUUID();
    const names = ['Racing Correction One', 'Racing Correction Two', 'Racing Correction Three'];
    const patches = await Promise.all(Array.from({ length: 9 }, (_, i) =>
      vault.http().patch(`/v1/customers/${id}`).set('Authorization', privacy.authHeader).set('Idempotency-Key', patchKey).send({ personal: { fullName: names[i % 3] } })));
    expect(patches.filter((res) => res.status === 200 && res.headers[REPLAYED] === undefined)).toHaveLength(1);
    expect(patches.filter((res) => res.status === 200)).toHaveLength(3);
    expect(patches.filter((res) => res.status === 422)).toHaveLength(6);
    expect(await count(vault, 'SELECT revision FROM customers WHERE id = $1', [id])).toBe(revision + 1);

    // One key on two routes at once: one of them, never both.
    const crossKey = randomUUID();
    const target = await newCustomer('Cross Route Race');
    const revisionBefore = await count(vault, 'SELECT revision FROM customers WHERE id = $1', [target]);
    const customersBefore = await count(vault, 'SELECT count(*) FROM customers');
    const [created, corrected] = await Promise.all([
      create(ingest, crossKey, { personal: { fullName: 'Cross Route Created' } }),
      vault.http().patch(`/v1/customers/${target}`).set('Authorization', ingest.authHeader).set('Idempotency-Key', crossKey).send({ personal: { fullName: 'Cross Route Corrected' } }),
    ]);
    expect([created.status, corrected.status].sort()).toEqual(created.status === 201 ? [201, 422] : [200, 422]);
    const wrote = (await count(vault, 'SELECT count(*) FROM customers')) - customersBefore + (await count(vault, 'SELECT revision FROM customers WHERE id = $1', [target])) - revisionBefore;
    expect(wrote).toBe(1);
  });

  it('every replay is audited as a replay of the original (the route action, its resource, nothing written or shown, no value of the original), on every write route', async () => {
    const id = await newCustomer('Audited Replay Target', { consents: { thirdPartySharing: true } });
    // The rotation below leaves this version to retire once its job moved every DEK off it.
    const oldVersion = await count(vault, "SELECT version FROM kek_versions WHERE state = 'active'");
    const routes: { name: string; action: string; send: (key: string) => ReturnType<ReturnType<TestApp['http']>['post']> }[] = [
      { name: 'create', action: 'customer.create', send: (key) => create(ingest, key, { personal: { fullName: 'Audited Replay Created' }, consents: { marketing: true } }) },
      { name: 'correct', action: 'customer.correct', send: (key) => vault.http().patch(`/v1/customers/${id}`).set('Authorization', privacy.authHeader).set('Idempotency-Key', key).send({ personal: { fullName: 'Audited Replay Corrected' } }) },
      { name: 'consents', action: 'customer.consents', send: (key) => consents(id, key).send({ marketing: true }) },
      { name: 'disclose', action: 'customer.disclose', send: (key) => vault.http().post(`/v1/customers/${id}/disclosures`).set('Authorization', privacy.authHeader).set('Idempotency-Key', key).send({ recipient: { name: 'Audit Partner', country: 'VN' }, legalBasis: 'consent', fields: ['fullName'] }) },
      { name: 'closure', action: 'customer.close', send: (key) => vault.http().put(`/v1/customers/${id}/closure`).set('Authorization', billing.authHeader).set('Idempotency-Key', key).send({}) },
      { name: 'rekey', action: 'customer.rekey', send: (key) => vault.http().post(`/v1/customers/${id}/rekey`).set('Authorization', admin.authHeader).set('Idempotency-Key', key) },
      { name: 'contact hold', action: 'customer.contact_hold.set', send: (key) => vault.http().put(`/v1/customers/${id}/contact-hold`).set('Authorization', security.authHeader).set('Idempotency-Key', key).send({ reason: 'audited replay hold' }) },
      { name: 'restriction', action: 'customer.restriction.set', send: (key) => vault.http().put(`/v1/customers/${id}/restriction`).set('Authorization', privacy.authHeader).set('Idempotency-Key', key).send({ reason: 'audited replay restriction' }) },
      { name: 'principal', action: 'principal.create', send: (key) => vault.http().post('/v1/principals').set('Authorization', admin.authHeader).set('Idempotency-Key', key).send({ name: 'audited-replay-svc', kind: 'service', roles: ['billing'] }) },
      { name: 'rotate', action: 'keys.rotate', send: (key) => vault.http().post('/v1/keys/rotate').set('Authorization', admin.authHeader).set('Idempotency-Key', key) },
    ];
    const checked: string[] = [];
    const check = async (name: string, action: string, send: (key: string) => Promise<Response>): Promise<void> => {
      const key = randomUUID();
      const first = await send(key);
      expect({ name, success: first.status >= 200 && first.status < 300 }).toEqual({ name, success: true });
      const replay = await send(key);
      expect({ name, status: replay.status, replayed: replay.headers[REPLAYED] }).toEqual({ name, status: first.status, replayed: 'true' });
      const [original] = await eventsOf(vault, requestIdOf(first));
      const events = await eventsOf(vault, requestIdOf(replay));
      expect({ name, events }).toEqual({
        name,
        events: [{ request_id: requestIdOf(replay), action, outcome: 'allowed', status: first.status, resource_id: original!.resource_id, fields_written: [], fields_revealed: [], fields_masked: [], details: { replayOf: requestIdOf(first) } }],
      });
      checked.push(name);
    };
    for (const route of routes) await check(route.name, route.action, route.send);
    // Retire the version the rotation left behind once its job moved every DEK off it.
    await waitFor('the rewrap job', async () => ((await count(vault, 'SELECT count(*) FROM customer_deks WHERE kek_version = $1', [oldVersion])) === 0 ? true : undefined));
    await check('retire', 'keys.retire', (key) => vault.http().post(`/v1/keys/${oldVersion}/retire`).set('Authorization', admin.authHeader).set('Idempotency-Key', key));
    expect(checked).toHaveLength(routes.length + 1);
  });

  it('a refused request (422) is audited as denied with what it asked, not what its rolled-back attempt did: no field shown, no id of a row that was never kept', async () => {
    const id = await newCustomer('Refused Attempt Target', { consents: { thirdPartySharing: true } });
    const refusedEvent = async (first: () => Promise<Response>, second: () => Promise<Response>): Promise<EventRow> => {
      expect((await first()).status).toBeLessThan(300);
      const refused = await second();
      expect({ status: refused.status, code: refused.body.error?.code }).toEqual({ status: 422, code: 'idempotency_key_reused' });
      const events = await eventsOf(vault, requestIdOf(refused));
      expect(events).toHaveLength(1);
      expect(events[0]).toMatchObject({ outcome: 'denied', status: 422 });
      return events[0]!;
    };
    // A disclosure: the attempt decrypted the fields and inserted a register row, then found the key taken.
    const discloseKey = randomUUID();
    const disclose = (fields: string[]) => () => vault.http().post(`/v1/customers/${id}/disclosures`).set('Authorization', privacy.authHeader).set('Idempotency-Key', discloseKey)
      .send({ recipient: { name: 'Refused Partner', country: 'VN' }, legalBasis: 'consent', fields });
    const disclosure = await refusedEvent(disclose(['fullName']), disclose(['email']));
    expect(disclosure.fields_revealed).toEqual([]);
    expect(disclosure.fields_masked).toEqual([]);
    expect(disclosure.details ?? {}).not.toHaveProperty('disclosureId');
    expect(await count(vault, 'SELECT count(*) FROM customer_disclosures WHERE customer_id = $1', [id])).toBe(1);

    // A consent change: the event must not state values the customer's record never took.
    const consentKey = randomUUID();
    const consent = await refusedEvent(() => consents(id, consentKey).send({ marketing: true }), () => consents(id, consentKey).send({ marketing: false }));
    expect(consent.details ?? {}).not.toHaveProperty('marketing');
    expect(consent.details ?? {}).not.toHaveProperty('previousMarketing');

    // A correction: no revision the record never reached.
    const patchKey = randomUUID();
    const patch = (fullName: string) => () => vault.http().patch(`/v1/customers/${id}`).set('Authorization', privacy.authHeader).set('Idempotency-Key', patchKey).send({ personal: { fullName } });
    const correction = await refusedEvent(patch('Refused Attempt One'), patch('Refused Attempt Two'));
    expect(correction.details ?? {}).not.toHaveProperty('revision');
    expect(correction.fields_written).toEqual(['fullName']);

    // A new principal: no id of a principal that was rolled back.
    const principalKey = randomUUID();
    const principal = (name: string) => () => vault.http().post('/v1/principals').set('Authorization', admin.authHeader).set('Idempotency-Key', principalKey).send({ name, kind: 'service', roles: ['billing'] });
    const principalEvent = await refusedEvent(principal('refused-attempt-a'), principal('refused-attempt-b'));
    expect(principalEvent.resource_id).toBeNull();
    expect(await count(vault, "SELECT count(*) FROM principals WHERE name = 'refused-attempt-b'")).toBe(0);

    // A rotation: no job and no version that never existed.
    const rotateKey = randomUUID();
    const versions = await count(vault, 'SELECT max(version) FROM kek_versions');
    const rotation = await refusedEvent(
      () => vault.http().post('/v1/keys/rotate').set('Authorization', admin.authHeader).set('Idempotency-Key', rotateKey),
      () => vault.http().post('/v1/keys/rotate').set('Authorization', admin.authHeader).set('Idempotency-Key', rotateKey).send({ note: 'another request' }),
    );
    expect(rotation.details ?? {}).not.toHaveProperty('jobId');
    expect(rotation.resource_id).toBeNull();
    expect(await count(vault, 'SELECT max(version) FROM kek_versions')).toBe(versions + 1);
  });

  it('keys that look like data (an e-mail address, a token, SQL, markup, a path) reach no audit event, log line or error: only the key table, as documented', async () => {
    const id = await newCustomer('Data Key Target');
    const looksLikeData = [
      'kim.nguyen.datakey@example.com',
      `cv_${'A1b2C3d4'.repeat(5)}datakey`,
      "datakey'||(SELECT/**/pg_sleep(5))--",
      '<script>datakey()</script>',
      '../../../etc/datakey',
      '{"datakey":1}',
      `datakey-${'z'.repeat(240)}`,
    ];
    for (const key of looksLikeData) {
      const first = await create(ingest, key, { personal: { fullName: 'Data Key Person' } }).expect(201);
      const refused = await create(ingest, key, { personal: { fullName: 'Data Key Other Person' } }).expect(422);
      const invalid = await create(ingest2, key, { personal: { fullName: 'Data Key Person', email: 'not-an-email' } }).expect(400);
      const conflictish = await vault.http().post(`/v1/keys/${await count(vault, "SELECT version FROM kek_versions WHERE state = 'active'")}/retire`).set('Authorization', admin.authHeader).set('Idempotency-Key', key).expect(409);
      const held = await consents(id, key).send({ marketing: true }).expect(200);
      const unauthenticated = await vault.http().post('/v1/customers').set('Authorization', `Bearer cv_${'x'.repeat(43)}`).set('Idempotency-Key', key).send({ personal: { fullName: 'Data Key Person' } }).expect(401);
      const forbidden = await create(support, key, { personal: { fullName: 'Data Key Person' } }).expect(403);
      for (const res of [first, refused, invalid, conflictish, held, unauthenticated, forbidden]) expect(res.text).not.toContain(key);
      expect(await vault.sql<{ key: string }>('SELECT key FROM idempotency_keys WHERE key = $1 AND principal_id = $2', [key, ingest.id])).toEqual([{ key }]);
    }
    // As sent, and as JSON text escapes it (the scan reads rows and log lines as JSON).
    const needles = [...new Set(looksLikeData.flatMap((key) => [key, JSON.stringify(key).slice(1, -1)]))];
    const inAudit = await vault.sql<{ needle: string }>(
      `SELECT n.needle FROM unnest($1::text[]) AS n(needle)
       WHERE EXISTS (SELECT 1 FROM audit_events e WHERE strpos(row_to_json(e)::text, n.needle) > 0)
          OR EXISTS (SELECT 1 FROM audit_pending p WHERE strpos(row_to_json(p)::text, n.needle) > 0)`,
      [needles],
    );
    expect(inAudit).toEqual([]);
    const logs = vault.logs.text();
    for (const needle of needles) expect({ needle, inLogs: logs.includes(needle) }).toEqual({ needle, inLogs: false });
  });

  /** Bytes on a socket, for keys an HTTP client library refuses to send. */
  function raw(headers: string[], body: string): Promise<{ status: number; text: string }> {
    const { port } = server.address() as AddressInfo;
    return new Promise((resolve, reject) => {
      const socket = connect(port, '127.0.0.1');
      const chunks: Buffer[] = [];
      socket.on('data', (chunk: Buffer) => chunks.push(chunk));
      socket.on('error', (error) => {
        if (chunks.length === 0) reject(error);
      });
      socket.on('close', () => {
        const text = Buffer.concat(chunks).toString('latin1');
        resolve({ status: Number(/^HTTP\/1\.1 (\d{3})/.exec(text)?.[1] ?? 0), text });
      });
      const head = ['POST /v1/customers HTTP/1.1', 'Host: 127.0.0.1', 'Connection: close', `Authorization: ${ingest.authHeader}`, 'Content-Type: application/json', `Content-Length: ${Buffer.byteLength(body)}`, ...headers].join('\r\n');
      socket.write(Buffer.concat([Buffer.from(`${head}\r\n\r\n`, 'latin1'), Buffer.from(body, 'utf8')]));
      setTimeout(() => socket.end(), 2_000).unref();
    });
  }

  it('malformed keys on the wire (DEL, NUL, tab, latin-1 bytes, obs-fold, two headers, 16 KiB) are refused before anything is written, never echoed, never a 5xx', async () => {
    const customers = await count(vault, 'SELECT count(*) FROM customers');
    const keysBefore = await count(vault, 'SELECT count(*) FROM idempotency_keys');
    const marker = 'MalformedKeyMarker';
    const body = JSON.stringify({ personal: { fullName: 'Malformed Wire Key' } });
    const cases: [string, string[], number[]][] = [
      ['DEL', [`Idempotency-Key: ${marker}\x7f1`], [400]],
      ['NUL', [`Idempotency-Key: ${marker}\x001`], [400]],
      ['tab inside', [`Idempotency-Key: ${marker}\t1`], [400]],
      ['latin-1 byte', [`Idempotency-Key: ${marker}\xe91`], [400]],
      ['obs-fold', [`Idempotency-Key: ${marker}`, ' folded'], [400]],
      ['two headers', [`Idempotency-Key: ${marker}-a`, `Idempotency-Key: ${marker}-b`], [400]],
      ['16 KiB', [`Idempotency-Key: ${marker}${'k'.repeat(16 * 1024)}`], [431]],
    ];
    for (const [name, headers, statuses] of cases) {
      const res = await raw(headers, body);
      expect({ name, status: statuses.includes(res.status) ? 'refused' : res.status }).toEqual({ name, status: 'refused' });
      expect({ name, echoed: res.text.includes(marker) }).toEqual({ name, echoed: false });
    }
    expect(await count(vault, 'SELECT count(*) FROM customers')).toBe(customers);
    expect(await count(vault, 'SELECT count(*) FROM idempotency_keys')).toBe(keysBefore);
    expect(vault.logs.text()).not.toContain(marker);
  });

  it('a replay whose own audit event cannot be written fails closed: 503 with neither the stored answer nor Idempotent-Replayed', async () => {
    const key = randomUUID();
    const body = { personal: { fullName: 'Unaudited Replay Person' } };
    const first = await create(ingest, key, body).expect(201);
    await vault.sql(`CREATE OR REPLACE FUNCTION cv_test_refuse_audit() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN RAISE EXCEPTION 'audit store refuses writes (test)'; END $$`);
    await vault.sql('CREATE TRIGGER cv_test_refuse_audit BEFORE INSERT ON audit_pending FOR EACH ROW EXECUTE FUNCTION cv_test_refuse_audit()');
    await vault.sql('CREATE TRIGGER cv_test_refuse_audit BEFORE INSERT ON audit_events FOR EACH ROW EXECUTE FUNCTION cv_test_refuse_audit()');
    let replay: Response;
    try {
      replay = await create(ingest, key, body);
    } finally {
      await vault.sql('DROP TRIGGER IF EXISTS cv_test_refuse_audit ON audit_pending');
      await vault.sql('DROP TRIGGER IF EXISTS cv_test_refuse_audit ON audit_events');
    }
    expect({ status: replay.status, code: replay.body.error?.code, replayed: replay.headers[REPLAYED] }).toEqual({ status: 503, code: 'audit_unavailable', replayed: undefined });
    expect(replay.text).not.toContain(first.body.id as string);
    expect((await create(ingest, key, body).expect(201)).headers[REPLAYED]).toBe('true');
  });

  it('a claim refused with no stored answer to be found (injected: the claim function refuses every key) is 409 idempotency_key_in_use, audited, and writes nothing', async () => {
    const before = await count(vault, 'SELECT count(*) FROM customers');
    const key = randomUUID();
    const target = await newCustomer('Claim Refused Target');
    const [{ definition }] = await vault.sql<{ definition: string }>("SELECT pg_get_functiondef('claim_idempotency_key(bigint)'::regprocedure) AS definition");
    await vault.sql(`CREATE OR REPLACE FUNCTION claim_idempotency_key(claimed bigint) RETURNS boolean LANGUAGE plpgsql VOLATILE AS $$
      BEGIN RAISE EXCEPTION 'held (test)' USING ERRCODE = 'unique_violation', CONSTRAINT = 'idempotency_keys_pkey'; END $$`);
    let answers: Response[];
    try {
      answers = [await create(ingest, key, { personal: { fullName: 'Never Claimed' } }), await consents(target, key).send({ marketing: true })];
    } finally {
      await vault.sql(definition);
    }
    for (const res of answers) {
      expect({ status: res.status, code: res.body.error?.code }).toEqual({ status: 409, code: 'idempotency_key_in_use' });
      const events = await eventsOf(vault, requestIdOf(res));
      expect(events).toEqual([expect.objectContaining({ outcome: 'denied', status: 409, fields_revealed: [] })]);
    }
    expect(await count(vault, 'SELECT count(*) FROM customers')).toBe(before + 1);
    expect(await keyRows(vault, key)).toBe(0);
  });

});

describe('Idempotency-Key at its expiry (VAULT_IDEMPOTENCY_TTL=2s) and the purge', () => {
  let vault: TestApp;
  let ingest: TestPrincipal;
  let privacy: TestPrincipal;

  beforeAll(async () => {
    vault = await startTestApp({ env: { VAULT_IDEMPOTENCY_TTL: '2s' } });
    ingest = await createPrincipal(vault, { roles: ['ingest'] });
    privacy = await createPrincipal(vault, { roles: ['privacy'] });
  });
  afterAll(async () => {
    await vault?.close();
  });

  const expiresIn = async (key: string): Promise<number> => {
    const [row] = await vault.sql<{ ms: number }>('SELECT (extract(epoch FROM expires_at - clock_timestamp()) * 1000)::int AS ms FROM idempotency_keys WHERE key = $1', [key]);
    return row!.ms;
  };

  it('a key reused by concurrent requests right after it expired is taken over by exactly one of them', async () => {
    const key = randomUUID();
    const create = (fullName: string) => vault.http().post('/v1/customers').set('Authorization', ingest.authHeader).set('Idempotency-Key', key).send({ personal: { fullName } });
    await create('Expiry Racer Original').expect(201);
    await sleep((await expiresIn(key)) + 50);
    const before = await count(vault, 'SELECT count(*) FROM customers');
    const answers = await Promise.all(Array.from({ length: 8 }, (_, i) => create(i % 2 === 0 ? 'Expiry Racer Original' : 'Expiry Racer Usurper')));
    expect(await count(vault, 'SELECT count(*) FROM customers')).toBe(before + 1);
    const fresh = answers.filter((res) => res.status === 201 && res.headers[REPLAYED] === undefined);
    expect(fresh).toHaveLength(1);
    expect(answers.filter((res) => res.status === 201)).toHaveLength(4);
    expect(answers.filter((res) => res.status === 422)).toHaveLength(4);
    expect(new Set(answers.filter((res) => res.status === 201).map((res) => res.body.id))).toEqual(new Set([fresh[0]!.body.id]));
  });

  it('a retry whose transaction began before the key expired but claims it after: a first write, not a 409 for a key nobody holds', async () => {
    const id = (await vault.http().post('/v1/customers').set('Authorization', ingest.authHeader).send({ personal: { fullName: 'Boundary Target' } }).expect(201)).body.id as string;
    const key = randomUUID();
    const correct = () => vault.http().patch(`/v1/customers/${id}`).set('Authorization', privacy.authHeader).set('Idempotency-Key', key).send({ personal: { fullName: 'Boundary Corrected' } });
    await correct().expect(200);
    const revision = await count(vault, 'SELECT revision FROM customers WHERE id = $1', [id]);
    // Another session holds the customer's row: the retry's transaction starts now and waits for it past the expiry.
    const blocker = new pg.Client({ connectionString: vault.databaseUrl });
    await blocker.connect();
    try {
      await blocker.query('BEGIN');
      await blocker.query('SELECT 1 FROM customers WHERE id = $1 FOR UPDATE', [id]);
      const retry = correct().then((res) => res);
      await waitFor('the retry to wait on the row lock', async () => ((await count(vault, "SELECT count(*) FROM pg_stat_activity WHERE wait_event_type = 'Lock' AND wait_event <> 'advisory' AND datname = current_database()")) > 0 ? true : undefined));
      await sleep((await expiresIn(key)) + 100);
      await blocker.query('COMMIT');
      const res = await retry;
      expect({ status: res.status, code: res.body.error?.code, replayed: res.headers[REPLAYED] }).toEqual({ status: 200, code: undefined, replayed: undefined });
    } finally {
      await blocker.end();
    }
    expect(await count(vault, 'SELECT revision FROM customers WHERE id = $1', [id])).toBe(revision + 1);
  });

  it('the purge deletes every expired key in batches, keeps the live ones, and runs in one process at a time', async () => {
    const live = randomUUID();
    await vault.http().post('/v1/customers').set('Authorization', ingest.authHeader).set('Idempotency-Key', live).send({ personal: { fullName: 'Purge Survivor' } }).expect(201);
    await vault.sql('DELETE FROM idempotency_keys WHERE key <> $1', [live]);
    // 2,500 expired keys of one principal (more than two batches), as a flood of writes would leave them.
    await vault.sql(
      `INSERT INTO idempotency_keys (principal_id, key, request_hash, hash_key_version, request_id, resource_id, status, answer, expires_at)
       SELECT $1::uuid, 'flood-' || g, decode(repeat('ab', 32), 'hex'), 1, gen_random_uuid(), NULL, 201, '{}'::jsonb, now() - interval '1 second'
       FROM generate_series(1, 2500) g`,
      [ingest.id],
    );
    const store = vault.app.get(IdempotencyStore);
    // While another process holds the purge lock, this one skips.
    const other = new pg.Client({ connectionString: vault.databaseUrl });
    await other.connect();
    try {
      await other.query('SELECT pg_advisory_lock($1)', [IDEMPOTENCY_PURGE_LOCK]);
      expect(await store.purgeExpired()).toBeNull();
    } finally {
      await other.end();
    }
    expect(await store.purgeExpired()).toBe(2500);
    expect(await vault.sql('SELECT key FROM idempotency_keys')).toEqual([{ key: live }]);
    expect(await store.purgeExpired()).toBe(0);
    await sleep((await expiresIn(live)) + 50);
    expect(await store.purgeExpired()).toBe(1);
  });
});

describe('outcome_unknown, then a retry with ANOTHER body (TCP proxy cutting the connection around the commit)', () => {
  let databaseUrl: string;
  let proxy: PgCutProxy;
  let vault: TestApp;
  let ingest: TestPrincipal;
  let privacy: TestPrincipal;

  beforeAll(async () => {
    databaseUrl = await createTestDatabase();
    proxy = await PgCutProxy.start(databaseUrl);
    vault = await startTestApp({ databaseUrl: proxy.urlFor(databaseUrl) });
    ingest = await createPrincipal(vault, { roles: ['ingest'] });
    privacy = await createPrincipal(vault, { roles: ['privacy'] });
  });
  afterAll(async () => {
    await vault?.close();
    await proxy?.close();
    if (databaseUrl !== undefined) await dropTestDatabase(databaseUrl);
  });

  const create = (key: string, externalRef: string, fullName: string) =>
    vault.http().post('/v1/customers').set('Authorization', ingest.authHeader).set('Idempotency-Key', key).send({ externalRef, personal: { fullName } });
  const refs = (prefix: string) => count(vault, 'SELECT count(*) FROM customers WHERE external_ref LIKE $1', [`${prefix}%`]);

  it('the first landed: the other body is 422 and writes nothing; the first body replays it', async () => {
    const key = randomUUID();
    const cut = proxy.arm({ marker: 'SWAP-AFTER-1', at: 'statement', mode: 'after-reply' });
    const lost = await create(key, 'SWAP-AFTER-1', 'Swapped Body Original');
    await cut;
    expect(lost.body.error?.code).toBe('outcome_unknown');
    const swapped = await create(key, 'SWAP-AFTER-2', 'Swapped Body Other').expect(422);
    expect(swapped.body.error.code).toBe('idempotency_key_reused');
    expect(await refs('SWAP-AFTER-')).toBe(1);
    expect((await create(key, 'SWAP-AFTER-1', 'Swapped Body Original').expect(201)).headers[REPLAYED]).toBe('true');
  });

  it('the first never reached PostgreSQL: nothing was stored, so the other body is a first write, and the first body is then 422', async () => {
    const key = randomUUID();
    const cut = proxy.arm({ marker: 'SWAP-BEFORE-1', at: 'statement', mode: 'before-send' });
    const lost = await create(key, 'SWAP-BEFORE-1', 'Swapped Body Original');
    await cut;
    expect(lost.body.error?.code).toBe('outcome_unknown');
    expect(await keyRows(vault, key)).toBe(0);
    const other = await create(key, 'SWAP-BEFORE-2', 'Swapped Body Other').expect(201);
    expect(other.headers[REPLAYED]).toBeUndefined();
    await create(key, 'SWAP-BEFORE-1', 'Swapped Body Original').expect(422);
    expect(await refs('SWAP-BEFORE-')).toBe(1);
  });

  it('a correction whose COMMIT landed unheard: another correction with the key is 422; the record moved once', async () => {
    const id = (await vault.http().post('/v1/customers').set('Authorization', ingest.authHeader).send({ personal: { fullName: 'Swap Correction Target' } }).expect(201)).body.id as string;
    const revision = await count(vault, 'SELECT revision FROM customers WHERE id = $1', [id]);
    const key = randomUUID();
    const correct = (fullName: string) => vault.http().patch(`/v1/customers/${id}`).set('Authorization', privacy.authHeader).set('Idempotency-Key', key).send({ personal: { fullName } });
    const cut = proxy.arm({ marker: id, at: 'commit', mode: 'after-reply' });
    const lost = await correct('Swap Correction One');
    await cut;
    expect(lost.body.error?.code).toBe('outcome_unknown');
    await correct('Swap Correction Two').expect(422);
    expect(await count(vault, 'SELECT revision FROM customers WHERE id = $1', [id])).toBe(revision + 1);
    expect((await correct('Swap Correction One').expect(200)).headers[REPLAYED]).toBe('true');
  });
});

describe('two vault processes on one database, one of them rotating the KEK the request digests are keyed with', () => {
  let first: TestApp;
  let second: TestApp;
  let ingest: TestPrincipal;
  let admin: TestPrincipal;

  beforeAll(async () => {
    first = await startTestApp();
    second = await startTestApp({ databaseUrl: first.databaseUrl, rootKey: first.rootKey, dataDir: first.dataDir });
    ingest = await createPrincipal(first, { roles: ['ingest'] });
    admin = await createPrincipal(first, { roles: ['admin'] });
  });
  afterAll(async () => {
    await second?.close();
    await first?.close();
  });

  it('a retry that lands on the process which has not loaded the new KEK yet (it refreshes each second) is still a replay, not 422', async () => {
    // Three rounds: each time the second process refreshes its key ring within the few milliseconds
    // between the rotation and the retry, that round proves nothing; all three doing so is unlikely.
    for (let round = 0; round < 3; round++) {
      const id = (await first.http().post('/v1/customers').set('Authorization', ingest.authHeader).send({ personal: { fullName: `Cross Process ${round}` } }).expect(201)).body.id as string;
      const key = randomUUID();
      const correct = (vault: TestApp) => vault.http().patch(`/v1/customers/${id}`).set('Authorization', ingest.authHeader).set('Idempotency-Key', key).send({ personal: { fullName: `Cross Process Corrected ${round}` } });
      await first.http().post('/v1/keys/rotate').set('Authorization', admin.authHeader).expect(202);
      const original = await correct(first).expect(200);
      const retry = await correct(second);
      expect({ round, status: retry.status, code: retry.body.error?.code, replayed: retry.headers[REPLAYED] }).toEqual({ round, status: 200, code: undefined, replayed: 'true' });
      expect(retry.body).toEqual(original.body);
    }
  });
});

describe('key table growth is bounded by the per-principal rate limit (VAULT_RATE_LIMIT_PER_MINUTE=12)', () => {
  let vault: TestApp;
  let ingest: TestPrincipal;

  beforeAll(async () => {
    vault = await startTestApp({ env: { VAULT_RATE_LIMIT_PER_MINUTE: '12', VAULT_RATE_LIMIT_WINDOW_MS: '60000' } });
    ingest = await createPrincipal(vault, { roles: ['ingest'] });
  });
  afterAll(async () => {
    await vault?.close();
  });

  it('one principal flooding new maximal keys stores one row per admitted write and none for a refused request', async () => {
    const statuses: number[] = [];
    for (let i = 0; i < 30; i++) {
      const key = `${String(i).padStart(4, '0')}${'f'.repeat(251)}`;
      const res = await vault.http().post('/v1/customers').set('Authorization', ingest.authHeader).set('Idempotency-Key', key).send({ personal: { fullName: `Flood Person ${i}` } });
      statuses.push(res.status);
    }
    const written = statuses.filter((status) => status === 201).length;
    expect(written).toBe(12);
    expect(statuses.filter((status) => status === 429)).toHaveLength(18);
    expect(await count(vault, 'SELECT count(*) FROM idempotency_keys WHERE principal_id = $1', [ingest.id])).toBe(written);
    expect(await count(vault, 'SELECT count(*) FROM customers')).toBe(written);
  });
});
