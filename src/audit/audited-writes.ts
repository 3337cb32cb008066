import { Inject, Injectable } from '@nestjs/common';
import type { Logger } from 'pino';
import { DataSource, type EntityManager } from 'typeorm';
import { describeUnexpected } from '../common/error-response.js';
import { VaultError } from '../common/vault-error.js';
import { ROOT_LOGGER } from '../config/runtime.js';
import { writeTransaction } from '../database/commit.js';
import { CLAIMED, claimCte, claimParams, isClaimRefused, isKeyInUse, keyInUse, storedAnswer } from '../idempotency/idempotency.js';
import { AuditLog } from './audit-log.js';
import type { AuditTrail } from './audit-trail.js';

/**
 * How every write commits (DESIGN §5): the write, its audit event and, when the request carries an
 * Idempotency-Key, the key with the answer, in one transaction. The trail counts as recorded only
 * once the transaction committed: marking it inside would lie when COMMIT itself fails (a deferred
 * constraint, a lost connection), and the audit interceptor, believing the event written, would
 * record nothing about the failed request. A connection lost while COMMIT is in flight answers 503
 * `outcome_unknown` (writeTransaction): the caller retries with its key.
 */
@Injectable()
export class AuditedWrites {
  private readonly log: Logger;

  constructor(
    @Inject(DataSource) private readonly dataSource: DataSource,
    @Inject(AuditLog) private readonly audit: AuditLog,
    @Inject(ROOT_LOGGER) log: Logger,
  ) {
    this.log = log.child({ component: 'audit' });
  }

  /**
   * Runs `work` and records its success event (status `status`) in one transaction; `work`'s value is
   * the answer. When the request's Idempotency-Key turns out to be taken, the transaction rolls back
   * and so does what `work` wrote on the trail: the event of the refusal (422, 409) or of the replay
   * names no field shown and no row that was never kept.
   */
  async run<T>(trail: AuditTrail, status: number, work: (manager: EntityManager) => Promise<T>): Promise<T> {
    const undo = trail.idempotency === undefined ? undefined : trail.checkpoint();
    let answer: T;
    try {
      answer = await writeTransaction(this.dataSource, async (manager) => {
        const value = await work(manager);
        await this.record(manager, trail, status, value);
        return value;
      });
    } catch (error) {
      if (undo !== undefined && isKeyInUse(error)) undo();
      throw error;
    }
    trail.recorded = true;
    return answer;
  }

  /**
   * The success event inside the caller's transaction, and the request's Idempotency-Key with the
   * answer (less the route's omitted members) in the same statement when it has one. A key held by
   * another request of the principal fails the write with `idempotency_key_in_use` (the
   * IdempotencyInterceptor then answers from that request's stored answer); any other failure is
   * `audit_unavailable`, as with `AuditLog.recordInTransaction`.
   */
  async record(manager: EntityManager, trail: AuditTrail, status: number, answer: unknown): Promise<void> {
    const event = trail.toEvent('allowed', status);
    const claim = trail.idempotency;
    if (claim === undefined) {
      await this.audit.recordInTransaction(manager, event);
      return;
    }
    const insert = this.audit.insertFor(event, 1);
    const params = [insert.value, ...claimParams(claim, trail.requestId, trail.resource.id, status), storedAnswer(answer, claim.omit)];
    try {
      await manager.query(`WITH ${claimCte(2, `$${params.length}::jsonb`)}, a AS (${insert.sql}) SELECT ${CLAIMED}`, params);
    } catch (error) {
      if (isClaimRefused(error)) throw keyInUse();
      this.log.error({ err: describeUnexpected(error) }, 'audit event could not be written in the caller transaction');
      throw new VaultError('audit_unavailable', 'the audit log cannot be written');
    }
  }
}
