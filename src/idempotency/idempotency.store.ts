import { Inject, Injectable, type OnApplicationBootstrap, type OnModuleDestroy } from '@nestjs/common';
import type { Logger } from 'pino';
import { DataSource } from 'typeorm';
import { ROOT_LOGGER } from '../config/runtime.js';
import { LOCK_BUSY, RecurringTask, underSessionLock } from '../database/singleton-job.js';

/** Session advisory lock of the purge ('cvik'): one process purges at a time. */
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

/** One batch of expired keys, oldest first (a key taken over meanwhile is live again: kept). */
const PURGE = `WITH doomed AS (SELECT principal_id, key FROM idempotency_keys WHERE expires_at <= now() ORDER BY expires_at LIMIT $1),
  gone AS (DELETE FROM idempotency_keys k USING doomed d WHERE k.principal_id = d.principal_id AND k.key = d.key AND k.expires_at <= now() RETURNING 1)
  SELECT count(*)::int AS deleted FROM gone`;

/**
 * The stored Idempotency-Keys: looked up when a keyed write fails (was it done already?), and
 * purged once expired. Expired rows are never answered from (the lookup compares `expires_at` with
 * now(), the claim with the clock), so the purge only bounds the table's size: every process runs it each
 * minute, one at a time (the background jobs' session advisory lock, `underSessionLock`).
 */
@Injectable()
export class IdempotencyStore implements OnApplicationBootstrap, OnModuleDestroy {
  private readonly purge: RecurringTask;
  private readonly log: Logger;

  constructor(
    @Inject(DataSource) private readonly dataSource: DataSource,
    @Inject(ROOT_LOGGER) rootLog: Logger,
  ) {
    this.log = rootLog.child({ component: 'idempotency' });
    this.purge = new RecurringTask(
      () => this.purgeExpired(),
      { log: this.log, failure: 'idempotency key purge failed: will retry at the next interval' },
      PURGE_INTERVAL_MS,
    );
  }

  onApplicationBootstrap(): void {
    this.purge.start(PURGE_INTERVAL_MS);
  }

  async onModuleDestroy(): Promise<void> {
    await this.purge.stop();
  }

  /** The live stored answer of the principal's key, if any. */
  async find(principalId: string, key: string): Promise<StoredAnswer | undefined> {
    const [row] = (await this.dataSource.query(FIND, [principalId, key])) as { request_hash: Buffer; hash_key_version: number; request_id: string; resource_id: string | null; status: number; answer: unknown }[];
    if (row === undefined) return undefined;
    return { requestHash: row.request_hash, hashKeyVersion: row.hash_key_version, requestId: row.request_id, resourceId: row.resource_id, status: row.status, answer: row.answer };
  }

  /** Deletes every expired key, in batches of its own transaction each; how many, or null when another process purges. */
  async purgeExpired(): Promise<number | null> {
    const deleted = await underSessionLock(this.dataSource, IDEMPOTENCY_PURGE_LOCK, async (runner) => {
      let total = 0;
      for (;;) {
        const [row] = (await runner.query(PURGE, [PURGE_BATCH])) as { deleted: number }[];
        total += row.deleted;
        if (row.deleted < PURGE_BATCH) return total;
      }
    });
    if (deleted === LOCK_BUSY) return null;
    if (deleted > 0) this.log.debug({ deleted }, 'expired idempotency keys purged');
    return deleted;
  }
}
