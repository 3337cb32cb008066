import { DataSource, type MixedList, type EntitySchema } from 'typeorm';
import { MIGRATIONS } from '../../migrations/index.js';
import { ENTITIES } from './entities.js';

export interface DataSourceOptions {
  url: string;
  poolSize?: number;
  /** application_name shown in pg_stat_activity, to tell vault processes apart. */
  applicationName?: string;
}

/**
 * The one DataSource definition, shared by the application, the CLI and the migration scripts.
 * `synchronize` stays off: every schema change is a migration under migrations/.
 */
export function createDataSource(options: DataSourceOptions): DataSource {
  return new DataSource({
    type: 'postgres',
    url: options.url,
    entities: ENTITIES as MixedList<string | (new () => unknown) | EntitySchema>,
    migrations: MIGRATIONS,
    migrationsTableName: 'schema_migrations',
    migrationsTransactionMode: 'each',
    synchronize: false,
    migrationsRun: false,
    logging: false,
    poolSize: options.poolSize ?? 10,
    extra: {
      application_name: options.applicationName ?? 'customer-vault',
      connectionTimeoutMillis: 5_000,
      // Bounded waits: a stuck database must turn into errors (503), not hung requests. Server-side
      // (statement_timeout), not node-postgres' query_timeout, which keeps large results alive.
      statement_timeout: 30_000,
    },
  });
}

/** Advisory lock key that serialises migration runs of several vault processes starting at once. */
const MIGRATION_LOCK = 0x6376_6d69; // 'cvmi'

/** Applies pending migrations under an advisory lock; returns the names applied. */
export async function runMigrations(dataSource: DataSource): Promise<string[]> {
  return underMigrationLock(dataSource, async () => (await dataSource.runMigrations({ transaction: 'each' })).map((migration) => migration.name));
}

/** Undoes the most recently applied migration, under the same lock as a vault starting up. */
export async function revertLastMigration(dataSource: DataSource): Promise<void> {
  await underMigrationLock(dataSource, () => dataSource.undoLastMigration({ transaction: 'each' }));
}

async function underMigrationLock<T>(dataSource: DataSource, fn: () => Promise<T>): Promise<T> {
  const runner = dataSource.createQueryRunner();
  await runner.connect();
  try {
    await runner.query('SELECT pg_advisory_lock($1)', [MIGRATION_LOCK]);
    return await fn();
  } finally {
    await runner.query('SELECT pg_advisory_unlock($1)', [MIGRATION_LOCK]).catch(() => undefined);
    await runner.release();
  }
}
