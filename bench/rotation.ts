/**
 * KEK rotation benchmark: seeds N customers with real per-customer DEKs (no field ciphertexts: the
 * rewrap never touches them), rotates, and times the rewrap job run in this process.
 *
 *   npx tsc -p tsconfig.build.json && node dist/bench/rotation.js [--deks 1000000] [--batch 1000]
 *
 * Uses DATABASE_URL (a database it may fill; a fresh one is best) or else an embedded PostgreSQL in
 * a temporary directory. Read latency during rotation is not measured here (see bench/load.ts).
 */
import { NestFactory } from '@nestjs/core';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { DataSource } from 'typeorm';
import { AppModule } from '../src/app.module.js';
import { openRuntime } from '../src/bootstrap.js';
import { createRootLogger } from '../src/common/logger.js';
import { loadConfig } from '../src/config/config.js';
import { EmbeddedDatabase } from '../src/database/embedded-database.js';
import { MetricsService } from '../src/health/metrics.service.js';
import { KeyRing } from '../src/keys/key-ring.service.js';
import { KeyRotationWorker } from '../src/keys/key-rotation.worker.js';
import { KeysService } from '../src/keys/keys.service.js';
import { operatorTrail } from '../src/principals/operator.js';
import { freePort } from './lib/procs.js';
import { seedDeks } from './lib/seed-deks.js';
import { flag } from './lib/args.js';

const DEKS = Number(flag('--deks', '1000000'));
const BATCH = flag('--batch', '1000');


async function main(): Promise<void> {
  const dataDir = mkdtempSync(path.join(tmpdir(), 'cv-bench-rotation-'));
  let embedded: EmbeddedDatabase | undefined;
  let url = process.env.DATABASE_URL;
  if (!url) {
    embedded = new EmbeddedDatabase({ dataDir, port: await freePort() });
    url = await embedded.start();
  }
  const config = loadConfig({ NODE_ENV: 'test', DATABASE_URL: url, VAULT_ROOT_KEY: randomBytes(32).toString('base64'), VAULT_DATA_DIR: dataDir, LOG_LEVEL: 'warn', VAULT_ROTATION_BATCH_SIZE: BATCH });
  const runtime = await openRuntime({ config, log: createRootLogger('warn') });
  const context = await NestFactory.createApplicationContext(AppModule.forRoot(runtime, new MetricsService()), { logger: false });
  try {
    const dataSource = context.get(DataSource);
    const ring = context.get(KeyRing);
    const worker = context.get(KeyRotationWorker);
    const seedStart = Date.now();
    await seedDeks(ring, dataSource, DEKS);
    console.log(`seeded ${DEKS.toLocaleString('en-US')} DEKs in ${((Date.now() - seedStart) / 1000).toFixed(1)} s`);
    await dataSource.query('VACUUM ANALYZE customer_deks');
    const rotated = await context.get(KeysService).rotate({ trail: operatorTrail('keys.rotate', 'key', 'bench'), okStatus: 0 });
    // the job itself: the settle wait (2.5 s after the rotation) is included, as in production
    const start = Date.now();
    await worker.drain();
    const seconds = (Date.now() - start) / 1000;
    const job = await context.get(KeysService).job(rotated.jobId);
    console.log(`| DEKs | batch | state | seconds | DEKs/s |\n|---|---|---|---|---|\n| ${job.done.toLocaleString('en-US')} | ${BATCH} | ${job.state} | ${seconds.toFixed(1)} | ${Math.round(job.done / seconds).toLocaleString('en-US')} |`);
  } finally {
    await context.close();
    await runtime.database.close();
    await embedded?.stop();
    rmSync(dataDir, { recursive: true, force: true });
  }
}

await main();
