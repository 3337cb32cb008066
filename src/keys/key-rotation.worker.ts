import { Inject, Injectable, type OnApplicationBootstrap, type OnModuleDestroy } from '@nestjs/common';
import { randomUUID } from 'node:crypto';
import { setTimeout as sleep } from 'node:timers/promises';
import type { Logger } from 'pino';
import { DataSource, type QueryRunner } from 'typeorm';
import { AuditLog, type AuditActor } from '../audit/audit-log.js';
import { VAULT_CONFIG, ROOT_LOGGER } from '../config/runtime.js';
import type { VaultConfig } from '../config/config.js';
import { DecryptionFailedError, KeyNotFoundError } from '../crypto/index.js';
import { affectedRows, returningRows } from '../database/query.js';
import { RecurringTask, underSessionLock } from '../database/singleton-job.js';
import { KeyRing } from './key-ring.service.js';

/** One rotation job runs at a time across every process (session-level, released if the process dies). */
export const ROTATION_LOCK = 0x6376_6b72; // 'cvkr'
const POLL_INTERVAL_MS = 1_000;
/** Pause before another pass when the completion check found DEKs left under an old version. */
const REPASS_PAUSE_MS = 100;

/** The audit actor of background key work: no principal behind it. */
export const KEY_ROTATION_ACTOR: AuditActor = { id: null, name: 'system:key-rotation', kind: 'service', roles: [] };

interface PendingJob {
  id: string;
  target_version: number;
  state: 'queued' | 'running';
  last_customer_id: string | null;
}

interface RewrappedBatch {
  ids: string[];
  versions: number[];
  fromKeks: number[];
  wrapped: Buffer[];
}

interface DekRow {
  customer_id: string;
  version: number;
  kek_version: number;
  wrapped_key: Buffer;
}

/**
 * Runs KEK rotation jobs: rewraps every DEK not under the job's target version, in batches of
 * `rotationBatchSize` per transaction (progress and cursor committed with each batch, so a job
 * resumes where it stopped after a crash). Field ciphertexts are untouched: the DEK bytes stay the
 * same. Every process polls; `pg_try_advisory_lock` lets one of them work at a time.
 */
@Injectable()
export class KeyRotationWorker implements OnApplicationBootstrap, OnModuleDestroy {
  private readonly task: RecurringTask;
  private stopped = false;

  constructor(
    @Inject(DataSource) private readonly dataSource: DataSource,
    @Inject(KeyRing) private readonly keys: KeyRing,
    @Inject(AuditLog) private readonly audit: AuditLog,
    @Inject(VAULT_CONFIG) private readonly config: VaultConfig,
    @Inject(ROOT_LOGGER) private readonly log: Logger,
  ) {
    this.task = new RecurringTask(
      () => this.runPending(),
      { log: this.log, failure: 'key rotation worker: will retry' },
      POLL_INTERVAL_MS,
    );
  }

  onApplicationBootstrap(): void {
    this.task.start(POLL_INTERVAL_MS);
  }

  async onModuleDestroy(): Promise<void> {
    await this.stop();
  }

  /** Stops polling and waits for the batch in progress (its progress is committed or rolled back). */
  async stop(): Promise<void> {
    this.stopped = true;
    await this.task.stop();
  }

  /** Looks for work now (after a rotation in this process) rather than at the next poll. */
  poke(): void {
    this.task.runNow();
  }

  /** Runs pending jobs to completion in this process (CLI `keys:rotate --wait`, benchmarks). */
  async drain(): Promise<void> {
    await this.task.running;
    await this.runPending();
  }

  private async runPending(): Promise<void> {
    // A process fenced off by a root rotation leaves the jobs to processes that hold the current root key.
    if (this.keys.stale) return;
    const pending = (await this.dataSource.query(`SELECT 1 FROM key_rotation_jobs WHERE state IN ('queued', 'running') LIMIT 1`)) as unknown[];
    if (pending.length === 0) return;
    await underSessionLock(this.dataSource, ROTATION_LOCK, async (runner) => {
      while (!this.stopped) {
        const [job] = (await runner.query(
          `SELECT id, target_version, state, last_customer_id FROM key_rotation_jobs
           WHERE state IN ('queued', 'running') ORDER BY created_at LIMIT 1`,
        )) as PendingJob[];
        if (!job) break;
        await this.runJob(runner, job);
      }
    });
  }

  private async runJob(runner: QueryRunner, job: PendingJob): Promise<void> {
    try {
      await this.keys.ensureKek(job.target_version);
      if (job.state === 'queued') await this.start(runner, job);
      await this.rewrapAll(runner, job);
    } catch (error) {
      if (runner.isTransactionActive) await runner.rollbackTransaction();
      // Fenced meanwhile: this process cannot open the newer keys, another one will run the job.
      if (this.keys.stale) throw error;
      // Keys that cannot be opened will not open on a retry either; anything else (database) is retried.
      if (error instanceof DecryptionFailedError || error instanceof KeyNotFoundError) {
        await this.finish(runner, job, 'failed', `${error.name}: a customer key could not be rewrapped`);
        return;
      }
      throw error;
    }
  }

  private async start(runner: QueryRunner, job: PendingJob): Promise<void> {
    await runner.startTransaction();
    const [{ total }] = (await runner.query('SELECT count(*)::bigint AS total FROM customer_deks WHERE kek_version <> $1', [job.target_version])) as { total: string }[];
    await runner.query(`UPDATE key_rotation_jobs SET state = 'running', started_at = now(), total = $2 WHERE id = $1 AND state = 'queued'`, [job.id, total]);
    await this.audit.recordInTransaction(runner.manager, this.event('keys.rotation.start', job, { total: Number(total) }));
    await runner.commitTransaction();
    this.log.info({ jobId: job.id, targetVersion: job.target_version, total: Number(total) }, 'key rotation job started');
  }

  /**
   * Passes over every DEK not under the target version until the completion check, in its own
   * transaction, finds none left. No timer decides "done": a DEK inserted under an old version
   * after a pass (a process with a stale key ring; since 1764200600000 the database refuses that)
   * only means one more pass.
   */
  private async rewrapAll(runner: QueryRunner, job: PendingJob): Promise<void> {
    const target = job.target_version;
    let cursor = job.last_customer_id;
    while (!this.stopped) {
      const batch = await this.rewrapped(await this.readBatch(target, cursor), target);
      if (batch === null) {
        const outcome = await this.finishIfComplete(runner, job);
        if (outcome !== 'remaining') return;
        this.log.warn({ jobId: job.id, targetVersion: target }, 'key rotation job: DEKs remain under an old KEK version after a pass; passing again');
        cursor = null;
        await runner.query('UPDATE key_rotation_jobs SET last_customer_id = NULL WHERE id = $1', [job.id]);
        await sleep(REPASS_PAUSE_MS);
        continue;
      }
      cursor = batch.ids[batch.ids.length - 1];
      // Superseded by a newer rotation meanwhile: its job takes over.
      if (!(await this.writeBatch(runner, job, batch, cursor))) return;
      if (this.config.rotationBatchPauseMs > 0) await sleep(this.config.rotationBatchPauseMs);
    }
  }

  /**
   * The completion check and the "done" record in one transaction: the job row is locked (a newer
   * rotation, which supersedes it, waits), then any DEK left under another version means another
   * pass. 'superseded' when the job is no longer running.
   */
  private async finishIfComplete(runner: QueryRunner, job: PendingJob): Promise<'done' | 'remaining' | 'superseded'> {
    await runner.startTransaction();
    try {
      const running = (await runner.query(`SELECT 1 FROM key_rotation_jobs WHERE id = $1 AND state = 'running' FOR UPDATE`, [job.id])) as unknown[];
      if (running.length === 0) {
        await runner.rollbackTransaction();
        return 'superseded';
      }
      const left = (await runner.query('SELECT 1 FROM customer_deks WHERE kek_version <> $1 LIMIT 1', [job.target_version])) as unknown[];
      if (left.length > 0) {
        await runner.rollbackTransaction();
        return 'remaining';
      }
      await this.recordFinish(runner, job, 'done', null);
      await runner.commitTransaction();
    } catch (error) {
      if (runner.isTransactionActive) await runner.rollbackTransaction().catch(() => undefined);
      throw error;
    }
    this.log.info({ jobId: job.id, targetVersion: job.target_version, state: 'done' }, 'key rotation job finished');
    return 'done';
  }

  /** The next DEKs after `cursor` not under the target version, read without locks (see writeBatch). */
  private async readBatch(target: number, cursor: string | null): Promise<DekRow[]> {
    return (await this.dataSource.query(
      `SELECT customer_id, version, kek_version, wrapped_key FROM customer_deks
       WHERE kek_version <> $1 AND ($2::uuid IS NULL OR customer_id > $2::uuid)
       ORDER BY customer_id, version LIMIT $3`,
      [target, cursor, this.config.rotationBatchSize],
    )) as DekRow[];
  }

  /** The batch rewrapped under the target KEK, or null when there was nothing to rewrap. */
  private async rewrapped(rows: DekRow[], target: number): Promise<RewrappedBatch | null> {
    if (rows.length === 0) return null;
    // Every row is under another version than the target (readBatch): each one's KEK, once.
    for (const version of new Set(rows.map((row) => row.kek_version))) await this.keys.ensureKek(version);
    const batch: RewrappedBatch = { ids: [], versions: [], fromKeks: [], wrapped: [] };
    for (const row of rows) {
      batch.ids.push(row.customer_id);
      batch.versions.push(row.version);
      batch.fromKeks.push(row.kek_version);
      batch.wrapped.push(this.keys.rewrapDekTo(row.customer_id, { version: row.version, kekVersion: row.kek_version, wrapped: row.wrapped_key }, target));
    }
    return batch;
  }

  /**
   * One transaction: the rewrapped DEKs and the job's progress and cursor. No row locks were taken
   * while reading (FOR UPDATE would write a lock into every row, doubling the writes): a DEK is only
   * updated if it is still the one that was read, under the same KEK. One re-keyed or erased
   * meanwhile is left alone (a re-key writes its new DEK under the active KEK; anything else is
   * found by the completion check). False when the job was superseded by a newer rotation.
   */
  private async writeBatch(runner: QueryRunner, job: PendingJob, batch: RewrappedBatch, cursor: string): Promise<boolean> {
    await runner.startTransaction();
    try {
      const updated = await affectedRows(
        runner.manager,
        `UPDATE customer_deks d SET kek_version = $1, wrapped_key = v.w
         FROM unnest($2::uuid[], $3::int[], $4::int[], $5::bytea[]) AS v(id, ver, kek, w)
         WHERE d.customer_id = v.id AND d.version = v.ver AND d.kek_version = v.kek`,
        [job.target_version, batch.ids, batch.versions, batch.fromKeks, batch.wrapped],
      );
      const progressed = await returningRows(
        runner.manager,
        `UPDATE key_rotation_jobs SET done = done + $2, total = GREATEST(total, done + $2), last_customer_id = $3
         WHERE id = $1 AND state = 'running' RETURNING id`,
        [job.id, updated, cursor],
      );
      if (progressed.length === 0) {
        await runner.rollbackTransaction();
        return false;
      }
      await runner.commitTransaction();
      return true;
    } catch (error) {
      if (runner.isTransactionActive) await runner.rollbackTransaction().catch(() => undefined);
      throw error;
    }
  }

  private async finish(runner: QueryRunner, job: PendingJob, state: 'failed', error: string): Promise<void> {
    await runner.startTransaction();
    await this.recordFinish(runner, job, state, error);
    await runner.commitTransaction();
    this.log.info({ jobId: job.id, targetVersion: job.target_version, state }, 'key rotation job finished');
  }

  /** The job's final state and its audit event, in the caller's transaction. */
  private async recordFinish(runner: QueryRunner, job: PendingJob, state: 'done' | 'failed', error: string | null): Promise<void> {
    const [row] = await returningRows<{ total: string; done: string }>(
      runner.manager,
      `UPDATE key_rotation_jobs SET state = $2, error = $3, finished_at = now(), total = GREATEST(total, done)
       WHERE id = $1 AND state IN ('queued', 'running') RETURNING total, done`,
      [job.id, state, error],
    );
    if (row) {
      await this.audit.recordInTransaction(runner.manager, this.event(state === 'done' ? 'keys.rotation.finish' : 'keys.rotation.fail', job, { total: Number(row.total), done: Number(row.done) }));
    }
  }

  private event(action: string, job: PendingJob, details: Record<string, number>) {
    return {
      requestId: randomUUID(),
      actor: KEY_ROTATION_ACTOR,
      action,
      resource: { type: 'key', id: String(job.target_version) },
      purpose: null,
      reason: null,
      fields: { revealed: [], masked: [], written: [] },
      outcome: 'allowed' as const,
      status: 0,
      clientIp: null,
      details: { jobId: job.id, targetVersion: job.target_version, ...details },
    };
  }
}
