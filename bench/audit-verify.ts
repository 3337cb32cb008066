/**
 * Audit log benchmark: group-commit `record` throughput at a given concurrency (vs one INSERT per
 * event), sealing rate, `audit:verify` rate and the RSS of a full NDJSON export.
 *
 *   npx tsc -p tsconfig.build.json && node dist/bench/audit-verify.js [--events 1000000] [--concurrency 64] [--seconds 5]
 *
 * Uses DATABASE_URL (a database it may fill; a fresh one is best; with VAULT_ROOT_KEY to reuse it)
 * or else starts an embedded PostgreSQL in a temporary directory. Prints Markdown tables for docs/BENCHMARKS.md.
 */
import { NestFactory } from '@nestjs/core';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { availableParallelism, cpus, tmpdir, totalmem } from 'node:os';
import path from 'node:path';
import { Writable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { Readable } from 'node:stream';
import pg from 'pg';
import { AppModule } from '../src/app.module.js';
import { AuditLog } from '../src/audit/audit-log.js';
import { AuditQueryService } from '../src/audit/audit-query.service.js';
import { AuditSealer } from '../src/audit/audit-sealer.js';
import { AuditVerifier, type VerifyOptions } from '../src/audit/audit-verifier.js';
import { PgAuditLog } from '../src/audit/pg-audit-log.js';
import { EVENT_COLUMNS, RECORDSET_TYPES, inputToRow } from '../src/audit/audit-event.js';
import { openRuntime } from '../src/bootstrap.js';
import { createRootLogger } from '../src/common/logger.js';
import { loadConfig } from '../src/config/config.js';
import { EmbeddedDatabase } from '../src/database/embedded-database.js';
import { MetricsService } from '../src/health/metrics.service.js';
import { freePort } from './lib/procs.js';
import { readEvent } from './lib/scratch.js';
import { flag } from './lib/args.js';

const EVENTS = Number(flag('--events', '1000000'));
const CONCURRENCY = Number(flag('--concurrency', '64'));
const SECONDS = Number(flag('--seconds', '5'));
const fmt = (n: number): string => Math.round(n).toLocaleString('en-US');


/** `workers` loops each awaiting one call after another for `seconds`; latencies in ms. */
async function closedLoop(workers: number, seconds: number, call: (i: number) => Promise<void>): Promise<{ rate: number; p50: number; p99: number }> {
  const latencies: number[] = [];
  const end = Date.now() + seconds * 1000;
  let n = 0;
  const start = process.hrtime.bigint();
  await Promise.all(
    Array.from({ length: workers }, async () => {
      while (Date.now() < end) {
        const t = process.hrtime.bigint();
        await call(n++);
        latencies.push(Number(process.hrtime.bigint() - t) / 1e6);
      }
    }),
  );
  const elapsed = Number(process.hrtime.bigint() - start) / 1e9;
  latencies.sort((a, b) => a - b);
  return { rate: latencies.length / elapsed, p50: latencies[Math.floor(latencies.length * 0.5)] ?? 0, p99: latencies[Math.floor(latencies.length * 0.99)] ?? 0 };
}

async function main(): Promise<void> {
  const dataDir = mkdtempSync(path.join(tmpdir(), 'cv-bench-audit-'));
  let embedded: EmbeddedDatabase | undefined;
  let url = process.env.DATABASE_URL;
  if (!url) {
    embedded = new EmbeddedDatabase({ dataDir, port: await freePort() });
    url = await embedded.start();
  }
  const config = loadConfig({
    NODE_ENV: 'test',
    DATABASE_URL: url,
    // Reuse a database between runs (and let the CLI open it) with the same VAULT_ROOT_KEY.
    VAULT_ROOT_KEY: process.env.VAULT_ROOT_KEY ?? randomBytes(32).toString('base64'),
    VAULT_DATA_DIR: dataDir,
    LOG_LEVEL: 'warn',
  });
  const runtime = await openRuntime({ config, log: createRootLogger('warn') });
  const context = await NestFactory.createApplicationContext(AppModule.forRoot(runtime, new MetricsService()), { logger: false });
  const admin = new pg.Client({ connectionString: url });
  await admin.connect();
  try {
    const [{ server_version: version }] = (await admin.query<{ server_version: string }>('SHOW server_version')).rows;
    console.log(`node ${process.version}, PostgreSQL ${version}, ${cpus()[0]?.model ?? 'CPU'}, ${availableParallelism()} CPUs, ${(totalmem() / 2 ** 30).toFixed(1)} GiB RAM; app and database on this machine\n`);

    // 1. record(): group commit vs one INSERT (own commit) per event, same concurrency.
    const log = context.get(AuditLog);
    const stats = context.get(PgAuditLog).stats;
    const dataSource = runtime.database.dataSource;
    const insertOne = `INSERT INTO audit_pending (${EVENT_COLUMNS.join(', ')}) SELECT ${EVENT_COLUMNS.join(', ')} FROM jsonb_to_recordset($1::jsonb) AS x(${RECORDSET_TYPES})`;
    await closedLoop(CONCURRENCY, 1, (i) => log.record(readEvent(i))); // warm-up
    const before = { ...stats };
    const group = await closedLoop(CONCURRENCY, SECONDS, (i) => log.record(readEvent(i)));
    const batches = stats.batches - before.batches;
    const events = stats.events - before.events;
    const single = await closedLoop(CONCURRENCY, SECONDS, async (i) => {
      await dataSource.query(insertOne, [JSON.stringify([inputToRow(readEvent(i))])]);
    });
    console.log(`record() with ${CONCURRENCY} concurrent callers, ${SECONDS} s each (durable: synchronous_commit on)\n`);
    console.log('| writer | events/s | p50 ms | p99 ms | events per INSERT (mean / max) |');
    console.log('|---|---:|---:|---:|---:|');
    console.log(`| group commit (record) | ${fmt(group.rate)} | ${group.p50.toFixed(2)} | ${group.p99.toFixed(2)} | ${(events / batches).toFixed(1)} / ${stats.maxBatch} |`);
    console.log(`| one INSERT + commit per event | ${fmt(single.rate)} | ${single.p50.toFixed(2)} | ${single.p99.toFixed(2)} | 1 / 1 |`);

    // 2. Fill to EVENTS pending rows (server-side), then seal them.
    const sealer = context.get(AuditSealer);
    await sealer.sealNow();
    const [{ n: have }] = (await admin.query<{ n: string }>('SELECT count(*) AS n FROM audit_events')).rows;
    const missing = Math.max(0, EVENTS - Number(have));
    for (let done = 0; done < missing; done += 100_000) {
      const count = Math.min(100_000, missing - done);
      await admin.query(
        `INSERT INTO audit_pending (${EVENT_COLUMNS.join(', ')})
         SELECT gen_random_uuid(), now() - (i || ' ms')::interval, 'req-' || i, '2f0c8f5e-5b4c-4e55-9d1e-0a0b0c0d0e0f', 'support-desk', 'service',
           '{support}', 'customer.read', 'customer', gen_random_uuid()::text, 'service_support', 'TICKET-' || (i % 9999),
           '{fullName,email,phone}', '{address,nationalId,dateOfBirth}', '{}', CASE WHEN i % 10 = 0 THEN 'denied' ELSE 'allowed' END,
           CASE WHEN i % 10 = 0 THEN 403 ELSE 200 END, '10.0.0.7', CASE WHEN i % 100 = 0 THEN '{"count": 3, "kekVersion": 2}'::jsonb END
         FROM generate_series(1, $1) AS i`,
        [count],
      );
    }
    let t = process.hrtime.bigint();
    const sealedBefore = sealer.stats.sealed;
    await sealer.sealNow();
    const sealSeconds = Number(process.hrtime.bigint() - t) / 1e9;
    const sealed = sealer.stats.sealed - sealedBefore;
    const [{ n: total }] = (await admin.query<{ n: string }>('SELECT count(*) AS n FROM audit_events')).rows;

    // 3. verify, three runs each: worker threads (the default here) and this thread only.
    const verifier = context.get(AuditVerifier);
    const verifyRates = async (options: VerifyOptions): Promise<{ rates: number[]; valid: boolean }> => {
      const rates: number[] = [];
      let valid = true;
      for (let run = 0; run < 3; run++) {
        const start = process.hrtime.bigint();
        const report = await verifier.verify(options);
        const s = Number(process.hrtime.bigint() - start) / 1e9;
        valid &&= report.valid && report.checked >= Number(total);
        rates.push(report.checked / s);
      }
      return { rates: rates.sort((a, b) => a - b), valid };
    };
    const parallel = await verifyRates({});
    const oneThread = await verifyRates({ workers: 1 });

    // 4. Export everything as NDJSON into a sink, sampling RSS.
    const rssStart = process.memoryUsage().rss;
    let rssPeak = rssStart;
    const sampler = setInterval(() => (rssPeak = Math.max(rssPeak, process.memoryUsage().rss)), 20);
    let bytes = 0;
    t = process.hrtime.bigint();
    await pipeline(
      Readable.from(context.get(AuditQueryService).export({}, 'ndjson')),
      new Writable({ write: (chunk: Buffer, _e, cb) => ((bytes += chunk.length), cb()) }),
    );
    const exportSeconds = Number(process.hrtime.bigint() - t) / 1e9;
    clearInterval(sampler);

    console.log(`\n${fmt(Number(total))} events in the chain\n`);
    console.log('| operation | result |');
    console.log('|---|---:|');
    if (sealed > 0) console.log(`| seal (pending -> chain, one sealer) | ${fmt(sealed / sealSeconds)} events/s (${fmt(sealed)} in ${sealSeconds.toFixed(1)} s) |`);
    for (const [name, r] of [[`verify, ${Math.min(4, availableParallelism())} worker threads`, parallel], ['verify, one thread', oneThread]] as const) {
      console.log(`| ${name} (3 runs) | ${fmt(r.rates[1] ?? 0)} events/s median (${fmt(r.rates[0] ?? 0)}–${fmt(r.rates[2] ?? 0)}), valid: ${r.valid} |`);
    }
    console.log(`| export NDJSON, all events | ${fmt(Number(total) / exportSeconds)} events/s, ${(bytes / 2 ** 20).toFixed(0)} MiB, peak RSS ${(rssPeak / 2 ** 20).toFixed(0)} MiB (start ${(rssStart / 2 ** 20).toFixed(0)} MiB) |`);
  } finally {
    await admin.end();
    await context.close();
    await runtime.database.close();
    await embedded?.stop();
    rmSync(dataDir, { recursive: true, force: true });
  }
}

main().catch((err: unknown) => {
  console.error(err);
  process.exitCode = 1;
});
