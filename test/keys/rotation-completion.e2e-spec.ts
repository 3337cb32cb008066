import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { randomUUID } from 'node:crypto';
import pg from 'pg';
import { zero } from '../../src/crypto/index.js';
import { KeyRing } from '../../src/keys/key-ring.service.js';
import { KeyRotationWorker } from '../../src/keys/key-rotation.worker.js';
import { createPrincipal } from '../helpers/principals.js';
import { startTestApp, type TestApp } from '../helpers/test-app.js';
import { waitFor } from '../helpers/wait.js';

function person(tag: string) {
  return { personal: { fullName: `Tamsin ${tag} Vellacott`, email: `tv.${tag}@example.com` }, payment: { bankAccount: 'GB29NWBK60161331926819' } };
}

/**
 * Issue 13 §2: "done" was decided by a timer (a pass starting 2.5 s after the rotation). A create
 * that inserted its DEK under the old KEK later than that (a stale key ring, a long wait for a
 * connection) left a DEK behind a job that reported done. The database now refuses a new DEK under
 * a KEK that is not active, a rotation waits for inserts under the KEK it demotes, and the job
 * finishes only when a check in its own transaction finds no DEK left.
 */
describe('KEK rotation completes only when no DEK is left under an old version', () => {
  let vault: TestApp;
  let admin: string;
  let ingest: string;
  let privacy: string;

  async function jobDone(jobId: string): Promise<{ state: string; done: number }> {
    return waitFor('the rotation job to end', async () => {
      const res = await vault.http().get(`/v1/keys/jobs/${jobId}`).set('Authorization', admin).expect(200);
      return res.body.state === 'done' || res.body.state === 'failed' ? (res.body as { state: string; done: number }) : undefined;
    });
  }

  beforeAll(async () => {
    vault = await startTestApp({ env: { LOG_LEVEL: 'info' } });
    admin = (await createPrincipal(vault, { roles: ['admin'] })).authHeader;
    ingest = (await createPrincipal(vault, { roles: ['ingest'] })).authHeader;
    privacy = (await createPrincipal(vault, { roles: ['privacy'] })).authHeader;
    for (let i = 0; i < 5; i++) await vault.http().post('/v1/customers').set('Authorization', ingest).send(person(`pre${i}`)).expect(201);
  });
  afterAll(async () => {
    await vault?.close();
  });

  it('a DEK inserted by a transaction held open across the rotation is rewrapped before the job reports done', async () => {
    const ring = vault.app.get(KeyRing);
    const id = randomUUID();
    const { dek, wrapped } = ring.newDek(id); // under the active KEK, as a create wraps it
    zero(dek);
    const held = new pg.Client({ connectionString: vault.databaseUrl });
    await held.connect();
    let rotated: { status: number; body: { jobId: string; version: number } };
    let seen: 'rotation waited' | 'job done first';
    try {
      // A create whose statement ran, but whose commit is late.
      await held.query('BEGIN');
      await held.query('INSERT INTO customers (id, dek_version) VALUES ($1, 1)', [id]);
      await held.query('INSERT INTO customer_deks (customer_id, version, kek_version, wrapped_key) VALUES ($1, 1, $2, $3)', [id, wrapped.kekVersion, wrapped.wrapped]);
      const rotating = vault.http().post('/v1/keys/rotate').set('Authorization', admin).then((res) => res);
      seen = await waitFor('the rotation to wait, or its job to report done', async () => {
        const waiting = await vault.sql(`SELECT 1 FROM pg_stat_activity WHERE datname = current_database() AND wait_event_type = 'Lock' AND query ILIKE '%UPDATE kek_versions%'`);
        if (waiting.length > 0) return 'rotation waited' as const;
        const done = await vault.sql(`SELECT 1 FROM key_rotation_jobs WHERE state = 'done'`);
        return done.length > 0 ? ('job done first' as const) : undefined;
      });
      await held.query('COMMIT');
      rotated = await rotating;
    } finally {
      await held.end();
    }
    expect(rotated.status).toBe(202);
    const job = await jobDone(rotated.body.jobId);
    expect(job.state).toBe('done');
    // Nothing under the old version once the job says done (before: the late DEK stayed under version 1).
    expect(await vault.sql('SELECT customer_id, kek_version FROM customer_deks WHERE kek_version <> $1', [rotated.body.version])).toEqual([]);
    expect(seen).toBe('rotation waited');
  });

  it('a process with a stale key ring: its create is refused under the old KEK, retried under the new one, and succeeds', async () => {
    // A second process on the same database whose key refresh does not run (as when it keeps failing).
    const stale = await startTestApp({ databaseUrl: vault.databaseUrl, rootKey: vault.rootKey, env: { LOG_LEVEL: 'info' } });
    try {
      await stale.app.get(KeyRotationWorker).stop();
      const staleRing = stale.app.get(KeyRing);
      clearInterval((staleRing as unknown as { refreshTimer?: NodeJS.Timeout }).refreshTimer);
      const old = staleRing.activeVersion;

      const rotated = await vault.http().post('/v1/keys/rotate').set('Authorization', admin).expect(202);
      expect(rotated.body.version).toBe(old + 1);
      expect((await jobDone(rotated.body.jobId)).state).toBe('done');
      expect(staleRing.activeVersion).toBe(old); // still stale

      const created = await stale.http().post('/v1/customers').set('Authorization', ingest).send(person('late')).expect(201);
      expect(await vault.sql('SELECT kek_version FROM customer_deks WHERE customer_id = $1', [created.body.id])).toEqual([{ kek_version: rotated.body.version }]);
      expect(await vault.sql('SELECT 1 FROM customer_deks WHERE kek_version <> $1', [rotated.body.version])).toEqual([]);
      expect(staleRing.activeVersion).toBe(rotated.body.version);
      for (const app of [stale, vault]) {
        const read = await app.http().get(`/v1/customers/${created.body.id}`).set('Authorization', privacy).set('X-Access-Purpose', 'customer_request').set('X-Access-Reason', 'TICKET-4711').expect(200);
        expect(read.body.data).toMatchObject({ fullName: 'Tamsin late Vellacott', bankAccount: 'GB29NWBK60161331926819' });
      }
      expect(stale.logs.text()).toMatch(/refused under a KEK that is no longer active: reloading the key ring/);
      // The old version can now be retired: nothing is under it.
      await vault.http().post(`/v1/keys/${old}/retire`).set('Authorization', admin).expect(200);
    } finally {
      await stale.close();
    }
  });

  it('the database refuses a new DEK under a decrypt-only KEK, whatever process tries', async () => {
    const [{ version }] = await vault.sql<{ version: number }>(`SELECT max(version) AS version FROM kek_versions`);
    await vault.http().post('/v1/keys/rotate').set('Authorization', admin).expect(202);
    const [row] = await vault.sql<{ state: string }>('SELECT state FROM kek_versions WHERE version = $1', [version]);
    expect(row.state).toBe('decrypt_only');
    await expect(
      vault.sql(`INSERT INTO customer_deks (customer_id, version, kek_version, wrapped_key) SELECT customer_id, version + 100, $1, wrapped_key FROM customer_deks LIMIT 1`, [version]),
    ).rejects.toThrow(/not active/);
    expect(await vault.sql('SELECT 1 FROM customer_deks WHERE version > 100')).toEqual([]);
  });
});
