import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { randomBytes } from 'node:crypto';
import { deriveAuditSigningSeed, rootKeyId, signingKeyPairFromSeed } from '../../src/crypto/index.js';
import { KeyRotationWorker } from '../../src/keys/key-rotation.worker.js';
import { createPrincipal } from '../helpers/principals.js';
import { SoftHsmToken } from '../helpers/softhsm.js';
import { startTestApp, type TestApp } from '../helpers/test-app.js';

const FIELD_COLUMNS = ['full_name', 'email', 'phone', 'address', 'national_id', 'date_of_birth', 'card_number', 'card_expiry', 'cardholder_name', 'bank_account'];

function person(tag: string) {
  return {
    personal: { fullName: `Zephyrine ${tag} Quillon`, email: `zq.${tag}@example.com`, phone: '+44 20 7946 0958', nationalId: `QZ-${tag}`, dateOfBirth: '1980-02-03', address: { line1: '9 Quillon Row', city: 'Zanthorpe', postalCode: 'ZX1 2QW', country: 'GB' } },
    payment: { cardNumber: '4111 1111 1111 1111', cardExpiry: '12/39', cardholderName: `Z ${tag} Quillon`, bankAccount: 'GB29NWBK60161331926819' },
  };
}

/** Audit events of an action, sealed or still pending. */
async function events(vault: TestApp, action: string) {
  return vault.sql<{ actor_name: string; outcome: string; status: number; resource_id: string | null; details: Record<string, unknown> | null }>(
    `SELECT actor_name, outcome, status, resource_id, details FROM audit_events WHERE action = $1
     UNION ALL SELECT actor_name, outcome, status, resource_id, details FROM audit_pending WHERE action = $1`,
    [action],
  );
}

/**
 * The key-lifecycle suite, run once per root key provider (key-lifecycle.e2e-spec.ts: file;
 * key-lifecycle-pkcs11.e2e-spec.ts: a SoftHSM2 token): the provider must not change any behaviour.
 */
export function keyLifecycleSuite(provider: 'file' | 'pkcs11'): void {
describe(`key lifecycle with the ${provider} root key provider: rotation, retirement, re-key, erasure (HTTP, real PostgreSQL)`, () => {
  let vault: TestApp;
  let token: SoftHsmToken | undefined;
  let admin: string;
  let ingest: string;
  let privacy: string;
  let support: string;
  const stored = new Map<string, string>(); // id -> tag

  async function create(tag: string): Promise<string> {
    const res = await vault.http().post('/v1/customers').set('Authorization', ingest).send(person(tag));
    if (res.status !== 201) throw new Error(`create answered ${res.status}`);
    stored.set(res.body.id, tag);
    return res.body.id;
  }
  async function readBack(id: string): Promise<{ status: number; fullName?: string; email?: string; bankAccount?: string }> {
    const res = await vault.http().get(`/v1/customers/${id}`).set('Authorization', privacy).set('X-Access-Purpose', 'customer_request').set('X-Access-Reason', 'TICKET-4711');
    return { status: res.status, ...res.body.data };
  }
  async function jobDone(jobId: string, timeoutMs = 15_000): Promise<Record<string, unknown>> {
    const started = Date.now();
    for (;;) {
      const res = await vault.http().get(`/v1/keys/jobs/${jobId}`).set('Authorization', admin).expect(200);
      if (res.body.state === 'done' || res.body.state === 'failed') return res.body;
      if (Date.now() - started > timeoutMs) throw new Error(`job not done: ${JSON.stringify(res.body)}`);
      await new Promise((resolve) => setTimeout(resolve, 100));
    }
  }

  beforeAll(async () => {
    let providerEnv: Record<string, string> = {};
    if (provider === 'pkcs11') {
      token = new SoftHsmToken('lifecycle');
      token.createKey('vault-root-1');
      providerEnv = token.env('vault-root-1');
    }
    vault = await startTestApp({ env: { VAULT_ROTATION_BATCH_SIZE: '25', ...providerEnv } });
    admin = (await createPrincipal(vault, { roles: ['admin'] })).authHeader;
    ingest = (await createPrincipal(vault, { roles: ['ingest'] })).authHeader;
    privacy = (await createPrincipal(vault, { roles: ['privacy'] })).authHeader;
    support = (await createPrincipal(vault, { roles: ['support'] })).authHeader;
    for (let i = 0; i < 12; i++) await Promise.all(Array.from({ length: 10 }, (_, j) => create(`pre${i * 10 + j}`)));
  }, 180_000);
  afterAll(async () => {
    await vault?.close();
    token?.remove();
  });

  it('keeps the KEKs and index keys wrapped by the configured provider, and records its root key as current', async () => {
    const alg = provider === 'pkcs11' ? 2 : 1;
    const rows = await vault.sql<{ wrapped_key: Buffer; root_key_id: string }>('SELECT wrapped_key, root_key_id FROM kek_versions UNION ALL SELECT wrapped_key, root_key_id FROM blind_index_keys');
    expect(rows.length).toBe(4);
    const { body } = await vault.http().get('/v1/keys').set('Authorization', admin).expect(200);
    for (const row of rows) {
      expect([...row.wrapped_key.subarray(0, 2)]).toEqual([1, alg]);
      expect(row.wrapped_key.length).toBe(provider === 'pkcs11' ? 66 : 78);
      expect(row.root_key_id).toBe(body.rootKeyId);
    }
    expect(await vault.sql('SELECT root_key_id, provider FROM root_key_state')).toEqual([{ root_key_id: body.rootKeyId, provider }]);
    // the audit checkpoint key comes from the provider's seed (with pkcs11: computed in the token)
    const signing = signingKeyPairFromSeed(await vault.runtime.rootKey.auditSigningSeed());
    expect(await vault.sql('SELECT key_id FROM audit_signing_keys')).toEqual([{ key_id: signing.keyId }]);
    if (provider === 'pkcs11') {
      expect(body.rootKeyId).not.toBe(rootKeyId(vault.rootKey));
      expect(signing.keyId).not.toBe(signingKeyPairFromSeed(deriveAuditSigningSeed(vault.rootKey)).keyId);
    }
  });

  it('non-admins get 403 on every key route and on re-key', async () => {
    const [id] = [...stored.keys()];
    for (const token of [ingest, privacy, support]) {
      await vault.http().get('/v1/keys').set('Authorization', token).expect(403);
      await vault.http().post('/v1/keys/rotate').set('Authorization', token).expect(403);
      await vault.http().get(`/v1/keys/jobs/${id}`).set('Authorization', token).expect(403);
      await vault.http().post('/v1/keys/1/retire').set('Authorization', token).expect(403);
      await vault.http().post(`/v1/customers/${id}/rekey`).set('Authorization', token).expect(403);
    }
    await vault.http().get('/v1/keys').expect(401);
    const [row] = await vault.sql<{ version: number }>('SELECT max(version) AS version FROM kek_versions');
    expect(row.version).toBe(1);
  });

  it('rotates online while a writer and a reader run: every request succeeds, everything decrypts, every DEK ends under the new version', async () => {
    const before = await vault.http().get('/v1/keys').set('Authorization', admin).expect(200);
    expect(before.body).toMatchObject({ activeKekVersion: 1, kekVersions: [{ version: 1, state: 'active', dekCount: stored.size }] });
    expect(before.body.rootKeyId).toMatch(/^[0-9a-f]{16}$/);

    let stop = false;
    const failures: string[] = [];
    const writer = (async () => {
      for (let i = 0; !stop; i++) await create(`dur${i}`).catch((e: Error) => failures.push(`write: ${e.message}`));
    })();
    const reader = (async () => {
      while (!stop) {
        const ids = [...stored.keys()];
        const id = ids[Math.floor(Math.random() * ids.length)];
        const got = await readBack(id);
        if (got.status !== 200 || got.fullName !== `Zephyrine ${stored.get(id)} Quillon`) failures.push(`read ${got.status}`);
      }
    })();
    let job: Record<string, unknown>;
    let rotated: { body: { jobId: string; version: number } };
    try {
    await new Promise((resolve) => setTimeout(resolve, 200));
    rotated = await vault.http().post('/v1/keys/rotate').set('Authorization', admin).expect(202);
    expect(rotated.body).toEqual({ jobId: expect.any(String), version: 2 });
    // the new version is active at once for new DEKs
    const fresh = await create('right-after');
    const [dek] = await vault.sql<{ kek_version: number }>('SELECT kek_version FROM customer_deks WHERE customer_id = $1', [fresh]);
    expect(dek.kek_version).toBe(2);

    job = await jobDone(rotated.body.jobId);
    } finally {
      stop = true;
      await Promise.all([writer, reader]);
    }
    for (let i = 0; i < 5; i++) await create(`post${i}`);
    expect(failures).toEqual([]);
    expect(job).toMatchObject({ state: 'done', startedAt: expect.any(String), finishedAt: expect.any(String) });
    expect(job.done as number).toBeGreaterThanOrEqual(120);
    expect(job.total as number).toBeGreaterThanOrEqual(120);

    const under = await vault.sql<{ kek_version: number; n: string }>('SELECT kek_version, count(*) AS n FROM customer_deks GROUP BY 1');
    expect(under).toEqual([{ kek_version: 2, n: String(stored.size) }]);
    for (const [id, tag] of stored) {
      const got = await readBack(id);
      expect(got).toMatchObject({ status: 200, fullName: `Zephyrine ${tag} Quillon`, email: `zq.${tag}@example.com`, bankAccount: 'GB29NWBK60161331926819' });
    }
    const after = await vault.http().get('/v1/keys').set('Authorization', admin).expect(200);
    expect(after.body).toMatchObject({
      activeKekVersion: 2,
      kekVersions: [
        { version: 1, state: 'decrypt_only', dekCount: 0 },
        { version: 2, state: 'active', dekCount: stored.size },
      ],
    });
  }, 120_000);

  it('retire: 409 for the active version, allowed once no DEK remains; the wrapped key is destroyed', async () => {
    const active = await vault.http().post('/v1/keys/2/retire').set('Authorization', admin).expect(409);
    expect(active.body.error.code).toBe('conflict');
    await vault.http().post('/v1/keys/99/retire').set('Authorization', admin).expect(404);
    await vault.http().post('/v1/keys/abc/retire').set('Authorization', admin).expect(400);
    await vault.http().post('/v1/keys/1/retire').set('Authorization', admin).expect(200, { version: 1, state: 'retired' });
    await vault.http().post('/v1/keys/1/retire').set('Authorization', admin).expect(409);
    const [row] = await vault.sql<{ state: string; wrapped_key: Buffer | null }>('SELECT state, wrapped_key FROM kek_versions WHERE version = 1');
    expect(row).toEqual({ state: 'retired', wrapped_key: null });
    // the database refuses a DEK under a retired version, whatever process tries
    await expect(vault.sql(`UPDATE customer_deks SET kek_version = 1 WHERE customer_id = (SELECT customer_id FROM customer_deks LIMIT 1)`)).rejects.toThrow(/retired/);
    // checked once per statement: one bad row among good ones refuses the whole statement, on insert
    // too, and an unknown version is refused like a retired one
    const [{ n: before }] = await vault.sql<{ n: number }>('SELECT count(*)::int AS n FROM customer_deks WHERE kek_version = 2');
    await expect(vault.sql(`UPDATE customer_deks SET kek_version = CASE WHEN customer_id = (SELECT customer_id FROM customer_deks ORDER BY customer_id LIMIT 1) THEN 1 ELSE 2 END`)).rejects.toThrow(/retired/);
    await expect(vault.sql(`INSERT INTO customer_deks (customer_id, version, kek_version, wrapped_key) SELECT customer_id, version + 100, 99, wrapped_key FROM customer_deks LIMIT 1`)).rejects.toThrow(/not active \(retired, decrypt-only or unknown\)/);
    await expect(vault.sql(`INSERT INTO customer_deks (customer_id, version, kek_version, wrapped_key) SELECT customer_id, version + 100, 1, wrapped_key FROM customer_deks LIMIT 1`)).rejects.toThrow(/retired/);
    expect(await vault.sql('SELECT 1 FROM customer_deks WHERE kek_version <> 2 OR version > 100')).toEqual([]);
    expect(await vault.sql<{ n: number }>('SELECT count(*)::int AS n FROM customer_deks WHERE kek_version = 2')).toEqual([{ n: before }]);
  });

  it('rekey: new DEK version, every stored ciphertext changes, the plaintext stays', async () => {
    const id = await create('rekeyed');
    const [before] = await vault.sql<Record<string, Buffer>>('SELECT * FROM customers WHERE id = $1', [id]);
    const res = await vault.http().post(`/v1/customers/${id}/rekey`).set('Authorization', admin).expect(200);
    expect(res.body).toEqual({ id, dekVersion: 2 });
    const [after] = await vault.sql<Record<string, Buffer | number>>('SELECT * FROM customers WHERE id = $1', [id]);
    expect(after.dek_version).toBe(2);
    for (const column of FIELD_COLUMNS) {
      const old = before[column];
      const now = after[column] as Buffer;
      expect(now).toBeInstanceOf(Buffer);
      expect(now.equals(old)).toBe(false);
      expect(now.subarray(0, 6)).toEqual(Buffer.from([1, 1, 0, 0, 0, 2]));
    }
    const deks = await vault.sql<{ version: number }>('SELECT version FROM customer_deks WHERE customer_id = $1', [id]);
    expect(deks).toEqual([{ version: 2 }]);
    expect(await readBack(id)).toMatchObject({ status: 200, fullName: 'Zephyrine rekeyed Quillon', email: 'zq.rekeyed@example.com', bankAccount: 'GB29NWBK60161331926819' });
    await vault.http().post(`/v1/customers/${id}/rekey`).set('Authorization', admin).expect(200, { id, dekVersion: 3 });
    expect(await readBack(id)).toMatchObject({ status: 200, fullName: 'Zephyrine rekeyed Quillon' });
  });

  it('erasure crypto-shreds: no ciphertext, wrapped DEK or blind index remains; reads 410, search finds nothing; only privacy may erase', async () => {
    const tag = randomBytes(4).toString('hex');
    const id = await create(tag);
    const search = () => vault.http().post('/v1/customers/search').set('Authorization', privacy).set('X-Access-Purpose', 'customer_request').set('X-Access-Reason', 'TICKET-4711').send({ email: `zq.${tag}@example.com` }).expect(200);
    expect((await search()).body.results).toEqual([{ id }]);
    for (const token of [support, ingest, admin]) await vault.http().delete(`/v1/customers/${id}`).set('Authorization', token).expect(403);
    await vault.http().delete(`/v1/customers/${id}`).set('Authorization', privacy).expect(204);

    const [row] = await vault.sql<Record<string, unknown>>('SELECT * FROM customers WHERE id = $1', [id]);
    for (const column of FIELD_COLUMNS) expect(row[column]).toBeNull();
    expect(row.erased_at).toBeInstanceOf(Date);
    expect(await vault.sql('SELECT 1 FROM customer_deks WHERE customer_id = $1', [id])).toEqual([]);
    expect(await vault.sql('SELECT 1 FROM customer_blind_indexes WHERE customer_id = $1', [id])).toEqual([]);
    // scan every bytea the customer tables hold for anything left of this customer
    const leftovers = await vault.sql(
      `SELECT 1 FROM customers WHERE id = $1 AND num_nonnulls(${FIELD_COLUMNS.join(', ')}) > 0`,
      [id],
    );
    expect(leftovers).toEqual([]);

    await vault.http().get(`/v1/customers/${id}`).set('Authorization', privacy).set('X-Access-Purpose', 'customer_request').set('X-Access-Reason', 'TICKET-4711').expect(410);
    expect((await search()).body.results).toEqual([]);
    await vault.http().delete(`/v1/customers/${id}`).set('Authorization', privacy).expect(410);
    await vault.http().post(`/v1/customers/${id}/rekey`).set('Authorization', admin).expect(410);
  });

  it('retire is refused while DEKs remain under the version (job not run yet)', async () => {
    await vault.app.get(KeyRotationWorker).stop();
    const rotated = await vault.http().post('/v1/keys/rotate').set('Authorization', admin).expect(202);
    expect(rotated.body.version).toBe(3);
    const res = await vault.http().post('/v1/keys/2/retire').set('Authorization', admin).expect(409);
    expect(res.body.error.message).toMatch(/still wrapped/);
    const job = await vault.http().get(`/v1/keys/jobs/${rotated.body.jobId}`).set('Authorization', admin).expect(200);
    expect(job.body).toMatchObject({ state: 'queued', done: 0, startedAt: null, finishedAt: null });
    await vault.http().get(`/v1/keys/jobs/${randomUUIDish()}`).set('Authorization', admin).expect(404);
  });

  it('every key operation and erasure is on the audit log, with versions and counts, never key material', async () => {
    await new Promise((resolve) => setTimeout(resolve, 200));
    const rotate = await events(vault, 'keys.rotate');
    expect(rotate.filter((e) => e.outcome === 'allowed').map((e) => e.details?.toKekVersion).sort()).toEqual([2, 3]);
    expect(rotate.filter((e) => e.outcome === 'denied').length).toBeGreaterThanOrEqual(3);
    const start = await events(vault, 'keys.rotation.start');
    const finish = await events(vault, 'keys.rotation.finish');
    expect(start).toHaveLength(1);
    expect(finish).toHaveLength(1);
    expect(finish[0]).toMatchObject({ actor_name: 'system:key-rotation', resource_id: '2', details: { targetVersion: 2 } });
    const retire = await events(vault, 'keys.retire');
    expect(retire.filter((e) => e.outcome === 'allowed')).toEqual([expect.objectContaining({ resource_id: '1', status: 200 })]);
    expect(retire.some((e) => e.status === 409)).toBe(true);
    const rekey = await events(vault, 'customer.rekey');
    expect(rekey.filter((e) => e.outcome === 'allowed').map((e) => [e.details?.fromDekVersion, e.details?.toDekVersion])).toEqual(expect.arrayContaining([[1, 2], [2, 3]]));
    const erase = await events(vault, 'customer.erase');
    expect(erase.filter((e) => e.outcome === 'allowed')).toEqual([expect.objectContaining({ status: 204, details: { destroyedDeks: 1, deletedBlindIndexes: 3 } })]);
    expect(erase.filter((e) => e.status === 403)).toHaveLength(3);
    expect((await events(vault, 'keys.status')).length).toBeGreaterThan(0);
    // no base64 or hex blob the size of a key in any key event's details
    for (const e of [...rotate, ...start, ...finish, ...retire, ...rekey, ...erase]) {
      expect(JSON.stringify(e.details ?? {})).not.toMatch(/[A-Za-z0-9+/]{40,}|[0-9a-f]{48,}/);
    }
  });
});

}

function randomUUIDish(): string {
  return '00000000-0000-4000-8000-000000000000';
}
