import type { Type } from '@nestjs/common';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { Writable } from 'node:stream';
import pg from 'pg';
import request from 'supertest';
import { createApp, type VaultApp } from '../../src/app.js';
import { openRuntime } from '../../src/bootstrap.js';
import { createRootLogger } from '../../src/common/logger.js';
import { loadConfig } from '../../src/config/config.js';
import type { VaultRuntime } from '../../src/config/runtime.js';
import { databaseUrl, readTestEnvironment } from './test-env.js';

/** Collects every log line the app writes, so tests can scan them for leaks. */
export class LogCapture extends Writable {
  readonly lines: string[] = [];
  override _write(chunk: Buffer, _encoding: BufferEncoding, callback: () => void): void {
    this.lines.push(...chunk.toString('utf8').split('\n').filter((line) => line.length > 0));
    callback();
  }
  text(): string {
    return this.lines.join('\n');
  }
}

/** A fresh database for one test file: a clone of the migrated template. */
export async function createTestDatabase(): Promise<string> {
  const environment = readTestEnvironment();
  const name = `cv_t_${environment.runId}_${randomBytes(4).toString('hex')}`;
  const admin = new pg.Client({ connectionString: environment.adminUrl });
  await admin.connect();
  try {
    for (let attempt = 0; ; attempt++) {
      try {
        await admin.query(`CREATE DATABASE ${name} TEMPLATE ${environment.templateDatabase}`);
        break;
      } catch (error) {
        // Two files cloning at the same instant: "source database is being accessed by other users".
        if (attempt >= 20 || (error as { code?: string }).code !== '55006') throw error;
        await new Promise((resolve) => setTimeout(resolve, 50 + Math.random() * 100));
      }
    }
  } finally {
    await admin.end();
  }
  return databaseUrl(environment.adminUrl, name);
}

/** Makes a database unreachable (and back): refuses new connections and ends the open ones. */
export async function setDatabaseReachable(url: string, reachable: boolean): Promise<void> {
  const environment = readTestEnvironment();
  const name = new URL(url).pathname.slice(1);
  const admin = new pg.Client({ connectionString: environment.adminUrl });
  await admin.connect();
  try {
    await admin.query(`ALTER DATABASE "${name}" ALLOW_CONNECTIONS ${reachable ? 'true' : 'false'}`);
    if (!reachable) await admin.query('SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = $1', [name]);
  } finally {
    await admin.end();
  }
}

export async function dropTestDatabase(url: string): Promise<void> {
  const environment = readTestEnvironment();
  const name = new URL(url).pathname.slice(1);
  const admin = new pg.Client({ connectionString: environment.adminUrl });
  await admin.connect();
  try {
    await admin.query(`DROP DATABASE IF EXISTS "${name}" WITH (FORCE)`);
  } finally {
    await admin.end();
  }
}

export interface TestApp {
  app: VaultApp;
  runtime: VaultRuntime;
  /** supertest agent on the app's HTTP server */
  http: () => ReturnType<typeof request>;
  logs: LogCapture;
  databaseUrl: string;
  dataDir: string;
  rootKey: Buffer;
  /** Direct SQL on the app's database, for assertions on what was stored. */
  sql: <R extends pg.QueryResultRow = Record<string, unknown>>(text: string, params?: unknown[]) => Promise<R[]>;
  close: () => Promise<void>;
}

export interface TestAppOptions {
  env?: Record<string, string>;
  /** Reuse a database (e.g. to restart on the same data); a fresh clone otherwise. */
  databaseUrl?: string;
  rootKey?: Buffer;
  dataDir?: string;
  extraModules?: Type[];
}

/** The real application (real PostgreSQL, real libsodium) on a database of its own. */
export async function startTestApp(options: TestAppOptions = {}): Promise<TestApp> {
  const url = options.databaseUrl ?? (await createTestDatabase());
  const dataDir = options.dataDir ?? mkdtempSync(path.join(os.tmpdir(), 'cv-test-data-'));
  const rootKey = options.rootKey ?? randomBytes(32);
  // With the pkcs11 provider (env VAULT_ROOT_KEY_PROVIDER=pkcs11) the root key is in the token, not in VAULT_ROOT_KEY.
  const pkcs11 = options.env?.VAULT_ROOT_KEY_PROVIDER === 'pkcs11';
  const config = loadConfig({
    NODE_ENV: 'test',
    DATABASE_URL: url,
    ...(pkcs11 ? {} : { VAULT_ROOT_KEY: rootKey.toString('base64') }),
    VAULT_DATA_DIR: dataDir,
    VAULT_DB_POOL_SIZE: '5',
    LOG_LEVEL: 'debug',
    ...options.env,
  });
  const logs = new LogCapture();
  const runtime = await openRuntime({ config, log: createRootLogger(config.logLevel, logs) });
  let app: VaultApp;
  try {
    app = await createApp(runtime, { extraModules: options.extraModules });
  } catch (error) {
    await runtime.database.close();
    throw error;
  }
  const pool = new pg.Pool({ connectionString: url, max: 2 });
  return {
    app,
    runtime,
    http: () => request(app.getHttpServer()),
    logs,
    databaseUrl: url,
    dataDir,
    rootKey,
    sql: async (text, params) => (await pool.query(text, params)).rows,
    close: async () => {
      await app.close();
      await runtime.database.close();
      await pool.end();
      if (options.dataDir === undefined) rmSync(dataDir, { recursive: true, force: true });
    },
  };
}
