import { randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it, jest } from '@jest/globals';
import type { Response } from 'supertest';
import { ROLES, type Role } from '../src/access/vocabulary.js';
import { AuditLog } from '../src/audit/audit-log.js';
import { VaultError } from '../src/common/vault-error.js';
import { UNAUTHENTICATED_MESSAGE } from '../src/principals/principals.errors.js';
import { PrincipalsService } from '../src/principals/principals.service.js';
import { generateToken, hashToken, tokenHashPrefix } from '../src/principals/tokens.js';
import { findLeaks } from './helpers/leak-scan.js';
import { createPrincipal, type TestPrincipal } from './helpers/principals.js';
import { startTestApp, type TestApp } from './helpers/test-app.js';
import { lastLine, runCliAsync as runCli } from './helpers/vault-process.js';

const TOKEN = /^cv_[A-Za-z0-9_-]{43}$/;


interface EventRow {
  request_id: string;
  action: string;
  actor_id: string | null;
  actor_name: string;
  actor_kind: string;
  resource_type: string;
  resource_id: string | null;
  outcome: string;
  status: number;
  client_ip: string | null;
  details: Record<string, unknown> | null;
}

describe('principals and bearer authentication (HTTP, real PostgreSQL)', () => {
  let vault: TestApp;
  let admin: TestPrincipal;
  /** Every token handed out here: none may be stored or logged anywhere. */
  const tokens: string[] = [];
  const cliOutput: string[] = [];

  /** Events of one request (pending or already sealed: one snapshot, so none is missed). */
  async function eventsOf(requestId: string): Promise<EventRow[]> {
    const columns = 'request_id, action, actor_id, actor_name, actor_kind, resource_type, resource_id, outcome, status, client_ip, details';
    return vault.sql<EventRow>(
      `SELECT ${columns} FROM audit_pending WHERE request_id = $1 UNION ALL SELECT ${columns} FROM audit_events WHERE request_id = $1`,
      [requestId],
    );
  }

  async function onlyEventOf(res: Response): Promise<EventRow> {
    const events = await eventsOf(String(res.headers['x-request-id']));
    expect(events).toHaveLength(1);
    return events[0]!;
  }

  async function principal(roles: Role[], kind: 'service' | 'staff' = 'service'): Promise<TestPrincipal> {
    const created = await createPrincipal(vault, { roles, kind });
    tokens.push(created.token);
    return created;
  }

  beforeAll(async () => {
    vault = await startTestApp();
    admin = await principal(['admin'], 'staff');
  });

  afterAll(async () => {
    await vault?.close();
  });

  describe('authentication', () => {
    const unknown = generateToken();
    it.each([
      ['no Authorization header', undefined, 'missing', null],
      ['another scheme', `Basic ${Buffer.from('admin:secret').toString('base64')}`, 'malformed', null],
      ['a malformed token', 'Bearer cv_not-a-token', 'malformed', null],
      ['a token without the scheme', unknown, 'malformed', null],
      ['a non-canonical token', `Bearer cv_${'A'.repeat(42)}B`, 'malformed', null],
      ['an unknown well-formed token', `Bearer ${unknown}`, 'unknown', tokenHashPrefix(hashToken(unknown))],
    ])('%s: 401, fixed message, WWW-Authenticate, audited without the token', async (_label, header, reason, prefix) => {
      const req = vault.http().get('/v1/principals');
      const res = await (header === undefined ? req : req.set('Authorization', header)).expect(401);
      expect(res.body).toEqual({ error: { code: 'unauthenticated', message: UNAUTHENTICATED_MESSAGE, requestId: res.headers['x-request-id'] } });
      expect(res.headers['www-authenticate']).toBe('Bearer');
      const event = await onlyEventOf(res);
      expect(event).toMatchObject({
        action: 'auth.failed',
        actor_id: null,
        actor_kind: 'anonymous',
        resource_type: 'request',
        resource_id: null,
        outcome: 'denied',
        status: 401,
        details: { route: 'GET /v1/principals', reason, tokenHashPrefix: prefix },
      });
      expect(event.client_ip).toEqual(expect.any(String));
      if (header !== undefined) expect(JSON.stringify(event)).not.toContain(header.replace(/^\w+ /, ''));
    });

    it('a malformed token is refused without a database lookup', async () => {
      const authenticate = jest.spyOn(vault.app.get(PrincipalsService), 'authenticate');
      try {
        await vault.http().get('/v1/principals').set('Authorization', 'Bearer cv_x').expect(401);
        expect(authenticate).not.toHaveBeenCalled();
      } finally {
        authenticate.mockRestore();
      }
    });

    it('records the route pattern, not the concrete URL', async () => {
      const id = randomUUID();
      const res = await vault.http().delete(`/v1/principals/${id}`).expect(401);
      const event = await onlyEventOf(res);
      expect(event.details).toMatchObject({ route: 'DELETE /v1/principals/:id' });
      expect(JSON.stringify(event)).not.toContain(id);
    });

    it('accepts the scheme in any case and leaves public routes open', async () => {
      await vault.http().get('/v1/principals').set('Authorization', `bearer ${admin.token}`).expect(200);
      await vault.http().get('/healthz').expect(200);
      await vault.http().get('/readyz').expect(200);
      await vault.http().get('/metrics').expect(200);
    });

    it('answers 503 when the failed attempt cannot be audited (fail closed)', async () => {
      const record = jest.spyOn(vault.app.get(AuditLog), 'record').mockRejectedValueOnce(new VaultError('audit_unavailable', 'the audit log cannot be written'));
      try {
        const res = await vault.http().get('/v1/principals').expect(503);
        expect(res.body.error.code).toBe('audit_unavailable');
      } finally {
        record.mockRestore();
      }
    });

    it('a revoked token is refused at once by the process that revoked it', async () => {
      const target = await principal(['support']);
      await vault.http().get('/v1/principals').set('Authorization', target.authHeader).expect(403);
      await vault.http().delete(`/v1/principals/${target.id}`).set('Authorization', admin.authHeader).expect(204);
      const res = await vault.http().get('/v1/principals').set('Authorization', target.authHeader).expect(401);
      expect(res.headers['www-authenticate']).toBe('Bearer');
      expect((await onlyEventOf(res)).details).toMatchObject({ reason: 'revoked', tokenHashPrefix: tokenHashPrefix(hashToken(target.token)) });
    });

    it('a revocation by another process takes effect within the cache TTL (1 s)', async () => {
      const target = await principal(['admin']);
      await vault.http().get('/v1/principals').set('Authorization', target.authHeader).expect(200); // now cached
      await vault.sql('UPDATE principals SET revoked_at = now() WHERE id = $1', [target.id]);
      const revokedAt = Date.now();
      let status = 200;
      while (status !== 401 && Date.now() - revokedAt < 1_500) {
        status = (await vault.http().get('/v1/principals').set('Authorization', target.authHeader)).status;
        if (status !== 401) await new Promise((resolve) => setTimeout(resolve, 50));
      }
      expect(status).toBe(401);
      expect(Date.now() - revokedAt).toBeLessThan(1_200);
    });
  });

  describe('/v1/principals (admin)', () => {
    it('creates a principal: 201 with its token, once; the token authenticates; audited', async () => {
      const res = await vault
        .http()
        .post('/v1/principals')
        .set('Authorization', admin.authHeader)
        .send({ name: 'ops-admin', kind: 'staff', roles: ['admin'] })
        .expect(201);
      expect(Object.keys(res.body).sort()).toEqual(['createdAt', 'id', 'kind', 'name', 'roles', 'token']);
      expect(res.body).toMatchObject({ name: 'ops-admin', kind: 'staff', roles: ['admin'] });
      expect(res.body.token).toMatch(TOKEN);
      tokens.push(res.body.token);
      expect(new Date(res.body.createdAt).toISOString()).toBe(res.body.createdAt);

      await vault.http().get('/v1/principals').set('Authorization', `Bearer ${res.body.token}`).expect(200);
      const event = await onlyEventOf(res);
      expect(event).toMatchObject({ action: 'principal.create', actor_id: admin.id, resource_type: 'principal', resource_id: res.body.id, outcome: 'allowed', status: 201 });
      expect(JSON.stringify(event)).not.toContain(res.body.token);
      const [row] = await vault.sql<{ token_hash: Buffer }>('SELECT token_hash FROM principals WHERE id = $1', [res.body.id]);
      expect(row!.token_hash.equals(hashToken(res.body.token))).toBe(true);
    });

    it('lists principals without tokens or hashes; audited', async () => {
      const created = await principal(['billing']);
      const res = await vault.http().get('/v1/principals').set('Authorization', admin.authHeader).expect(200);
      expect(Object.keys(res.body)).toEqual(['principals']);
      const listed = (res.body.principals as Record<string, unknown>[]).find((p) => p.id === created.id);
      expect(listed).toEqual({ id: created.id, name: created.name, kind: 'service', roles: ['billing'], createdAt: expect.any(String), revokedAt: null });
      for (const p of res.body.principals as Record<string, unknown>[]) expect(Object.keys(p).sort()).toEqual(['createdAt', 'id', 'kind', 'name', 'revokedAt', 'roles']);
      for (const token of tokens) expect(res.text).not.toContain(token);
      expect(res.text).not.toContain(hashToken(created.token).toString('hex'));
      expect(await onlyEventOf(res)).toMatchObject({ action: 'principal.list', actor_id: admin.id, outcome: 'allowed', status: 200 });
    });

    it('revokes: 204, shown as revoked, idempotent, audited', async () => {
      const target = await principal(['ingest']);
      const first = await vault.http().delete(`/v1/principals/${target.id}`).set('Authorization', admin.authHeader).expect(204);
      expect(await onlyEventOf(first)).toMatchObject({ action: 'principal.revoke', resource_id: target.id, outcome: 'allowed', status: 204 });
      const again = await vault.http().delete(`/v1/principals/${target.id}`).set('Authorization', admin.authHeader).expect(204);
      expect((await onlyEventOf(again)).details).toMatchObject({ alreadyRevoked: true });
      const list = await vault.http().get('/v1/principals').set('Authorization', admin.authHeader).expect(200);
      const shown = (list.body.principals as { id: string; revokedAt: string | null }[]).find((p) => p.id === target.id);
      expect(shown?.revokedAt).toEqual(expect.any(String));
    });

    it('a name is unique among active principals (409) and free again once revoked', async () => {
      const body = { name: 'nightly-import', kind: 'service', roles: ['ingest'] };
      const first = await vault.http().post('/v1/principals').set('Authorization', admin.authHeader).send(body).expect(201);
      tokens.push(first.body.token);
      const clash = await vault.http().post('/v1/principals').set('Authorization', admin.authHeader).send(body).expect(409);
      expect(clash.body.error.code).toBe('conflict');
      expect(await onlyEventOf(clash)).toMatchObject({ action: 'principal.create', outcome: 'denied', status: 409 });
      await vault.http().delete(`/v1/principals/${first.body.id}`).set('Authorization', admin.authHeader).expect(204);
      const reused = await vault.http().post('/v1/principals').set('Authorization', admin.authHeader).send(body).expect(201);
      tokens.push(reused.body.token);
    });

    it.each([
      ['an unknown role', { name: 'svc', kind: 'service', roles: ['root-of-all'] }, 'roles', 'root-of-all'],
      ['no roles', { name: 'svc', kind: 'service', roles: [] }, 'roles', undefined],
      ['a repeated role', { name: 'svc', kind: 'service', roles: ['ingest', 'ingest'] }, 'roles', undefined],
      // DESIGN §3: storing or administering roles are not combined with reading roles.
      ['ingest with a reading role', { name: 'svc', kind: 'service', roles: ['ingest', 'support'] }, 'roles', undefined],
      ['admin with a reading role', { name: 'svc', kind: 'staff', roles: ['security', 'admin'] }, 'roles', undefined],
      ['ingest with privacy', { name: 'svc', kind: 'service', roles: ['privacy', 'ingest'] }, 'roles', undefined],
      ['roles not an array', { name: 'svc', kind: 'service', roles: 'admin' }, 'roles', undefined],
      ['an unknown kind', { name: 'svc', kind: 'robot-kind', roles: ['ingest'] }, 'kind', 'robot-kind'],
      ['an extra property', { name: 'svc', kind: 'service', roles: ['ingest'], tokenHash: 'sneaky-value-42' }, 'tokenHash', 'sneaky-value-42'],
      ['a name too long', { name: 'N'.repeat(101), kind: 'service', roles: ['ingest'] }, 'name', 'N'.repeat(101)],
      ['an empty name', { name: '', kind: 'service', roles: ['ingest'] }, 'name', undefined],
      ['a name with a control character', { name: 'bad\u0007name', kind: 'service', roles: ['ingest'] }, 'name', 'bad\u0007name'],
      ['a name with a trailing space', { name: 'svc ', kind: 'service', roles: ['ingest'] }, 'name', undefined],
      ['no name', { kind: 'service', roles: ['ingest'] }, 'name', undefined],
    ])('%s: 400 naming the field, not the value; audited', async (_label, body, field, value) => {
      const res = await vault.http().post('/v1/principals').set('Authorization', admin.authHeader).send(body).expect(400);
      expect(res.body.error.code).toBe('invalid_input');
      expect((res.body.error.details as { field: string }[]).map((d) => d.field)).toContain(field);
      if (value !== undefined) expect(res.text).not.toContain(value);
      expect(await onlyEventOf(res)).toMatchObject({ action: 'principal.create', outcome: 'denied', status: 400 });
    });

    it('accepts a name of 100 printable characters, spaces and non-ASCII letters included', async () => {
      const name = `Équipe données ${'x'.repeat(85)}`;
      expect(name).toHaveLength(100);
      const res = await vault.http().post('/v1/principals').set('Authorization', admin.authHeader).send({ name, kind: 'staff', roles: ['privacy'] }).expect(201);
      tokens.push(res.body.token);
    });

    it('DELETE with a non-UUID id: 400; an unknown one: 404', async () => {
      const bad = await vault.http().delete('/v1/principals/not-a-uuid-zz9').set('Authorization', admin.authHeader).expect(400);
      expect(bad.body.error).toMatchObject({ code: 'invalid_input', details: [{ field: 'id', problem: 'must be a UUID' }] });
      expect(bad.text).not.toContain('not-a-uuid-zz9');
      const id = randomUUID();
      const missing = await vault.http().delete(`/v1/principals/${id}`).set('Authorization', admin.authHeader).expect(404);
      expect(missing.body.error.code).toBe('not_found');
      expect(await onlyEventOf(missing)).toMatchObject({ action: 'principal.revoke', resource_id: id, outcome: 'denied', status: 404 });
    });

    describe('every other role: 403 on all three routes, audited as denied', () => {
      const others = ROLES.filter((role) => role !== 'admin');
      const callers = new Map<Role, TestPrincipal>();
      beforeAll(async () => {
        for (const role of others) callers.set(role, await principal([role]));
      });

      it('covers the six non-admin roles', () => expect(others).toHaveLength(6));

      it.each(others)('%s', async (role) => {
        const caller = callers.get(role)!;
        const create = await vault.http().post('/v1/principals').set('Authorization', caller.authHeader).send({ name: `by-${role}`, kind: 'service', roles: ['admin'] }).expect(403);
        expect(create.body.error.code).toBe('forbidden');
        expect(await onlyEventOf(create)).toMatchObject({ action: 'principal.create', actor_id: caller.id, outcome: 'denied', status: 403 });
        const list = await vault.http().get('/v1/principals').set('Authorization', caller.authHeader).expect(403);
        expect(await onlyEventOf(list)).toMatchObject({ action: 'principal.list', outcome: 'denied', status: 403 });
        const revoke = await vault.http().delete(`/v1/principals/${admin.id}`).set('Authorization', caller.authHeader).expect(403);
        expect(await onlyEventOf(revoke)).toMatchObject({ action: 'principal.revoke', resource_id: admin.id, outcome: 'denied', status: 403 });
      });

      it('and nothing was created or revoked', async () => {
        const [{ n }] = (await vault.sql<{ n: number }>(`SELECT count(*)::int AS n FROM principals WHERE name LIKE 'by-%'`)) as [{ n: number }];
        expect(n).toBe(0);
        await vault.http().get('/v1/principals').set('Authorization', admin.authHeader).expect(200);
      });
    });

    it('documents the routes in OpenAPI with bearer auth', async () => {
      const res = await vault.http().get('/docs-json').expect(200);
      expect(Object.keys(res.body.paths)).toEqual(expect.arrayContaining(['/v1/principals', '/v1/principals/{id}']));
      expect(res.body.paths['/v1/principals'].post.tags).toEqual(['principals']);
      expect(res.body.paths['/v1/principals'].post.security).toEqual([{ bearer: [] }]);
    });
  });

  describe('CLI', () => {
    const env = (): Record<string, string> => ({
      DATABASE_URL: vault.databaseUrl,
      VAULT_ROOT_KEY: vault.rootKey.toString('base64'),
      VAULT_DATA_DIR: vault.dataDir,
    });

    it('principal:create prints a working token last; principal:list shows it; principal:revoke makes it 401; all audited', async () => {
      const created = await runCli(['principal:create', '--name', 'cli-made', '--kind', 'service', '--roles', ' admin ,'], env());
      cliOutput.push(created.stderr);
      expect(created.status).toBe(0);
      const token = lastLine(created.stdout);
      expect(token).toMatch(TOKEN);
      tokens.push(token);
      expect(created.stderr).not.toContain(token);
      const id = /created principal ([0-9a-f-]{36})/.exec(created.stderr)?.[1];
      expect(id).toBeDefined();
      await vault.http().get('/v1/principals').set('Authorization', `Bearer ${token}`).expect(200);

      const [event] = await vault.sql<EventRow>(
        `SELECT actor_id, actor_name, actor_kind, status, outcome FROM audit_pending WHERE action = 'principal.create' AND resource_id = $1
         UNION ALL SELECT actor_id, actor_name, actor_kind, status, outcome FROM audit_events WHERE action = 'principal.create' AND resource_id = $1`,
        [id],
      );
      expect(event).toMatchObject({ actor_id: null, actor_name: expect.stringMatching(/^cli:./), actor_kind: 'staff', status: 0, outcome: 'allowed' });

      const listed = await runCli(['principal:list'], env());
      cliOutput.push(listed.stdout, listed.stderr);
      expect(listed.status).toBe(0);
      const { principals } = JSON.parse(lastLine(listed.stdout)) as { principals: { id: string; name: string; roles: string[] }[] };
      expect(principals.find((p) => p.id === id)).toMatchObject({ name: 'cli-made', roles: ['admin'] });
      expect(listed.stdout).not.toContain(token);

      const revoked = await runCli(['principal:revoke', id!], env());
      cliOutput.push(revoked.stdout, revoked.stderr);
      const revokedAt = Date.now();
      expect(revoked.status).toBe(0);
      expect(lastLine(revoked.stdout)).toBe(`revoked ${id}`);
      let status = 200;
      while (status !== 401 && Date.now() - revokedAt < 1_500) {
        status = (await vault.http().get('/v1/principals').set('Authorization', `Bearer ${token}`)).status;
        if (status !== 401) await new Promise((resolve) => setTimeout(resolve, 50));
      }
      expect(status).toBe(401);
      const actions = await vault.sql<{ action: string }>(
        `SELECT action FROM audit_pending WHERE resource_id = $1 AND actor_name LIKE 'cli:%'
         UNION ALL SELECT action FROM audit_events WHERE resource_id = $1 AND actor_name LIKE 'cli:%'`,
        [id],
      );
      expect(actions.map((a) => a.action).sort()).toEqual(['principal.create', 'principal.revoke']);
    });

    it('principal:create refuses ingest or admin combined with a reading role, and creates nothing', async () => {
      const before = await vault.sql<{ n: number }>('SELECT count(*)::int AS n FROM principals');
      const refusals = await Promise.all(['ingest,billing', 'admin, security'].map((roles) => runCli(['principal:create', '--name', `mixed-${roles.length}`, '--kind', 'service', '--roles', roles], env())));
      for (const refused of refusals) {
        cliOutput.push(refused.stdout, refused.stderr);
        expect(refused.status).not.toBe(0);
        expect(refused.stderr).toContain('must not combine ingest or admin with a reading role');
      }
      expect(await vault.sql<{ n: number }>('SELECT count(*)::int AS n FROM principals')).toEqual(before);
    }, 180_000);
  });

  describe('lock-out prevention', () => {
    it('the last active admin cannot revoke themselves (409); with another admin they can', async () => {
      // Leave `admin` as the only active admin.
      await vault.sql(`UPDATE principals SET revoked_at = now() WHERE revoked_at IS NULL AND 'admin' = ANY(roles) AND id <> $1`, [admin.id]);
      const refused = await vault.http().delete(`/v1/principals/${admin.id}`).set('Authorization', admin.authHeader).expect(409);
      expect(refused.body.error.code).toBe('conflict');
      expect(await onlyEventOf(refused)).toMatchObject({ action: 'principal.revoke', outcome: 'denied', status: 409 });
      await vault.http().get('/v1/principals').set('Authorization', admin.authHeader).expect(200);

      const second = await vault.http().post('/v1/principals').set('Authorization', admin.authHeader).send({ name: 'second-admin', kind: 'staff', roles: ['admin'] }).expect(201);
      tokens.push(second.body.token);
      await vault.http().delete(`/v1/principals/${admin.id}`).set('Authorization', admin.authHeader).expect(204);
      await vault.http().get('/v1/principals').set('Authorization', admin.authHeader).expect(401);
      await vault.http().delete(`/v1/principals/${second.body.id}`).set('Authorization', `Bearer ${second.body.token}`).expect(409);
    });

    it('two admins revoking each other at once leave one of them', async () => {
      const [a, b] = [await principal(['admin']), await principal(['admin'])];
      // Only a and b are active admins now.
      await vault.sql(`UPDATE principals SET revoked_at = now() WHERE revoked_at IS NULL AND 'admin' = ANY(roles) AND id <> ALL($1::uuid[])`, [[a.id, b.id]]);
      const statuses = await Promise.all([
        vault.http().delete(`/v1/principals/${b.id}`).set('Authorization', a.authHeader),
        vault.http().delete(`/v1/principals/${a.id}`).set('Authorization', b.authHeader),
      ]).then((responses) => responses.map((r) => r.status).sort());
      // One wins (204); the other is then either the last admin (409) or already revoked (401).
      expect(statuses[0]).toBe(204);
      expect([401, 409]).toContain(statuses[1]);
      const [{ n }] = (await vault.sql<{ n: number }>(`SELECT count(*)::int AS n FROM principals WHERE revoked_at IS NULL AND 'admin' = ANY(roles)`)) as [{ n: number }];
      expect(n).toBe(1);
    });
  });

  it('no token is stored or logged anywhere (only its hash is kept)', async () => {
    expect(tokens.length).toBeGreaterThan(10);
    expect(await findLeaks(vault, tokens, { cli: cliOutput.join('\n') })).toEqual([]);
  });
});
