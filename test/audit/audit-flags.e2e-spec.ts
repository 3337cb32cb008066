import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { createPrincipal, type TestPrincipal } from '../helpers/principals.js';
import { startTestApp, type TestApp } from '../helpers/test-app.js';

/** Office hours that exclude the current UTC time: a one-hour window starting two hours from now. */
function hoursExcludingNow(): string {
  const at = (offsetHours: number) => {
    const d = new Date(Date.now() + offsetHours * 3_600_000);
    return `${String(d.getUTCHours()).padStart(2, '0')}:00`;
  };
  return `${at(2)}-${at(3)}`;
}

describe('GET /v1/audit/flags (security): denied bursts, empty searches, plaintext reads after hours', () => {
  let vault: TestApp;
  const who: Record<string, TestPrincipal> = {};
  let customerId: string;

  beforeAll(async () => {
    vault = await startTestApp({ env: { VAULT_OFFICE_HOURS: hoursExcludingNow(), VAULT_OFFICE_TIMEZONE: 'UTC' } });
    for (const role of ['ingest', 'support', 'security', 'billing'] as const) who[role] = await createPrincipal(vault, { roles: [role], name: `${role}-flags` });
    const created = await vault.http().post('/v1/customers').set('Authorization', who.ingest.authHeader).send({ externalRef: 'FLAG-1', personal: { fullName: 'Flagged Person', email: 'flagged@example.com' } }).expect(201);
    customerId = created.body.id;
  });
  afterAll(async () => {
    await vault.close();
  });
  const flags = (query = '') => vault.http().get(`/v1/audit/flags${query}`).set('Authorization', who.security.authHeader);

  it('finds an actor with a burst of denied requests, and not one with a few', async () => {
    for (let i = 0; i < 11; i++) await vault.http().get(`/v1/customers/${customerId}`).set('Authorization', who.support.authHeader).set('X-Access-Purpose', 'marketing').expect(403);
    for (let i = 0; i < 3; i++) await vault.http().get(`/v1/customers/${customerId}`).set('Authorization', who.billing.authHeader).set('X-Access-Purpose', 'marketing').expect(403);
    const res = await flags().expect(200);
    const actors = res.body.deniedBursts.items.map((item: { actor: { name: string }; denied: number }) => [item.actor.name, item.denied >= 10]);
    expect(actors).toContainEqual(['support-flags', true]);
    expect(actors.map((pair: [string, boolean]) => pair[0])).not.toContain('billing-flags');
  });

  it('lists a search that found nothing by the field searched, never the term', async () => {
    await vault.http().post('/v1/customers/search').set('Authorization', who.support.authHeader).set('X-Access-Purpose', 'service_support').send({ externalRef: 'NO-SUCH-REF-7731' }).expect(200);
    await vault.http().post('/v1/customers/search').set('Authorization', who.support.authHeader).set('X-Access-Purpose', 'service_support').send({ externalRef: 'FLAG-1' }).expect(200);
    const res = await flags().expect(200);
    expect(res.body.emptySearches.total).toBe(1);
    expect(res.body.emptySearches.items[0]).toMatchObject({ actor: { name: 'support-flags' }, searchBy: 'externalRef' });
    expect(JSON.stringify(res.body)).not.toContain('NO-SUCH-REF-7731');
  });

  it('lists plaintext reads outside office hours, with the fields revealed', async () => {
    await vault.http().get(`/v1/customers/${customerId}`).set('Authorization', who.support.authHeader).set('X-Access-Purpose', 'service_support').expect(200);
    const res = await flags().expect(200);
    expect(res.body.officeHours).toMatchObject({ timeZone: 'UTC' });
    const read = res.body.afterHoursReads.items.find((item: { action: string }) => item.action === 'customer.read');
    expect(read).toMatchObject({ actor: { name: 'support-flags' }, customerId, revealed: expect.arrayContaining(['fullName', 'email']) });
    // a window that ended before the read does not list it
    const before = await flags(`?from=${encodeURIComponent(new Date(Date.now() - 3_600_000 * 48).toISOString())}&to=${encodeURIComponent(new Date(Date.now() - 3_600_000 * 24).toISOString())}`).expect(200);
    expect(before.body.afterHoursReads.total).toBe(0);
  });

  it('refuses other roles (403) and bad windows (400), and is audited', async () => {
    expect((await vault.http().get('/v1/audit/flags').set('Authorization', who.support.authHeader).expect(403)).body.error.code).toBe('forbidden');
    const to = new Date().toISOString();
    expect((await flags(`?from=${encodeURIComponent(to)}&to=${encodeURIComponent(to)}`).expect(400)).body.error.code).toBe('invalid_input');
    expect((await flags(`?from=2020-01-01&to=2020-03-01`).expect(400)).body.error.details[0]).toEqual({ field: 'from', problem: 'at most 31 days before to' });
    expect((await flags('?from=yesterday').expect(400)).body.error.code).toBe('invalid_input');
    const events = await vault.sql<{ outcome: string }>("SELECT outcome FROM audit_events WHERE action = 'audit.flags' UNION ALL SELECT outcome FROM audit_pending WHERE action = 'audit.flags'");
    expect(events.map((e) => e.outcome).sort()).toEqual(expect.arrayContaining(['allowed', 'denied']));
  });
});
