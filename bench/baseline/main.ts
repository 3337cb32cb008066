/**
 * Plaintext baseline for the benchmark: the vault's stack (NestJS on Fastify, TypeORM DataSource,
 * raw SQL, pg pool of the same size) and table shape, minus what the vault adds: auth, purpose,
 * policy, encryption, blind indexes, audit.
 *
 *   PORT=8090 DATABASE_URL=postgres://... [BASELINE_HTTP=fastify|express] node dist/bench/baseline/main.js
 *
 * BASELINE_HTTP picks the HTTP stack: `fastify` (default; the vault's own, for the headline ratio)
 * with Fastify's JSON parser, or `express` (NestJS on Express with `express.json`, the stack the
 * vault ran on before issue 16) for the comparison against an Express app. Both with the vault's
 * body limit (VAULT_BODY_LIMIT default 64kb) and keep-alive timeout.
 *
 * Creates its table if missing; stops on SIGTERM/SIGINT (and by itself if its parent goes away).
 */
import 'reflect-metadata';
import { Module, type DynamicModule } from '@nestjs/common';
import { NestFactory } from '@nestjs/core';
import type { INestApplication } from '@nestjs/common';
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

  const stack = env('BASELINE_HTTP', 'fastify');
  if (stack !== 'fastify' && stack !== 'express') {
    process.stderr.write(`baseline: BASELINE_HTTP must be fastify or express, not ${stack}\n`);
    process.exit(1);
  }
  const app = stack === 'fastify' ? await fastifyApp(dataSource) : await expressApp(dataSource);
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
  process.stdout.write(`baseline (${stack}) listening on http://${host}:${port}\n`);
}

const BODY_LIMIT = 64 * 1024;

/** NestJS on Fastify, as the vault: Fastify's own JSON parser with the body limit. */
async function fastifyApp(dataSource: DataSource): Promise<INestApplication> {
  const { FastifyAdapter } = await import('@nestjs/platform-fastify');
  const adapter = new FastifyAdapter({ bodyLimit: BODY_LIMIT, keepAliveTimeout: 5_000, return503OnClosing: false });
  return NestFactory.create(BaselineModule.forRoot(dataSource), adapter, { bodyParser: false, logger: ['error', 'warn'] });
}

/** NestJS on Express (loaded only here: a devDependency kept for this comparison), with express.json. */
async function expressApp(dataSource: DataSource): Promise<INestApplication> {
  const { default: express } = await import('express');
  const app = await NestFactory.create<import('@nestjs/platform-express').NestExpressApplication>(BaselineModule.forRoot(dataSource), { bodyParser: false, logger: ['error', 'warn'] });
  app.disable('x-powered-by');
  app.set('query parser', 'simple');
  app.use(express.json({ limit: BODY_LIMIT, strict: true }));
  app.getHttpServer().keepAliveTimeout = 5_000;
  return app;
}

main().catch((error: unknown) => {
  process.stderr.write(`baseline: start-up failed: ${error instanceof Error ? error.message : String(error)}\n`);
  process.exit(1);
});
