import { afterEach, describe, expect, it } from '@jest/globals';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { pathToFileURL } from 'node:url';
import { canonicalEvent, canonicalJson, chainHash, rowToEvent, EVENT_SELECT, type AuditEventView, type EventRow } from '../../src/audit/audit-event.js';
import { AuditQueryService } from '../../src/audit/audit-query.service.js';
import { AuditLog } from '../../src/audit/audit-log.js';
import { AuditSealer } from '../../src/audit/audit-sealer.js';
import { AuditVerifier, type VerifyReport } from '../../src/audit/audit-verifier.js';
import { PgAuditLog } from '../../src/audit/pg-audit-log.js';
import { VaultError } from '../../src/common/vault-error.js';
import { createTestDatabase, startTestApp, type TestApp } from '../helpers/test-app.js';
import { lastLine } from '../helpers/vault-process.js';
import { breakAuditInserts, cliEnv, rehashFrom, runCli, sampleEvent, tamper } from './helpers.js';

const open: TestApp[] = [];
afterEach(async () => {
  await Promise.all(open.splice(0).map((vault) => vault.close()));
});

async function start(options: Parameters<typeof startTestApp>[0] = {}): Promise<TestApp> {
  const vault = await startTestApp({ ...options, env: { VAULT_AUDIT_CHECKPOINT_EVERY: '5', ...options.env } });
  open.push(vault);
  return vault;
}

/** 20 sealed events, sealed in rounds of 5 so that checkpoints sit at seq 5, 10, 15 and 20. */
async function chainOf20(): Promise<TestApp> {
  // No sealing tick (sealNow drives it): the first checkpoint comes with the first sealed batch.
  const vault = await start({ env: { VAULT_AUDIT_SEAL_INTERVAL_MS: '10000' } });
  const log = vault.app.get(AuditLog);
  const sealer = vault.app.get(AuditSealer);
  await sealer.sealNow();
  for (let round = 0; round < 4; round++) {
    await Promise.all(Array.from({ length: 5 }, () => log.record(sampleEvent())));
    await sealer.sealNow();
  }
  const [{ n }] = await vault.sql<{ n: number }>('SELECT count(*)::int AS n FROM audit_events');
  expect(n).toBe(20);
  const checkpoints = await vault.sql<{ seq: string }>('SELECT seq FROM audit_checkpoints ORDER BY seq');
  expect(checkpoints.map((c) => Number(c.seq))).toEqual([5, 10, 15, 20]);
  return vault;
}

async function collect(chunks: AsyncIterable<string>): Promise<string[]> {
  let text = '';
  for await (const chunk of chunks) text += chunk;
  return text.split('\n').filter((l) => l.length > 0);
}

/** As the API and the CLI do: seal what is pending (the first checkpoint with it), then verify. */
async function verify(vault: TestApp): Promise<VerifyReport> {
  await vault.app.get(AuditSealer).sealNow();
  return vault.app.get(AuditVerifier).verify();
}

describe('audit chain (real PostgreSQL)', () => {
  it('an intact log verifies: gapless seq, hashes, signed checkpoints in the database and the file', async () => {
    const vault = await chainOf20();
    const report = await verify(vault);
    expect(report).toMatchObject({ valid: true, checked: 20, head: { seq: 20 }, checkpoints: { database: 4, file: 4 } });
    expect(report.lastCheckpoint?.seq).toBe(20);
    expect(report.head.hash).toBe(report.lastCheckpoint?.hash);
    const lines = readFileSync(vault.runtime.config.auditCheckpointFile, 'utf8').trim().split('\n');
    expect(lines.map((l) => (JSON.parse(l) as { seq: number }).seq)).toEqual([5, 10, 15, 20]);
  });

  it('the canonical form is the documented one (JCS) for awkward strings too, chained directly or through audit_pending: export lines re-hash to their stored hashes', async () => {
    const vault = await start();
    const awkward = 'quote " backslash \\ newline \n tab \t ctl \u0001 del \u007f é 中 😀 ls \u2028 nul \u0000 end';
    const event = sampleEvent({
      actor: { id: null, name: awkward, kind: 'anonymous', roles: ['b', 'a', awkward] },
      reason: awkward,
      clientIp: null,
      purpose: null,
      fields: { revealed: [], masked: [awkward], written: ['x'] },
      details: { zeta: 1.5, alpha: awkward, big: 1e21, tiny: 5e-324, frac: 0.1 + 0.2, neg: -3, negZero: -0, yes: true, none: null },
    });
    const sealer = vault.app.get(AuditSealer);
    await sealer.sealNow();
    expect(sealer.isSealer).toBe(true);
    // The sealing process chains record()'s batch itself, hashed before the insert...
    await vault.app.get(AuditLog).record(event);
    expect(sealer.stats.appended).toBe(1);
    // ...and events written inside a transaction are hashed from what PostgreSQL gives back.
    await vault.runtime.database.dataSource.transaction((m) => vault.app.get(AuditLog).recordInTransaction(m, event));
    await sealer.sealNow();
    expect(sealer.stats.sealed).toBe(1);
    expect(await verify(vault)).toMatchObject({ valid: true, checked: 2 });
    const lines = await collect(vault.app.get(AuditQueryService).export({}, 'ndjson'));
    expect(lines).toHaveLength(2);
    for (const line of lines) {
      const view = JSON.parse(line) as AuditEventView;
      expect(view.reason).toBe(awkward.replace('\u0000', '\uFFFD'));
      const { seq, prevHash, hash, ...rest } = view;
      const canonical = canonicalJson({ ...rest, seq, v: 1 });
      expect(canonical).toBe(canonicalEvent(seq, { ...rest, at: new Date(rest.at) }));
      expect(chainHash(Buffer.from(prevHash, 'hex'), canonical).toString('hex')).toBe(hash);
    }
  });

  it('a direct append chains what is pending first: seq order is the order events were committed', async () => {
    // No sealing tick during the test: only the appends move pending events.
    const vault = await start({ env: { VAULT_AUDIT_SEAL_INTERVAL_MS: '10000', VAULT_AUDIT_CHECKPOINT_EVERY: '1000' } });
    const log = vault.app.get(AuditLog);
    const sealer = vault.app.get(AuditSealer);
    await sealer.sealNow();
    const dataSource = vault.runtime.database.dataSource;
    const order: string[] = [];
    for (let i = 0; i < 3; i++) {
      // a write's event (pending), then reads (direct): the first finds the pending event, the
      // second looks and finds none, the third appends in one statement without looking
      await dataSource.transaction((m) => log.recordInTransaction(m, sampleEvent({ requestId: `write-${i}`, action: 'customer.create' })));
      for (const read of [`read-after-write-${i}`, `read-alone-${i}`, `read-fast-${i}`]) {
        await log.record(sampleEvent({ requestId: read }));
        order.push(read);
      }
      order.splice(order.length - 3, 0, `write-${i}`);
    }
    expect(sealer.stats).toMatchObject({ sealed: 3, appended: 9 });
    expect(await vault.sql('SELECT 1 FROM audit_pending')).toEqual([]);
    const chained = await vault.sql<{ request_id: string }>('SELECT request_id FROM audit_events ORDER BY seq');
    expect(chained.map((r) => r.request_id).filter((id) => /^(write|read)-/.test(id))).toEqual(order);
    expect(await verify(vault)).toMatchObject({ valid: true });
  });


  it('the sealer vacuums audit_pending after moving a backlog, so "is anything pending?" does not scan dead rows on every append', async () => {
    const vault = await start({ env: { VAULT_AUDIT_SEAL_INTERVAL_MS: '10000', VAULT_AUDIT_CHECKPOINT_EVERY: '100000' } });
    const sealer = vault.app.get(AuditSealer);
    await sealer.sealNow();
    const dataSource = vault.runtime.database.dataSource;
    // 5,000 pending events committed at once (writes' events, or other processes'), then sealed.
    const events = Array.from({ length: 5_000 }, (_, i) => sampleEvent({ requestId: `backlog-${i}`, action: 'customer.create' }));
    const log = vault.app.get(AuditLog);
    await dataSource.transaction(async (m) => {
      for (const event of events) await log.recordInTransaction(m, event);
    });
    const pages = async (): Promise<number> => (await vault.sql<{ pages: number }>(`SELECT (pg_relation_size('audit_pending') / current_setting('block_size')::int)::int AS pages`))[0].pages;
    expect(await pages()).toBeGreaterThan(50);
    await sealer.sealNow();
    expect(sealer.stats.sealed).toBeGreaterThanOrEqual(5_000);
    expect(sealer.stats.vacuums).toBe(1);
    // The dead rows are gone: VACUUM truncated the now-empty table (autovacuum would take a minute or more).
    expect(await pages()).toBe(0);
    await sealer.sealNow();
    expect(sealer.stats.vacuums).toBe(1); // nothing moved since: no second vacuum
    expect(await verify(vault)).toMatchObject({ valid: true });
  });
  it('the append-only trigger refuses UPDATE, DELETE and TRUNCATE on every audit table', async () => {
    const vault = await chainOf20();
    for (const table of ['audit_events', 'audit_checkpoints', 'audit_signing_keys']) {
      const column = table === 'audit_signing_keys' ? 'created_at = now()' : 'seq = seq';
      await expect(vault.sql(`UPDATE ${table} SET ${column}`)).rejects.toThrow(/append-only: UPDATE refused/);
      await expect(vault.sql(`DELETE FROM ${table}`)).rejects.toThrow(/append-only: DELETE refused/);
      await expect(vault.sql(`TRUNCATE ${table}`)).rejects.toThrow(/append-only: TRUNCATE refused/);
    }
    expect((await verify(vault)).valid).toBe(true);
  });

  describe('tampering as a superuser (triggers off) is caught at its exact seq', () => {
    it('a modified event (any column, e.g. one a filter relies on)', async () => {
      const vault = await chainOf20();
      await tamper(vault, `UPDATE audit_events SET purpose = 'marketing' WHERE seq = 7`);
      const report = await verify(vault);
      expect(report).toMatchObject({ valid: false, firstInvalidSeq: 7, checked: 6 });
      expect(report).toMatchObject({ problem: 'event_hash_mismatch', message: expect.stringMatching(/seq 7: hash does not match/) });
      // The CLI says the same: exit 1, the first bad seq on stderr, the report as the last line.
      const cli = await runCli(['audit:verify'], cliEnv(vault));
      expect(cli.status).toBe(1);
      expect(cli.stderr).toContain('first invalid seq 7');
      expect(JSON.parse(lastLine(cli.stdout))).toMatchObject({ valid: false, firstInvalidSeq: 7 });

      // e.g. a resource id changed to hide a read from a customer's access report
      const other = await chainOf20();
      await tamper(other, `UPDATE audit_events SET resource_id = 'someone-else' WHERE seq = 9`);
      expect(await verify(other)).toMatchObject({ valid: false, firstInvalidSeq: 9 });
    }, 90_000);

    it('a deleted event', async () => {
      const vault = await chainOf20();
      await tamper(vault, 'DELETE FROM audit_events WHERE seq = 7');
      expect(await verify(vault)).toMatchObject({ valid: false, firstInvalidSeq: 7 });
    });

    it('an inserted event (later ones renumbered)', async () => {
      const vault = await chainOf20();
      await tamper(
        vault,
        `UPDATE audit_events SET seq = seq + 1000 WHERE seq >= 7;
         UPDATE audit_events SET seq = seq - 999 WHERE seq > 1000;
         INSERT INTO audit_events SELECT 7, gen_random_uuid(), at, request_id, actor_id, actor_name, actor_kind, actor_roles,
           'customer.read', resource_type, resource_id, purpose, reason, fields_revealed, fields_masked, fields_written,
           outcome, status, client_ip, details, prev_hash, hash FROM audit_events WHERE seq = 8`,
      );
      expect(await verify(vault)).toMatchObject({ valid: false, firstInvalidSeq: 7 });
    });

    it('an inserted event whose hash the attacker recomputed: the next event no longer links', async () => {
      const vault = await chainOf20();
      const [prev] = await vault.sql<{ hash: Buffer }>('SELECT hash FROM audit_events WHERE seq = 6');
      const [row] = await vault.sql<EventRow>(`SELECT ${EVENT_SELECT} FROM audit_events WHERE seq = 3`);
      const forged = rowToEvent({ ...row, event_id: '11111111-1111-4111-8111-111111111111' });
      const body = canonicalEvent(7, forged);
      const hash = chainHash(prev.hash, body);
      await tamper(
        vault,
        `UPDATE audit_events SET seq = seq + 1000 WHERE seq >= 7;
         UPDATE audit_events SET seq = seq - 999 WHERE seq > 1000;
         INSERT INTO audit_events SELECT 7, '${forged.id}', at, request_id, actor_id, actor_name, actor_kind, actor_roles,
           action, resource_type, resource_id, purpose, reason, fields_revealed, fields_masked, fields_written,
           outcome, status, client_ip, details, '\\x${prev.hash.toString('hex')}', '\\x${hash.toString('hex')}' FROM audit_events WHERE seq = 3`,
      );
      expect(await verify(vault)).toMatchObject({ valid: false, firstInvalidSeq: 8 });
    });

    it('two swapped events', async () => {
      const vault = await chainOf20();
      await tamper(
        vault,
        `UPDATE audit_events SET seq = 1007 WHERE seq = 7;
         UPDATE audit_events SET seq = 7 WHERE seq = 8;
         UPDATE audit_events SET seq = 8 WHERE seq = 1007`,
      );
      expect(await verify(vault)).toMatchObject({ valid: false, firstInvalidSeq: 7 });
    });

    it('a truncated tail (events and their checkpoints gone): the checkpoint file still names seq 20; nothing after the checkpoint at 10 is vouched for', async () => {
      const vault = await chainOf20();
      await tamper(vault, 'DELETE FROM audit_events WHERE seq > 12; DELETE FROM audit_checkpoints WHERE seq > 12');
      const report = await verify(vault);
      expect(report).toMatchObject({ valid: false, firstInvalidSeq: 11, checked: 12, head: { seq: 12 }, problem: 'log_truncated' });
    });

    it('a forged checkpoint (altered hash, or a new one with a made-up signature)', async () => {
      const vault = await chainOf20();
      await tamper(vault, `UPDATE audit_checkpoints SET hash = (SELECT hash FROM audit_events WHERE seq = 9) WHERE seq = 10`);
      const altered = await verify(vault);
      expect(altered).toMatchObject({ valid: false, firstInvalidSeq: 10 });
      expect(altered).toMatchObject({ problem: 'checkpoint_signature_invalid', message: expect.stringMatching(/checkpoint at seq 10 has an invalid signature/) });

      const other = await chainOf20();
      await tamper(
        other,
        `INSERT INTO audit_checkpoints SELECT 12, hash, now(), (SELECT key_id FROM audit_checkpoints LIMIT 1), '\\x${'ab'.repeat(64)}',
           (SELECT signature FROM audit_checkpoints WHERE seq = 10) FROM audit_events WHERE seq = 12`,
      );
      expect(await verify(other)).toMatchObject({ valid: false, firstInvalidSeq: 12 });
    });

    it('a consistently rewritten chain (every later hash recomputed) fails at the first checkpoint after the edit', async () => {
      const vault = await chainOf20();
      await tamper(vault, `UPDATE audit_events SET purpose = 'marketing' WHERE seq = 7`);
      await rehashFrom(vault, 7);
      const report = await verify(vault);
      // The checkpoint at 5 still matches, the one at 10 does not: seq 6 onward cannot be trusted.
      expect(report).toMatchObject({ valid: false, firstInvalidSeq: 6 });
      expect(report.lastCheckpoint?.seq).toBe(5);
    });
  });

  it('verification split over worker threads (the compiled build) finds the same first bad seq, across range boundaries', async () => {
    const workerScript = pathToFileURL(path.resolve('dist/src/audit/chain-check.worker.js'));
    const parallel = { workers: 3, minEventsForWorkers: 0, workerScript };
    const vault = await chainOf20();
    expect(await vault.app.get(AuditVerifier).verify(parallel)).toMatchObject({ valid: true, checked: 20, lastCheckpoint: { seq: 20 } });
    // ranges 1-7, 8-14, 15-: the first event of the second range goes
    await tamper(vault, 'DELETE FROM audit_events WHERE seq = 8');
    expect(await vault.app.get(AuditVerifier).verify(parallel)).toMatchObject({ valid: false, firstInvalidSeq: 8, checked: 7 });
    const other = await chainOf20();
    await tamper(other, `UPDATE audit_events SET reason = 'edited' WHERE seq = 15`);
    expect(await other.app.get(AuditVerifier).verify(parallel)).toMatchObject({ valid: false, firstInvalidSeq: 15, checked: 14 });
  });

  it('checkpoints also come every auditCheckpointIntervalMs when fewer events arrive', async () => {
    const vault = await start({ env: { VAULT_AUDIT_CHECKPOINT_EVERY: '1000', VAULT_AUDIT_CHECKPOINT_INTERVAL_MS: '100' } });
    const log = vault.app.get(AuditLog);
    await log.record(sampleEvent());
    await log.record(sampleEvent());
    const deadline = Date.now() + 3_000;
    let seqs: number[] = [];
    while (Date.now() < deadline) {
      seqs = (await vault.sql<{ seq: string }>('SELECT seq FROM audit_checkpoints')).map((r) => Number(r.seq));
      if (seqs.includes(2)) break;
      await new Promise((resolve) => setTimeout(resolve, 25));
    }
    expect(seqs).toContain(2);
    expect((await verify(vault)).valid).toBe(true);
  });

  describe('fail closed', () => {
    it('record rejects every caller of a batch that could not be written, with audit_unavailable; nothing half-written', async () => {
      const vault = await start();
      const log = vault.app.get(AuditLog);
      await breakAuditInserts(vault, true);
      const results = await Promise.allSettled(Array.from({ length: 20 }, () => log.record(sampleEvent())));
      for (const result of results) {
        expect(result.status).toBe('rejected');
        const reason = (result as PromiseRejectedResult).reason as VaultError;
        expect(reason).toBeInstanceOf(VaultError);
        expect(reason.code).toBe('audit_unavailable');
      }
      expect(vault.app.get(PgAuditLog).stats.failedBatches).toBeGreaterThan(0);
      await breakAuditInserts(vault, false);
      await log.record(sampleEvent());
      await vault.app.get(AuditSealer).sealNow();
      expect(await verify(vault)).toMatchObject({ valid: true, checked: 1 });
    });

    it('recordInTransaction throws audit_unavailable and the caller\'s write rolls back with it', async () => {
      const vault = await start();
      const log = vault.app.get(AuditLog);
      const dataSource = vault.runtime.database.dataSource;
      await dataSource.query('CREATE TABLE test_writes (id int)');
      await breakAuditInserts(vault, true);
      await expect(
        dataSource.transaction(async (manager) => {
          await manager.query('INSERT INTO test_writes VALUES (1)');
          await log.recordInTransaction(manager, sampleEvent({ action: 'customer.create' }));
        }),
      ).rejects.toMatchObject({ code: 'audit_unavailable' });
      expect(await vault.sql('SELECT * FROM test_writes')).toHaveLength(0);
      await breakAuditInserts(vault, false);
      await dataSource.transaction(async (manager) => {
        await manager.query('INSERT INTO test_writes VALUES (2)');
        await log.recordInTransaction(manager, sampleEvent({ action: 'customer.create' }));
      });
      expect(await vault.sql('SELECT * FROM test_writes')).toHaveLength(1);
      expect(await vault.sql('SELECT 1 FROM audit_pending UNION ALL SELECT 1 FROM audit_events')).toHaveLength(1);
    });
  });

  it('two processes writing at once (group commit and in-transaction) leave one valid, gapless chain; the sealer moves on when its holder stops', async () => {
    const databaseUrl = await createTestDatabase();
    const rootKey = randomBytes(32);
    // One checkpoint file for both (as on one host, or shared storage): it must hold every checkpoint.
    const shared = mkdtempSync(path.join(os.tmpdir(), 'cv-shared-'));
    const env = { VAULT_AUDIT_SEAL_INTERVAL_MS: '5', VAULT_AUDIT_CHECKPOINT_EVERY: '100', VAULT_AUDIT_CHECKPOINT_FILE: path.join(shared, 'audit-checkpoints.ndjson') };
    const [a, b] = await Promise.all([start({ databaseUrl, rootKey, env }), start({ databaseUrl, rootKey, env })]);
    const [{ n: before }] = await a.sql<{ n: number }>('SELECT (SELECT count(*) FROM audit_pending) + (SELECT count(*) FROM audit_events) AS n');
    const write = async (vault: TestApp): Promise<number> => {
      const log = vault.app.get(AuditLog);
      const dataSource = vault.runtime.database.dataSource;
      let written = 0;
      for (let round = 0; round < 5; round++) {
        await Promise.all([
          ...Array.from({ length: 150 }, () => log.record(sampleEvent())),
          ...Array.from({ length: 10 }, () => dataSource.transaction((m) => log.recordInTransaction(m, sampleEvent({ action: 'customer.create' })))),
        ]);
        written += 160;
      }
      return written;
    };
    const [wa, wb] = await Promise.all([write(a), write(b)]);
    await Promise.all([a.app.get(AuditSealer).sealNow(), b.app.get(AuditSealer).sealNow()]);
    const total = Number(before) + wa + wb;
    const report = await verify(a);
    expect(report).toMatchObject({ valid: true, checked: total, head: { seq: total } });
    expect(await a.sql('SELECT 1 FROM audit_pending')).toHaveLength(0);
    // Group commit did batch: fewer INSERTs than events.
    const stats = a.app.get(PgAuditLog).stats;
    expect(stats.batches).toBeLessThan(stats.events);
    // Both paths were taken: the sealing process chained its own batches directly, and moved the
    // other process's (and every in-transaction) event from audit_pending.
    const sealing = [a, b].find((v) => v.app.get(AuditSealer).isSealer)?.app.get(AuditSealer);
    expect(sealing?.stats.appended).toBeGreaterThan(0);
    expect(sealing?.stats.sealed).toBeGreaterThan(0);
    expect((sealing?.stats.appended ?? 0) + (sealing?.stats.sealed ?? 0)).toBeGreaterThanOrEqual(wa + wb);

    // Exactly one of them sealed; stop it, and the other takes over.
    const sealers = [a, b].filter((v) => v.app.get(AuditSealer).isSealer);
    expect(sealers).toHaveLength(1);
    const survivor = sealers[0] === a ? b : a;
    await sealers[0].close();
    open.splice(open.indexOf(sealers[0]), 1);
    await survivor.app.get(AuditLog).record(sampleEvent());
    await survivor.app.get(AuditSealer).sealNow();
    expect(survivor.app.get(AuditSealer).isSealer).toBe(true);
    expect(await verify(survivor)).toMatchObject({ valid: true, checked: total + 1 });
    rmSync(shared, { recursive: true, force: true });
  });
});
