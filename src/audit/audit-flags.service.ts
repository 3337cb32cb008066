import { Inject, Injectable } from '@nestjs/common';
import { DataSource } from 'typeorm';
import { AccessPolicy } from '../access/access-policy.js';
import type { Actor } from '../access/vocabulary.js';
import { VaultError } from '../common/vault-error.js';
import type { VaultConfig } from '../config/config.js';
import { VAULT_CONFIG } from '../config/runtime.js';
import { AuditSealer } from './audit-sealer.js';
import type { AuditTrail } from './audit-trail.js';

/** Denied requests by one actor within one BURST_MINUTES window that make a burst. */
export const DENIED_BURST_THRESHOLD = 10;
export const BURST_MINUTES = 5;
/** Rows listed per flag; the totals count them all. */
export const FLAG_ROWS = 100;
/** Longest window one request may scan (the audit API pages beyond). */
export const MAX_FLAG_WINDOW_DAYS = 31;

export interface FlaggedActor {
  id: string | null;
  name: string;
  kind: string;
}

export interface AuditFlags {
  from: string;
  to: string;
  officeHours: { start: string; end: string; timeZone: string };
  deniedBursts: { total: number; items: { actor: FlaggedActor; windowStart: string; denied: number }[] };
  emptySearches: { total: number; items: { seq: number; at: string; actor: FlaggedActor; searchBy: string | null }[] };
  afterHoursReads: { total: number; items: { seq: number; at: string; actor: FlaggedActor; action: string; customerId: string | null; revealed: string[] }[] };
}

const ACTOR = `actor_id AS id, actor_name AS name, actor_kind AS kind`;

/**
 * Signals for security staff over a window of the audit log (DESIGN §7): bursts of denied requests by
 * one actor, searches that found nothing (someone guessing values), and plaintext reads outside
 * office hours (`VAULT_OFFICE_HOURS` in `VAULT_OFFICE_TIMEZONE`). Read-only SQL over the sealed log.
 */
@Injectable()
export class AuditFlagsService {
  constructor(
    @Inject(DataSource) private readonly dataSource: DataSource,
    @Inject(AccessPolicy) private readonly policy: AccessPolicy,
    @Inject(AuditSealer) private readonly sealer: AuditSealer,
    @Inject(VAULT_CONFIG) private readonly config: VaultConfig,
  ) {}

  async flags(actor: Actor, trail: AuditTrail, window: { from?: string; to?: string }): Promise<AuditFlags> {
    this.policy.assertCan(actor, 'readAuditLog');
    const to = window.to === undefined ? new Date() : new Date(window.to);
    const from = window.from === undefined ? new Date(to.getTime() - 24 * 3_600_000) : new Date(window.from);
    if (!(from < to)) throw new VaultError('invalid_input', 'from must be before to', [{ field: 'from', problem: 'must be before to' }]);
    if (to.getTime() - from.getTime() > MAX_FLAG_WINDOW_DAYS * 86_400_000) {
      throw new VaultError('invalid_input', `the window is at most ${MAX_FLAG_WINDOW_DAYS} days`, [{ field: 'from', problem: `at most ${MAX_FLAG_WINDOW_DAYS} days before to` }]);
    }
    trail.details.from = from.toISOString();
    trail.details.to = to.toISOString();
    await this.sealer.sealNow();
    const { start, end, timeZone } = this.config.officeHours;
    const range = [from, to];
    const [bursts, burstTotal, searches, searchTotal, reads, readTotal] = await Promise.all([
      this.dataSource.query(
        `SELECT ${ACTOR}, date_bin(interval '${BURST_MINUTES} minutes', at, timestamptz 'epoch') AS window_start, count(*)::int AS denied
         FROM audit_events WHERE at >= $1 AND at < $2 AND outcome = 'denied'
         GROUP BY actor_id, actor_name, actor_kind, window_start HAVING count(*) >= $3
         ORDER BY denied DESC, window_start LIMIT ${FLAG_ROWS}`,
        [...range, DENIED_BURST_THRESHOLD],
      ),
      this.dataSource.query(
        `SELECT count(*)::int AS n FROM (SELECT 1 FROM audit_events WHERE at >= $1 AND at < $2 AND outcome = 'denied'
         GROUP BY actor_id, date_bin(interval '${BURST_MINUTES} minutes', at, timestamptz 'epoch') HAVING count(*) >= $3) bursts`,
        [...range, DENIED_BURST_THRESHOLD],
      ),
      this.dataSource.query(
        `SELECT seq, at, ${ACTOR}, details ->> 'searchBy' AS search_by FROM audit_events
         WHERE at >= $1 AND at < $2 AND action = 'customer.search' AND outcome = 'allowed' AND details ->> 'results' = '0'
         ORDER BY seq DESC LIMIT ${FLAG_ROWS}`,
        range,
      ),
      this.dataSource.query(
        `SELECT count(*)::int AS n FROM audit_events WHERE at >= $1 AND at < $2 AND action = 'customer.search' AND outcome = 'allowed' AND details ->> 'results' = '0'`,
        range,
      ),
      this.dataSource.query(
        `SELECT seq, at, ${ACTOR}, action, resource_id, fields_revealed FROM audit_events
         WHERE at >= $1 AND at < $2 AND outcome = 'allowed' AND cardinality(fields_revealed) > 0 AND ${AFTER_HOURS}
         ORDER BY seq DESC LIMIT ${FLAG_ROWS}`,
        [...range, timeZone, start, end],
      ),
      this.dataSource.query(
        `SELECT count(*)::int AS n FROM audit_events WHERE at >= $1 AND at < $2 AND outcome = 'allowed' AND cardinality(fields_revealed) > 0 AND ${AFTER_HOURS}`,
        [...range, timeZone, start, end],
      ),
    ]);
    const actorOf = (row: { id: string | null; name: string; kind: string }): FlaggedActor => ({ id: row.id, name: row.name, kind: row.kind });
    const result: AuditFlags = {
      from: from.toISOString(),
      to: to.toISOString(),
      officeHours: { start, end, timeZone },
      deniedBursts: { total: burstTotal[0].n, items: bursts.map((row: { id: string | null; name: string; kind: string; window_start: Date; denied: number }) => ({ actor: actorOf(row), windowStart: row.window_start.toISOString(), denied: row.denied })) },
      emptySearches: { total: searchTotal[0].n, items: searches.map((row: { seq: string; at: Date; id: string | null; name: string; kind: string; search_by: string | null }) => ({ seq: Number(row.seq), at: row.at.toISOString(), actor: actorOf(row), searchBy: row.search_by })) },
      afterHoursReads: {
        total: readTotal[0].n,
        items: reads.map((row: { seq: string; at: Date; id: string | null; name: string; kind: string; action: string; resource_id: string | null; fields_revealed: string[] }) => ({ seq: Number(row.seq), at: row.at.toISOString(), actor: actorOf(row), action: row.action, customerId: row.resource_id, revealed: row.fields_revealed })),
      },
    };
    trail.details.flags = result.deniedBursts.total + result.emptySearches.total + result.afterHoursReads.total;
    return result;
  }
}

/** The event's local wall-clock time ($3: zone) outside [$4, $5); a window across midnight (22:00-06:00) works too. */
const AFTER_HOURS = `(CASE WHEN $4::time <= $5::time
    THEN NOT ((at AT TIME ZONE $3)::time >= $4::time AND (at AT TIME ZONE $3)::time < $5::time)
    ELSE ((at AT TIME ZONE $3)::time >= $5::time AND (at AT TIME ZONE $3)::time < $4::time) END)`;
