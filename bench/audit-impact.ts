/**
 * Breach impact benchmark (docs/BENCHMARKS.md, "Breach impact"): the time of GET /v1/audit/impact's
 * work (AuditImpactService: actor lookup, cursor over the partial index, JSON to a sink) on a log of
 * N events, and the write cost the index `audit_events_impact` adds to the audit path.
 *
 *   npx tsc -p tsconfig.build.json && node dist/bench/audit-impact.js [--events 1000000] [--heavy 0.3] [--concurrency 64] [--seconds 5]
 *
 * The log is filled server-side straight into audit_events (the report reads no hash, so the
 * chain is not recomputed): `--heavy` of the events by one actor reading distinct customers in a
 * 3-day window (a stolen token scraping), the rest by 200 other actors over 30 days, 10% denied,
 * some writes. Uses DATABASE_URL (a scratch database: it is filled; a rerun with the same
 * VAULT_ROOT_KEY tops it up only) or an embedded PostgreSQL.
 */
import { NestFactory } from '@nestjs/core';
import { availableParallelism, cpus, loadavg } from 'node:os';
import pg from 'pg';
import { AppModule } from '../src/app.module.js';
import { AuditImpactService, type ImpactRequest } from '../src/audit/audit-impact.service.js';
import { AuditLog } from '../src/audit/audit-log.js';
import { PgAuditLog } from '../src/audit/pg-audit-log.js';
import { EVENT_COLUMNS } from '../src/audit/audit-event.js';
import { MetricsService } from '../src/health/metrics.service.js';
import { readEvent, runBench, scratchRuntime } from './lib/scratch.js';
import { flag } from './lib/args.js';

const EVENTS = Number(flag('--events', '1000000'));
const HEAVY = Number(flag('--heavy', '0.3'));
const CONCURRENCY = Number(flag('--concurrency', '64'));
const SECONDS = Number(flag('--seconds', '5'));
const fmt = (n: number): string => Math.round(n).toLocaleString('en-US');

const HEAVY_ACTOR = '0000000a-0000-4000-8000-000000000001';
/** Actor i of the 200 others. */
const actor = (i: number): string => `0000000b-0000-4000-8000-${String(i).padStart(12, '0')}`;
const DAY = 86_400_000;
/** The index of migration 1764200800000 (non-concurrent: nothing else writes the bench database). */
const CREATE_INDEX = `CREATE INDEX audit_events_impact ON audit_events (actor_id, at) INCLUDE (resource_id, fields_revealed, fields_masked)
  WHERE outcome = 'allowed' AND resource_type = 'customer' AND resource_id IS NOT NULL AND cardinality(fields_revealed) + cardinality(fields_masked) > 0`;
/** Writers of the write-cost runs, apart from the filled actors. */
const WRITER = (i: number): string => `0000000c-0000-4000-8000-${String(i % 200).padStart(12, '0')}`;

async function recordRate(log: AuditLog, seconds: number): Promise<number> {
  const end = Date.now() + seconds * 1000;
  let n = 0;
  const start = process.hrtime.bigint();
  await Promise.all(Array.from({ length: CONCURRENCY }, async () => {
    while (Date.now() < end) await log.record(readEvent(n, WRITER(n++)));
  }));
  return n / (Number(process.hrtime.bigint() - start) / 1e9);
}

async function main(): Promise<void> {
  const scratch = await scratchRuntime('cv-bench-impact-');
  const { runtime, url } = scratch;
  const admin = new pg.Client({ connectionString: url });
  await admin.connect();
  let context: Awaited<ReturnType<typeof NestFactory.createApplicationContext>> | undefined;
  try {
    const [{ server_version: version }] = (await admin.query<{ server_version: string }>('SHOW server_version')).rows;
    console.log(`node ${process.version}, PostgreSQL ${version}, ${cpus()[0]?.model ?? 'CPU'}, ${availableParallelism()} CPUs; app and database on this machine; load average at start ${loadavg().map((l) => l.toFixed(1)).join(' ')}\n`);

    // 1. Fill: seq after the current head; `heavy` events by one actor, in the last 3 days.
    // A database filled by an earlier run is topped up only (the times are then those of that run's
    // window: pass a fresh database for the figures of docs/BENCHMARKS.md).
    const [{ head, have, filledAt }] = (await admin.query<{ head: string; have: string; filledAt: Date | null }>(
      `SELECT coalesce(max(seq), 0)::text AS head, count(*)::text AS have, (SELECT max(at) FROM audit_events WHERE actor_id = '${HEAVY_ACTOR}') AS "filledAt" FROM audit_events`,
    )).rows;
    // The windows are relative to the first fill (a rerun on the same database measures the same ones).
    const now = filledAt === null ? Date.now() : filledAt.getTime() + 1;
    const missing = Math.max(0, EVENTS - Number(have));
    let t = process.hrtime.bigint();
    for (let done = 0; done < missing; done += 100_000) {
      const count = Math.min(100_000, missing - done);
      await admin.query(
        `INSERT INTO audit_events (seq, ${EVENT_COLUMNS.join(', ')}, prev_hash, hash)
         SELECT $1::int8 + i, gen_random_uuid(),
           CASE WHEN i % $5 = 0 THEN to_timestamp(($3::int8 - 3::int8 * ${DAY} + (i * 7919) % (3::int8 * ${DAY})) / 1000.0)
                ELSE to_timestamp(($3::int8 - 30::int8 * ${DAY} + (i::int8 * 104729) % (30::int8 * ${DAY})) / 1000.0) END,
           'req-' || i,
           CASE WHEN i % $5 = 0 THEN '${HEAVY_ACTOR}' ELSE '0000000b-0000-4000-8000-' || lpad((i % 200)::text, 12, '0') END,
           'bench', 'service', '{billing}',
           CASE WHEN i % 50 = 1 THEN 'customer.correct' ELSE 'customer.read' END, 'customer', gen_random_uuid()::text, 'payment_confirmation', NULL,
           CASE WHEN i % 50 = 1 THEN '{}' ELSE '{fullName,email,cardNumber,cardExpiry}' END::text[],
           CASE WHEN i % 50 = 1 THEN '{}' ELSE '{phone,address}' END::text[],
           CASE WHEN i % 50 = 1 THEN '{email}' ELSE '{}' END::text[],
           CASE WHEN i % 10 = 3 THEN 'denied' ELSE 'allowed' END, CASE WHEN i % 10 = 3 THEN 403 ELSE 200 END, '10.0.0.7', NULL,
           '\\x00'::bytea, '\\x00'::bytea
         FROM generate_series($2::int8 + 1, $2::int8 + $4) AS i`,
        [Number(head), done, now, count, Math.max(1, Math.round(1 / Math.max(HEAVY, 1e-9)))],
      );
    }
    const fillSeconds = Number(process.hrtime.bigint() - t) / 1e9;
    await admin.query('VACUUM ANALYZE audit_events');
    const [{ n: total }] = (await admin.query<{ n: string }>('SELECT count(*)::text AS n FROM audit_events')).rows;
    const size = async (name: string): Promise<string> => (await admin.query<{ s: string }>('SELECT pg_size_pretty(pg_relation_size($1)) AS s', [name])).rows[0].s;
    console.log(`${fmt(Number(total))} events in audit_events (filled in ${fillSeconds.toFixed(1)} s); table ${await size('audit_events')}, index audit_events_impact ${await size('audit_events_impact')}\n`);

    // Started after the fill: the sealer caches the chain head it reads at start.
    context = await NestFactory.createApplicationContext(AppModule.forRoot(runtime, new MetricsService()), { logger: false });

    // 2. Reports, 3 runs each, the JSON streamed into a sink (what the HTTP route does).
    const impact = context.get(AuditImpactService);
    const cases: [string, ImpactRequest][] = [
      ['heavy actor, its 3-day window', { actorId: HEAVY_ACTOR, from: new Date(now - 3 * DAY), to: new Date(now + 1) }],
      ['heavy actor, 1 hour', { actorId: HEAVY_ACTOR, from: new Date(now - 2 * DAY), to: new Date(now - 2 * DAY + 3_600_000) }],
      ['one of 200 ordinary actors, 30 days', { actorId: actor(7), from: new Date(now - 30 * DAY), to: new Date(now + 1) }],
      ['one of 200 ordinary actors, 3 days', { actorId: actor(7), from: new Date(now - 3 * DAY), to: new Date(now + 1) }],
    ];
    console.log('| report (JSON, streamed to a sink) | customers | time, median of 3 (min–max) | bytes |');
    console.log('|---|---:|---:|---:|');
    for (const [name, request] of cases) {
      const times: number[] = [];
      let bytes = 0;
      let customers = 0;
      for (let run = 0; run < 3; run++) {
        t = process.hrtime.bigint();
        bytes = 0;
        let last = '';
        for await (const chunk of await impact.prepare(request, 'json')) {
          bytes += chunk.length;
          last = chunk;
        }
        times.push(Number(process.hrtime.bigint() - t) / 1e6);
        customers = Number(/"customers":(\d+)/.exec(last)?.[1] ?? -1);
      }
      times.sort((a, b) => a - b);
      console.log(`| ${name} | ${fmt(customers)} | ${fmt(times[1])} ms (${fmt(times[0])}–${fmt(times[2])}) | ${(bytes / 2 ** 20).toFixed(1)} MiB |`);
    }
    const plan = await admin.query<{ 'QUERY PLAN': string }>(
      `EXPLAIN SELECT resource_id FROM audit_events WHERE actor_id = $1 AND at >= $2 AND at < $3
         AND outcome = 'allowed' AND resource_type = 'customer' AND resource_id IS NOT NULL AND cardinality(fields_revealed) + cardinality(fields_masked) > 0`,
      [actor(7), new Date(now - 3 * DAY), new Date(now)],
    );
    console.log(`\nplan (one actor, 3 days): ${plan.rows.map((r) => r['QUERY PLAN'].trim()).join(' / ')}\n`);

    // 3. Write cost: group-commit record() (this process seals: straight into audit_events) with and
    // without the index, alternated, 2 runs each.
    const log = context.get(AuditLog);
    const stats = context.get(PgAuditLog).stats;
    await recordRate(log, 1);
    const rates: Record<'with' | 'without', number[]> = { with: [], without: [] };
    for (let run = 0; run < 2; run++) {
      rates.with.push(await recordRate(log, SECONDS));
      await admin.query('DROP INDEX audit_events_impact');
      rates.without.push(await recordRate(log, SECONDS));
      await admin.query(CREATE_INDEX);
    }
    // Bulk: 100k rows in one INSERT ... SELECT (index maintenance dominates less, so this is the upper bound of the difference).
    const bulk = async (): Promise<{ rate: number; walPerRow: number }> => {
      const [{ h }] = (await admin.query<{ h: string }>('SELECT max(seq)::text AS h FROM audit_events')).rows;
      const [{ lsn }] = (await admin.query<{ lsn: string }>('SELECT pg_current_wal_insert_lsn()::text AS lsn')).rows;
      const start = process.hrtime.bigint();
      await admin.query(
        `INSERT INTO audit_events (seq, ${EVENT_COLUMNS.join(', ')}, prev_hash, hash)
         SELECT $1::int8 + i, gen_random_uuid(), now(), 'r', '0000000c-0000-4000-8000-' || lpad((i % 200)::text, 12, '0'), 'b', 'service', '{billing}',
           'customer.read', 'customer', gen_random_uuid()::text, 'payment_confirmation', NULL, '{fullName,email}', '{phone}', '{}', 'allowed', 200, NULL, NULL, '\\x00', '\\x00'
         FROM generate_series(1, 100000) AS i`,
        [Number(h)],
      );
      const rate = 100_000 / (Number(process.hrtime.bigint() - start) / 1e9);
      const [{ wal }] = (await admin.query<{ wal: string }>('SELECT pg_wal_lsn_diff(pg_current_wal_insert_lsn(), $1::pg_lsn)::text AS wal', [lsn])).rows;
      return { rate, walPerRow: Number(wal) / 100_000 };
    };
    const bulkWith = await bulk();
    await admin.query('DROP INDEX audit_events_impact');
    const bulkWithout = await bulk();
    await admin.query(CREATE_INDEX);
    const mean = (xs: number[]): number => xs.reduce((a, b) => a + b, 0) / xs.length;
    console.log(`record() with ${CONCURRENCY} concurrent callers, ${SECONDS} s per run, alternated (${stats.batches} group commits so far)\n`);
    console.log('| audit write path | with audit_events_impact | without | cost of the index |');
    console.log('|---|---:|---:|---:|');
    console.log(`| group-commit record(), events/s (runs) | ${fmt(mean(rates.with))} (${rates.with.map(fmt).join(', ')}) | ${fmt(mean(rates.without))} (${rates.without.map(fmt).join(', ')}) | ${((1 - mean(rates.with) / mean(rates.without)) * 100).toFixed(1)}% |`);
    console.log(`| one INSERT of 100k revealing events, rows/s | ${fmt(bulkWith.rate)} | ${fmt(bulkWithout.rate)} | ${((1 - bulkWith.rate / bulkWithout.rate) * 100).toFixed(1)}% |`);
    // WAL written per event does not depend on the machine's load: the index's share of the work.
    console.log(`| the same, WAL bytes per event | ${fmt(bulkWith.walPerRow)} | ${fmt(bulkWithout.walPerRow)} | +${((bulkWith.walPerRow / bulkWithout.walPerRow - 1) * 100).toFixed(1)}% |`);
  } finally {
    await admin.end();
    await context?.close();
    await scratch.close();
  }
}

runBench(main);
