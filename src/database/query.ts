import { createHash } from 'node:crypto';
import type pg from 'pg';
import type { DataSource, EntityManager } from 'typeorm';
import { isDatabaseUnavailable } from '../common/error-response.js';
import { commitOutcomeUnknown, outcomeUnknown } from './commit.js';

/**
 * TypeORM's postgres driver answers an UPDATE or DELETE with `[rows, affectedCount]` rather than
 * the rows alone (other statements: the rows).
 */
async function rowsAndCount<T>(manager: EntityManager, sql: string, params: unknown[]): Promise<{ rows: T[]; count: number }> {
  const result = (await manager.query(sql, params)) as unknown;
  if (Array.isArray(result) && result.length === 2 && Array.isArray(result[0]) && typeof result[1] === 'number') return { rows: result[0] as T[], count: result[1] };
  return { rows: result as T[], count: (result as T[]).length };
}

/** Rows of an UPDATE/DELETE ... RETURNING (or of any statement). */
export async function returningRows<T>(manager: EntityManager, sql: string, params: unknown[]): Promise<T[]> {
  return (await rowsAndCount<T>(manager, sql, params)).rows;
}

/** How many rows an UPDATE/DELETE changed. */
export async function affectedRows(manager: EntityManager, sql: string, params: unknown[]): Promise<number> {
  return (await rowsAndCount(manager, sql, params)).count;
}

/** At most this many distinct statements are named; others run unnamed (planned on every call). */
const MAX_NAMED_STATEMENTS = 256;
const statementNames = new Map<string, string>();

function statementName(text: string): string | undefined {
  let name = statementNames.get(text);
  if (name === undefined && statementNames.size < MAX_NAMED_STATEMENTS) {
    name = `cv_${createHash('sha256').update(text).digest('hex').slice(0, 24)}`;
    statementNames.set(text, name);
  }
  return name;
}

/** The node-postgres pool behind the DataSource (TypeORM's postgres driver keeps it as `master`). */
function poolOf(dataSource: DataSource): pg.Pool {
  const pool = (dataSource.driver as unknown as { master?: pg.Pool }).master;
  if (!dataSource.isInitialized || pool === undefined) throw new Error('the DataSource is not queryable (not initialized)');
  return pool;
}

/**
 * A statement of the request hot path, run as a named prepared statement on the DataSource's pool:
 * PostgreSQL parses and plans it once per connection instead of on every call (planning the read's
 * join cost more than executing it), and TypeORM's per-call query runner is skipped. Same pool, same
 * type parsers and errors (driver errors carry their SQLSTATE as `code`) as `dataSource.query`.
 * Only for statements outside a transaction; the text must be one of a bounded set (no values
 * spliced in), since each distinct text stays prepared on every connection.
 */
export async function preparedQuery<T>(dataSource: DataSource, text: string, values: unknown[]): Promise<T[]> {
  const result = await poolOf(dataSource).query({ name: statementName(text), text, values });
  return result.rows as T[];
}

/**
 * `preparedQuery` for a data-modifying statement run outside a transaction (it commits by itself):
 * when the connection is lost once the statement was sent, the write may or may not have landed, and
 * this throws `outcome_unknown` (503); when no connection could be had, nothing was sent and the
 * driver's error is thrown as is.
 */
export async function preparedWrite<T>(dataSource: DataSource, text: string, values: unknown[]): Promise<T[]> {
  const client = await poolOf(dataSource).connect();
  let broken: Error | undefined;
  // A checked-out client emits 'error' when its connection drops (pool.query listens the same way).
  const onError = (error: Error): void => {
    broken = error;
  };
  client.on('error', onError);
  try {
    const result = await client.query({ name: statementName(text), text, values });
    return result.rows as T[];
  } catch (error) {
    // A broken connection leaves the pool; after a statement error it is reusable.
    if (isDatabaseUnavailable(error)) broken ??= error instanceof Error ? error : new Error('connection lost');
    if (commitOutcomeUnknown(error)) throw outcomeUnknown();
    throw error;
  } finally {
    client.removeListener('error', onError);
    client.release(broken);
  }
}
