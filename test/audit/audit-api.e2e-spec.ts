import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { createPublicKey, verify as verifySignature } from 'node:crypto';
import type { AuditEventView } from '../../src/audit/audit-event.js';
import { findLeaks } from '../helpers/leak-scan.js';
import { createPrincipal, type TestPrincipal } from '../helpers/principals.js';
import { startTestApp, type TestApp } from '../helpers/test-app.js';
import { lastLine } from '../helpers/vault-process.js';
import { breakAuditInserts, cliEnv, runCli } from './helpers.js';

const ALICE = {
  externalRef: 'ACC-AUDIT-1',
  personal: { fullName: 'Oriel Xanthippe Brackwater', email: 'oriel.brackwater@example.com', phone: '+44 20 7946 0123', nationalId: 'ZQ-443322-XY' },
  payment: { cardNumber: '4111 1111 1111 1111', cardExpiry: '12/39' },
};
const BOB = { personal: { fullName: 'Peregrin Ulmquist Tarrow', email: 'peregrin.tarrow@example.org' } };
const NEEDLES = ['Xanthippe', 'Brackwater', 'oriel.brackwater', 'Ulmquist', 'peregrin.tarrow', '7946 0123', '442079460123', '443322', '4111111111111111', '4111 1111'];

type Page = { events: AuditEventView[]; nextCursor: string | null };

describe('audit API for security staff (HTTP)', () => {
  let vault: TestApp;
  let ingest: TestPrincipal;
  let support: TestPrincipal;
  let billing: TestPrincipal;
  let security: TestPrincipal;
  let privacy: TestPrincipal;
  let alice: string;
  let bob: string;

  const as = (p: TestPrincipal, path: string) => vault.http().get(path).set('Authorization', p.authHeader);

  beforeAll(async () => {
    vault = await startTestApp();
    [ingest, support, billing, security, privacy] = await Promise.all(
      (['ingest', 'support', 'billing', 'security', 'privacy'] as const).map((role) => createPrincipal(vault, { roles: [role] })),
    );
    alice = (await vault.http().post('/v1/customers').set('Authorization', ingest.authHeader).send(ALICE).expect(201)).body.id;
    bob = (await vault.http().post('/v1/customers').set('Authorization', ingest.authHeader).send(BOB).expect(201)).body.id;
    await as(support, `/v1/customers/${alice}`).set('X-Access-Purpose', 'service_support').set('X-Access-Reason', 'TICKET-42').expect(200);
    await as(billing, `/v1/customers/${alice}`).set('X-Access-Purpose', 'marketing').expect(403);
    await as(support, `/v1/customers/${bob}`).set('X-Access-Purpose', 'service_support').expect(200);
    await vault.http().post('/v1/customers/search').set('Authorization', support.authHeader).set('X-Access-Purpose', 'service_support')
      .send({ email: ALICE.personal.email }).expect(200);
    await vault.http().get(`/v1/customers/${alice}`).set('Authorization', 'Bearer cv_nottherealtokennottherealtokennottherealtok').expect(401);
  });
  afterAll(async () => {
    await vault?.close();
  });

  it('filters by customer: exactly the events about that customer, denied ones included, in seq order', async () => {
    const { body } = await as(security, `/v1/audit/events?customerId=${alice}`).expect(200);
    const events = (body as Page).events;
    expect(events.map((e) => [e.action, e.outcome, e.actor.id])).toEqual([
      ['customer.create', 'allowed', ingest.id],
      ['customer.read', 'allowed', support.id],
      ['customer.read', 'denied', billing.id],
      // the search found her: it names her among the customers it found (details.customerIds)
      ['customer.search', 'allowed', support.id],
      // the bad-token request named Alice in its URL: its failed authentication is about her too
      ['auth.failed', 'denied', null],
    ]);
    expect(events.every((e) => e.resource.type === 'customer' && (e.resource.id === alice || e.details?.customerIds === alice))).toBe(true);
    expect(events[1]).toMatchObject({ purpose: 'service_support', reason: 'TICKET-42', status: 200, fields: { revealed: expect.arrayContaining(['fullName', 'email']) } });
    expect(events[2]).toMatchObject({ purpose: 'marketing', status: 403 });
    expect((body as Page).nextCursor).toBeNull();
    expect(events.map((e) => e.seq)).toEqual([...events.map((e) => e.seq)].sort((a, b) => a - b));
  });

  it('filters by actor, action, purpose, outcome and time, alone and combined', async () => {
    const get = async (query: string): Promise<AuditEventView[]> => ((await as(security, `/v1/audit/events?${query}`).expect(200)).body as Page).events;
    expect((await get(`actorId=${support.id}`)).map((e) => [e.action, e.resource.id])).toEqual([
      ['customer.read', alice],
      ['customer.read', bob],
      ['customer.search', null],
    ]);
    expect((await get(`actorId=${support.id}&action=customer.read&customerId=${bob}`)).map((e) => e.resource.id)).toEqual([bob]);
    expect((await get('purpose=marketing')).map((e) => e.actor.id)).toEqual([billing.id]);
    const denied = await get('outcome=denied');
    expect(denied.every((e) => e.outcome === 'denied')).toBe(true);
    expect(denied.map((e) => e.status)).toEqual(expect.arrayContaining([403, 401]));
    const all = await get('limit=1000');
    const creates = all.filter((e) => e.action === 'customer.create');
    expect(creates).toHaveLength(2);
    const pivot = creates[1].at;
    const from = await get(`from=${pivot}&action=customer.create`);
    expect(from.map((e) => e.resource.id)).toEqual(all.filter((e) => e.action === 'customer.create' && e.at >= pivot).map((e) => e.resource.id));
    const to = await get(`to=${pivot}&action=customer.create`);
    expect(to.map((e) => e.seq)).toEqual(creates.filter((e) => e.at < pivot).map((e) => e.seq));
    expect(await get('from=2999-01-01')).toEqual([]);
  });

  it('pages by cursor: every matching event exactly once, in order', async () => {
    const seen: number[] = [];
    let cursor: string | null = '';
    let pages = 0;
    while (cursor !== null) {
      const query: string = `action=customer.read&limit=2${cursor ? `&cursor=${cursor}` : ''}`;
      const page = (await as(security, `/v1/audit/events?${query}`).expect(200)).body as Page;
      expect(page.events.length).toBeLessThanOrEqual(2);
      seen.push(...page.events.map((e) => e.seq));
      cursor = page.nextCursor;
      pages++;
    }
    const all = ((await as(security, '/v1/audit/events?action=customer.read').expect(200)).body as Page).events.map((e) => e.seq);
    expect(all).toHaveLength(3);
    expect(seen).toEqual(all);
    expect(pages).toBe(2);
  });

  it('refuses bad queries with 400 and non-security staff with 403; reading the log is itself audited', async () => {
    for (const query of ['limit=1001', 'limit=0', 'limit=ten', 'from=yesterday', 'to=2025-13-01', 'customerId=42', 'actorId=x', 'outcome=maybe', 'purpose=curiosity', 'cursor=-1', 'colour=blue', 'action=DROP%20TABLE']) {
      const res = await as(security, `/v1/audit/events?${query}`);
      expect([query, res.status]).toEqual([query, 400]);
      expect(res.body.error.code).toBe('invalid_input');
    }
    await as(security, '/v1/audit/export?format=xml').expect(400);
    for (const p of [support, billing, privacy, ingest]) {
      await as(p, '/v1/audit/events').expect(403);
      await as(p, '/v1/audit/verify').expect(403);
      await as(p, '/v1/audit/export').expect(403);
    }
    await as(support, `/v1/customers/${alice}/access-report`).expect(403);
    await vault.http().get('/v1/audit/events').expect(401);

    const own = ((await as(security, `/v1/audit/events?actorId=${security.id}&action=audit.list&limit=1000`).expect(200)).body as Page).events;
    expect(own.length).toBeGreaterThan(0);
    expect(own.some((e) => e.outcome === 'denied' && e.status === 400)).toBe(true);
    const refused = ((await as(security, `/v1/audit/events?actorId=${privacy.id}`).expect(200)).body as Page).events;
    expect(refused.filter((e) => e.action === 'audit.list').map((e) => [e.outcome, e.status])).toEqual([['denied', 403]]);
  });

  it('access report: every event about the customer, for security and privacy; 404 for an unknown customer; 400 for a bad id', async () => {
    const report = (await as(privacy, `/v1/customers/${alice}/access-report`).expect(200)).body as Page & { customerId: string };
    expect(report.customerId).toBe(alice);
    // support's refused attempt at this report (previous test) is about Alice as well
    expect(report.events.map((e) => [e.action, e.outcome])).toEqual([
      ['customer.create', 'allowed'],
      ['customer.read', 'allowed'],
      ['customer.read', 'denied'],
      ['customer.search', 'allowed'],
      ['auth.failed', 'denied'],
      ['audit.access_report', 'denied'],
    ]);
    const again = (await as(security, `/v1/customers/${alice}/access-report`).expect(200)).body as Page;
    // the privacy officer's look at the report is about Alice too
    expect(again.events.at(-1)).toMatchObject({ action: 'audit.access_report', actor: { id: privacy.id }, resource: { type: 'customer', id: alice } });
    await as(privacy, '/v1/customers/7b0c3f36-0a3c-4c55-9f60-6a1b0b7f5e21/access-report').expect(404);
    await as(privacy, '/v1/customers/not-a-uuid/access-report').expect(400);
  });

  it('exports the filtered log as NDJSON and CSV, streamed', async () => {
    const list = ((await as(security, `/v1/audit/events?customerId=${alice}`).expect(200)).body as Page).events;
    const ndjson = await as(security, `/v1/audit/export?format=ndjson&customerId=${alice}`).buffer(true).parse(textParser).expect(200);
    expect(ndjson.headers['content-type']).toMatch(/application\/x-ndjson/);
    const lines = (ndjson.body as string).trim().split('\n').map((line) => JSON.parse(line) as AuditEventView);
    expect(lines.slice(0, list.length)).toEqual(list);
    const csv = await as(security, `/v1/audit/export?format=csv&customerId=${alice}`).buffer(true).parse(textParser).expect(200);
    expect(csv.headers['content-type']).toMatch(/text\/csv/);
    const rows = (csv.body as string).trim().split('\r\n');
    expect(rows[0]).toBe('seq,id,at,requestId,actorId,actorName,actorKind,actorRoles,action,resourceType,resourceId,purpose,reason,fieldsRevealed,fieldsMasked,fieldsWritten,outcome,status,clientIp,details,prevHash,hash');
    expect(rows.length - 1).toBeGreaterThanOrEqual(list.length);
    expect(rows[1].split(',')[0]).toBe(String(list[0].seq));
    const all = await as(security, '/v1/audit/export').buffer(true).parse(textParser).expect(200);
    const seqs = (all.body as string).trim().split('\n').map((l) => (JSON.parse(l) as AuditEventView).seq);
    expect(seqs).toEqual(seqs.map((_, i) => i + 1));
  });

  it('verify reports an intact log; the public key verifies the last checkpoint independently (node:crypto)', async () => {
    const report = (await as(security, '/v1/audit/verify').expect(200)).body;
    expect(report).toMatchObject({ valid: true });
    expect((await vault.http().get('/readyz').expect(200)).body.checks.audit).toBe('ok');
    expect(report.checked).toBe(report.head.seq);
    const key = (await as(security, '/v1/audit/public-key').expect(200)).body;
    expect(key).toMatchObject({ algorithm: 'Ed25519', previousKeys: [] });
    expect(Buffer.from(key.publicKey, 'base64')).toHaveLength(32);
    // Force a checkpoint to check it against the published key.
    const verified = (await as(security, '/v1/audit/verify').expect(200)).body;
    const cp = verified.lastCheckpoint ?? (await vault.sql<{ seq: string; hash: Buffer; at: Date; key_id: string; signature: Buffer; prev_signature: Buffer | null }>(
      'SELECT * FROM audit_checkpoints ORDER BY seq DESC LIMIT 1',
    )).map((r) => ({ seq: Number(r.seq), hash: r.hash.toString('hex'), at: r.at.toISOString(), keyId: r.key_id, signature: r.signature.toString('base64'), prevSignature: r.prev_signature?.toString('base64') ?? null }))[0];
    if (cp) {
      expect(cp.keyId).toBe(key.keyId);
      const message = `{"at":"${cp.at}","hash":"${cp.hash}","keyId":"${cp.keyId}","prevSignature":${cp.prevSignature === null ? 'null' : `"${cp.prevSignature}"`},"seq":${cp.seq},"type":"customer-vault.audit.checkpoint.v1"}`;
      const spki = Buffer.concat([Buffer.from('302a300506032b6570032100', 'hex'), Buffer.from(key.publicKey, 'base64')]);
      const publicKey = createPublicKey({ key: spki, format: 'der', type: 'spki' });
      expect(verifySignature(null, Buffer.from(message), publicKey, Buffer.from(cp.signature, 'base64'))).toBe(true);
    }
  });

  it('CLI audit:export and audit:verify on the same database', async () => {
    const [exported, verified] = await Promise.all([
      runCli(['audit:export', '--format', 'ndjson', '--customer-id', alice], cliEnv(vault)),
      runCli(['audit:verify'], cliEnv(vault)),
    ]);
    expect(exported.status).toBe(0);
    const events = exported.stdout.trim().split('\n').map((l) => JSON.parse(l) as AuditEventView);
    expect(events.every((e) => e.resource.id === alice || e.details?.customerIds === alice)).toBe(true);
    expect(events.length).toBeGreaterThanOrEqual(3);
    expect(verified.status).toBe(0);
    expect(JSON.parse(lastLine(verified.stdout))).toMatchObject({ valid: true });
  }, 90_000);

  it('fail closed: when no event can be written, reads answer 503 without plaintext and writes roll back', async () => {
    const [{ n: before }] = await vault.sql<{ n: number }>('SELECT count(*)::int AS n FROM customers');
    await breakAuditInserts(vault, true);
    try {
      const read = await as(support, `/v1/customers/${alice}`).set('X-Access-Purpose', 'service_support');
      expect(read.status).toBe(503);
      expect(read.body.error.code).toBe('audit_unavailable');
      for (const needle of NEEDLES) expect(read.text).not.toContain(needle);
      const write = await vault.http().post('/v1/customers').set('Authorization', ingest.authHeader).send({ personal: { fullName: 'Never Stored' } });
      expect(write.status).toBe(503);
      expect(await vault.sql('SELECT count(*)::int AS n FROM customers')).toEqual([{ n: before }]);
      await as(security, '/v1/audit/events').expect(503);
    } finally {
      await breakAuditInserts(vault, false);
    }
    await as(support, `/v1/customers/${alice}`).set('X-Access-Purpose', 'service_support').expect(200);
  });

  it('no test plaintext, search term or token in any audit table or log line', async () => {
    const leaks = await findLeaks(vault, [...NEEDLES, ...[ingest, support, billing, security, privacy].map((p) => p.token)]);
    expect(leaks.filter((l) => l.where.startsWith('audit_') || l.where === 'logs')).toEqual([]);
    expect((await as(security, '/v1/audit/verify').expect(200)).body.valid).toBe(true);
  });
});

/** supertest parser that keeps a streamed body as text. */
function textParser(res: unknown, callback: (error: Error | null, body: string) => void): void {
  // On Node, superagent hands the parser the raw response stream.
  const stream = res as NodeJS.ReadableStream;
  let text = '';
  stream.setEncoding('utf8');
  stream.on('data', (chunk: string) => (text += chunk));
  stream.on('end', () => callback(null, text));
}
