import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import type { AddressInfo } from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { EVENT_COLUMNS } from '../../src/audit/audit-event.js';
import type { AuditEventView } from '../../src/audit/audit-event.js';
import { AuditSealer } from '../../src/audit/audit-sealer.js';
import { AuditStreamService } from '../../src/audit/audit-stream.service.js';
import { findLeaks } from '../helpers/leak-scan.js';
import { createPrincipal, type TestPrincipal } from '../helpers/principals.js';
import { startTestApp, type TestApp } from '../helpers/test-app.js';
import { VaultProcess } from '../helpers/vault-process.js';
import { cliEnv, textParser } from './helpers.js';
import { SseClient } from './sse-client.js';

const CAROL = { personal: { fullName: 'Thessaly Obermann Quist', email: 'thessaly.quist@example.net', nationalId: 'VV-551177-QQ' } };
const NEEDLES = ['Thessaly', 'Obermann', 'thessaly.quist', '551177'];
const MAX_BACKLOG = 20;

const seqsOf = (events: AuditEventView[]) => events.map((e) => e.seq);
const contiguous = (seqs: number[]) => seqs.every((s, i) => i === 0 || s === seqs[i - 1] + 1);

describe('live audit stream (GET /v1/audit/stream, CLI audit:tail)', () => {
  let vault: TestApp;
  let base: string;
  let ingest: TestPrincipal;
  let support: TestPrincipal;
  let security: TestPrincipal;
  let privacy: TestPrincipal;
  let admin: TestPrincipal;
  let carol: string;
  let opened = 0;
  const texts: string[] = [];
  let stats: AuditStreamService['stats'];

  const open = (p: TestPrincipal | null, query = '', headers: Record<string, string> = {}, options: { paused?: boolean } = {}, url = base) => {
    const client = new SseClient(`${url}/v1/audit/stream${query}`, p ? { Authorization: p.authHeader, ...headers } : headers, options);
    return client;
  };
  const readCarol = () => vault.http().get(`/v1/customers/${carol}`).set('Authorization', support.authHeader).set('X-Access-Purpose', 'service_support').expect(200);
  const head = async () => Number((await vault.sql<{ seq: string }>('SELECT coalesce(max(seq), 0)::text AS seq FROM audit_events'))[0].seq);
  const sealed = async () => {
    await vault.app.get(AuditSealer).sealNow();
    return head();
  };
  const waitFor = async (predicate: () => boolean, what: string, timeoutMs = 30_000) => {
    const deadline = Date.now() + timeoutMs;
    while (!predicate()) {
      if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
      await new Promise((resolve) => setTimeout(resolve, 50));
    }
  };
  const allEvents = async (): Promise<AuditEventView[]> => {
    const res = await vault.http().get('/v1/audit/export').set('Authorization', security.authHeader).buffer(true).parse(textParser).expect(200);
    return (res.body as string).trim().split('\n').map((l) => JSON.parse(l) as AuditEventView);
  };

  beforeAll(async () => {
    vault = await startTestApp({ env: { VAULT_AUDIT_STREAM_MAX_BACKLOG: String(MAX_BACKLOG), VAULT_AUDIT_STREAM_HEARTBEAT_MS: '300', VAULT_AUDIT_STREAM_POLL_MS: '50' } });
    await vault.app.listen(0, '127.0.0.1');
    base = `http://127.0.0.1:${(vault.app.getHttpServer().address() as AddressInfo).port}`;
    stats = vault.app.get(AuditStreamService).stats;
    [ingest, support, security, privacy, admin] = await Promise.all(
      (['ingest', 'support', 'security', 'privacy', 'admin'] as const).map((role) => createPrincipal(vault, { roles: [role] })),
    );
    carol = (await vault.http().post('/v1/customers').set('Authorization', ingest.authHeader).send(CAROL).expect(201)).body.id;
  }, 120_000);
  afterAll(async () => {
    await vault?.close();
  });

  it('refuses anonymous callers (401), other roles than security (403) and bad positions (400), streaming nothing', async () => {
    const refused: [TestPrincipal | null, string, Record<string, string>, number][] = [
      [null, '', {}, 401],
      [support, '', {}, 403],
      [privacy, '', {}, 403],
      [admin, '', {}, 403],
      [ingest, '', {}, 403],
      [security, '', { 'Last-Event-ID': 'abc' }, 400],
      [security, '', { 'Last-Event-ID': '-1' }, 400],
      [security, '?from=1.5', {}, 400],
      [security, '?from=999999999', {}, 400],
      [security, '?colour=blue', {}, 400],
    ];
    for (const [p, query, headers, status] of refused) {
      const client = open(p, query, headers);
      await client.ready;
      await client.until((c) => c.ended);
      expect([query, headers, client.status]).toEqual([query, headers, status]);
      expect(client.headers['content-type']).toMatch(/application\/json/);
      expect(JSON.parse(client.text).error.code).toBe({ 401: 'unauthenticated', 403: 'forbidden', 400: 'invalid_input' }[status]);
    }
    const beyond = open(security, '?from=999999999');
    await beyond.ready;
    await beyond.until((c) => c.ended);
    expect(JSON.parse(beyond.text).error.details).toEqual([{ field: 'from', problem: expect.stringMatching(/^must be at most the last seq/) }]);
    expect(stats.connections).toBe(0);
  }, 120_000);

  it('streams each event as it is chained (its own opening first), sealed with seq and hash, with heartbeats; a disconnect leaves nothing behind', async () => {
    const client = open(security);
    await client.ready;
    opened++;
    expect(client.status).toBe(200);
    expect(client.headers['content-type']).toMatch(/^text\/event-stream/);
    expect(client.headers['cache-control']).toContain('no-cache');
    expect(client.headers['x-accel-buffering']).toBe('no');
    expect(client.headers['content-encoding']).toBeUndefined();
    await client.until((c) => c.events.length >= 1);
    expect(client.json<AuditEventView>()[0]).toMatchObject({ action: 'audit.stream', outcome: 'allowed', actor: { id: security.id } });

    await readCarol();
    await client.until((c) => c.json<AuditEventView>().some((e) => e.action === 'customer.read' && e.resource.id === carol));
    await client.until((c) => c.comments.includes('heartbeat'));
    const events = client.json<AuditEventView>();
    expect(client.events.map((f) => f.id)).toEqual(events.map((e) => String(e.seq)));
    expect(contiguous(seqsOf(events))).toBe(true);
    const stored = new Map((await allEvents()).map((e) => [e.seq, e]));
    for (const e of events) expect(e).toEqual(stored.get(e.seq));
    expect(stats.connections).toBe(1);
    expect((await vault.http().get('/metrics').expect(200)).text).toMatch(/^vault_audit_stream_connections 1$/m);
    texts.push(client.text);

    client.close();
    await waitFor(() => stats.connections === 0, 'the connection to be released');
    expect((await vault.http().get('/metrics').expect(200)).text).toMatch(/^vault_audit_stream_connections 0$/m);
  }, 120_000);

  it('resumes after Last-Event-ID (or ?from=) with no gap and no duplicate; ?from=0 is the whole log', async () => {
    const first = open(security, '?from=0');
    await first.ready;
    opened++;
    const top = await sealed();
    await first.until((c) => c.lastSeq() >= top, 120_000);
    const everything = first.json<AuditEventView>();
    expect(everything[0].seq).toBe(1);
    expect(contiguous(seqsOf(everything))).toBe(true);
    first.close();

    const k = top - 3;
    for (let i = 0; i < 3; i++) await readCarol();
    const newTop = await sealed();
    const byHeader = open(security, '?from=1', { 'Last-Event-ID': String(k) });
    const byQuery = open(security, `?from=${k}`);
    await Promise.all([byHeader.ready, byQuery.ready]);
    opened += 2;
    for (const client of [byHeader, byQuery]) {
      await client.until((c) => c.lastSeq() >= newTop, 120_000);
      const seqs = seqsOf(client.json<AuditEventView>());
      // Last-Event-ID wins over ?from=; the first event follows k, then every later one once.
      expect(seqs[0]).toBe(k + 1);
      expect(contiguous(seqs)).toBe(true);
      expect(new Set(seqs).size).toBe(seqs.length);
      const stored = new Map((await allEvents()).map((e) => [e.seq, e]));
      for (const e of client.json<AuditEventView>()) expect(e.hash).toBe(stored.get(e.seq)?.hash);
      texts.push(client.text);
      client.close();
    }
  }, 240_000);

  it('closes a consumer that falls more than the backlog cap behind with a resume position, from which it resumes without a gap', async () => {
    await waitFor(() => stats.connections === 0, 'earlier connections to be released');
    const sentBefore = stats.eventsSent;
    const slow = open(security, '', {}, { paused: true });
    await slow.ready;
    opened++;
    // Its own opening event was written to the socket: the connection is live.
    await waitFor(() => stats.eventsSent > sentBefore, 'the stream to go live');
    const closedBefore = stats.closedSlow;
    // ~40 MiB: far more than the socket buffers hold (some MiB on loopback), chained in one go.
    await vault.sql(
      `INSERT INTO audit_pending (${EVENT_COLUMNS.join(', ')})
       SELECT gen_random_uuid(), now(), 'bulk-' || i, '00000000-0000-4000-8000-0000000000b1', 'bulk-reader', 'service', '{support}',
         'customer.read', 'customer', gen_random_uuid()::text, 'service_support', repeat('r', 2000), '{fullName,email,phone}', '{address}', '{}',
         'allowed', 200, '10.0.0.9', NULL
       FROM generate_series(1, 15000) AS i`,
    );
    const top = await sealed();
    await waitFor(() => stats.closedSlow > closedBefore, 'the slow consumer to be closed', 120_000);
    expect(stats.connections).toBe(0);

    slow.resume();
    await slow.until((c) => c.ended, 120_000);
    const last = slow.frames.at(-1);
    expect(last?.event).toBe('resume');
    const resume = JSON.parse(last?.data ?? '{}') as { seq: number; reason: string };
    expect(resume.reason).toBe('backlog');
    const received = seqsOf(slow.json<AuditEventView>());
    expect(contiguous(received)).toBe(true);
    expect(received.at(-1)).toBe(resume.seq);
    expect(resume.seq).toBeLessThan(top);

    const again = open(security, '', { 'Last-Event-ID': String(resume.seq) });
    await again.ready;
    opened++;
    await again.until((c) => c.events.length >= 500);
    const next = seqsOf(again.json<AuditEventView>());
    expect(next[0]).toBe(resume.seq + 1);
    expect(contiguous(next)).toBe(true);
    again.close();
    await waitFor(() => stats.connections === 0, 'the connection to be released');
    expect((await vault.http().get('/v1/audit/verify').set('Authorization', security.authHeader).expect(200)).body.valid).toBe(true);
  }, 300_000);

  it('a stream served by another vault process carries the events this one chains; that process ends its streams with a resume position on SIGTERM', async () => {
    expect(vault.app.get(AuditSealer).isSealer).toBe(true);
    const dataDir = mkdtempSync(path.join(os.tmpdir(), 'cv-stream-b-'));
    const other = await VaultProcess.start({ ...cliEnv(vault), VAULT_DATA_DIR: dataDir, VAULT_AUDIT_STREAM_POLL_MS: '50' });
    try {
      await other.waitReady(60_000);
      const client = open(security, '', {}, {}, other.url);
      await client.ready;
      opened++;
      expect(client.status).toBe(200);
      await client.until((c) => c.events.length >= 1);
      await readCarol();
      const [{ seq: readSeq }] = await vault.sql<{ seq: string }>(`SELECT max(seq)::text AS seq FROM audit_events WHERE action = 'customer.read'`);
      await client.until((c) => c.lastSeq() >= Number(readSeq));
      expect(contiguous(seqsOf(client.json<AuditEventView>()))).toBe(true);

      expect(await other.stop('SIGTERM')).toBe(0);
      await client.until((c) => c.ended);
      const last = client.frames.at(-1);
      expect(last?.event).toBe('resume');
      expect(JSON.parse(last?.data ?? '{}')).toEqual({ seq: client.json<AuditEventView>().at(-1)?.seq, reason: 'shutdown' });
      texts.push(client.text, other.text());
    } finally {
      await other.stop();
      rmSync(dataDir, { recursive: true, force: true });
    }
  }, 240_000);

  it('CLI audit:tail prints NDJSON after --from, follows new events, stops cleanly on SIGTERM', async () => {
    const start = (await sealed()) - 5;
    const child = spawn(process.execPath, ['dist/src/cli/main.js', 'audit:tail', '--from', String(start)], {
      env: { PATH: process.env.PATH ?? '', NODE_ENV: 'test', ...cliEnv(vault) },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let stdout = '';
    let stderr = '';
    let partial = '';
    const tailed: AuditEventView[] = [];
    child.stdout.on('data', (chunk: Buffer) => {
      const text = chunk.toString('utf8');
      stdout += text;
      const parts = (partial + text).split('\n');
      partial = parts.pop() ?? '';
      for (const line of parts) tailed.push(JSON.parse(line) as AuditEventView);
    });
    child.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString('utf8')));
    const exited = new Promise<number | null>((resolve) => child.on('close', resolve));
    const lines = () => tailed;
    try {
      const top = await sealed();
      await waitFor(() => (lines().at(-1)?.seq ?? 0) >= top, 'the tail to reach the head', 120_000);
      await readCarol();
      const [{ seq: readSeq }] = await vault.sql<{ seq: string }>(`SELECT max(seq)::text AS seq FROM audit_events WHERE action = 'customer.read'`);
      await waitFor(() => (lines().at(-1)?.seq ?? 0) >= Number(readSeq), 'the new read to be tailed', 60_000);
      const seqs = seqsOf(lines());
      expect(seqs[0]).toBe(start + 1);
      expect(contiguous(seqs)).toBe(true);
      const stored = new Map((await allEvents()).map((e) => [e.seq, e]));
      for (const e of lines().slice(-20)) expect(e).toEqual(stored.get(e.seq));
    } finally {
      child.kill('SIGTERM');
    }
    expect(await exited).toBe(0);
    expect(stderr).not.toMatch(/error/i);
    texts.push(stdout.slice(-100_000), stderr);
    expect(partial).toBe('');
    const tails = (await allEvents()).filter((e) => e.action === 'audit.stream' && e.actor.id === null);
    expect(tails).toHaveLength(1);
    expect(tails[0].details).toMatchObject({ after: start, resumed: true });

    const bad = spawn(process.execPath, ['dist/src/cli/main.js', 'audit:tail', '--from', 'x'], { env: { PATH: process.env.PATH ?? '', NODE_ENV: 'test', ...cliEnv(vault) } });
    expect(await new Promise((resolve) => bad.on('close', resolve))).not.toBe(0);
  }, 240_000);

  it('opening a stream is audited once per stream; refusals too', async () => {
    const events = (await allEvents()).filter((e) => e.action === 'audit.stream' && e.actor.id !== null);
    expect(events.filter((e) => e.outcome === 'allowed')).toHaveLength(opened);
    expect(events.filter((e) => e.outcome === 'allowed').every((e) => e.actor.id === security.id && e.resource.type === 'audit')).toBe(true);
    expect(events.filter((e) => e.status === 403).map((e) => e.actor.id).sort()).toEqual([support, privacy, admin, ingest].map((p) => p.id).sort());
    expect(events.filter((e) => e.status === 400)).toHaveLength(6);
  }, 120_000);

  it('no test plaintext or token in any table, log line or streamed text', async () => {
    const tokens = [ingest, support, security, privacy, admin].map((p) => p.token);
    expect(await findLeaks(vault, [...NEEDLES, ...tokens], { streams: texts.join('\n') })).toEqual([]);
  }, 240_000);
});
