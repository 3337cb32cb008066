import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { createPrincipal } from '../helpers/principals.js';
import { startTestApp, type TestApp } from '../helpers/test-app.js';

/** VAULT_DEK_CACHE_TTL_MS=0 means "no DEK cache" (issue 13): it used to stop the boot (DekCache refused a TTL of 0). */
describe('VAULT_DEK_CACHE_TTL_MS=0 turns the DEK cache off', () => {
  let vault: TestApp;
  beforeAll(async () => {
    vault = await startTestApp({ env: { VAULT_DEK_CACHE_TTL_MS: '0' } });
  });
  afterAll(async () => {
    await vault?.close();
  });

  it('boots, creates and reads back (each read unwraps the DEK)', async () => {
    const ingest = (await createPrincipal(vault, { roles: ['ingest'] })).authHeader;
    const privacy = (await createPrincipal(vault, { roles: ['privacy'] })).authHeader;
    const created = await vault.http().post('/v1/customers').set('Authorization', ingest).send({ personal: { fullName: 'Ysolde Cachefree', email: 'ysolde@example.com' } }).expect(201);
    for (let i = 0; i < 2; i++) {
      const res = await vault.http().get(`/v1/customers/${created.body.id}`).set('Authorization', privacy).set('X-Access-Purpose', 'customer_request').set('X-Access-Reason', 'TICKET-4711').expect(200);
      expect(res.body.data).toMatchObject({ fullName: 'Ysolde Cachefree', email: 'ysolde@example.com' });
    }
  });
});
