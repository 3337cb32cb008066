import { QueryRunnerAlreadyReleasedError, type DataSource, type EntityManager } from 'typeorm';
import { isDatabaseUnavailable } from '../common/error-response.js';
import { VaultError } from '../common/vault-error.js';

/**
 * node-postgres' refusals of a statement on a client that is already broken or closed: raised
 * before anything is written to the socket, so the server never saw the statement. (A pool that
 * was ended refuses before connecting.)
 */
const NEVER_SENT = /is not queryable|Cannot use a pool after calling end/i;

function neverSent(error: unknown, depth = 0): boolean {
  if (typeof error !== 'object' || error === null || depth > 3) return false;
  if (error instanceof QueryRunnerAlreadyReleasedError) return true;
  const { message, driverError } = error as { message?: unknown; driverError?: unknown };
  if (typeof message === 'string' && NEVER_SENT.test(message)) return true;
  return neverSent(driverError, depth + 1);
}

/**
 * Whether a failure of a statement that commits (a `COMMIT`, or a data-modifying statement run
 * outside a transaction, which commits by itself) leaves its outcome unknown: the connection broke
 * or the server went away after the statement was sent, so the commit may have landed before the
 * answer was lost. Any other failure (a constraint, a statement refused before it was sent, no
 * connection to be had) means nothing was committed.
 */
export function commitOutcomeUnknown(error: unknown): boolean {
  return isDatabaseUnavailable(error) && !neverSent(error);
}

/** The answer when a commit's outcome is unknown: 503 `outcome_unknown` (retry with the same Idempotency-Key). */
export function outcomeUnknown(): VaultError {
  return new VaultError('outcome_unknown', 'the database went away while this write was being committed: it may or may not have been stored; retry with the same Idempotency-Key to find out');
}

/**
 * A write in one transaction, like `DataSource.transaction`, but the COMMIT is told apart from the
 * rest: when the connection breaks while COMMIT is in flight, the write may or may not have landed,
 * and this throws `outcome_unknown` (503) instead of the driver's error. A failure before COMMIT
 * (the transaction rolled back, or the server dropped it with the connection) is rethrown as is.
 */
export async function writeTransaction<T>(dataSource: DataSource, work: (manager: EntityManager) => Promise<T>): Promise<T> {
  const runner = dataSource.createQueryRunner();
  try {
    await runner.startTransaction();
    let value: T;
    try {
      value = await work(runner.manager);
    } catch (error) {
      await runner.rollbackTransaction().catch(() => undefined);
      throw error;
    }
    try {
      await runner.commitTransaction();
    } catch (error) {
      if (commitOutcomeUnknown(error)) throw outcomeUnknown();
      // A deferred constraint or a serialization failure: PostgreSQL rolled the transaction back.
      throw error;
    }
    return value;
  } finally {
    await runner.release();
  }
}
