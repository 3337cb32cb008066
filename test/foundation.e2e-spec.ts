import { Controller, Get, Module } from '@nestjs/common';
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import http from 'node:http';
import { connect, type AddressInfo } from 'node:net';
import { Public } from '../src/principals/public.decorator.js';
import { setDatabaseReachable, startTestApp, type TestApp } from './helpers/test-app.js';
import { waitFor } from './helpers/wait.js';

/** A route that fails the way a bug would: an unexpected error whose message holds a secret. */
@Public()
@Controller('test-only')
class ExplodingController {
  @Get('explode')
  explode(): never {
    throw new Error('boom: secret-internal-detail-123 at /srv/vault/internal.ts');
  }
}
@Module({ controllers: [ExplodingController] })
class ExplodingModule {}

/** A route that answers when the test lets it: an in-flight request during shutdown. */
let releaseSlow: () => void = () => undefined;
let slowStarted = false;
@Public()
@Controller('test-only')
class SlowController {
  @Get('slow')
  async slow(): Promise<{ done: true }> {
    await new Promise<void>((resolve) => {
      releaseSlow = resolve;
      slowStarted = true;
    });
    return { done: true };
  }
}
@Module({ controllers: [SlowController] })
class SlowModule {}

function get(port: number, path: string, agent: http.Agent): Promise<number> {
  return new Promise((resolve, reject) => {
    http.get({ host: '127.0.0.1', port, path, agent }, (res) => {
      res.resume();
      res.on('end', () => resolve(res.statusCode ?? 0));
    }).on('error', reject);
  });
}

describe('service foundation (HTTP, real PostgreSQL)', () => {
  let vault: TestApp;
  beforeAll(async () => {
    vault = await startTestApp({ env: { VAULT_BODY_LIMIT: '2kb' }, extraModules: [ExplodingModule] });
  });

  it('answers an unexpected error with 500 and no internals, in body or logs', async () => {
    const res = await vault.http().get('/test-only/explode').expect(500);
    expect(res.body).toEqual({ error: { code: 'internal', message: 'internal error', requestId: res.headers['x-request-id'] } });
    expect(vault.logs.text()).toContain('request failed');
    expect(vault.logs.text()).not.toContain('secret-internal-detail-123');
  });
  afterAll(async () => {
    await vault.close();
  });

  it('answers /healthz and /readyz', async () => {
    await vault.http().get('/healthz').expect(200, { status: 'ok' });
    const ready = await vault.http().get('/readyz').expect(200);
    expect(ready.body.status).toBe('ready');
    expect(ready.body.checks).toMatchObject({ database: 'ok', migrations: 'ok' });
  });

  it('shapes 404 and gives every response a request id', async () => {
    const res = await vault.http().get('/nothing-here').expect(404);
    expect(res.body).toEqual({ error: { code: 'not_found', message: 'not found', requestId: res.headers['x-request-id'] } });
    expect(res.headers['x-request-id']).toMatch(/^[0-9a-f-]{36}$/);
  });

  it('always generates the request id itself; a client X-Request-Id is never used as one', async () => {
    const sent = await vault.http().get('/healthz').set('X-Request-Id', 'ticket-4711.abc').expect(200);
    expect(sent.headers['x-request-id']).toMatch(/^[0-9a-f-]{36}$/);
    expect(sent.headers['x-request-id']).not.toBe('ticket-4711.abc');
    const replaced = await vault.http().get('/healthz').set('X-Request-Id', 'bad id <script>').expect(200);
    expect(replaced.headers['x-request-id']).toMatch(/^[0-9a-f-]{36}$/);
  });

  it('answers malformed JSON with 400 and does not echo it', async () => {
    const res = await vault.http().post('/healthz').set('Content-Type', 'application/json').send('{"secretvalue": ').expect(400);
    expect(res.body.error.code).toBe('invalid_input');
    expect(JSON.stringify(res.body)).not.toContain('secretvalue');
  });

  it('answers bodies over the limit with 413', async () => {
    const res = await vault.http().post('/healthz').set('Content-Type', 'application/json').send(JSON.stringify({ a: 'x'.repeat(4096) })).expect(413);
    expect(res.body.error).toMatchObject({ code: 'payload_too_large', requestId: res.headers['x-request-id'] });
  });

  it('answers non-JSON bodies with 415', async () => {
    const res = await vault.http().post('/healthz').set('Content-Type', 'text/plain').send('hello').expect(415);
    expect(res.body.error.code).toBe('unsupported_media_type');
    const form = await vault.http().post('/healthz').type('form').send({ a: 'b' }).expect(415);
    expect(form.body.error.code).toBe('unsupported_media_type');
  });

  it('answers unknown methods on known routes as 404 in the error shape', async () => {
    const res = await vault.http().delete('/healthz').expect(404);
    expect(res.body.error.code).toBe('not_found');
  });

  it('sets helmet headers', async () => {
    const res = await vault.http().get('/healthz');
    expect(res.headers['x-content-type-options']).toBe('nosniff');
    expect(res.headers['content-security-policy']).toContain("default-src 'self'");
    expect(res.headers['x-powered-by']).toBeUndefined();
  });

  it('serves Prometheus metrics with request counts by route', async () => {
    await vault.http().get('/healthz').expect(200);
    const res = await vault.http().get('/metrics').expect(200);
    expect(res.text).toMatch(/http_requests_total\{method="GET",route="\/healthz",status="200"\} \d+/);
    expect(res.text).toContain('http_request_duration_seconds_bucket');
    expect(res.text).toContain('process_resident_memory_bytes');
  });

  it('serves the OpenAPI document', async () => {
    await vault.http().get('/docs').expect(200);
    const json = await vault.http().get('/docs-json').expect(200);
    expect(json.body.info.title).toBe('Customer Vault');
  });

  it('logs one JSON line per request with the request id and never the body', async () => {
    await vault.http().post('/healthz').set('Content-Type', 'application/json').set('X-Request-Id', 'log-check-0001').send({ needle: 'zebra-crossing-42' });
    const line = vault.logs.lines.map((l) => JSON.parse(l) as Record<string, unknown>).find((l) => l.clientRequestId === 'log-check-0001');
    expect(line).toMatchObject({ method: 'POST', status: 404, msg: 'request' });
    expect(vault.logs.text()).not.toContain('zebra-crossing-42');
  });

  it('reports not ready (503) while the database is unreachable, and ready again once it is back', async () => {
    const other = await startTestApp();
    try {
      await other.http().get('/readyz').expect(200);
      await setDatabaseReachable(other.databaseUrl, false);
      const res = await other.http().get('/readyz').expect(503);
      expect(res.body.error).toMatchObject({ code: 'service_unavailable' });
      expect(res.body.error.message).toContain('database');
      await setDatabaseReachable(other.databaseUrl, true);
      await other.http().get('/readyz').expect(200);
    } finally {
      await other.close().catch(() => undefined);
    }
  });
});

describe('graceful shutdown (HTTP)', () => {
  it('finishes in-flight requests, answers one sent behind them on the same connection (Connection: close, not a 503), and refuses new connections', async () => {
    const vault = await startTestApp({ extraModules: [SlowModule] });
    let closing: Promise<void> | undefined;
    try {
      await vault.app.listen(0, '127.0.0.1');
      const { port } = vault.app.getHttpServer().address() as AddressInfo;
      // One connection: a slow request in flight when shutdown starts, then another sent behind it.
      const socket = connect(port, '127.0.0.1');
      const chunks: Buffer[] = [];
      socket.on('data', (chunk: Buffer) => chunks.push(chunk));
      const ended = new Promise<void>((resolve) => socket.on('close', () => resolve()));
      socket.write('GET /test-only/slow HTTP/1.1\r\nHost: x\r\n\r\n');
      await waitFor('the slow request to be in flight', async () => (slowStarted ? true : undefined));
      closing = vault.app.close();
      await new Promise((resolve) => setTimeout(resolve, 200));
      socket.write('GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n');
      // No new connection is taken.
      await expect(get(port, '/healthz', new http.Agent({ keepAlive: false }))).rejects.toMatchObject({ code: 'ECONNREFUSED' });
      releaseSlow();
      await ended;
      await closing;
      const text = Buffer.concat(chunks).toString('utf8');
      const answers = text.split(/(?=HTTP\/1\.1 )/);
      expect(answers.map((a) => a.slice(0, 15))).toEqual(['HTTP/1.1 200 OK', 'HTTP/1.1 200 OK']);
      expect(answers[0]).toContain('{"done":true}');
      expect(answers[1]).toMatch(/\r\nconnection: close\r\n/i);
      expect(answers[1]).toContain('{"status":"ok"}');
    } finally {
      releaseSlow();
      await (closing ?? vault.app.close()).catch(() => undefined);
      await vault.runtime.database.close().catch(() => undefined);
    }
  });
});
