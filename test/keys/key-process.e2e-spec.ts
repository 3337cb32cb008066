import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import pg from 'pg';
import { rootKeyId } from '../../src/crypto/index.js';
import { createPrincipal } from '../helpers/principals.js';
import { createTestDatabase, dropTestDatabase, startTestApp } from '../helpers/test-app.js';
import { lastLine, runCli, VaultProcess } from '../helpers/vault-process.js';
import { waitFor } from '../helpers/wait.js';

const CUSTOMERS = 240;

function person(i: number) {
  return { personal: { fullName: `Orlanthe ${i} Brisque`, email: `ob.${i}@example.com` }, payment: { bankAccount: `GB29NWBK6016133192${String(i).padStart(4, '0')}` } };
}

/** A database with CUSTOMERS customers, created through the real API, and admin + privacy tokens. */
async function seededDatabase(rootKey: Buffer, dataDir: string): Promise<{ databaseUrl: string; ids: string[]; admin: string; privacy: string }> {
  const vault = await startTestApp({ rootKey, dataDir, env: { LOG_LEVEL: 'warn' } });
  try {
    const ingest = (await createPrincipal(vault, { roles: ['ingest'] })).authHeader;
    const admin = (await createPrincipal(vault, { roles: ['admin'] })).authHeader;
    const privacy = (await createPrincipal(vault, { roles: ['privacy'] })).authHeader;
    const ids: string[] = [];
    for (let i = 0; i < CUSTOMERS; i += 20) {
      const batch = await Promise.all(Array.from({ length: 20 }, (_, j) => vault.http().post('/v1/customers').set('Authorization', ingest).send(person(i + j)).expect(201)));
      ids.push(...batch.map((res) => res.body.id as string));
    }
    return { databaseUrl: vault.databaseUrl, ids, admin, privacy };
  } finally {
    await vault.close();
  }
}

describe('key lifecycle across processes (compiled server and CLI)', () => {
  const dataDir = mkdtempSync(path.join(os.tmpdir(), 'cv-keys-proc-'));
  const rootKey = randomBytes(32);
  let seeded: Awaited<ReturnType<typeof seededDatabase>>;
  let pool: pg.Pool;
  const processes: VaultProcess[] = [];

  beforeAll(async () => {
    seeded = await seededDatabase(rootKey, dataDir);
    pool = new pg.Pool({ connectionString: seeded.databaseUrl, max: 2 });
  }, 60_000);
  afterAll(async () => {
    for (const p of processes) await p.stop('SIGKILL');
    await pool?.end();
    if (seeded) await dropTestDatabase(seeded.databaseUrl);
    rmSync(dataDir, { recursive: true, force: true });
  });

  async function sql<R>(text: string, params: unknown[] = []): Promise<R[]> {
    return (await pool.query(text, params)).rows as R[];
  }
  async function readAll(vault: VaultProcess): Promise<void> {
    for (let i = 0; i < seeded.ids.length; i += 25) {
      await Promise.all(seeded.ids.slice(i, i + 25).map(async (id, j) => {
        const res = await fetch(`${vault.url}/v1/customers/${id}`, { headers: { Authorization: seeded.privacy, 'X-Access-Purpose': 'customer_request' } });
        expect(res.status).toBe(200);
        const body = (await res.json()) as { data: { fullName: string; bankAccount: string } };
        expect(body.data.fullName).toBe(`Orlanthe ${i + j} Brisque`);
      }));
    }
  }

  it('kill -9 mid-rotation: after a restart the job resumes from its cursor, completes, and everything decrypts', async () => {
    const env = { DATABASE_URL: seeded.databaseUrl, VAULT_ROOT_KEY: rootKey.toString('base64'), VAULT_DATA_DIR: dataDir };
    const slow = await VaultProcess.start({ ...env, VAULT_ROTATION_BATCH_SIZE: '20', VAULT_ROTATION_BATCH_PAUSE_MS: '150' });
    processes.push(slow);
    await slow.waitReady();
    const res = await fetch(`${slow.url}/v1/keys/rotate`, { method: 'POST', headers: { Authorization: seeded.admin } });
    expect(res.status).toBe(202);
    const { jobId, version } = (await res.json()) as { jobId: string; version: number };
    expect(version).toBe(2);
    await waitFor('progress', async () => {
      const [job] = await sql<{ done: string }>('SELECT done FROM key_rotation_jobs WHERE id = $1', [jobId]);
      return Number(job.done) >= 100 ? true : undefined;
    });
    await slow.stop('SIGKILL');
    const [killed] = await sql<{ state: string; done: string; total: string; last_customer_id: string | null }>('SELECT * FROM key_rotation_jobs WHERE id = $1', [jobId]);
    expect(killed.state).toBe('running');
    expect(Number(killed.done)).toBeLessThan(CUSTOMERS);
    expect(killed.last_customer_id).not.toBeNull();
    const [{ n: doneBeforeRestart }] = await sql<{ n: string }>('SELECT count(*) AS n FROM customer_deks WHERE kek_version = 2');
    expect(Number(doneBeforeRestart)).toBe(Number(killed.done));

    const vault = await VaultProcess.start({ ...env, VAULT_ROTATION_BATCH_SIZE: '50' });
    processes.push(vault);
    await vault.waitReady();
    const finished = await waitFor('the job to finish', async () => {
      const r = await fetch(`${vault.url}/v1/keys/jobs/${jobId}`, { headers: { Authorization: seeded.admin } });
      const body = (await r.json()) as { state: string; done: number; total: number };
      return body.state === 'done' || body.state === 'failed' ? body : undefined;
    });
    expect(finished).toMatchObject({ state: 'done', total: CUSTOMERS });
    // resumed from the cursor: no DEK was rewrapped twice
    expect(finished.done).toBe(CUSTOMERS);
    expect(await sql('SELECT kek_version, count(*)::int AS n FROM customer_deks GROUP BY 1')).toEqual([{ kek_version: 2, n: CUSTOMERS }]);
    await readAll(vault);
    await vault.stop();
  }, 60_000);

  it('CLI keys:status and root:rotate: afterwards the old root key is refused at boot and the new one works', async () => {
    const env = { DATABASE_URL: seeded.databaseUrl, VAULT_ROOT_KEY: rootKey.toString('base64'), VAULT_DATA_DIR: dataDir, LOG_LEVEL: 'warn' };
    const status = runCli(['keys:status'], env);
    expect(status.status).toBe(0);
    expect(JSON.parse(lastLine(status.stdout))).toMatchObject({ rootKeyId: rootKeyId(rootKey), activeKekVersion: 2 });

    const newKey = randomBytes(32);
    const keyFile = path.join(dataDir, 'new-root.key');
    writeFileSync(keyFile, `${newKey.toString('base64')}\n`, { mode: 0o600 });
    const rotated = runCli(['root:rotate', '--new-key-file', keyFile], env);
    expect(rotated.status).toBe(0);
    expect(JSON.parse(lastLine(rotated.stdout))).toEqual({ fromRootKeyId: rootKeyId(rootKey), toRootKeyId: rootKeyId(newKey), kekVersions: 2, indexKeys: 3 });
    for (const text of [rotated.stdout, rotated.stderr]) expect(text).not.toContain(newKey.toString('base64'));
    expect(await sql(`SELECT DISTINCT root_key_id FROM kek_versions UNION SELECT DISTINCT root_key_id FROM blind_index_keys`)).toEqual([{ root_key_id: rootKeyId(newKey) }]);

    const old = await VaultProcess.start(env);
    processes.push(old);
    expect(await old.waitExit()).not.toBe(0);
    expect(old.text()).toMatch(/cannot open the stored key-encryption key/);

    const vault = await VaultProcess.start({ ...env, VAULT_ROOT_KEY: newKey.toString('base64') });
    processes.push(vault);
    await vault.waitReady();
    await readAll(vault);
    const keys = await fetch(`${vault.url}/v1/keys`, { headers: { Authorization: seeded.admin } });
    expect(((await keys.json()) as { rootKeyId: string }).rootKeyId).toBe(rootKeyId(newKey));
    await vault.stop();

    const events = await sql<{ action: string; actor_name: string; details: Record<string, unknown> }>(
      `SELECT action, actor_name, details FROM audit_events WHERE action LIKE 'keys.%' UNION ALL SELECT action, actor_name, details FROM audit_pending WHERE action LIKE 'keys.%'`,
    );
    expect(events.find((e) => e.action === 'keys.root.rotate')).toMatchObject({ actor_name: expect.stringMatching(/^cli:/), details: { toRootKeyId: rootKeyId(newKey), kekVersions: 2, indexKeys: 3 } });
    expect(events.filter((e) => e.action === 'keys.rotation.start')).toHaveLength(1);
    expect(events.filter((e) => e.action === 'keys.rotation.finish')).toHaveLength(1);
  }, 60_000);
});

void createTestDatabase;
