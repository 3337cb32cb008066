import type { TestApp } from './test-app.js';

/** An audit event as the idempotency suites read it: its outcome, resource, fields and details. */
export interface EventRow {
  request_id: string;
  action: string;
  outcome: string;
  status: number;
  resource_id: string | null;
  fields_written: string[];
  fields_revealed: string[];
  fields_masked: string[];
  details: Record<string, unknown> | null;
}

const COLUMNS = 'request_id, action, outcome, status, resource_id, fields_written, fields_revealed, fields_masked, details';

/** The events of one request, pending or already sealed (one snapshot, so none is missed). */
export async function eventsOf(vault: TestApp, requestId: string): Promise<EventRow[]> {
  return vault.sql<EventRow>(`SELECT ${COLUMNS} FROM audit_pending WHERE request_id = $1 UNION ALL SELECT ${COLUMNS} FROM audit_events WHERE request_id = $1`, [requestId]);
}

/** The integer an SQL expression or scalar subquery yields. */
export async function count(vault: TestApp, sql: string, params: unknown[] = []): Promise<number> {
  const [row] = await vault.sql<{ n: number }>(`SELECT (${sql})::int AS n`, params);
  return row!.n;
}
