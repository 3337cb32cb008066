import { afterAll, beforeAll, expect } from '@jest/globals';
import { mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import pg from 'pg';
import { createPrincipal } from '../helpers/principals.js';
import { dropTestDatabase, startTestApp } from '../helpers/test-app.js';
import type { VaultProcess } from '../helpers/vault-process.js';

export function person(i: number) {
  return { personal: { fullName: `Orlanthe ${i} Brisque`, email: `ob.${i}@example.com` }, payment: { bankAccount: `GB29NWBK6016133192${String(i).padStart(4, '0')}` } };
}

export interface SeededDatabase {
  databaseUrl: string;
  ids: string[];
  admin: string;
  privacy: string;
}

/** A database with `count` customers, created through the real API, and admin + privacy tokens. */
export async function seededDatabase(rootKey: Buffer, dataDir: string, count: number, env: Record<string, string> = {}): Promise<SeededDatabase> {
  const vault = await startTestApp({ rootKey, dataDir, env: { LOG_LEVEL: 'warn', ...env } });
  try {
    const ingest = (await createPrincipal(vault, { roles: ['ingest'] })).authHeader;
    const admin = (await createPrincipal(vault, { roles: ['admin'] })).authHeader;
    const privacy = (await createPrincipal(vault, { roles: ['privacy'] })).authHeader;
    const ids: string[] = [];
    // 10 at a time: the 5-connection pool of the test app answers 503 when creates wait too long on a loaded machine.
    for (let i = 0; i < count; i += 10) {
      const batch = await Promise.all(Array.from({ length: Math.min(10, count - i) }, (_, j) => vault.http().post('/v1/customers').set('Authorization', ingest).send(person(i + j)).expect(201)));
      ids.push(...batch.map((res) => res.body.id as string));
    }
    return { databaseUrl: vault.databaseUrl, ids, admin, privacy };
  } finally {
    await vault.close();
  }
}

/** Reads every seeded customer through a vault server at `url`: each answers 200 with its own values. */
export async function readAll(url: string, seeded: SeededDatabase): Promise<void> {
  for (let i = 0; i < seeded.ids.length; i += 25) {
    await Promise.all(seeded.ids.slice(i, i + 25).map(async (id, j) => {
      const res = await fetch(`${url}/v1/customers/${id}`, { headers: { Authorization: seeded.privacy, 'X-Access-Purpose': 'customer_request', 'X-Access-Reason': 'TICKET-4711' } });
      expect(res.status).toBe(200);
      const body = (await res.json()) as { data: { fullName: string; bankAccount: string } };
      expect(body.data.fullName).toBe(`Orlanthe ${i + j} Brisque`);
    }));
  }
}

export { waitFor } from '../helpers/wait.js';

export interface SeededFixture {
  readonly dataDir: string;
  /** Set in beforeAll. */
  seeded: SeededDatabase;
  sql<R>(text: string, params?: unknown[]): Promise<R[]>;
  /** Server processes to kill after the file, whatever happened. */
  processes: VaultProcess[];
}

/**
 * Registers beforeAll/afterAll for a file that runs vault processes on one seeded database: seeds it
 * with `count` customers under `rootKey`, and afterwards kills the processes and drops the database.
 */
export function seededFixture(prefix: string, rootKey: Buffer, count: number, env: Record<string, string> = {}): SeededFixture {
  let pool: pg.Pool | undefined;
  const fixture: SeededFixture = {
    dataDir: mkdtempSync(path.join(os.tmpdir(), prefix)),
    seeded: undefined as unknown as SeededDatabase,
    processes: [],
    sql: async <R>(text: string, params: unknown[] = []) => ((await (pool as pg.Pool).query(text, params)).rows as R[]),
  };
  beforeAll(async () => {
    fixture.seeded = await seededDatabase(rootKey, fixture.dataDir, count, env);
    pool = new pg.Pool({ connectionString: fixture.seeded.databaseUrl, max: 2 });
  }, 120_000);
  afterAll(async () => {
    for (const p of fixture.processes) await p.stop('SIGKILL');
    await pool?.end();
    if (fixture.seeded) await dropTestDatabase(fixture.seeded.databaseUrl);
    rmSync(fixture.dataDir, { recursive: true, force: true });
  });
  return fixture;
}
