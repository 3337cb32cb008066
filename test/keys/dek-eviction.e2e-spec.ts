import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { zero } from '../../src/crypto/index.js';
import { KeyRing } from '../../src/keys/key-ring.service.js';
import { KeysService } from '../../src/keys/keys.service.js';
import { createPrincipal } from '../helpers/principals.js';
import { startTestApp, type TestApp } from '../helpers/test-app.js';
import { lastLine, runCliAsync, VaultProcess } from '../helpers/vault-process.js';
import { waitFor } from '../helpers/wait.js';

const LONG_TTL = '3600000'; // nothing expires during the test: only evictions empty the caches

function person(tag: string) {
  return { personal: { fullName: `Isolde ${tag} Marchbank`, email: `im.${tag}@example.com` }, payment: { bankAccount: 'GB29NWBK60161331926819' } };
}

/** A figure from a process's /metrics. */
async function metric(vault: VaultProcess, name: string): Promise<number> {
  const text = await (await fetch(`${vault.url}/metrics`)).text();
  const line = text.split('\n').find((l) => l.startsWith(`${name} `));
  return line === undefined ? Number.NaN : Number(line.slice(name.length + 1));
}

/**
 * Issue 13 §3: an erasure cleared only the erasing process's DEK cache; other processes kept the
 * destroyed key (up to the TTL, and indefinitely when idle). Erasures and re-keys are now announced
 * with PostgreSQL NOTIFY, and every process evicts.
 */
describe('erasure reaches every process (two processes on one database)', () => {
  let vault: TestApp; // this process
  let other: VaultProcess; // a real second server process
  const otherDir = mkdtempSync(path.join(os.tmpdir(), 'cv-evict-'));
  let ingest: string;
  let privacy: string;
  let admin: string;
  const ids: string[] = [];

  const cached = (): Promise<number> => metric(other, 'vault_dek_cache_entries');
  const readIn = async (url: string, id: string): Promise<{ status: number; body: { data?: Record<string, unknown> } }> => {
    const res = await fetch(`${url}/v1/customers/${id}`, { headers: { Authorization: privacy, 'X-Access-Purpose': 'customer_request', 'X-Access-Reason': 'TICKET-4711' } });
    return { status: res.status, body: (await res.json()) as { data?: Record<string, unknown> } };
  };
  const listenerOf = (p: VaultProcess) => `customer-vault:dek-evictions:${p.child.pid}`;

  beforeAll(async () => {
    vault = await startTestApp({ env: { VAULT_DEK_CACHE_TTL_MS: LONG_TTL } });
    ingest = (await createPrincipal(vault, { roles: ['ingest'] })).authHeader;
    privacy = (await createPrincipal(vault, { roles: ['privacy'] })).authHeader;
    admin = (await createPrincipal(vault, { roles: ['admin'] })).authHeader;
    for (let i = 0; i < 4; i++) ids.push((await vault.http().post('/v1/customers').set('Authorization', ingest).send(person(`c${i}`)).expect(201)).body.id);
    other = await VaultProcess.start({
      DATABASE_URL: vault.databaseUrl,
      VAULT_ROOT_KEY: vault.rootKey.toString('base64'),
      VAULT_DATA_DIR: otherDir,
      VAULT_DEK_CACHE_TTL_MS: LONG_TTL,
      LOG_LEVEL: 'warn',
    });
    await other.waitReady(120_000); // generous: the machine is shared
  }, 180_000);
  afterAll(async () => {
    await other?.stop();
    await vault?.close();
    rmSync(otherDir, { recursive: true, force: true });
  });

  it('an erasure or a re-key in one process evicts the destroyed DEK in the other', async () => {
    for (const id of ids.slice(0, 3)) expect((await readIn(other.url, id)).status).toBe(200);
    expect(await cached()).toBe(3);

    await vault.http().delete(`/v1/customers/${ids[0]}`).set('Authorization', privacy).expect(204);
    await waitFor('the other process to evict the erased customer\'s DEK', async () => ((await cached()) === 2 ? true : undefined));

    await vault.http().post(`/v1/customers/${ids[1]}/rekey`).set('Authorization', admin).expect(200, { id: ids[1], dekVersion: 2 });
    await waitFor('the other process to evict the re-keyed customer\'s old DEK', async () => ((await cached()) === 1 ? true : undefined));
    const reread = await readIn(other.url, ids[1]);
    expect(reread.status).toBe(200);
    expect(reread.body.data).toMatchObject({ fullName: 'Isolde c1 Marchbank' });
    expect(await cached()).toBe(2); // the new version, cached again
    expect(await metric(other, 'vault_dek_evictions_received_total')).toBe(2);
    expect((await readIn(other.url, ids[0])).status).toBe(410);
  });

  it('a lost listener connection clears the cache and turns it off; reconnected, evictions arrive again', async () => {
    const [{ n }] = await vault.sql<{ n: number }>(`SELECT count(*)::int AS n FROM pg_stat_activity WHERE application_name = $1`, [listenerOf(other)]);
    expect(n).toBe(1);
    await vault.sql('SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE application_name = $1', [listenerOf(other)]);
    await waitFor('the cache to be cleared', async () => ((await cached()) === 0 ? true : undefined));
    await waitFor('the listener to reconnect', async () => ((await metric(other, 'vault_dek_eviction_listener_connections_total')) === 2 ? true : undefined));
    expect((await readIn(other.url, ids[2])).status).toBe(200);
    expect(await cached()).toBe(1);
    await vault.http().delete(`/v1/customers/${ids[2]}`).set('Authorization', privacy).expect(204);
    await waitFor('the eviction after the reconnection', async () => ((await cached()) === 0 ? true : undefined));
  });

  it('a read that loaded the row before the erasure committed cannot put the destroyed key back', async () => {
    const id = ids[3];
    const ring = vault.app.get(KeyRing);
    await vault.http().get(`/v1/customers/${id}`).set('Authorization', privacy).set('X-Access-Purpose', 'customer_request').set('X-Access-Reason', 'TICKET-4711').expect(200);
    // What a racing read loaded before the erasure: the row's wrapped DEK.
    const [row] = await vault.sql<{ version: number; kek_version: number; wrapped_key: Buffer }>('SELECT version, kek_version, wrapped_key FROM customer_deks WHERE customer_id = $1', [id]);
    await vault.http().delete(`/v1/customers/${id}`).set('Authorization', privacy).expect(204);
    const entries = ring.dekCacheStats.entries;
    // ...then it unwraps the key (its KEK lives) and would cache it.
    const dek = await ring.dek(id, { version: row.version, kekVersion: row.kek_version, wrapped: row.wrapped_key });
    zero(dek);
    expect(ring.dekCacheStats.entries).toBe(entries);
  });

  it('keys:erasure-window reports erasures a live KEK could still open, and none once those KEKs are retired', async () => {
    const env = { DATABASE_URL: vault.databaseUrl, VAULT_ROOT_KEY: vault.rootKey.toString('base64'), VAULT_DATA_DIR: otherDir, LOG_LEVEL: 'warn' };
    const open = await runCliAsync(['keys:erasure-window'], env);
    expect(open.status).toBe(0);
    const report = JSON.parse(lastLine(open.stdout)) as { openErasures: number; kekVersionsToRetire: number[]; rotateFirst: boolean; erasures: { customerId: string; kekVersions: number[] }[] };
    expect(report).toMatchObject({ openErasures: 3, kekVersionsToRetire: [1], activeKekVersion: 1, rotateFirst: true });
    expect(report.erasures.map((e) => e.customerId).sort()).toEqual([ids[0], ids[2], ids[3]].sort());
    expect(open.stderr).toMatch(/rotate first/);

    const keys = vault.app.get(KeysService); // the service behind the command, without another CLI boot
    expect(await keys.erasureWindow(1)).toMatchObject({ openErasures: 3, erasures: [{ customerId: ids[0], kekVersions: [1] }] });
    const bad = await runCliAsync(['keys:erasure-window', '--limit', '0'], env);
    expect(bad.status).toBe(1);
    expect(bad.stderr).toMatch(/--limit must be a positive integer/);

    // The procedure: rotate, let the job move every DEK, retire the old KEK.
    const rotated = await vault.http().post('/v1/keys/rotate').set('Authorization', admin).expect(202);
    await waitFor('the rotation job', async () => {
      const res = await vault.http().get(`/v1/keys/jobs/${rotated.body.jobId}`).set('Authorization', admin).expect(200);
      return res.body.state === 'done' ? true : undefined;
    });
    await vault.http().post('/v1/keys/1/retire').set('Authorization', admin).expect(200);
    expect(await keys.erasureWindow(100)).toEqual({ openErasures: 0, oldestOpenErasureAt: null, kekVersionsToRetire: [], activeKekVersion: 2, rotateFirst: false, erasures: [] });
    const events = await vault.sql<{ outcome: string; details: Record<string, unknown> }>(
      `SELECT outcome, details FROM audit_events WHERE action = 'keys.erasure_window' UNION ALL SELECT outcome, details FROM audit_pending WHERE action = 'keys.erasure_window'`,
    );
    expect(events.map((e) => e.outcome).sort()).toEqual(['allowed']);
    expect(events[0].details).toMatchObject({ openErasures: 3, kekVersionsToRetire: '1' });
  }, 180_000); // each CLI run boots the vault's services (~10 s on a loaded machine)
});
