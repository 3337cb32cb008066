import { Inject, Injectable, type OnApplicationBootstrap, type OnModuleDestroy } from '@nestjs/common';
import { randomUUID } from 'node:crypto';
import type { Logger } from 'pino';
import { DataSource, type EntityManager } from 'typeorm';
import { AuditLog, type AuditActor } from '../audit/audit-log.js';
import { ROOT_LOGGER } from '../config/runtime.js';
import { BLIND_INDEX_NORMALISATION, BLIND_INDEXED_FIELDS, decryptField, normalizeForBlindIndex, zero } from '../crypto/index.js';
import { LOCK_BUSY, RecurringTask, underSessionLock } from '../database/singleton-job.js';
import { KeyRing } from '../keys/key-ring.service.js';
import { FIELD_COLUMNS, type CustomerRow } from './customer-columns.js';

/** One re-index pass at a time across every process (session-level: released if the process dies). */
export const REINDEX_LOCK = 0x6376_6269; // 'cvbi'
/** Customers per transaction: each batch is one audit event naming them (details.customerIds). */
const BATCH_SIZE = 100;
/** First pass shortly after start-up; then a cheap probe (partial index) now and then. */
const FIRST_PASS_DELAY_MS = 1_000;
const POLL_INTERVAL_MS = 60_000;

export const REINDEX_ACTOR: AuditActor = { id: null, name: 'system:blind-index', kind: 'service', roles: [] };

export interface ReindexResult {
  /** false: another process holds the lock (it does the work) */
  ran: boolean;
  customers: number;
  batches: number;
  /** true when no row of an older normalisation is left */
  complete: boolean;
}

/** Stale rows are exactly those in the partial index of migration 1764200101000 (`norm_version < 2`). */
const STALE = `norm_version < ${BLIND_INDEX_NORMALISATION}`;

/**
 * Recomputes the blind indexes written under an older normalisation (BLIND_INDEX_NORMALISATION) from
 * the decrypted values: digests are keyed hashes computed here, so no SQL migration can. Runs in
 * every process at start-up and then every minute; `pg_try_advisory_lock` lets one of them work at a
 * time. Resumable by construction: each batch of customers is locked (FOR UPDATE: a concurrent
 * correction waits, or is waited for), decrypted, re-indexed and marked with the current version in
 * one transaction with its audit event, so an interrupted pass leaves every customer either done or
 * untouched and the next pass picks up what is left. The probe also catches rows written by a
 * process still running older code during a rolling upgrade.
 */
@Injectable()
export class BlindIndexReindexWorker implements OnApplicationBootstrap, OnModuleDestroy {
  private readonly task: RecurringTask;
  private stopped = false;
  private readonly log: Logger;

  constructor(
    @Inject(DataSource) private readonly dataSource: DataSource,
    @Inject(KeyRing) private readonly keys: KeyRing,
    @Inject(AuditLog) private readonly audit: AuditLog,
    @Inject(ROOT_LOGGER) log: Logger,
  ) {
    this.log = log.child({ component: 'blind-reindex' });
    this.task = new RecurringTask(
      () => this.pass(),
      { log: this.log, failure: 'blind-index re-index: will retry' },
      POLL_INTERVAL_MS,
    );
  }

  onApplicationBootstrap(): void {
    this.task.start(FIRST_PASS_DELAY_MS);
  }

  async onModuleDestroy(): Promise<void> {
    this.stopped = true;
    await this.task.stop();
  }

  /**
   * One pass: re-indexes stale customers until none is left, the worker stops, or `maxBatches`
   * batches are done (tests interrupt a pass this way). Waits for a pass already running here.
   */
  async run(options: { maxBatches?: number; batchSize?: number } = {}): Promise<ReindexResult> {
    await this.task.running;
    return this.pass(options);
  }

  private async pass(options: { maxBatches?: number; batchSize?: number } = {}): Promise<ReindexResult> {
    const batchSize = Math.max(1, Math.min(BATCH_SIZE, Math.trunc(options.batchSize ?? BATCH_SIZE)));
    const result: ReindexResult = { ran: false, customers: 0, batches: 0, complete: false };
    if (!(await this.anyStale())) return { ...result, complete: true };
    const locked = await underSessionLock(this.dataSource, REINDEX_LOCK, async () => {
      result.ran = true;
      while (!this.stopped && (options.maxBatches === undefined || result.batches < options.maxBatches)) {
        const done = await this.dataSource.transaction((manager) => this.batch(manager, batchSize));
        if (done === 0) break;
        result.customers += done;
        result.batches++;
      }
      result.complete = !(await this.anyStale());
    });
    if (locked === LOCK_BUSY) return result;
    if (result.customers > 0) this.log.info({ customers: result.customers, complete: result.complete, normVersion: BLIND_INDEX_NORMALISATION }, 'blind indexes recomputed');
    return result;
  }

  private async anyStale(): Promise<boolean> {
    const rows = (await this.dataSource.query(`SELECT 1 FROM customer_blind_indexes WHERE ${STALE} LIMIT 1`)) as unknown[];
    return rows.length > 0;
  }

  /** One batch in the caller's transaction; the number of customers re-indexed (0: nothing left). */
  private async batch(manager: EntityManager, batchSize: number): Promise<number> {
    const rows = (await manager.query(
      `SELECT c.id, c.dek_version, c.revision, c.erased_at, ${BLIND_INDEXED_FIELDS.map((f) => `c.${FIELD_COLUMNS[f]}`).join(', ')},
              d.kek_version AS dek_kek_version, d.wrapped_key AS dek_wrapped
       FROM customers c LEFT JOIN customer_deks d ON d.customer_id = c.id AND d.version = c.dek_version
       WHERE c.id IN (SELECT DISTINCT customer_id FROM customer_blind_indexes WHERE ${STALE} ORDER BY customer_id LIMIT $1)
       ORDER BY c.id FOR UPDATE OF c`,
      [batchSize],
    )) as CustomerRow[];
    if (rows.length === 0) return 0;
    const ids = rows.map((row) => row.id);
    const fresh = { ids: [] as string[], fields: [] as string[], versions: [] as number[], digests: [] as Buffer[] };
    for (const row of rows) {
      // An erased customer keeps no index (erasure deletes them; a leftover is only dropped).
      if (row.erased_at !== null || row.dek_wrapped === null || row.dek_kek_version === null) continue;
      const present = BLIND_INDEXED_FIELDS.filter((field) => row[FIELD_COLUMNS[field]] !== null);
      if (present.length === 0) continue;
      const dek = await this.keys.dek(row.id, { version: row.dek_version, kekVersion: row.dek_kek_version, wrapped: row.dek_wrapped });
      try {
        for (const field of present) {
          const plaintext = decryptField(dek, row[FIELD_COLUMNS[field]] as Buffer, row.id, field, row.revision);
          const value = JSON.parse(plaintext.toString('utf8')) as unknown;
          zero(plaintext);
          const normalized = typeof value === 'string' ? normalizeForBlindIndex(field, value) : null;
          if (normalized === null) continue;
          const { version, digest } = this.keys.indexDigest(field, normalized);
          fresh.ids.push(row.id);
          fresh.fields.push(field);
          fresh.versions.push(version);
          fresh.digests.push(digest);
        }
      } finally {
        zero(dek);
      }
    }
    await manager.query('DELETE FROM customer_blind_indexes WHERE customer_id = ANY($1::uuid[])', [ids]);
    if (fresh.ids.length > 0) {
      await manager.query(
        `INSERT INTO customer_blind_indexes (customer_id, field, key_version, digest, norm_version)
         SELECT id, field, key_version, digest, ${BLIND_INDEX_NORMALISATION}
         FROM unnest($1::uuid[], $2::text[], $3::int[], $4::bytea[]) AS t(id, field, key_version, digest)`,
        [fresh.ids, fresh.fields, fresh.versions, fresh.digests],
      );
    }
    await this.audit.recordInTransaction(manager, {
      requestId: randomUUID(),
      actor: REINDEX_ACTOR,
      action: 'customers.blind_index.rebuild',
      resource: { type: 'customer', id: null },
      purpose: null,
      reason: null,
      fields: { revealed: [], masked: [], written: [] },
      outcome: 'allowed',
      status: 0,
      clientIp: null,
      // The customers whose values were decrypted: each sees this event in its access report.
      details: { normVersion: BLIND_INDEX_NORMALISATION, customers: ids.length, indexes: fresh.ids.length, customerIds: ids.join(',') },
    });
    return ids.length;
  }
}
