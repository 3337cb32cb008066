import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import pg from 'pg';
import { createTestDatabase, dropTestDatabase } from './helpers/test-app.js';
import { lastLine, runCli, VaultProcess } from './helpers/vault-process.js';

interface Acknowledged {
  id: string;
  requestId: string;
}

/** Worker pids the primary logged ("worker started"), in order. */
function workerPids(vault: VaultProcess): number[] {
  return vault
    .text()
    .split('\n')
    .filter((line) => line.includes('"msg":"worker started"'))
    .map((line) => (JSON.parse(line) as { workerPid: number }).workerPid);
}

async function waitFor<T>(what: string, fn: () => Promise<T | undefined> | T | undefined, timeoutMs = 60_000): Promise<T> {
  const started = Date.now();
  for (;;) {
    const value = await fn();
    if (value !== undefined) return value;
    if (Date.now() - started > timeoutMs) throw new Error(`timed out waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
}

/**
 * VAULT_WORKERS=2 (node:cluster) plus a second, single-process "machine" on one PostgreSQL, under a
 * create load, with one cluster worker killed by SIGKILL midway: every acknowledged create is
 * stored with its audit event, no event is lost or doubled, the chain verifies, the dead worker is
 * replaced, and SIGTERM drains the cluster.
 */
describe('cluster mode: 2 workers and a second process group on one PostgreSQL', () => {
  const dataDir = mkdtempSync(path.join(os.tmpdir(), 'cv-cluster-'));
  const rootKey = randomBytes(32).toString('base64');
  let databaseUrl: string;
  let env: Record<string, string>;
  let machineA: VaultProcess;
  let machineB: VaultProcess;
  let token: string;
  let pool: pg.Pool;

  beforeAll(async () => {
    databaseUrl = await createTestDatabase();
    // One data dir for both groups: the checkpoint file is the chain's anchor outside the database.
    env = { DATABASE_URL: databaseUrl, VAULT_ROOT_KEY: rootKey, VAULT_DATA_DIR: dataDir, VAULT_RATE_LIMIT_PER_MINUTE: '0', VAULT_DB_POOL_SIZE: '4', LOG_LEVEL: 'info' };
    const created = runCli(['principal:create', '--name', 'cluster-loader', '--kind', 'service', '--roles', 'ingest'], env);
    expect(created.status).toBe(0);
    token = lastLine(created.stdout);
    machineA = await VaultProcess.start({ ...env, VAULT_WORKERS: '2' });
    machineB = await VaultProcess.start(env);
    await machineA.waitReady(170_000);
    await machineB.waitReady(170_000);
    pool = new pg.Pool({ connectionString: databaseUrl, max: 2 });
  }, 360_000);
  afterAll(async () => {
    await machineA?.stop('SIGKILL');
    await machineB?.stop('SIGKILL');
    for (const pid of machineA ? workerPids(machineA) : []) {
      try {
        process.kill(pid, 'SIGKILL');
      } catch {
        // already gone
      }
    }
    await pool?.end();
    await dropTestDatabase(databaseUrl);
    rmSync(dataDir, { recursive: true, force: true });
  });

  it('serves from two workers; a worker killed by SIGKILL under load loses no acknowledged write and is replaced', async () => {
    expect(workerPids(machineA)).toHaveLength(2);
    const acknowledged: Acknowledged[] = [];
    let failed = 0;
    let sent = 0;
    const TOTAL = 400;
    const create = async (base: string): Promise<void> => {
      const n = sent++;
      try {
        const res = await fetch(`${base}/v1/customers`, {
          method: 'POST',
          headers: { Authorization: `Bearer ${token}`, 'Content-Type': 'application/json' },
          body: JSON.stringify({ externalRef: `CL-${n}`, personal: { fullName: `Cluster Person ${n}` } }),
          // A connection the primary was handing to the worker as it died is never answered nor
          // closed (node:cluster's round-robin handoff): such a request is simply unacknowledged.
          signal: AbortSignal.timeout(30_000),
        });
        const body = (await res.json()) as { id?: string };
        if (res.status === 201 && body.id) acknowledged.push({ id: body.id, requestId: res.headers.get('x-request-id') ?? '' });
        else failed++;
      } catch {
        failed++; // the connection died with the worker: not acknowledged
      }
    };
    const victim = workerPids(machineA)[0] as number;
    let killed = false;
    const clients = Array.from({ length: 8 }, (_, c) =>
      (async () => {
        while (sent < TOTAL) {
          if (!killed && acknowledged.length >= TOTAL / 4) {
            killed = true;
            process.kill(victim, 'SIGKILL');
          }
          await create(c % 2 === 0 ? machineA.url : machineB.url);
        }
      })(),
    );
    await Promise.all(clients);
    expect(killed).toBe(true);
    expect(acknowledged.length).toBeGreaterThan(TOTAL / 2);
    expect(acknowledged.length + failed).toBe(TOTAL);

    // the dead worker was logged and replaced; the cluster answers on
    await waitFor('a replacement worker', () => (workerPids(machineA).length >= 3 ? true : undefined));
    expect(machineA.text()).toContain('worker died: replacing it');
    expect((await fetch(`${machineA.url}/readyz`)).status).toBe(200);

    // every acknowledged write is stored, with its audit event (by request id)
    const ids = acknowledged.map((a) => a.id);
    const stored = await pool.query<{ n: string }>('SELECT count(*) AS n FROM customers WHERE id = ANY($1::uuid[])', [ids]);
    expect(Number(stored.rows[0]?.n)).toBe(ids.length);
    await waitFor('the sealer to chain every pending event', async () => (Number((await pool.query<{ n: string }>('SELECT count(*) AS n FROM audit_pending')).rows[0]?.n) === 0 ? true : undefined));
    const audited = await pool.query<{ request_id: string }>("SELECT request_id FROM audit_events WHERE action = 'customer.create' AND outcome = 'allowed'");
    const auditedIds = new Set(audited.rows.map((row) => row.request_id));
    expect(acknowledged.filter((a) => !auditedIds.has(a.requestId))).toEqual([]);
    // no event lost or doubled: one allowed create event per stored customer
    const customers = await pool.query<{ n: string }>('SELECT count(*) AS n FROM customers');
    expect(audited.rows.length).toBe(Number(customers.rows[0]?.n));
    expect(auditedIds.size).toBe(audited.rows.length);
  }, 240_000);

  it('the chain verifies after the load and the kill', () => {
    const verify = runCli(['audit:verify'], env);
    expect({ status: verify.status, out: lastLine(verify.stdout) }).toEqual({ status: 0, out: expect.stringContaining('valid') });
  }, 120_000);

  it('SIGTERM drains every worker and the primary exits 0', async () => {
    const pids = workerPids(machineA);
    expect(await machineA.stop('SIGTERM')).toBe(0);
    expect(machineA.text()).toContain('draining every worker');
    for (const pid of pids) expect(() => process.kill(pid, 0)).toThrow();
    expect((await fetch(`${machineB.url}/readyz`)).status).toBe(200);
  }, 60_000);

  it('refuses a malformed VAULT_WORKERS naming the variable', async () => {
    const vault = await VaultProcess.start({ ...env, VAULT_WORKERS: 'many' });
    expect(await vault.waitExit()).toBe(1);
    expect(vault.text()).toContain('VAULT_WORKERS');
  });
});
