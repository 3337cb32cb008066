import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import pg from 'pg';
import { findLeaks } from '../helpers/leak-scan.js';
import { createPrincipal, type TestPrincipal } from '../helpers/principals.js';
import { createTestDatabase, setDatabaseReachable, startTestApp, type TestApp } from '../helpers/test-app.js';
import { lastLine, runCli, VaultProcess } from '../helpers/vault-process.js';

/** Test plaintexts: distinctive, so the leak scan can look for them anywhere. */
const PERSON = { personal: { fullName: 'Faultline Ozymandias Prewitt', email: 'faultline.prewitt@example.com', nationalId: 'FLT-424242' } };
const NEEDLES = ['Ozymandias', 'faultline.prewitt', 'FLT-424242'];

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

describe('faults: the database goes away and comes back; the audit store refuses writes', () => {
  let vault: TestApp;
  let reader: TestPrincipal;
  let ingest: TestPrincipal;
  let customerId: string;
  const bodies: string[] = [];

  const read = () => vault.http().get(`/v1/customers/${customerId}`).set('Authorization', reader.authHeader).set('X-Access-Purpose', 'customer_request').set('X-Access-Reason', 'TICKET-4711');
  const create = (fullName: string) => vault.http().post('/v1/customers').set('Authorization', ingest.authHeader).send({ personal: { fullName } });

  beforeAll(async () => {
    vault = await startTestApp({ env: { VAULT_TOKEN_CACHE_TTL_MS: '0' } });
    reader = await createPrincipal(vault, { roles: ['privacy'] });
    ingest = await createPrincipal(vault, { roles: ['ingest'] });
    const created = await vault.http().post('/v1/customers').set('Authorization', ingest.authHeader).send(PERSON).expect(201);
    customerId = created.body.id as string;
    await read().expect(200);
  });
  afterAll(async () => {
    await setDatabaseReachable(vault.databaseUrl, true);
    await vault.close();
  });

  it('answers 503 (never 500) while PostgreSQL is unreachable, /readyz too, and recovers by itself', async () => {
    // Traffic before, during and after the outage: reads, writes and searches in parallel.
    const statuses: number[] = [];
    let stop = false;
    const traffic = (async () => {
      let n = 0;
      while (!stop) {
        const results = await Promise.all([read(), create(`Traffic Person ${n++}`), vault.http().post('/v1/customers/search').set('Authorization', reader.authHeader).set('X-Access-Purpose', 'customer_request').set('X-Access-Reason', 'TICKET-4711').send({ email: 'faultline.prewitt@example.com' })]);
        for (const res of results) {
          statuses.push(res.status);
          bodies.push(res.text);
        }
        await sleep(20);
      }
    })();
    await sleep(300);
    await setDatabaseReachable(vault.databaseUrl, false);
    try {
      await sleep(1_500);
      const during = await read();
      bodies.push(during.text);
      expect(during.status).toBe(503);
      expect(during.body.error.code).toMatch(/^(service_unavailable|audit_unavailable)$/);
      const ready = await vault.http().get('/readyz');
      expect(ready.status).toBe(503);
      expect(ready.body.error.code).toBe('service_unavailable');
      const write = await create('Written During Outage');
      expect(write.status).toBe(503);
    } finally {
      await setDatabaseReachable(vault.databaseUrl, true);
    }
    // No restart: the pool reconnects on its own.
    const started = Date.now();
    let recovered = false;
    while (Date.now() - started < 20_000) {
      const [res, ready] = await Promise.all([read(), vault.http().get('/readyz')]);
      if (res.status === 200 && ready.status === 200) {
        recovered = true;
        break;
      }
      await sleep(200);
    }
    stop = true;
    await traffic;
    expect(recovered).toBe(true);
    expect(statuses.filter((s) => s >= 500 && s !== 503)).toEqual([]);
    expect(statuses.filter((s) => s === 503).length).toBeGreaterThan(0);
    expect(statuses.filter((s) => s === 200 || s === 201).length).toBeGreaterThan(0);
    const [{ n }] = await vault.sql<{ n: number }>("SELECT count(*)::int AS n FROM customers WHERE id IS NOT NULL");
    expect(n).toBeGreaterThan(1);
    await create('Written After Recovery').expect(201);
  }, 60_000);

  it('answers 503 without plaintext when the audit store refuses writes, and rolls the write back', async () => {
    await vault.sql(`CREATE OR REPLACE FUNCTION cv_test_refuse_audit() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN RAISE EXCEPTION 'audit store refuses writes (test)'; END $$`);
    await vault.sql('CREATE TRIGGER cv_test_refuse_audit BEFORE INSERT ON audit_pending FOR EACH ROW EXECUTE FUNCTION cv_test_refuse_audit()');
    await vault.sql('CREATE TRIGGER cv_test_refuse_audit BEFORE INSERT ON audit_events FOR EACH ROW EXECUTE FUNCTION cv_test_refuse_audit()');
    try {
      const denied = await read();
      bodies.push(denied.text);
      expect(denied.status).toBe(503);
      expect(denied.body.error.code).toBe('audit_unavailable');
      for (const needle of NEEDLES) expect(denied.text.toLowerCase()).not.toContain(needle.toLowerCase());

      const before = await vault.sql<{ n: number }>('SELECT count(*)::int AS n FROM customers');
      const write = await vault.http().post('/v1/customers').set('Authorization', ingest.authHeader).send({ externalRef: 'AUDIT-DOWN-1', personal: { fullName: 'Unaudited Quillon Write', email: 'unaudited.quillon@example.com' } });
      bodies.push(write.text);
      expect(write.status).toBe(503);
      expect(write.body.error.code).toBe('audit_unavailable');
      const after = await vault.sql<{ n: number }>('SELECT count(*)::int AS n FROM customers');
      expect(after[0].n).toBe(before[0].n);
      expect(await vault.sql("SELECT id FROM customers WHERE external_ref = 'AUDIT-DOWN-1'")).toEqual([]);
      // a search reveals ids only, but is audited all the same: no event, no answer
      const search = await vault.http().post('/v1/customers/search').set('Authorization', reader.authHeader).set('X-Access-Purpose', 'customer_request').set('X-Access-Reason', 'TICKET-4711').send({ email: 'faultline.prewitt@example.com' });
      expect(search.status).toBe(503);
      expect(search.text).not.toContain(customerId);
    } finally {
      await vault.sql('DROP TRIGGER IF EXISTS cv_test_refuse_audit ON audit_pending');
      await vault.sql('DROP TRIGGER IF EXISTS cv_test_refuse_audit ON audit_events');
    }
    const back = await read().expect(200);
    expect(back.body.data.fullName).toBe(PERSON.personal.fullName);
  }, 30_000);

  it('tells a failed customer write (500) from a failed audit write (503) although a create is one statement, and writes neither', async () => {
    // A create sends the customer, its DEK, its indexes and its event as one statement; when that
    // fails for a reason other than a conflict, the vault finds out which part failed.
    await vault.sql(`CREATE OR REPLACE FUNCTION cv_test_refuse_deks() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN RAISE EXCEPTION 'key store refuses writes (test)'; END $$`);
    await vault.sql('CREATE TRIGGER cv_test_refuse_deks BEFORE INSERT ON customer_deks FOR EACH ROW EXECUTE FUNCTION cv_test_refuse_deks()');
    const countRows = async () => vault.sql<{ customers: number; deks: number; events: number }>(
      `SELECT (SELECT count(*)::int FROM customers) AS customers, (SELECT count(*)::int FROM customer_deks) AS deks,
              (SELECT count(*)::int FROM audit_pending WHERE action = 'customer.create' AND outcome = 'allowed')
                + (SELECT count(*)::int FROM audit_events WHERE action = 'customer.create' AND outcome = 'allowed') AS events`,
    );
    try {
      const before = await countRows();
      const write = await vault.http().post('/v1/customers').set('Authorization', ingest.authHeader).send({ externalRef: 'KEYS-DOWN-1', personal: { fullName: 'Unaudited Quillon Keyless' } });
      bodies.push(write.text);
      expect(write.status).toBe(500);
      expect(write.body.error.code).toBe('internal');
      expect(await countRows()).toEqual(before);
      // the attempt itself is on the log, as an error
      const attempt = await vault.sql<{ outcome: string; status: number }>("SELECT outcome, status FROM audit_pending WHERE request_id = $1 UNION ALL SELECT outcome, status FROM audit_events WHERE request_id = $1", [write.headers['x-request-id']]);
      expect(attempt).toEqual([{ outcome: 'error', status: 500 }]);
    } finally {
      await vault.sql('DROP TRIGGER IF EXISTS cv_test_refuse_deks ON customer_deks');
    }
    const after = await create('Written With Keys Back').expect(201);
    expect(await vault.sql("SELECT 1 FROM audit_pending WHERE resource_id = $1 UNION ALL SELECT 1 FROM audit_events WHERE resource_id = $1", [after.body.id])).toHaveLength(1);
  }, 30_000);

  it('leaks nothing: no plaintext or token in the database, the logs or any error body', async () => {
    const errorBodies = bodies.filter((text) => text.includes('"error"')).join('\n');
    const leaks = await findLeaks(vault, [...NEEDLES, 'Unaudited Quillon', 'unaudited.quillon', reader.token, ingest.token], { errorBodies });
    expect(leaks).toEqual([]);
  }, 30_000);
});

describe('faults: kill -9 during writes', () => {
  let databaseUrl: string;
  let dataDir: string;
  const rootKey = randomBytes(32);

  beforeAll(async () => {
    databaseUrl = await createTestDatabase();
    dataDir = mkdtempSync(path.join(os.tmpdir(), 'cv-kill9-'));
  });
  afterAll(() => {
    rmSync(dataDir, { recursive: true, force: true });
  });

  it('leaves every customer whole (row, DEK, blind indexes, event) or absent', async () => {
    const env = { DATABASE_URL: databaseUrl, VAULT_ROOT_KEY: rootKey.toString('base64'), VAULT_DATA_DIR: dataDir, LOG_LEVEL: 'info' };
    const cli = runCli(['principal:create', '--name', 'crash-ingest', '--kind', 'service', '--roles', 'ingest'], env);
    expect(cli.status).toBe(0);
    const token = lastLine(cli.stdout);
    const vault = await VaultProcess.start(env);
    await vault.waitReady();

    const acknowledged: string[] = [];
    let n = 0;
    let killed = false;
    const worker = async (): Promise<void> => {
      while (!killed) {
        const i = n++;
        try {
          const res = await fetch(`${vault.url}/v1/customers`, {
            method: 'POST',
            headers: { Authorization: `Bearer ${token}`, 'Content-Type': 'application/json' },
            body: JSON.stringify({ externalRef: `CRASH-${i}`, personal: { fullName: `Crash Kestrel ${i}`, email: `crash.kestrel.${i}@example.com`, phone: '+44 20 7946 0958', nationalId: `CRK-${100000 + i}` } }),
          });
          if (res.status === 201) acknowledged.push(((await res.json()) as { id: string }).id);
        } catch {
          // the process died under this request
        }
      }
    };
    const workers = Array.from({ length: 8 }, () => worker());
    // Let writes pile up, then kill in the middle of them.
    while (acknowledged.length < 30) await sleep(10);
    vault.child.kill('SIGKILL');
    killed = true;
    await vault.waitExit();
    await Promise.all(workers);

    const db = new pg.Client({ connectionString: databaseUrl });
    await db.connect();
    try {
      const q = async <R extends pg.QueryResultRow>(text: string): Promise<R[]> => (await db.query<R>(text)).rows;
      const customers = await q<{ id: string }>('SELECT id FROM customers');
      expect(customers.length).toBeGreaterThanOrEqual(acknowledged.length);
      // every acknowledged create is durable
      const ids = new Set(customers.map((c) => c.id));
      expect(acknowledged.filter((id) => !ids.has(id))).toEqual([]);
      // every customer has the DEK of its version and all three blind indexes; every DEK a customer
      expect(await q('SELECT c.id FROM customers c LEFT JOIN customer_deks d ON d.customer_id = c.id AND d.version = c.dek_version WHERE d.customer_id IS NULL')).toEqual([]);
      expect(await q(`SELECT c.id FROM customers c WHERE (SELECT count(DISTINCT field) FROM customer_blind_indexes b WHERE b.customer_id = c.id) <> 3`)).toEqual([]);
      expect(await q('SELECT d.customer_id FROM customer_deks d LEFT JOIN customers c ON c.id = d.customer_id WHERE c.id IS NULL')).toEqual([]);
      expect(await q('SELECT b.customer_id FROM customer_blind_indexes b LEFT JOIN customers c ON c.id = b.customer_id WHERE c.id IS NULL')).toEqual([]);
      // and its audit event, committed in the same transaction (pending or already sealed)
      expect(
        await q(`SELECT c.id FROM customers c WHERE NOT EXISTS (
          SELECT 1 FROM audit_pending p WHERE p.action = 'customer.create' AND p.resource_id = c.id::text
          UNION ALL SELECT 1 FROM audit_events e WHERE e.action = 'customer.create' AND e.resource_id = c.id::text)`),
      ).toEqual([]);
      expect(await q('SELECT id FROM customers WHERE full_name IS NULL OR email IS NULL OR phone IS NULL OR national_id IS NULL')).toEqual([]);
    } finally {
      await db.end();
    }

    // The vault starts again on the same data, reads a customer back, and nothing leaked.
    const restarted = await startTestApp({ databaseUrl, rootKey, dataDir });
    try {
      const reader = await createPrincipal(restarted, { roles: ['privacy'] });
      const back = await restarted.http().get(`/v1/customers/${acknowledged[0]}`).set('Authorization', reader.authHeader).set('X-Access-Purpose', 'customer_request').set('X-Access-Reason', 'TICKET-4711').expect(200);
      expect(back.body.data.fullName).toMatch(/^Crash Kestrel \d+$/);
      const leaks = await findLeaks(restarted, ['Crash Kestrel', 'crash.kestrel', 'CRK-1', '442079460958', token, reader.token], { processOutput: vault.text() });
      expect(leaks).toEqual([]);
    } finally {
      await restarted.close();
    }
  }, 90_000);
});
