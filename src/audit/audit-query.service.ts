import { Inject, Injectable } from '@nestjs/common';
import { DataSource } from 'typeorm';
import { AuditDb } from './audit-db.js';
import { RAW_TYPES, VIEW_SELECT, rawToNdjsonLine, rawToView, type AuditEventView, type ViewRow } from './audit-event.js';
import type { AuditEventInput } from './audit-log.js';

export interface AuditFilters {
  customerId?: string;
  actorId?: string;
  action?: string;
  purpose?: string;
  outcome?: AuditEventInput['outcome'];
  /** inclusive */
  from?: Date;
  /** exclusive */
  to?: Date;
}

export type ExportFormat = 'ndjson' | 'csv';

/** Rows per query when streaming an export: memory stays constant whatever the log's size. */
const EXPORT_BATCH = 1_000;
/**
 * Lines per yielded chunk: chunks stay well under V8's large-object size (~128 KB), so they die young
 * instead of piling up in old space between full collections (that alone doubled the RSS).
 */
const LINES_PER_CHUNK = 64;

const SELECT = `SELECT ${VIEW_SELECT} FROM audit_events`;

/** `seq > cursor` and the filters, as SQL with numbered parameters. Every filter has an index ending in seq. */
function where(filters: AuditFilters, afterSeq: number, params: unknown[]): string {
  params.push(afterSeq);
  const conditions = [`seq > $${params.length}`];
  const add = (sql: (p: string) => string, value: unknown): void => {
    params.push(value);
    conditions.push(sql(`$${params.length}`));
  };
  // A customer's events: those about it as the resource, and those naming it among several (a
  // search's found customers, details.customerIds; GIN index audit_events_customer_ids).
  if (filters.customerId !== undefined) {
    add((p) => `((resource_type = 'customer' AND resource_id = ${p}) OR (details ? 'customerIds' AND string_to_array(details ->> 'customerIds', ',') @> ARRAY[${p}::text]))`, filters.customerId);
  }
  if (filters.actorId !== undefined) add((p) => `actor_id = ${p}`, filters.actorId);
  if (filters.action !== undefined) add((p) => `action = ${p}`, filters.action);
  if (filters.purpose !== undefined) add((p) => `purpose = ${p}`, filters.purpose);
  if (filters.outcome !== undefined) add((p) => `outcome = ${p}`, filters.outcome);
  if (filters.from !== undefined) add((p) => `at >= ${p}`, filters.from);
  if (filters.to !== undefined) add((p) => `at < ${p}`, filters.to);
  return conditions.join(' AND ');
}

export const CSV_COLUMNS = [
  'seq', 'id', 'at', 'requestId', 'actorId', 'actorName', 'actorKind', 'actorRoles', 'action', 'resourceType', 'resourceId',
  'purpose', 'reason', 'fieldsRevealed', 'fieldsMasked', 'fieldsWritten', 'outcome', 'status', 'clientIp', 'details', 'prevHash', 'hash',
] as const;

/**
 * RFC 4180 cell. Cells a spreadsheet would run as a formula (=, +, -, @, tab, CR first) get a
 * leading apostrophe: `reason` and names come from clients.
 */
function csvCell(value: string | number | null): string {
  if (value === null) return '';
  let text = String(value);
  if (typeof value === 'string' && /^[=+\-@\t\r]/.test(text)) text = `'${text}`;
  return /[",\r\n]/.test(text) ? `"${text.replaceAll('"', '""')}"` : text;
}

export function csvLine(e: AuditEventView): string {
  const cells: (string | number | null)[] = [
    e.seq, e.id, e.at, e.requestId, e.actor.id, e.actor.name, e.actor.kind, e.actor.roles.join(';'), e.action, e.resource.type, e.resource.id,
    e.purpose, e.reason, e.fields.revealed.join(';'), e.fields.masked.join(';'), e.fields.written.join(';'), e.outcome, e.status, e.clientIp,
    e.details === null ? null : JSON.stringify(e.details), e.prevHash, e.hash,
  ];
  return `${cells.map(csvCell).join(',')}\r\n`;
}

/** Reads of the sealed log: filtered pages, streamed exports. */
@Injectable()
export class AuditQueryService {
  constructor(
    @Inject(DataSource) private readonly dataSource: DataSource,
    @Inject(AuditDb) private readonly db: AuditDb,
  ) {}

  /** One page in seq order; `nextCursor` is the last seq of the page when more events match. */
  async page(filters: AuditFilters, afterSeq: number, limit: number): Promise<{ events: AuditEventView[]; nextCursor: string | null }> {
    const rows = await this.rows(filters, afterSeq, limit + 1);
    const more = rows.length > limit;
    const events = (more ? rows.slice(0, limit) : rows).map(rawToView);
    return { events, nextCursor: more ? String(events[events.length - 1].seq) : null };
  }

  /** The export as text chunks, fetched lazily in batches: the consumer's pace sets the reads. */
  async *export(filters: AuditFilters, format: ExportFormat): AsyncGenerator<string> {
    if (format === 'csv') yield `${CSV_COLUMNS.join(',')}\r\n`;
    let after = 0;
    for (;;) {
      const rows = await this.rows(filters, after, EXPORT_BATCH);
      if (rows.length === 0) return;
      let chunk = '';
      for (let i = 0; i < rows.length; i++) {
        chunk += format === 'csv' ? csvLine(rawToView(rows[i])) : rawToNdjsonLine(rows[i]);
        if ((i + 1) % LINES_PER_CHUNK === 0) {
          yield chunk;
          chunk = '';
        }
      }
      if (chunk !== '') yield chunk;
      if (rows.length < EXPORT_BATCH) return;
      after = Number(rows[rows.length - 1].seq);
    }
  }

  /** The sealed events after `afterSeq`, in seq order, at most `limit` (the live stream's reads). */
  after(afterSeq: number, limit: number): Promise<ViewRow[]> {
    return this.rows({}, afterSeq, limit);
  }

  /** The seq of the last sealed event (0 for an empty log). */
  async headSeq(): Promise<number> {
    const { rows } = await this.db.pool.query<{ seq: string | null }>('SELECT max(seq)::text AS seq FROM audit_events');
    return Number(rows[0].seq ?? 0);
  }

  /** Whether a customer row exists (tombstones of erased customers included). */
  async customerExists(id: string): Promise<boolean> {
    const rows = await this.dataSource.query<unknown[]>('SELECT 1 FROM customers WHERE id = $1', [id]);
    return rows.length > 0;
  }

  private async rows(filters: AuditFilters, afterSeq: number, limit: number): Promise<ViewRow[]> {
    const params: unknown[] = [];
    const condition = where(filters, afterSeq, params);
    const result = await this.db.pool.query<ViewRow>({
      text: `${SELECT} WHERE ${condition} ORDER BY seq LIMIT ${Math.trunc(limit)}`,
      values: params,
      types: RAW_TYPES,
    });
    return result.rows;
  }
}
