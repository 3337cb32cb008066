import type { EntityManager } from 'typeorm';

/**
 * One audit event per access attempt (DESIGN §5). Never a field value, search term, token or key:
 * only names, ids, counts and versions.
 */
export interface AuditActor {
  /** principal id; null when authentication failed */
  id: string | null;
  name: string;
  kind: 'service' | 'staff' | 'anonymous';
  roles: string[];
}

export interface AuditEventInput {
  requestId: string;
  actor: AuditActor;
  /** dotted verb, e.g. `customer.read`, `customer.create`, `auth.failed`, `principal.create`, `keys.rotate` */
  action: string;
  resource: { type: string; id: string | null };
  purpose: string | null;
  reason: string | null;
  fields: { revealed: string[]; masked: string[]; written: string[] };
  outcome: 'allowed' | 'denied' | 'error';
  /** HTTP status answered (or 0 for CLI operations) */
  status: number;
  clientIp: string | null;
  /** extra facts without secrets: key versions, counts, a token's short hash prefix */
  details?: Record<string, string | number | boolean | null>;
}

/**
 * The one audit interface every call site uses. Implementations must be fail-closed: `record`
 * resolves only once the event is durably committed, and rejects with
 * `VaultError('audit_unavailable')` (503) when it cannot be; `recordInTransaction` writes within the
 * caller's transaction so the write and its event commit (or roll back) together.
 */
export abstract class AuditLog {
  abstract record(event: AuditEventInput): Promise<void>;
  abstract recordInTransaction(manager: EntityManager, event: AuditEventInput): Promise<void>;
  /**
   * The event as an INSERT for the caller to run inside its own statement (a data-modifying CTE), so
   * a write and its event commit together in one round trip. `sql` reads the event from placeholder
   * `$param`, whose value is `value`. Throws `audit_unavailable` when the event cannot be encoded.
   */
  abstract insertFor(event: AuditEventInput, param: number): { sql: string; value: unknown };
}
