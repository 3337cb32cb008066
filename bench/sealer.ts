/**
 * The audit sealer's ceiling and the cost of each `audit_events` index (docs/BENCHMARKS.md, "The
 * sealer's ceiling" and "audit_events indexes").
 *
 *   npx tsc -p tsconfig.build.json && node dist/bench/sealer.js [--events 200000] [--seconds 10] [--producers 2]
 *
 * The sealer is the one sequencer every vault process shares: events of writes, and every event of a
 * process that does not hold the sealer lock, arrive in `audit_pending` and are chained by it in
 * order. Its ceiling is the rate at which it chains when pending events arrive faster than it seals:
 *  1. backlog: `--events` pending rows, filled server-side, sealed by `sealNow()` (nothing else running);
 *  2. arrival: `--producers` connections insert pending rows as fast as they can (64 per INSERT, the
 *     size of a group-commit batch at c=64) for `--seconds` while the sealer's own timer runs; arrivals,
 *     chained events and the backlog left are reported;
 *  3. the chaining process's own events (`record()` from 64 callers while this process seals: the
 *     direct path a single-worker vault's reads take);
 *  4. index variants: the backlog seal repeated with some `audit_events` indexes dropped, for their
 *     write cost (node + PostgreSQL CPU per event). Every index is recreated afterwards.
 * Uses DATABASE_URL (a scratch database) or an embedded PostgreSQL; every postgres process of the
 * machine is counted, so keep other databases idle.
 */
import { NestFactory } from '@nestjs/core';
import { availableParallelism, cpus, loadavg } from 'node:os';
import pg from 'pg';
import { AppModule } from '../src/app.module.js';
import { EVENT_COLUMNS, RECORDSET_TYPES, inputToRow } from '../src/audit/audit-event.js';
import { AuditLog } from '../src/audit/audit-log.js';
import { AuditSealer } from '../src/audit/audit-sealer.js';
import { MetricsService } from '../src/health/metrics.service.js';
import { CpuMeter } from './lib/procs.js';
import { readEvent, runBench, scratchRuntime } from './lib/scratch.js';
import { flag } from './lib/args.js';

const EVENTS = Number(flag('--events', '200000'));
const SECONDS = Number(flag('--seconds', '10'));
const PRODUCERS = Number(flag('--producers', '2'));
const fmt = (n: number): string => Math.round(n).toLocaleString('en-US');

/** Server-side fill of `count` pending rows shaped like customer reads (10% denied, 1% with details). */
const FILL = `INSERT INTO audit_pending (${EVENT_COLUMNS.join(', ')})
  SELECT gen_random_uuid(), now() - (i || ' ms')::interval, 'req-' || i, '2f0c8f5e-5b4c-4e55-9d1e-0a0b0c0d0e0f', 'support-desk', 'service',
    '{support}', 'customer.read', 'customer', gen_random_uuid()::text, 'service_support', 'TICKET-' || (i % 9999),
    '{fullName,email,phone}', '{address,nationalId,dateOfBirth}', '{}', CASE WHEN i % 10 = 0 THEN 'denied' ELSE 'allowed' END,
    CASE WHEN i % 10 = 0 THEN 403 ELSE 200 END, '10.0.0.7', CASE WHEN i % 100 = 0 THEN '{"count": 3, "kekVersion": 2}'::jsonb END
  FROM generate_series(1, $1) AS i`;
const INSERT_PENDING = `INSERT INTO audit_pending (${EVENT_COLUMNS.join(', ')}) SELECT ${EVENT_COLUMNS.join(', ')} FROM jsonb_to_recordset($1::jsonb) AS x(${RECORDSET_TYPES})`;

/** Index sets dropped for the variants (names from the migrations); the primary key stays. */
const VARIANTS: Array<{ label: string; drop: string[] }> = [
  { label: 'all indexes (as shipped)', drop: [] },
  { label: 'without action, purpose, outcome (seq)', drop: ['audit_events_action', 'audit_events_purpose', 'audit_events_outcome'] },
  { label: 'without at', drop: ['audit_events_at'] },
  { label: 'without customer_ids (GIN, searches)', drop: ['audit_events_customer_ids'] },
  { label: 'without impact (actor_id, at) INCLUDE', drop: ['audit_events_impact'] },
  { label: 'primary key and event_id only', drop: ['audit_events_resource', 'audit_events_actor', 'audit_events_action', 'audit_events_purpose', 'audit_events_outcome', 'audit_events_at', 'audit_events_customer_ids', 'audit_events_impact'] },
];

async function main(): Promise<void> {
  const scratch = await scratchRuntime('cv-bench-sealer-');
  const context = await NestFactory.createApplicationContext(AppModule.forRoot(scratch.runtime, new MetricsService()), { logger: false });
  const admin = new pg.Client({ connectionString: scratch.url });
  await admin.connect();
  const meter = new CpuMeter(process.pid);
  const chainLength = async (): Promise<number> => Number((await admin.query<{ n: string }>('SELECT count(*) AS n FROM audit_events')).rows[0].n);
  const pendingCount = async (): Promise<number> => Number((await admin.query<{ n: string }>('SELECT count(*) AS n FROM audit_pending')).rows[0].n);
  try {
    const [{ server_version: version }] = (await admin.query<{ server_version: string }>('SHOW server_version')).rows;
    console.log(`node ${process.version}, PostgreSQL ${version}, ${cpus()[0]?.model ?? 'CPU'}, ${availableParallelism()} CPUs, load ${loadavg()[0].toFixed(2)} at start; app and database on this machine\n`);
    const sealer = context.get(AuditSealer);
    const log = context.get(AuditLog);
    await sealer.sealNow();

    // Index definitions, to recreate what a variant drops.
    const indexes = new Map((await admin.query<{ indexname: string; indexdef: string }>(`SELECT indexname, indexdef FROM pg_indexes WHERE tablename = 'audit_events'`)).rows.map((r) => [r.indexname, r.indexdef]));
    console.log(`audit_events indexes: ${[...indexes.keys()].join(', ')}\n`);

    const sealBacklog = async (count: number): Promise<{ rate: number; nodeUs: number; pgUs: number }> => {
      await admin.query('CHECKPOINT').catch(() => undefined);
      const before = await chainLength();
      // One transaction: the sealer's timer sees the whole backlog at once, from its commit on, and the
      // meter counts the sealing, not the fill.
      await admin.query('BEGIN');
      await admin.query(FILL, [count]);
      meter.start();
      const t = process.hrtime.bigint();
      await admin.query('COMMIT');
      await sealer.sealNow();
      const seconds = Number(process.hrtime.bigint() - t) / 1e9;
      const cpu = meter.stop();
      const sealed = (await chainLength()) - before;
      if ((await pendingCount()) !== 0 || sealed !== count) throw new Error(`sealed ${sealed} of ${count}`);
      return { rate: sealed / seconds, nodeUs: (cpu.appMs * 1000) / sealed, pgUs: (cpu.pgMs * 1000) / sealed };
    };

    // 1. The backlog.
    const backlog = await sealBacklog(EVENTS);
    console.log('| sealer | events/s | node CPU µs/event | PostgreSQL CPU µs/event |\n|---|---:|---:|---:|');
    console.log(`| backlog of ${fmt(EVENTS)} pending, one sealer | ${fmt(backlog.rate)} | ${backlog.nodeUs.toFixed(1)} | ${backlog.pgUs.toFixed(1)} |`);

    // 2. Arrivals faster than sealing: producers on their own connections, the sealer on its timer.
    const producers = await Promise.all(Array.from({ length: PRODUCERS }, async () => {
      const c = new pg.Client({ connectionString: scratch.url });
      await c.connect();
      return c;
    }));
    const sealedBefore = sealer.stats.sealed;
    const pendingBefore = await pendingCount();
    let arrived = 0;
    const end = Date.now() + SECONDS * 1000;
    const t = process.hrtime.bigint();
    await Promise.all(producers.map(async (c) => {
      while (Date.now() < end) {
        // Fresh rows each time: every event has its own event id.
        await c.query(INSERT_PENDING, [JSON.stringify(Array.from({ length: 64 }, (_, i) => inputToRow(readEvent(arrived + i))))]);
        arrived += 64;
      }
    }));
    const seconds = Number(process.hrtime.bigint() - t) / 1e9;
    const chained = sealer.stats.sealed - sealedBefore;
    const left = (await pendingCount()) - pendingBefore;
    await Promise.all(producers.map((c) => c.end()));
    console.log(`| arrivals from ${PRODUCERS} connections (64 per INSERT) for ${SECONDS} s: ${fmt(arrived / seconds)} events/s arriving, backlog left ${fmt(left)} | ${fmt(chained / seconds)} | | |`);
    await sealer.sealNow();

    // 3. The sealing process's own events, chained straight from its group commit.
    let n = 0;
    const ownEnd = Date.now() + SECONDS * 1000;
    meter.start();
    const appendedBefore = sealer.stats.appended;
    const t3 = process.hrtime.bigint();
    await Promise.all(Array.from({ length: 64 }, async () => {
      while (Date.now() < ownEnd) await log.record(readEvent(n++));
    }));
    const s3 = Number(process.hrtime.bigint() - t3) / 1e9;
    const cpu3 = meter.stop();
    const appended = sealer.stats.appended - appendedBefore;
    console.log(`| own events, record() from 64 callers in the sealing process (${fmt(appended)} appended directly) | ${fmt(n / s3)} | ${((cpu3.appMs * 1000) / n).toFixed(1)} | ${((cpu3.pgMs * 1000) / n).toFixed(1)} |`);

    // 4. Index variants (smaller backlog each; every variant from the same table size).
    const variantEvents = Math.min(EVENTS, 100_000);
    console.log(`\nSealing ${fmt(variantEvents)} pending events per variant, table already holding the events above\n`);
    console.log('| audit_events indexes | events/s | node CPU µs/event | PostgreSQL CPU µs/event |\n|---|---:|---:|---:|');
    for (const variant of VARIANTS) {
      const present = variant.drop.filter((name) => indexes.has(name));
      for (const name of present) await admin.query(`DROP INDEX ${name}`);
      try {
        const r = await sealBacklog(variantEvents);
        console.log(`| ${variant.label} | ${fmt(r.rate)} | ${r.nodeUs.toFixed(1)} | ${r.pgUs.toFixed(1)} |`);
      } finally {
        for (const name of present) await admin.query(indexes.get(name) ?? '');
      }
    }
  } finally {
    await admin.end();
    await context.close();
    await scratch.close();
  }
}

runBench(main);
