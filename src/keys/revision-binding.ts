import { Inject, Injectable, type OnApplicationBootstrap, type OnModuleDestroy } from '@nestjs/common';
import { randomUUID } from 'node:crypto';
import type { Logger } from 'pino';
import { DataSource, type QueryRunner } from 'typeorm';
import { AuditLog, type AuditActor } from '../audit/audit-log.js';
import type { VaultConfig } from '../config/config.js';
import { ROOT_LOGGER, VAULT_CONFIG } from '../config/runtime.js';
import { DecryptionFailedError, UNBOUND_REVISION, zero } from '../crypto/index.js';
import { FIRST_REVISION, resealRecord } from '../customers/record-cipher.js';
import { returningRows } from '../database/query.js';
import { LOCK_BUSY, RecurringTask, underSessionLock } from '../database/singleton-job.js';
import type { CustomerRow } from '../customers/customer-columns.js';
import { KeyRing } from './key-ring.service.js';

/** One revision job at a time across every process (session-level, released if the process dies). */
export const REVISION_BINDING_LOCK = 0x6376_7262; // 'cvrb'

const BOOT_DELAY_MS = 1_000;
const BINDING_ACTOR: AuditActor = { id: null, name: 'system:revision-binding', kind: 'service', roles: [] };

export interface BindingRun {
  /** Records bound by this run. */
  bound: number;
  /** Whether no unbound record is left (the job is finished). */
  finished: boolean;
}

/**
 * The revision job of migration 1764200610000: re-encrypts every record written before revisions
 * were bound into the field AD (revision 0) under revision 1, in batches, each batch one
 * transaction with its records locked. The state is the rows themselves (revision 0 = still to do),
 * so the job is idempotent and resumes wherever it was interrupted; `pg_try_advisory_lock` lets one
 * process run it at a time. Every vault process starts it at boot while it is unfinished;
 * `keys:bind-revisions` runs it from the CLI.
 */
@Injectable()
export class RevisionBinding implements OnApplicationBootstrap, OnModuleDestroy {
  private finished = false;
  private stopped = false;
  /** The run each process starts shortly after boot, off the start-up path (the CLI pauses it and runs the job itself). */
  private readonly atBoot: RecurringTask;

  constructor(
    @Inject(DataSource) private readonly dataSource: DataSource,
    @Inject(KeyRing) private readonly keys: KeyRing,
    @Inject(AuditLog) private readonly audit: AuditLog,
    @Inject(VAULT_CONFIG) private readonly config: VaultConfig,
    @Inject(ROOT_LOGGER) private readonly log: Logger,
  ) {
    this.atBoot = new RecurringTask(
      () => this.run(),
      { log: this.log, failure: 'revision binding job: will run again at the next start' },
      null,
    );
  }

  onApplicationBootstrap(): void {
    this.atBoot.start(BOOT_DELAY_MS);
  }

  async onModuleDestroy(): Promise<void> {
    this.stopped = true;
    await this.pause();
  }

  /** Cancels the run this process would start after boot, or waits for it if it has started. */
  async pause(): Promise<void> {
    await this.atBoot.stop();
  }

  /**
   * A record still at the unbound revision may be read only until the job has finished; after that
   * one means a row was set back to before the migration (a rollback), and is refused. Costs a query
   * only on an unbound record, and only until the job is seen finished.
   */
  async assertUnboundReadable(customerId: string): Promise<void> {
    if (!this.finished) {
      const [row] = (await this.dataSource.query('SELECT finished_at FROM field_revision_binding')) as { finished_at: Date | null }[];
      this.finished = row?.finished_at != null;
    }
    if (this.finished) {
      this.log.warn({ customerId }, 'a customer record is at the unbound revision after the revision job finished: refused (rolled back?)');
      throw new DecryptionFailedError('authentication_failed');
    }
  }

  /**
   * Binds unbound records; `maxBatches` bounds the run (a slice of the job). 'busy' when another
   * process runs it.
   */
  async run(options: { batchSize?: number; maxBatches?: number } = {}): Promise<BindingRun | 'busy'> {
    const batchSize = options.batchSize ?? this.config.rotationBatchSize;
    const [state] = (await this.dataSource.query('SELECT finished_at FROM field_revision_binding')) as { finished_at: Date | null }[];
    if (state?.finished_at != null) {
      this.finished = true;
      return { bound: 0, finished: true };
    }
    const run = await underSessionLock(this.dataSource, REVISION_BINDING_LOCK, async (runner) => {
      let bound = 0;
      for (let batches = 0; !this.stopped && (options.maxBatches === undefined || batches < options.maxBatches); batches++) {
        const n = await this.bindBatch(runner, batchSize);
        if (n === null) {
          await this.markFinished(runner, bound);
          return { bound, finished: true };
        }
        bound += n;
      }
      return { bound, finished: false };
    });
    return run === LOCK_BUSY ? 'busy' : run;
  }

  /** One batch in one transaction; null when no unbound record was left. */
  private async bindBatch(runner: QueryRunner, batchSize: number): Promise<number | null> {
    await runner.startTransaction();
    try {
      const rows = (await runner.query(
        `SELECT c.*, d.kek_version AS dek_kek_version, d.wrapped_key AS dek_wrapped
         FROM customers c LEFT JOIN customer_deks d ON d.customer_id = c.id AND d.version = c.dek_version
         WHERE c.revision = $1 AND c.erased_at IS NULL ORDER BY c.id LIMIT $2 FOR UPDATE OF c`,
        [UNBOUND_REVISION, batchSize],
      )) as CustomerRow[];
      if (rows.length === 0) {
        await runner.rollbackTransaction();
        return null;
      }
      for (const row of rows) {
        if (row.dek_wrapped === null || row.dek_kek_version === null) throw new DecryptionFailedError('authentication_failed');
        const dek = await this.keys.dek(row.id, { version: row.dek_version, kekVersion: row.dek_kek_version, wrapped: row.dek_wrapped });
        try {
          const resealed = resealRecord(row, dek, { dek, dekVersion: row.dek_version, revision: FIRST_REVISION }, {}, 3);
          await runner.query(`UPDATE customers SET ${[...resealed.sets, 'revision = $2'].join(', ')} WHERE id = $1`, [row.id, FIRST_REVISION, ...resealed.params]);
        } finally {
          zero(dek);
        }
      }
      await runner.query('UPDATE field_revision_binding SET bound = bound + $1', [rows.length]);
      await runner.commitTransaction();
      return rows.length;
    } catch (error) {
      if (runner.isTransactionActive) await runner.rollbackTransaction().catch(() => undefined);
      throw error;
    }
  }

  private async markFinished(runner: QueryRunner, boundNow: number): Promise<void> {
    await runner.startTransaction();
    try {
      const [row] = await returningRows<{ bound: string }>(runner.manager, `UPDATE field_revision_binding SET finished_at = now() WHERE finished_at IS NULL RETURNING bound`, []);
      if (row) {
        await this.audit.recordInTransaction(runner.manager, {
          requestId: randomUUID(),
          actor: BINDING_ACTOR,
          action: 'keys.revisions.bound',
          resource: { type: 'key', id: null },
          purpose: null,
          reason: null,
          fields: { revealed: [], masked: [], written: [] },
          outcome: 'allowed',
          status: 0,
          clientIp: null,
          details: { bound: Number(row.bound), boundByThisRun: boundNow },
        });
      }
      await runner.commitTransaction();
    } catch (error) {
      if (runner.isTransactionActive) await runner.rollbackTransaction().catch(() => undefined);
      throw error;
    }
    this.finished = true;
    this.log.info('revision binding job finished: every customer record is bound to its revision');
  }
}
