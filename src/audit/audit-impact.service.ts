import { Inject, Injectable } from '@nestjs/common';
import type pg from 'pg';
import { AccessPolicy } from '../access/access-policy.js';
import { CUSTOMER_FIELDS, type Actor, type CustomerField } from '../access/vocabulary.js';
import { VaultError } from '../common/vault-error.js';
import { AuditDb } from './audit-db.js';
import { AuditSealer } from './audit-sealer.js';
import type { AuditTrail } from './audit-trail.js';
import { parseDate } from './audit.service.js';
import type { AuditImpactQueryDto, ImpactFormat } from './dto/audit-impact.dto.js';

/**
 * Breach impact (DESIGN §4 `GET /v1/audit/impact`, docs/SECURITY.md "Breach impact"): what one
 * principal could have seen of customers' data in a time window, for the 72-hour breach report.
 * It reads the audit log only, so it answers for a revoked principal as for a live one.
 *
 * What counts (every count is of distinct customers):
 * - an event counts when it is by the principal, in [from, to), `allowed`, about a customer
 *   (resource type `customer` with an id) and revealed at least one field, in plaintext or masked.
 *   Denied and failed attempts revealed nothing and are left out; so are writes (a create or a
 *   correction returns no field value) and events naming no customer.
 * - `customers`, `customerIds`: the customers of those events.
 * - `byField[f].plaintext`: customers whose field f was revealed in plaintext at least once;
 *   `byField[f].masked`: customers whose field f was seen masked but never in plaintext. So
 *   plaintext + masked is the number of customers of whom anything of f was seen, and a
 *   customer is never counted twice for one field.
 */
export interface ImpactActor {
  id: string;
  name: string;
  kind: string;
  roles: string[];
  /** When the audit log records the principal's revocation; null when it does not. */
  revokedAt: string | null;
}

export interface ImpactRequest {
  actorId: string;
  /** inclusive */
  from: Date;
  /** exclusive */
  to: Date;
}

export interface ImpactCustomer {
  id: string;
  plaintext: CustomerField[];
  masked: CustomerField[];
  firstAt: string;
  lastAt: string;
}

export type FieldCounts = Record<CustomerField, { plaintext: number; masked: number }>;

/** Rows fetched per round trip from the server-side cursor: memory stays flat however many customers. */
const FETCH = 5_000;

/**
 * A field array as a bit mask (bit i = CUSTOMER_FIELDS[i]): one `= ANY` per field of the fixed
 * vocabulary (names written into the SQL, never client input), no set-returning subquery per row.
 */
const maskOf = (column: string): string => CUSTOMER_FIELDS.map((f, i) => `CASE WHEN '${f}' = ANY(${column}) THEN ${1 << i} ELSE 0 END`).join(' | ');

/**
 * One row per customer: the fields seen in plaintext and masked as bit masks, first and last time.
 * The WHERE clause repeats the predicate of the partial index `audit_events_impact` (migration
 * 1764200800000) so the planner can use it; every column read is in that index (index-only scan).
 */
const IMPACT_SQL = `
  SELECT resource_id AS id, bit_or(${maskOf('fields_revealed')}) AS plain, bit_or(${maskOf('fields_masked')}) AS masked,
         (extract(epoch FROM min(at)) * 1000)::int8 AS first_ms, (extract(epoch FROM max(at)) * 1000)::int8 AS last_ms
  FROM audit_events
  WHERE actor_id = $1 AND at >= $2 AND at < $3
    AND outcome = 'allowed' AND resource_type = 'customer' AND resource_id IS NOT NULL
    AND cardinality(fields_revealed) + cardinality(fields_masked) > 0
  GROUP BY resource_id
  ORDER BY resource_id COLLATE "C"`;

interface ImpactRow {
  id: string;
  plain: number;
  masked: number;
  first_ms: string;
  last_ms: string;
}

export const IMPACT_CSV_COLUMNS = ['customerId', 'firstAt', 'lastAt', ...CUSTOMER_FIELDS] as const;

/** One CSV row per customer: each field `plaintext`, `masked` or empty (not seen). Cells are ids, times and fixed words. */
function csvRow(c: ImpactCustomer): string {
  const cells = CUSTOMER_FIELDS.map((f) => (c.plaintext.includes(f) ? 'plaintext' : c.masked.includes(f) ? 'masked' : ''));
  return `${[c.id, c.firstAt, c.lastAt, ...cells].join(',')}\r\n`;
}

function fieldsOf(mask: number): CustomerField[] {
  return CUSTOMER_FIELDS.filter((_, i) => (mask & (1 << i)) !== 0);
}

function emptyFieldCounts(): FieldCounts {
  return Object.fromEntries(CUSTOMER_FIELDS.map((f) => [f, { plaintext: 0, masked: 0 }])) as FieldCounts;
}

/** Adds one customer to the per-field counts (its `masked` already leaves out what it saw in plaintext). */
function countCustomer(counts: FieldCounts, customer: ImpactCustomer): void {
  for (const f of customer.plaintext) counts[f].plaintext++;
  for (const f of customer.masked) counts[f].masked++;
}

@Injectable()
export class AuditImpactService {
  constructor(
    @Inject(AuditDb) private readonly db: AuditDb,
    @Inject(AccessPolicy) private readonly policy: AccessPolicy,
    @Inject(AuditSealer) private readonly sealer: AuditSealer,
  ) {}

  /**
   * The HTTP route (security only): checks and seals, then hands back the report as text chunks for
   * the controller to stream once this request's own event is committed. The request's event is
   * about the principal assessed (resource `principal`, its id), with the window in its details.
   */
  async open(actor: Actor, trail: AuditTrail, query: AuditImpactQueryDto): Promise<{ format: ImpactFormat; chunks: AsyncGenerator<string> }> {
    trail.resource.id = query.actorId;
    this.policy.assertCan(actor, 'readAuditLog');
    const request = impactRequest(query);
    const format = query.format ?? 'json';
    trail.details = { ...trail.details, from: request.from.toISOString(), to: request.to.toISOString(), format };
    return { format, chunks: await this.prepare(request, format) };
  }

  /** Seals what is pending, resolves the principal (404 before anything is streamed), then the report. */
  async prepare(request: ImpactRequest, format: ImpactFormat): Promise<AsyncGenerator<string>> {
    await this.sealer.sealNow();
    const actor = await this.actor(request.actorId);
    return format === 'csv' ? this.csv(request) : this.json(request, actor);
  }

  /**
   * The JSON report, streamed: `customerIds` before `customers` and `byField`, which are known only
   * once every customer has gone by. A JSON object's key order carries no meaning.
   */
  private async *json(request: ImpactRequest, actor: ImpactActor): AsyncGenerator<string> {
    yield `{"actor":${JSON.stringify(actor)},"from":"${request.from.toISOString()}","to":"${request.to.toISOString()}","customerIds":[`;
    const counts = emptyFieldCounts();
    let customers = 0;
    for await (const batch of this.customers(request)) {
      let chunk = '';
      for (const c of batch) {
        chunk += `${customers === 0 ? '' : ','}"${c.id}"`;
        customers++;
        countCustomer(counts, c);
      }
      yield chunk;
    }
    yield `],"customers":${customers},"byField":${JSON.stringify(counts)}}`;
  }

  private async *csv(request: ImpactRequest): AsyncGenerator<string> {
    yield `${IMPACT_CSV_COLUMNS.join(',')}\r\n`;
    for await (const batch of this.customers(request)) yield batch.map(csvRow).join('');
  }

  /**
   * The principal as the audit log knows it: its latest event as actor, else the event that created
   * it (a principal that never acted). 404 when the log names no such principal: a typo must not
   * read as "this principal saw nothing".
   */
  async actor(actorId: string): Promise<ImpactActor> {
    const { rows } = await this.db.pool.query<{ name: string; kind: string; roles: string[]; revoked_at: Date | null }>(
      `SELECT a.name, a.kind, a.roles,
         (SELECT min(at) FROM audit_events
           WHERE resource_type = 'principal' AND resource_id = $1 AND action = 'principal.revoke' AND outcome = 'allowed') AS revoked_at
       FROM (
         (SELECT actor_name AS name, actor_kind AS kind, actor_roles AS roles, 1 AS rank
            FROM audit_events WHERE actor_id = $1 ORDER BY seq DESC LIMIT 1)
         UNION ALL
         (SELECT details->>'name', details->>'kind', string_to_array(details->>'roles', ','), 2
            FROM audit_events
            WHERE resource_type = 'principal' AND resource_id = $1 AND action = 'principal.create' AND outcome = 'allowed'
              AND details ? 'name'
            ORDER BY seq LIMIT 1)
       ) AS a
       ORDER BY a.rank LIMIT 1`,
      [actorId],
    );
    if (rows.length === 0) throw new VaultError('not_found', 'the audit log names no such principal', [{ field: 'actorId', problem: 'no audit event names this principal' }]);
    const row = rows[0];
    return { id: actorId, name: row.name, kind: row.kind, roles: row.roles, revokedAt: row.revoked_at?.toISOString() ?? null };
  }

  /**
   * The customers the principal saw in the window, in id order, fetched lazily through a server-side
   * cursor (a read-only transaction on a connection of the audit read pool, released when the
   * consumer stops, early or not).
   */
  async *customers(request: ImpactRequest): AsyncGenerator<ImpactCustomer[]> {
    const client = await this.db.pool.connect();
    let healthy = false;
    try {
      await client.query('BEGIN READ ONLY');
      // Every row is read: plan for all of them (a cursor plans for the first 10% by default, which
      // rules out a hash aggregate), and keep a scraper's hundreds of thousands of customers in memory
      // rather than sorting them on disk. Both for this transaction only.
      await client.query(`SET LOCAL cursor_tuple_fraction = 1.0`);
      await client.query(`SET LOCAL work_mem = '32MB'`);
      await client.query({ text: `DECLARE impact NO SCROLL CURSOR FOR ${IMPACT_SQL}`, values: [request.actorId, request.from, request.to] });
      for (;;) {
        const { rows } = await client.query<ImpactRow>(`FETCH ${FETCH} FROM impact`);
        if (rows.length > 0) {
          yield rows.map((r) => ({
            id: r.id,
            plaintext: fieldsOf(r.plain),
            masked: fieldsOf(r.masked & ~r.plain),
            firstAt: new Date(Number(r.first_ms)).toISOString(),
            lastAt: new Date(Number(r.last_ms)).toISOString(),
          }));
        }
        if (rows.length < FETCH) break;
      }
      await client.query('COMMIT');
      healthy = true;
    } finally {
      if (!healthy) await client.query('ROLLBACK').catch(() => undefined);
      releaseClient(client, healthy);
    }
  }
}

/** The window of a valid query: `from` before `to` (400 otherwise, with details). */
export function impactRequest(query: AuditImpactQueryDto): ImpactRequest {
  const from = parseDate(query.from);
  const to = parseDate(query.to);
  const details = [];
  if (from === undefined || Number.isNaN(from.getTime())) details.push({ field: 'from', problem: 'must be an ISO 8601 date or date-time' });
  if (to === undefined || Number.isNaN(to.getTime())) details.push({ field: 'to', problem: 'must be an ISO 8601 date or date-time' });
  if (details.length === 0 && from !== undefined && to !== undefined && from.getTime() >= to.getTime()) details.push({ field: 'to', problem: 'must be after from' });
  if (details.length > 0 || from === undefined || to === undefined) throw new VaultError('invalid_input', 'the request is invalid', details);
  return { actorId: query.actorId.toLowerCase(), from, to };
}

/** A connection whose transaction state is unknown (an error, a consumer gone mid-way) is not reused. */
function releaseClient(client: pg.PoolClient, healthy: boolean): void {
  client.release(healthy ? undefined : true);
}
