import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { RateLimiter } from '../../src/common/rate-limiter.js';
import { Authenticator } from '../../src/principals/authenticator.js';
import { findLeaks } from '../helpers/leak-scan.js';
import { createPrincipal, type TestPrincipal } from '../helpers/principals.js';
import { startTestApp, type TestApp } from '../helpers/test-app.js';

interface EventRow {
  action: string;
  outcome: string;
  status: number;
  actor_id: string | null;
  client_ip: string | null;
  details: Record<string, unknown> | null;
}

/** Pending and sealed events alike (the sealer moves rows from one table to the other). */
async function events(vault: TestApp, action: string): Promise<EventRow[]> {
  const sql = (table: string) => `SELECT action, outcome, status, actor_id, client_ip, details FROM ${table} WHERE action = $1`;
  return vault.sql<EventRow>(`${sql('audit_pending')} UNION ALL ${sql('audit_events')}`, [action]);
}

describe('RateLimiter (unit)', () => {
  it('admits `limit` hits per window, then refuses with the seconds left, and starts over', () => {
    let now = 1_000_000;
    const limiter = new RateLimiter(2, 10_000, 100, () => now);
    expect(limiter.hit('a').allowed).toBe(true);
    expect(limiter.hit('a').allowed).toBe(true);
    expect(limiter.peek('a')).toEqual({ allowed: false, retryAfterSeconds: 10 });
    now += 2_500;
    expect(limiter.hit('a')).toEqual({ allowed: false, retryAfterSeconds: 8 });
    expect(limiter.hit('b').allowed).toBe(true);
    now += 7_500;
    expect(limiter.peek('a').allowed).toBe(true);
    expect(limiter.hit('a').allowed).toBe(true);
  });
  it('is disabled by a zero limit and bounded in memory', () => {
    expect(new RateLimiter(0, 1000).hit('x').allowed).toBe(true);
    const limiter = new RateLimiter(1, 60_000, 3);
    for (const key of ['a', 'b', 'c', 'd']) limiter.hit(key);
    // 'a' was dropped to make room: it starts a fresh window (errs on admitting)
    expect(limiter.hit('a').allowed).toBe(true);
    expect(limiter.hit('d').allowed).toBe(false);
  });
});

describe('rate limits (HTTP, tiny limits)', () => {
  let vault: TestApp;
  let busy: TestPrincipal;
  let other: TestPrincipal;
  let ingest: TestPrincipal;

  beforeAll(async () => {
    vault = await startTestApp({ env: { VAULT_RATE_LIMIT_PER_MINUTE: '5', VAULT_AUTH_FAILURE_LIMIT_PER_MINUTE: '3', VAULT_RATE_LIMIT_WINDOW_MS: '60000' } });
    busy = await createPrincipal(vault, { roles: ['privacy'] });
    other = await createPrincipal(vault, { roles: ['privacy'] });
    ingest = await createPrincipal(vault, { roles: ['ingest'] });
  });
  afterAll(async () => {
    await vault.close();
  });

  it('answers 429 with Retry-After once a principal exceeds its limit, audits it with the actor, and leaves other principals alone', async () => {
    const search = (p: TestPrincipal) => vault.http().post('/v1/customers/search').set('Authorization', p.authHeader).set('X-Access-Purpose', 'customer_request').set('X-Access-Reason', 'TICKET-4711').send({ externalRef: 'nobody' });
    for (let i = 0; i < 5; i++) await search(busy).expect(200);
    const limited = await search(busy).expect(429);
    expect(limited.body.error).toMatchObject({ code: 'rate_limited', message: 'too many requests' });
    const retryAfter = Number(limited.headers['retry-after']);
    expect(retryAfter).toBeGreaterThanOrEqual(1);
    expect(retryAfter).toBeLessThanOrEqual(60);
    await search(other).expect(200);
    // no handler ran for the refused request: exactly five search events for `busy`
    const searches = (await events(vault, 'customer.search')).filter((e) => e.actor_id === busy.id);
    expect(searches).toHaveLength(5);
    const denied = await events(vault, 'request.rate_limited');
    expect(denied).toHaveLength(1);
    expect(denied[0]).toMatchObject({ outcome: 'denied', status: 429, actor_id: busy.id });
    expect(denied[0].details).toMatchObject({ limit: 'principal', route: 'POST /v1/customers/search' });
  });

  it('refuses a client address with too many failed authentications before looking its token up, valid tokens too, and audits the address', async () => {
    for (let i = 0; i < 3; i++) await vault.http().get('/v1/principals').set('Authorization', `Bearer cv_guess${i}`).expect(401);
    const blocked = await vault.http().get('/v1/principals').set('Authorization', 'Bearer cv_guess9').expect(429);
    expect(blocked.body.error.code).toBe('rate_limited');
    expect(Number(blocked.headers['retry-after'])).toBeGreaterThanOrEqual(1);
    // the address is refused outright: even a valid token is not looked up (it would be a 201 otherwise)
    await vault.http().post('/v1/customers').set('Authorization', ingest.authHeader).send({ personal: { fullName: 'Rate Limited' } }).expect(429);
    const [{ n }] = await vault.sql<{ n: number }>('SELECT count(*)::int AS n FROM customers');
    expect(n).toBe(0);
    // public routes stay open (health checks come from the same balancer address)
    await vault.http().get('/healthz').expect(200);
    const failed = await events(vault, 'auth.failed');
    expect(failed).toHaveLength(3);
    // The refusals of a blocked address are summarised: one event per address and window, written
    // when the window ends (here: forced, as at shutdown), with the count.
    expect(await events(vault, 'auth.rate_limited')).toHaveLength(0);
    await vault.app.get(Authenticator).writeSummaries(true);
    const limited = await events(vault, 'auth.rate_limited');
    expect(limited).toHaveLength(1);
    expect(limited[0]).toMatchObject({ outcome: 'denied', status: 429, actor_id: null });
    expect(limited[0]!.client_ip).toMatch(/127\.0\.0\.1|::1/);
    expect(limited[0]!.details).toMatchObject({ limit: 'auth_failures', summary: true, count: 2 });
  });

  it('leaks no token', async () => {
    expect(await findLeaks(vault, [busy.token, other.token, ingest.token])).toEqual([]);
  });
});

describe('rate limits: the window ends', () => {
  it('admits the principal and the address again after the window', async () => {
    const vault = await startTestApp({ env: { VAULT_RATE_LIMIT_PER_MINUTE: '1', VAULT_AUTH_FAILURE_LIMIT_PER_MINUTE: '1', VAULT_RATE_LIMIT_WINDOW_MS: '1000' } });
    try {
      const p = await createPrincipal(vault, { roles: ['admin'] });
      await vault.http().get('/v1/principals').set('Authorization', p.authHeader).expect(200);
      const limited = await vault.http().get('/v1/principals').set('Authorization', p.authHeader).expect(429);
      expect(limited.headers['retry-after']).toBe('1');
      await vault.http().get('/v1/principals').set('Authorization', 'Bearer cv_nope').expect(401);
      await vault.http().get('/v1/principals').set('Authorization', 'Bearer cv_nope').expect(429);
      await new Promise((resolve) => setTimeout(resolve, 1_100));
      await vault.http().get('/v1/principals').set('Authorization', p.authHeader).expect(200);
    } finally {
      await vault.close();
    }
  });
});
