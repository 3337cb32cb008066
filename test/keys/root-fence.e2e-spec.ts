import { describe, expect, it } from '@jest/globals';
import { randomBytes } from 'node:crypto';
import { writeFileSync } from 'node:fs';
import path from 'node:path';
import { rootKeyId } from '../../src/crypto/index.js';
import { lastLine, runCli, VaultProcess } from '../helpers/vault-process.js';
import { readAll, seededFixture, waitFor } from './seeded.js';

/**
 * Issue 13, finding 1: a process not restarted after `root:rotate` still holds the old root key. Before
 * the fence it served POST /v1/keys/rotate, wrapped the new active KEK under the old root, the rewrap
 * job moved every DEK to it, and the vault then booted with neither key. Now it is fenced.
 */
describe('root key fencing: two processes on one database, root:rotate through the CLI', () => {
  const oldKey = randomBytes(32);
  const newKey = randomBytes(32);
  const fixture = seededFixture('cv-fence-', oldKey, 60);
  const { dataDir, processes, sql } = fixture;

  const env = (key: Buffer) => ({ DATABASE_URL: fixture.seeded.databaseUrl, VAULT_ROOT_KEY: key.toString('base64'), VAULT_DATA_DIR: dataDir, VAULT_ROTATION_BATCH_SIZE: '20' });
  async function start(key: Buffer): Promise<VaultProcess> {
    const vault = await VaultProcess.start(env(key));
    processes.push(vault);
    await vault.waitReady(120_000);
    return vault;
  }
  const post = (vault: VaultProcess, route: string) => fetch(`${vault.url}${route}`, { method: 'POST', headers: { Authorization: fixture.seeded.admin } });

  it('the stale process is not ready and refuses key operations; nothing is wrapped under the old root; after a restart with the new key everything decrypts', async () => {
    expect(await sql('SELECT root_key_id FROM root_key_state')).toEqual([{ root_key_id: rootKeyId(oldKey) }]);
    const first = await start(oldKey);
    const second = await start(oldKey);

    const keyFile = path.join(dataDir, 'new-root.key');
    writeFileSync(keyFile, `${newKey.toString('base64')}\n`, { mode: 0o600 });
    const rotated = runCli(['root:rotate', '--new-key-file', keyFile], { ...env(oldKey), LOG_LEVEL: 'warn' });
    if (rotated.status !== 0) throw new Error(`root:rotate failed: ${rotated.stderr}`);
    expect(JSON.parse(lastLine(rotated.stdout))).toMatchObject({ fromRootKeyId: rootKeyId(oldKey), toRootKeyId: rootKeyId(newKey) });
    // the old key still opens backups taken before the rotation: the CLI must not invite destroying it
    expect(rotated.stderr).not.toMatch(/opens nothing/);
    expect(rotated.stderr).toMatch(/Keep the old root key: database backups taken before this rotation still need it/);
    expect(await sql('SELECT root_key_id FROM root_key_state')).toEqual([{ root_key_id: rootKeyId(newKey) }]);

    for (const stale of [first, second]) {
      const ready = await fetch(`${stale.url}/readyz`);
      expect(ready.status).toBe(503);
      const body = (await ready.json()) as { error: { code: string; message: string; details: { field: string; problem: string }[] } };
      expect(body.error.code).toBe('service_unavailable');
      expect(body.error.message).toContain('keys: stale_root_key');
      expect(body.error.details).toContainEqual({ field: 'keys', problem: 'stale_root_key' });
    }
    // the attack: a KEK rotation through the stale process
    const rotate = await post(first, '/v1/keys/rotate');
    expect(rotate.status).toBe(409);
    const refused = (await rotate.json()) as { error: { code: string; message: string } };
    expect(refused.error.code).toBe('stale_root_key');
    expect(refused.error.message).toContain(rootKeyId(newKey));
    expect((await post(second, '/v1/keys/1/retire')).status).toBe(409);
    expect(await sql('SELECT version, state, root_key_id FROM kek_versions')).toEqual([{ version: 1, state: 'active', root_key_id: rootKeyId(newKey) }]);
    expect(await sql(`SELECT 1 FROM key_rotation_jobs`)).toEqual([]);

    // the red team's attack: a database writer clears (then deletes) the recorded id to unfence the
    // stale process. Its root key must still prove itself on the data (open the active KEK): refused.
    await sql('UPDATE root_key_state SET root_key_id = NULL');
    const unfenced = await post(first, '/v1/keys/rotate');
    expect(unfenced.status).toBe(409);
    expect(((await unfenced.json()) as { error: { code: string } }).error.code).toBe('stale_root_key');
    await sql('DELETE FROM root_key_state');
    expect((await post(first, '/v1/keys/rotate')).status).toBe(409);
    expect(await sql('SELECT version, state, root_key_id FROM kek_versions')).toEqual([{ version: 1, state: 'active', root_key_id: rootKeyId(newKey) }]);
    await sql(`INSERT INTO root_key_state (singleton, root_key_id) VALUES (true, '${rootKeyId(newKey)}')`);

    // it logged why, with key ids only
    await waitFor('the fence log line', async () => (/no longer current/.test(first.text()) ? true : undefined));
    for (const vault of [first, second]) {
      for (const key of [oldKey, newKey]) {
        expect(vault.text()).not.toContain(key.toString('base64'));
        expect(vault.text()).not.toContain(key.toString('hex'));
      }
    }
    await first.stop();
    await second.stop();

    // restarted with the new key: ready, rotates, every DEK moves, everything decrypts
    const renewed = await start(newKey);
    const res = await post(renewed, '/v1/keys/rotate');
    expect(res.status).toBe(202);
    const { jobId } = (await res.json()) as { jobId: string };
    await waitFor('the rewrap job', async () => {
      const [job] = await sql<{ state: string }>(`SELECT state FROM key_rotation_jobs WHERE id = '${jobId}'`);
      return job.state === 'done' ? job : undefined;
    }, 30_000);
    expect(await sql('SELECT kek_version, count(*)::int AS n FROM customer_deks GROUP BY 1')).toEqual([{ kek_version: 2, n: fixture.seeded.ids.length }]);
    await readAll(renewed.url, fixture.seeded);
    await renewed.stop();
    const again = await start(newKey);
    await readAll(again.url, fixture.seeded);
    await again.stop();

    const events = await sql<{ action: string; status: number; details: { toRootKeyId?: string } | null }>(
      `SELECT action, status, details FROM audit_events WHERE action LIKE 'keys.%' UNION ALL SELECT action, status, details FROM audit_pending WHERE action LIKE 'keys.%'`,
    );
    expect(events.filter((e) => e.status === 409).map((e) => e.action).sort()).toEqual(['keys.retire', 'keys.rotate', 'keys.rotate', 'keys.rotate']);
  }, 600_000);
});
