import { Inject, Injectable, type OnApplicationBootstrap, type OnModuleDestroy } from '@nestjs/common';
import { randomUUID } from 'node:crypto';
import type { Logger } from 'pino';
import { DataSource } from 'typeorm';
import type { AuditActor } from '../audit/audit-log.js';
import { AuditTrail } from '../audit/audit-trail.js';
import { VaultError } from '../common/vault-error.js';
import type { VaultConfig } from '../config/config.js';
import { ROOT_LOGGER, VAULT_CONFIG } from '../config/runtime.js';
import { CustomersService } from '../customers/customers.service.js';
import { LOCK_BUSY, RecurringTask, underSessionLock } from '../database/singleton-job.js';

/** One retention run at a time across every process (session-level, released if the process dies). */
export const RETENTION_LOCK = 0x6376_7274; // 'cvrt'
/** The audit actor of the retention job: no principal behind it. */
export const RETENTION_ACTOR: AuditActor = { id: null, name: 'system:retention', kind: 'service', roles: [] };
const PAGE = 500;
const DAY_MS = 86_400_000;

export interface DueCustomer {
  id: string;
  closedAt: string;
}

export interface RetentionRun {
  /** false when another process held the lock (nothing done here). */
  ran: boolean;
  erased: DueCustomer[];
}

/**
 * Retention after account closure (DESIGN §4): customers closed more than VAULT_RETENTION_DAYS ago
 * are crypto-shredded exactly as DELETE does (CustomersService.shred), each in its own transaction
 * with its `customer.erase` event, actor `system:retention`. Resumable by construction: a customer
 * leaves the candidate set when its erasure commits, so a run cut short is finished by the next one.
 * Restricted customers are kept: restriction is often asked for while a dispute is open, and erasing
 * the data would destroy what the dispute needs (docs/SUBJECT-ACCESS.md, "Retention").
 */
@Injectable()
export class RetentionService implements OnApplicationBootstrap, OnModuleDestroy {
  private readonly task: RecurringTask;
  private stopped = false;
  private readonly log: Logger;

  constructor(
    @Inject(DataSource) private readonly dataSource: DataSource,
    @Inject(CustomersService) private readonly customers: CustomersService,
    @Inject(VAULT_CONFIG) private readonly config: VaultConfig,
    @Inject(ROOT_LOGGER) rootLog: Logger,
  ) {
    this.log = rootLog.child({ component: 'retention' });
    this.task = new RecurringTask(
      () => this.runOnce(),
      { log: this.log, failure: 'retention run failed: will retry at the next interval' },
      config.retentionIntervalMs,
    );
  }

  get enabled(): boolean {
    return this.config.retentionDays > 0;
  }

  onApplicationBootstrap(): void {
    if (this.enabled) this.task.start(this.config.retentionIntervalMs);
  }

  async onModuleDestroy(): Promise<void> {
    this.stopped = true;
    await this.task.stop();
  }

  /** Customers due for erasure now, oldest closure first, in pages (bounded memory). */
  async *due(): AsyncGenerator<DueCustomer> {
    let after: { closedAt: Date; id: string } | undefined;
    for (;;) {
      const rows = await this.dataSource.query<{ id: string; closed_at: Date }[]>(
        `SELECT id, closed_at FROM customers
         WHERE closed_at IS NOT NULL AND erased_at IS NULL AND restriction_since IS NULL
           AND closed_at < now() - make_interval(days => $1)
           AND ($2::timestamptz IS NULL OR (closed_at, id) > ($2, $3::uuid))
         ORDER BY closed_at, id LIMIT ${PAGE}`,
        [this.config.retentionDays, after?.closedAt ?? null, after?.id ?? null],
      );
      for (const row of rows) yield { id: row.id, closedAt: row.closed_at.toISOString() };
      if (rows.length < PAGE) return;
      const last = rows[rows.length - 1];
      after = { closedAt: last.closed_at, id: last.id };
    }
  }

  /** One run: under the advisory lock, erases every customer due. */
  async runOnce(): Promise<RetentionRun> {
    const erased = await underSessionLock(this.dataSource, RETENTION_LOCK, async () => {
      const done: DueCustomer[] = [];
      for await (const customer of this.due()) {
        if (this.stopped) break;
        if (await this.erase(customer)) done.push(customer);
      }
      return done;
    });
    if (erased === LOCK_BUSY) return { ran: false, erased: [] };
    if (erased.length > 0) this.log.info({ erased: erased.length }, 'retention: customers erased');
    return { ran: true, erased };
  }

  private async erase(customer: DueCustomer): Promise<boolean> {
    const trail = new AuditTrail(randomUUID(), 'customer.erase', 'customer', null);
    trail.actor = RETENTION_ACTOR;
    trail.reason = `retention: account closed more than ${this.config.retentionDays} days ago`;
    trail.details.closedAt = customer.closedAt;
    // Re-checked on the locked row: reopened, re-dated or restricted since it was listed -> kept.
    try {
      return await this.customers.shred(customer.id, trail, (row) =>
        row.restriction_since === null && row.closed_at !== null && row.closed_at.getTime() < Date.now() - this.config.retentionDays * DAY_MS,
      );
    } catch (error) {
      // Erased by a DELETE meanwhile: nothing left to do.
      if (error instanceof VaultError && error.code === 'gone') return false;
      throw error;
    }
  }
}
