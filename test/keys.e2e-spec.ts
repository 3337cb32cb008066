import { afterAll, describe, expect, it } from '@jest/globals';
import { randomBytes } from 'node:crypto';
import { createTestDatabase, startTestApp } from './helpers/test-app.js';
import { KeyRing } from '../src/keys/key-ring.service.js';
import { rootKeyId } from '../src/crypto/index.js';

describe('key hierarchy at boot (real PostgreSQL)', () => {
  const rootKey = randomBytes(32);
  let databaseUrl: string;
  afterAll(async () => undefined);

  it('first boot creates exactly one active KEK (wrapped by the root key) and one index key per field', async () => {
    databaseUrl = await createTestDatabase();
    const vault = await startTestApp({ databaseUrl, rootKey });
    try {
      const keks = await vault.sql<{ version: number; state: string; root_key_id: string; wrapped_key: Buffer }>('SELECT * FROM kek_versions');
      expect(keks).toHaveLength(1);
      expect(keks[0]).toMatchObject({ version: 1, state: 'active', root_key_id: rootKeyId(rootKey) });
      // the DESIGN envelope: format 1, alg 1, version 1, 24-byte nonce, 32-byte key + 16-byte tag
      expect(keks[0].wrapped_key.subarray(0, 6)).toEqual(Buffer.from([1, 1, 0, 0, 0, 1]));
      expect(keks[0].wrapped_key).toHaveLength(6 + 24 + 32 + 16);
      const indexKeys = await vault.sql<{ field: string }>('SELECT field FROM blind_index_keys ORDER BY field');
      expect(indexKeys.map((k) => k.field)).toEqual(['email', 'nationalId', 'phone']);
      await vault.http().get('/readyz').expect(200).expect((res) => expect(res.body.checks.keys).toBe('ok'));
    } finally {
      await vault.close();
    }
  });

  it('a restart with the same root key reuses the KEK', async () => {
    const vault = await startTestApp({ databaseUrl, rootKey });
    try {
      const keks = await vault.sql('SELECT version FROM kek_versions');
      expect(keks).toHaveLength(1);
      expect(vault.app.get(KeyRing).activeVersion).toBe(1);
    } finally {
      await vault.close();
    }
  });

  it('two processes booting at once on a fresh database still create exactly one KEK', async () => {
    const fresh = await createTestDatabase();
    const [a, b] = await Promise.all([startTestApp({ databaseUrl: fresh, rootKey }), startTestApp({ databaseUrl: fresh, rootKey })]);
    try {
      expect(await a.sql('SELECT version FROM kek_versions')).toHaveLength(1);
      expect(await a.sql('SELECT field FROM blind_index_keys')).toHaveLength(3);
    } finally {
      await Promise.all([a.close(), b.close()]);
    }
  });

  it('refuses to boot with a wrong root key, saying so without key material', async () => {
    const wrong = randomBytes(32);
    let failure: unknown;
    try {
      const vault = await startTestApp({ databaseUrl, rootKey: wrong });
      await vault.close();
    } catch (error) {
      failure = error;
    }
    expect(failure).toBeInstanceOf(Error);
    const message = (failure as Error).message;
    expect(message).toContain('cannot open the stored key-encryption key');
    expect(message).toContain(rootKeyId(wrong));
    expect(message).not.toContain(wrong.toString('base64'));
    expect(message).not.toContain(rootKey.toString('base64'));
  });
});
