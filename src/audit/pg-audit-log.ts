import { Inject, Injectable, type OnApplicationShutdown } from '@nestjs/common';
import type { Logger } from 'pino';
import { DataSource, type EntityManager } from 'typeorm';
import { describeUnexpected } from '../common/error-response.js';
import { VaultError } from '../common/vault-error.js';
import { ROOT_LOGGER } from '../config/runtime.js';
import { preparedQuery } from '../database/query.js';
import { EVENT_COLUMNS, RECORDSET_TYPES, inputToRow, type EventColumn } from './audit-event.js';
import { AuditLog, type AuditEventInput } from './audit-log.js';

/** One statement inserts a whole batch: the rows travel as a single jsonb parameter ($param). */
const pendingInserts = new Map<number, string>();
function insertPending(param: number): string {
  let sql = pendingInserts.get(param);
  if (sql === undefined) {
    sql = `INSERT INTO audit_pending (${EVENT_COLUMNS.join(', ')})
  SELECT ${EVENT_COLUMNS.join(', ')} FROM jsonb_to_recordset($${param}::jsonb) AS x(${RECORDSET_TYPES})`;
    pendingInserts.set(param, sql);
  }
  return sql;
}
const INSERT_PENDING = insertPending(1);

/** Bounds one statement's size; a larger queue is flushed in several consecutive batches. */
const MAX_BATCH = 1000;

interface Waiter {
  row: Record<EventColumn, unknown>;
  resolve: () => void;
  reject: (error: unknown) => void;
}

/** Appends events straight to the chain when this process seals (the AuditSealer). */
export interface ChainAppender {
  /** False when another process seals; throws when the append failed. */
  appendIfSealer(rows: Record<EventColumn, unknown>[]): Promise<boolean>;
}

export interface GroupCommitStats {
  events: number;
  batches: number;
  maxBatch: number;
  failedBatches: number;
}

/**
 * The AuditLog of the vault. `record` is a group-commit writer: calls arriving while a flush is in
 * flight queue up and are written by the next flush as one multi-row INSERT (one round trip, one
 * commit), started as soon as the previous one finished (no timer). While this process is the
 * sealer the batch goes straight into the chain (AuditSealer.appendIfSealer); otherwise into
 * `audit_pending`, for the sealing process to chain, as do the events written inside a caller's
 * transaction or statement (`recordInTransaction`, `insertFor`). Each caller resolves only after its batch committed;
 * a failed batch rejects all of its callers with `audit_unavailable`, so the interceptor answers
 * 503 (fail closed).
 */
@Injectable()
export class PgAuditLog extends AuditLog implements OnApplicationShutdown {
  private queue: Waiter[] = [];
  private flushing: Promise<void> | undefined;
  private readonly log: Logger;
  private chain: ChainAppender | undefined;
  readonly stats: GroupCommitStats = { events: 0, batches: 0, maxBatch: 0, failedBatches: 0 };

  constructor(
    @Inject(DataSource) private readonly dataSource: DataSource,
    @Inject(ROOT_LOGGER) rootLog: Logger,
  ) {
    super();
    this.log = rootLog.child({ component: 'audit' });
  }

  record(event: AuditEventInput): Promise<void> {
    let row: Record<EventColumn, unknown>;
    try {
      row = inputToRow(event);
    } catch {
      return Promise.reject(new VaultError('audit_unavailable', 'the audit log cannot be written'));
    }
    return new Promise<void>((resolve, reject) => {
      this.queue.push({ row, resolve, reject });
      this.flushing ??= this.drain();
    });
  }

  async recordInTransaction(manager: EntityManager, event: AuditEventInput): Promise<void> {
    const { sql, value } = this.insertFor(event, 1);
    try {
      await manager.query(sql, [value]);
    } catch (error) {
      this.log.error({ err: describeUnexpected(error) }, 'audit event could not be written in the caller transaction');
      throw new VaultError('audit_unavailable', 'the audit log cannot be written');
    }
  }

  /** Called by the sealer at start: batches go straight into the chain while this process seals. */
  attachChain(chain: ChainAppender): void {
    this.chain = chain;
  }

  insertFor(event: AuditEventInput, param: number): { sql: string; value: unknown } {
    try {
      return { sql: insertPending(param), value: JSON.stringify([inputToRow(event)]) };
    } catch {
      throw new VaultError('audit_unavailable', 'the audit log cannot be written');
    }
  }

  private async drain(): Promise<void> {
    try {
      while (this.queue.length > 0) {
        const batch = this.queue.length <= MAX_BATCH ? this.queue : this.queue.slice(0, MAX_BATCH);
        this.queue = this.queue.length <= MAX_BATCH ? [] : this.queue.slice(MAX_BATCH);
        await this.flush(batch);
      }
    } finally {
      this.flushing = undefined;
    }
  }

  private async flush(batch: Waiter[]): Promise<void> {
    try {
      const rows = batch.map((w) => w.row);
      const chained = this.chain !== undefined && (await this.chain.appendIfSealer(rows));
      if (!chained) await preparedQuery(this.dataSource, INSERT_PENDING, [JSON.stringify(rows)]);
    } catch (error) {
      this.stats.failedBatches++;
      this.log.error({ err: describeUnexpected(error), events: batch.length }, 'audit batch could not be written: requests fail closed');
      const failure = new VaultError('audit_unavailable', 'the audit log cannot be written');
      for (const waiter of batch) waiter.reject(failure);
      return;
    }
    this.stats.events += batch.length;
    this.stats.batches++;
    if (batch.length > this.stats.maxBatch) this.stats.maxBatch = batch.length;
    for (const waiter of batch) waiter.resolve();
  }

  /** Resolves once every queued event has been flushed (or failed). */
  async idle(): Promise<void> {
    while (this.flushing) await this.flushing;
  }

  /** Lets queued events finish before the database closes. */
  async onApplicationShutdown(): Promise<void> {
    await this.idle();
  }
}
