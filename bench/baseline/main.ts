/**
 * Plaintext baseline for the benchmark: the vault's stack (NestJS on express, TypeORM DataSource,
 * raw SQL, pg pool of the same size) and table shape, minus what the vault adds: auth, purpose,
 * policy, encryption, blind indexes, audit.
 *
 *   PORT=8090 DATABASE_URL=postgres://... node dist/bench/baseline/main.js
 *
 * Creates its table if missing; stops on SIGTERM/SIGINT (and by itself if its parent goes away).
 */
import 'reflect-metadata';
import { Module, type DynamicModule } from '@nestjs/common';
import { NestFactory } from '@nestjs/core';
import type { NestExpressApplication } from '@nestjs/platform-express';
import express from 'express';
import { DataSource } from 'typeorm';
import { BaselineCustomersController, BaselineHealthController } from './customers.controller.js';
import { BASELINE_SCHEMA } from './schema.js';

@Module({})
class BaselineModule {
  static forRoot(dataSource: DataSource): DynamicModule {
    return {
      module: BaselineModule,
      controllers: [BaselineCustomersController, BaselineHealthController],
      providers: [{ provide: DataSource, useValue: dataSource }],
    };
  }
}

function env(name: string, fallback?: string): string {
  const value = process.env[name] ?? fallback;
  if (value === undefined || value === '') {
    process.stderr.write(`baseline: ${name} is required\n`);
    process.exit(1);
  }
  return value;
}

async function main(): Promise<void> {
  const port = Number(env('PORT', '8090'));
  const host = env('HOST', '127.0.0.1');
  // Same pool settings as the vault's createDataSource (VAULT_DB_POOL_SIZE defaults to 10).
  const dataSource = new DataSource({
    type: 'postgres',
    url: env('DATABASE_URL'),
    entities: [],
    synchronize: false,
    logging: false,
    poolSize: Number(env('VAULT_DB_POOL_SIZE', '10')),
    extra: { application_name: 'cv-bench-baseline', connectionTimeoutMillis: 5_000, statement_timeout: 30_000 },
  });
  await dataSource.initialize();
  for (const statement of BASELINE_SCHEMA) await dataSource.query(statement);

  const app = await NestFactory.create<NestExpressApplication>(BaselineModule.forRoot(dataSource), { bodyParser: false, logger: ['error', 'warn'] });
  app.disable('x-powered-by');
  app.set('query parser', 'simple');
  // The vault's body limit (VAULT_BODY_LIMIT default 64kb), same express.json parser.
  app.use(express.json({ limit: 64 * 1024, strict: true }));
  const server = app.getHttpServer();
  server.keepAliveTimeout = 5_000;
  await app.listen(port, host);

  let stopping = false;
  const stop = async (): Promise<void> => {
    if (stopping) return;
    stopping = true;
    const force = setTimeout(() => process.exit(1), 10_000);
    force.unref();
    await app.close();
    if (dataSource.isInitialized) await dataSource.destroy();
    clearTimeout(force);
  };
  process.once('SIGTERM', () => void stop());
  process.once('SIGINT', () => void stop());
  // Re-parented (the benchmark was killed): stop rather than linger on a loopback port.
  const parent = process.ppid;
  setInterval(() => {
    if (process.ppid !== parent) void stop();
  }, 1_000).unref();
  process.stdout.write(`baseline listening on http://${host}:${port}\n`);
}

main().catch((error: unknown) => {
  process.stderr.write(`baseline: start-up failed: ${error instanceof Error ? error.message : String(error)}\n`);
  process.exit(1);
});
