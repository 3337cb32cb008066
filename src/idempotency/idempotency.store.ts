import { Inject, Injectable, type OnApplicationBootstrap, type OnModuleDestroy } from '@nestjs/common';
import type { Logger } from 'pino';
import { DataSource } from 'typeorm';
import { describeUnexpected } from '../common/error-response.js';
import { ROOT_LOGGER } from '../config/runtime.js';

/** Transaction-scoped advisory lock of the purge ('cvik'): one process purges at a time. */
export const IDEMPOTENCY_PURGE_LOCK = 0x6376_696b;
/** Expired keys deleted per statement. */
const PURGE_BATCH = 1000;
/** How often each process tries to purge (the lock lets one of them do it). */
export const PURGE_INTERVAL_MS = 60_000;

/** A live stored answer (see IdempotencyClaim). */
export interface StoredAnswer {
  requestHash: Buffer;
  hashKeyVersion: number;
  requestId: string;
  resourceId: string | null;
  status: number;
  answer: unknown;
}

const FIND = `SELECT request_hash, hash_key_version, request_id, resource_id, status, answer
  FROM idempotency_keys WHERE principal_id = $1 AND key = $2 AND expires_at > now()`;

/**
 * One batch of expired keys, under a transaction-scoped try-lock held for the statement alone: no
 * session lock to release, nothing left behind by a process that dies. `locked` false: another
 * process is purging.
 */
const PURGE = `WITH lock AS (SELECT pg_try_advisory_xact_lock($1) AS ok),
  doomed AS (SELECT principal_id, key FROM idempotency_keys WHERE expires_at <= now() AND (SELECT ok FROM lock) ORDER BY expires_at LIMIT $2),
  gone AS (DELETE FROM idempotency_keys k USING doomed d WHERE k.principal_id = d.principal_id AND k.key = d.key AND k.expires_at <= now() RETURNING 1)
  SELECT (SELECT ok FROM lock) AS locked, (SELECT count(*) FROM gone)::int AS deleted`;

/**
 * The stored Idempotency-Keys: looked up when a keyed write fails (was it done already?), and
 * purged once expired. Expired rows are never answered from (the lookup and the claim both compare
 * `expires_at` with now()), so the purge only bounds the table's size: every process runs it each
 * minute, one at a time.
 */
@Injectable()
export class IdempotencyStore implements OnApplicationBootstrap, OnModuleDestroy {
  private timer?: NodeJS.Timeout;
  private running?: Promise<unknown>;
  private readonly log: Logger;

  constructor(
    @Inject(DataSource) private readonly dataSource: DataSource,
    @Inject(ROOT_LOGGER) rootLog: Logger,
  ) {
    this.log = rootLog.child({ component: 'idempotency' });
  }

  onApplicationBootstrap(): void {
    this.timer = setInterval(() => {
      this.running ??= this.purgeExpired()
        .catch((error: unknown) => this.log.warn({ err: describeUnexpected(error) }, 'idempotency key purge failed: will retry at the next interval'))
        .finally(() => {
          this.running = undefined;
        });
    }, PURGE_INTERVAL_MS);
    this.timer.unref();
  }

  async onModuleDestroy(): Promise<void> {
    clearInterval(this.timer);
    await this.running;
  }

  /** The live stored answer of the principal's key, if any. */
  async find(principalId: string, key: string): Promise<StoredAnswer | undefined> {
    const [row] = (await this.dataSource.query(FIND, [principalId, key])) as { request_hash: Buffer; hash_key_version: number; request_id: string; resource_id: string | null; status: number; answer: unknown }[];
    if (row === undefined) return undefined;
    return { requestHash: row.request_hash, hashKeyVersion: row.hash_key_version, requestId: row.request_id, resourceId: row.resource_id, status: row.status, answer: row.answer };
  }

  /** Deletes every expired key (in batches); returns how many, or null when another process holds the purge. */
  async purgeExpired(): Promise<number | null> {
    let total = 0;
    for (;;) {
      const [row] = (await this.dataSource.query(PURGE, [IDEMPOTENCY_PURGE_LOCK, PURGE_BATCH])) as { locked: boolean; deleted: number }[];
      if (!row.locked) return total > 0 ? total : null;
      total += row.deleted;
      if (row.deleted < PURGE_BATCH) break;
    }
    if (total > 0) this.log.debug({ deleted: total }, 'expired idempotency keys purged');
    return total;
  }
}
