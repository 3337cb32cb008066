import { Controller, Get, Module, Post } from '@nestjs/common';
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { Policy } from '../../src/access/route-policy.js';
import { routesOf } from '../../src/app.js';
import { RouteRegistry } from '../../src/access/route-registry.js';
import { Audited } from '../../src/audit/audited.decorator.js';
import { Authenticator } from '../../src/principals/authenticator.js';
import { Public } from '../../src/principals/public.decorator.js';
import { findLeaks } from '../helpers/leak-scan.js';
import { createPrincipal, type TestPrincipal } from '../helpers/principals.js';
import { startTestApp, type TestApp } from '../helpers/test-app.js';

/**
 * Issue 12 §5 (DESIGN §4, §3, §5): every route declares its policy and audit action, the policy is
 * enforced by the guard, /v1 authenticates before anything else, every authenticated answer is
 * audited, blocked addresses are summarised, the request id is the vault's own, reasons are required
 * for the most revealing purposes. Attacks through HTTP on real PostgreSQL.
 */

interface EventRow {
  request_id: string;
  action: string;
  outcome: string;
  status: number;
  actor_id: string | null;
  resource_type: string;
  resource_id: string | null;
  purpose: string | null;
  reason: string | null;
  client_ip: string | null;
  details: Record<string, unknown> | null;
}

const COLUMNS = 'request_id, action, outcome, status, actor_id, resource_type, resource_id, purpose, reason, client_ip, details';

async function allEvents(vault: TestApp, where = 'true', params: unknown[] = []): Promise<EventRow[]> {
  return vault.sql<EventRow>(`SELECT ${COLUMNS} FROM audit_pending WHERE ${where} UNION ALL SELECT ${COLUMNS} FROM audit_events WHERE ${where}`, params);
}
async function eventsOf(vault: TestApp, requestId: string): Promise<EventRow[]> {
  return allEvents(vault, 'request_id = $1', [requestId]);
}
async function eventCount(vault: TestApp): Promise<number> {
  const [row] = await vault.sql<{ n: number }>('SELECT (SELECT count(*) FROM audit_pending)::int + (SELECT count(*) FROM audit_events)::int AS n');
  return row!.n;
}

/**
 * Fastify's own route table: every route it registered (its onRoute hook), independent of the
 * registry, and each one confirmed by the router itself. The HEAD routes Fastify adds for GET routes
 * are answered by those routes (checked here), so they are left out.
 */
function fastifyRoutes(vault: TestApp): { method: string; path: string }[] {
  const fastify = vault.app.getHttpAdapter().getInstance();
  const all = routesOf(vault.app).map((r) => ({ method: r.method, path: r.url }));
  for (const route of all) expect({ route, served: fastify.hasRoute({ method: route.method as 'GET', url: route.path }) }).toEqual({ route, served: true });
  const gets = new Set(all.filter((r) => r.method === 'GET').map((r) => r.path));
  for (const head of all.filter((r) => r.method === 'HEAD')) expect({ head, get: gets.has(head.path) }).toEqual({ head, get: true });
  return all.filter((r) => r.method !== 'HEAD');
}

describe('route declarations', () => {
  let vault: TestApp;
  beforeAll(async () => {
    vault = await startTestApp();
  });
  afterAll(async () => {
    await vault.close();
  });

  it('lists every route Fastify serves: each /v1 route declares a policy and an audit action, the rest are explicitly public', () => {
    const registry = vault.app.get(RouteRegistry);
    const declared = new Map(registry.list().map((r) => [`${r.method} ${r.path}`, r]));
    // Swagger's pages and the console's files are plain Fastify routes (not Nest controllers), public and outside /v1.
    const SWAGGER = /^\/docs(?:-json|-yaml)?(?:\/.*)?$/;
    const CONSOLE = /^\/console(?:\/\*)?$/;
    const served = fastifyRoutes(vault).filter((r) => !SWAGGER.test(r.path) && !CONSOLE.test(r.path));
    expect(served.length).toBeGreaterThan(20);
    for (const route of served) {
      const spec = declared.get(`${route.method} ${route.path}`);
      expect({ route, declared: spec !== undefined }).toEqual({ route, declared: true });
      if (spec!.public) {
        expect(route.path.startsWith('/v1')).toBe(false);
        continue;
      }
      expect(route.path.startsWith('/v1/')).toBe(true);
      expect({ route, policy: spec!.policy !== null, audit: spec!.audit !== null }).toEqual({ route, policy: true, audit: true });
      // Every write declares how it treats Idempotency-Key; reads never do.
      expect({ route, idempotent: spec!.idempotent !== null }).toEqual({ route, idempotent: ['POST', 'PUT', 'PATCH'].includes(route.method) });
    }
    // Nothing declared that Fastify does not serve (the registry and the router agree).
    expect([...declared.keys()].sort()).toEqual([...new Set(served.map((r) => `${r.method} ${r.path}`))].sort());
    expect(registry.list().filter((r) => r.public).map((r) => `${r.method} ${r.path}`).sort()).toEqual(['GET /healthz', 'GET /metrics', 'GET /readyz']);
    expect(fastifyRoutes(vault).some((r) => SWAGGER.test(r.path))).toBe(true);
    expect(fastifyRoutes(vault).filter((r) => CONSOLE.test(r.path)).length).toBeGreaterThan(0);
  });

  @Controller('v1/undeclared-test')
  class NoPolicyController {
    @Get('x')
    @Audited('test.x', 'request')
    x(): string {
      return 'x';
    }
  }
  @Controller('v1/undeclared-test')
  class NoAuditController {
    @Get('y')
    @Policy('administer', 'Key')
    y(): string {
      return 'y';
    }
  }
  @Controller('v1/undeclared-test')
  class NoIdempotencyController {
    @Post('w')
    @Policy('administer', 'Key')
    @Audited('test.w', 'request')
    w(): string {
      return 'w';
    }
  }
  @Controller('outside')
  class OutsideController {
    @Get('z')
    @Policy('administer', 'Key')
    @Audited('test.z', 'request')
    z(): string {
      return 'z';
    }
  }
  @Module({ controllers: [NoPolicyController, NoAuditController, NoIdempotencyController, OutsideController] })
  class UndeclaredModule {}

  it('refuses to start with a route that lacks a policy or an audit action (or, for a write, its Idempotency-Key treatment), or is non-public outside /v1, naming each', async () => {
    const failure = await startTestApp({ extraModules: [UndeclaredModule] }).then(
      async (started) => {
        await started.close();
        return null;
      },
      (error: unknown) => error as Error,
    );
    expect(failure).toBeInstanceOf(Error);
    expect(failure!.message).toContain('GET /v1/undeclared-test/x (NoPolicyController.x) declares no @Policy(...)');
    expect(failure!.message).toContain('GET /v1/undeclared-test/y (NoAuditController.y) declares no @Audited(...)');
    expect(failure!.message).toContain('GET /outside/z (OutsideController.z) is not @Public() and lies outside /v1');
    expect(failure!.message).toContain('POST /v1/undeclared-test/w (NoIdempotencyController.w) declares no @Idempotent(...)');
  });

  @Controller('v1/guard-test')
  class GuardedController {
    /** No check in the handler: only the declared policy stands between a caller and this. */
    @Get('secret')
    @Policy('administer', 'Key')
    @Audited('test.secret', 'request')
    secret(): { secret: string } {
      return { secret: 'only-admins-see-this' };
    }
  }
  @Public()
  @Controller('public-test')
  class PublicController {
    @Get()
    open(): { open: true } {
      return { open: true };
    }
  }
  @Module({ controllers: [GuardedController, PublicController] })
  class GuardedModule {}

  it('enforces the declared policy in the guard, before the handler runs, and audits the refusal under the route action', async () => {
    const guarded = await startTestApp({ extraModules: [GuardedModule] });
    try {
      const admin = await createPrincipal(guarded, { roles: ['admin'] });
      const billing = await createPrincipal(guarded, { roles: ['billing'] });
      const refused = await guarded.http().get('/v1/guard-test/secret').set('Authorization', billing.authHeader).expect(403);
      expect(refused.text).not.toContain('only-admins-see-this');
      expect(await eventsOf(guarded, refused.headers['x-request-id'] as string)).toMatchObject([{ action: 'test.secret', outcome: 'denied', status: 403, actor_id: billing.id }]);
      const allowed = await guarded.http().get('/v1/guard-test/secret').set('Authorization', admin.authHeader).expect(200);
      expect(allowed.body).toEqual({ secret: 'only-admins-see-this' });
      expect(await eventsOf(guarded, allowed.headers['x-request-id'] as string)).toMatchObject([{ action: 'test.secret', outcome: 'allowed', status: 200 }]);
      await guarded.http().get('/public-test').expect(200, { open: true });
    } finally {
      await guarded.close();
    }
  });

  it('keys routes have no hand-written check left: the guard refuses non-admins (403, audited)', async () => {
    const billing = await createPrincipal(vault, { roles: ['billing'] });
    for (const [method, path] of [['get', '/v1/keys'], ['post', '/v1/keys/rotate'], ['post', '/v1/keys/1/retire']] as const) {
      const res = await vault.http()[method](path).set('Authorization', billing.authHeader).expect(403);
      expect(await eventsOf(vault, res.headers['x-request-id'] as string)).toMatchObject([{ outcome: 'denied', status: 403, actor_id: billing.id }]);
    }
    const [{ n }] = await vault.sql<{ n: number }>('SELECT count(*)::int AS n FROM kek_versions');
    expect(n).toBe(1);
  });
});

describe('authenticate first, audit every authenticated answer', () => {
  let vault: TestApp;
  let ingest: TestPrincipal;
  let privacy: TestPrincipal;
  let customerId: string;

  beforeAll(async () => {
    vault = await startTestApp({ env: { VAULT_BODY_LIMIT: '2kb' } });
    ingest = await createPrincipal(vault, { roles: ['ingest'] });
    privacy = await createPrincipal(vault, { roles: ['privacy'] });
    const created = await vault.http().post('/v1/customers').set('Authorization', ingest.authHeader).send({ personal: { fullName: 'Ada Authfirst', email: 'ada.authfirst@example.com' } }).expect(201);
    customerId = created.body.id as string;
  });
  afterAll(async () => {
    await vault.close();
  });

  const hostile = {
    'malformed JSON': (auth?: string) => withAuth(vault.http().post('/v1/customers').set('Content-Type', 'application/json'), auth).send('{"personal": {"fullName": '),
    'an oversized body': (auth?: string) => withAuth(vault.http().post('/v1/customers').set('Content-Type', 'application/json'), auth).send(JSON.stringify({ personal: { fullName: 'x'.repeat(8 * 1024) } })),
    'a wrong content type': (auth?: string) => withAuth(vault.http().post('/v1/customers').set('Content-Type', 'text/plain'), auth).send('fullName=Eve'),
    'an unknown route': (auth?: string) => withAuth(vault.http().get('/v1/no-such-route'), auth),
    'an unknown method on a known path': (auth?: string) => withAuth(vault.http().put('/v1/keys'), auth),
    'an invalid customer id': (auth?: string) => withAuth(vault.http().get('/v1/customers/not-a-uuid').set('X-Access-Purpose', 'service_support'), auth),
    'the prefix in capitals': (auth?: string) => withAuth(vault.http().post('/V1/customers').set('Content-Type', 'application/json'), auth).send('{broken'),
  };
  const expected: Record<keyof typeof hostile, number> = {
    'malformed JSON': 400,
    'an oversized body': 413,
    'a wrong content type': 415,
    'an unknown route': 404,
    'an unknown method on a known path': 404,
    'an invalid customer id': 400,
    'the prefix in capitals': 400,
  };
  function withAuth<T extends { set: (name: string, value: string) => T }>(test: T, auth?: string): T {
    return auth === undefined ? test : test.set('Authorization', auth);
  }

  it.each(Object.keys(hostile) as (keyof typeof hostile)[])('anonymous with %s: 401 before anything else, audited as a failed authentication', async (name) => {
    for (const auth of [undefined, 'Bearer cv_not-a-real-token', `Bearer cv_${'A'.repeat(42)}A`]) {
      const res = await hostile[name](auth).expect(401);
      expect(res.body.error).toMatchObject({ code: 'unauthenticated', requestId: res.headers['x-request-id'] });
      expect(res.headers['www-authenticate']).toBe('Bearer');
      expect(await eventsOf(vault, res.headers['x-request-id'] as string)).toMatchObject([{ action: 'auth.failed', outcome: 'denied', status: 401, actor_id: null }]);
    }
  });

  it.each(Object.keys(hostile) as (keyof typeof hostile)[])('with a valid token, %s gets its 4xx and exactly one audit event (denied, with the status)', async (name) => {
    const res = await hostile[name](ingest.authHeader);
    expect(res.status).toBe(expected[name]);
    expect(res.body.error.requestId).toBe(res.headers['x-request-id']);
    const events = await eventsOf(vault, res.headers['x-request-id'] as string);
    expect(events).toHaveLength(1);
    expect(events[0]).toMatchObject({ outcome: 'denied', status: expected[name], actor_id: ingest.id });
  });

  it('records what was refused before routing as request.rejected with the route pattern, never the URL or body', async () => {
    const body = await hostile['malformed JSON'](ingest.authHeader).expect(400);
    expect((await eventsOf(vault, body.headers['x-request-id'] as string))[0]).toMatchObject({ action: 'request.rejected', resource_type: 'request', details: { route: 'POST /v1/customers', code: 'invalid_input' } });
    const unknown = await vault.http().get(`/v1/customers/${customerId}/no-such-thing`).set('Authorization', ingest.authHeader).expect(404);
    // The customer the request named is on the event (it shows in the customer's access report).
    expect((await eventsOf(vault, unknown.headers['x-request-id'] as string))[0]).toMatchObject({
      action: 'request.rejected',
      resource_type: 'customer',
      resource_id: customerId,
      details: { route: 'GET unmatched', code: 'not_found' },
    });
  });

  it('a refused body of an anonymous caller is never parsed or stored', async () => {
    const before = await eventCount(vault);
    await vault.http().post('/v1/customers').set('Content-Type', 'application/json').send({ personal: { fullName: 'Never Parsed Zygmunt' } }).expect(401);
    expect(await eventCount(vault)).toBe(before + 1);
    expect(JSON.stringify(await allEvents(vault))).not.toContain('Zygmunt');
  });

  it('fails closed: when the audit log cannot take the event of a refused body, the answer is 503', async () => {
    const { breakAuditInserts } = await import('../audit/helpers.js');
    await breakAuditInserts(vault, true);
    try {
      const res = await hostile['malformed JSON'](ingest.authHeader).expect(503);
      expect(res.body.error.code).toBe('audit_unavailable');
    } finally {
      await breakAuditInserts(vault, false);
    }
  });

  it('a client X-Request-Id is recorded as clientRequestId, never as the request id', async () => {
    const first = await vault.http().get(`/v1/customers/${customerId}`).set('Authorization', privacy.authHeader).set('X-Access-Purpose', 'legal_obligation').set('X-Access-Reason', 'court order 17').set('X-Request-Id', 'shared-id-0001').expect(200);
    const second = await vault.http().get(`/v1/customers/${customerId}`).set('Authorization', privacy.authHeader).set('X-Access-Purpose', 'legal_obligation').set('X-Access-Reason', 'court order 17').set('X-Request-Id', 'shared-id-0001').expect(200);
    expect(first.headers['x-request-id']).not.toBe('shared-id-0001');
    expect(first.headers['x-request-id']).not.toBe(second.headers['x-request-id']);
    // Reusing someone's id merges nothing: no event carries the client's value as its request id.
    expect(await eventsOf(vault, 'shared-id-0001')).toEqual([]);
    for (const res of [first, second]) {
      expect(await eventsOf(vault, res.headers['x-request-id'] as string)).toMatchObject([{ action: 'customer.read', outcome: 'allowed', details: { clientRequestId: 'shared-id-0001' } }]);
    }
    // Also on refusals before routing, and on failed authentications.
    const refused = await hostile['malformed JSON'](ingest.authHeader).set('X-Request-Id', 'client-body-7').expect(400);
    expect((await eventsOf(vault, refused.headers['x-request-id'] as string))[0]!.details).toMatchObject({ clientRequestId: 'client-body-7' });
    const anonymous = await vault.http().get('/v1/principals').set('X-Request-Id', 'client-anon-8').expect(401);
    expect((await eventsOf(vault, anonymous.headers['x-request-id'] as string))[0]!.details).toMatchObject({ clientRequestId: 'client-anon-8' });
  });

  it.each([
    ['too long', 'r'.repeat(129)],
    ['a control character', 'abc\tdef'],
    ['non-ASCII', 'tické-1'],
    ['shaped like a token', `cv_${'B'.repeat(42)}A`],
  ])('a client X-Request-Id that is %s is not recorded', async (_label, value) => {
    const res = await vault.http().get('/v1/principals').set('Authorization', privacy.authHeader).set('X-Request-Id', value).expect(403);
    const [event] = await eventsOf(vault, res.headers['x-request-id'] as string);
    expect(event!.details?.clientRequestId).toBeUndefined();
    expect(JSON.stringify(event)).not.toContain(value);
  });

  it('the chain still verifies with these events in it', async () => {
    const security = await createPrincipal(vault, { roles: ['security'] });
    const res = await vault.http().get('/v1/audit/verify').set('Authorization', security.authHeader).expect(200);
    expect(res.body).toMatchObject({ valid: true });
  });

  it('leaks no token and no body', async () => {
    expect(await findLeaks(vault, [ingest.token, privacy.token, 'Never Parsed Zygmunt'])).toEqual([]);
  });
});

describe('X-Access-Reason is required for the purposes that reveal most', () => {
  let vault: TestApp;
  let customerId: string;
  const token = new Map<string, TestPrincipal>();

  beforeAll(async () => {
    vault = await startTestApp();
    for (const role of ['ingest', 'privacy', 'security', 'support'] as const) token.set(role, await createPrincipal(vault, { roles: [role] }));
    const created = await vault.http().post('/v1/customers').set('Authorization', token.get('ingest')!.authHeader).send({ externalRef: 'reason-1', personal: { fullName: 'Rhea Reason', email: 'rhea.reason@example.com' } }).expect(201);
    customerId = created.body.id as string;
  });
  afterAll(async () => {
    await vault.close();
  });

  const read = (role: string, purpose: string) => vault.http().get(`/v1/customers/${customerId}`).set('Authorization', token.get(role)!.authHeader).set('X-Access-Purpose', purpose);
  const search = (role: string, purpose: string) => vault.http().post('/v1/customers/search').set('Authorization', token.get(role)!.authHeader).set('X-Access-Purpose', purpose).send({ externalRef: 'reason-1' });

  it.each([
    ['privacy reads', () => read('privacy', 'customer_request')],
    ['privacy reads under legal_obligation', () => read('privacy', 'legal_obligation')],
    ['security reads', () => read('security', 'fraud_investigation')],
    ['security searches', () => search('security', 'fraud_investigation')],
    ['privacy searches', () => search('privacy', 'customer_request')],
    ['ingest reads', () => read('ingest', 'customer_request')],
    ['support corrects', () => vault.http().patch(`/v1/customers/${customerId}`).set('Authorization', token.get('support')!.authHeader).set('X-Access-Purpose', 'customer_request').send({ personal: { fullName: 'Rhea Changed' } })],
  ])('%s without a reason: 400 reason_required, audited, nothing revealed or written', async (_label, send) => {
    for (const reason of [undefined, '', '   ']) {
      let test = send();
      if (reason !== undefined) test = test.set('X-Access-Reason', reason);
      const res = await test.expect(400);
      expect(res.body.error).toMatchObject({ code: 'reason_required', details: [{ field: 'X-Access-Reason', problem: 'required for this purpose' }] });
      expect(res.text).not.toContain('Rhea');
      expect(await eventsOf(vault, res.headers['x-request-id'] as string)).toMatchObject([{ outcome: 'denied', status: 400 }]);
    }
    const withReason = await send().set('X-Access-Reason', 'ticket 4711');
    expect(withReason.status).toBe(200);
    expect(await eventsOf(vault, withReason.headers['x-request-id'] as string)).toMatchObject([{ outcome: 'allowed', reason: 'ticket 4711' }]);
  });

  it('other purposes still work without a reason', async () => {
    await read('support', 'service_support').expect(200);
    await search('support', 'service_support').expect(200);
  });
});

describe('failed authentications of a blocked address are summarised', () => {
  it('a flood of 401s from one address grows the log by a bounded number of rows, with the count kept', async () => {
    const vault = await startTestApp({ env: { VAULT_AUTH_FAILURE_LIMIT_PER_MINUTE: '5', VAULT_RATE_LIMIT_WINDOW_MS: '600000' } });
    try {
      const ingest = await createPrincipal(vault, { roles: ['ingest'] });
      const before = await eventCount(vault);
      const FLOOD = 160; // 8 batches of 20
      const statuses = new Map<number, number>();
      for (let i = 0; i < FLOOD; i += 20) {
        const batch = await Promise.all(Array.from({ length: 20 }, (_, j) => vault.http().post('/v1/customers').set('Authorization', `Bearer cv_guess-${i + j}`).send({ personal: { fullName: 'Flood' } })));
        for (const res of batch) statuses.set(res.status, (statuses.get(res.status) ?? 0) + 1);
      }
      expect(statuses).toEqual(new Map([[401, 5], [429, FLOOD - 5]]));
      // A valid token from the blocked address is refused too, and counted in the same summary.
      await vault.http().post('/v1/customers').set('Authorization', ingest.authHeader).send({ personal: { fullName: 'Blocked' } }).expect(429);
      // Five failures on the log, the refusals not one row each.
      expect(await eventCount(vault)).toBe(before + 5);
      await vault.app.get(Authenticator).writeSummaries(true);
      expect(await eventCount(vault)).toBe(before + 6);
      const summaries = await allEvents(vault, `action = 'auth.rate_limited'`);
      expect(summaries).toHaveLength(1);
      expect(summaries[0]).toMatchObject({ outcome: 'denied', status: 429, actor_id: null, details: { limit: 'auth_failures', summary: true, count: FLOOD - 5 + 1 } });
      expect(summaries[0]!.client_ip).toMatch(/127\.0\.0\.1|::1/);
    } finally {
      await vault.close();
    }
  }, 180_000);

  it('writes the summary by itself when the window ends, and one per window', async () => {
    const vault = await startTestApp({ env: { VAULT_AUTH_FAILURE_LIMIT_PER_MINUTE: '2', VAULT_RATE_LIMIT_WINDOW_MS: '1000' } });
    try {
      const flood = async (n: number): Promise<void> => {
        for (let i = 0; i < n; i++) await vault.http().get('/v1/principals').set('Authorization', 'Bearer cv_nope');
      };
      await flood(40);
      const summaries = async () => allEvents(vault, `action = 'auth.rate_limited'`);
      for (let waited = 0; (await summaries()).length === 0 && waited < 15_000; waited += 100) await new Promise((resolve) => setTimeout(resolve, 100));
      // Written by the sweep, without being asked.
      expect((await summaries()).length).toBeGreaterThanOrEqual(1);
      await vault.app.get(Authenticator).writeSummaries(true);
      const all = await summaries();
      // One summary per window: no two for the same window; every request accounted for.
      expect(new Set(all.map((e) => e.details!.windowEndsAt)).size).toBe(all.length);
      const counted = all.reduce((sum, e) => sum + Number(e.details!.count), 0);
      expect(counted + (await allEvents(vault, `action = 'auth.failed'`)).length).toBe(40);
    } finally {
      await vault.close();
    }
  }, 180_000);
});

describe('a write is audited only once its transaction commits', () => {
  it('a correction whose COMMIT fails leaves one error event (none was left before)', async () => {
    const vault = await startTestApp();
    try {
      const ingest = await createPrincipal(vault, { roles: ['ingest'] });
      const created = await vault.http().post('/v1/customers').set('Authorization', ingest.authHeader).send({ personal: { fullName: 'Commit Fails' } }).expect(201);
      // A deferred constraint trigger fails at COMMIT, after the write and its event were inserted.
      await vault.sql(`CREATE FUNCTION test_fail_commit() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN RAISE EXCEPTION 'test: commit refused'; END $$;
        CREATE CONSTRAINT TRIGGER test_fail_commit AFTER UPDATE ON customers DEFERRABLE INITIALLY DEFERRED FOR EACH ROW EXECUTE FUNCTION test_fail_commit();`);
      const res = await vault.http().patch(`/v1/customers/${created.body.id as string}`).set('Authorization', ingest.authHeader).send({ personal: { fullName: 'Never Committed' } });
      expect(res.status).toBeGreaterThanOrEqual(500);
      expect(await eventsOf(vault, res.headers['x-request-id'] as string)).toMatchObject([{ action: 'customer.correct', outcome: 'error', status: res.status, actor_id: ingest.id }]);
      const consents = await vault.http().put(`/v1/customers/${created.body.id as string}/consents`).set('Authorization', ingest.authHeader).set('X-Access-Purpose', 'customer_request').set('X-Access-Reason', 'ticket C-1').send({ marketing: true });
      expect(await eventsOf(vault, consents.headers['x-request-id'] as string)).toMatchObject([{ action: 'customer.consents', outcome: 'error' }]);
    } finally {
      await vault.close();
    }
  }, 120_000);
});
