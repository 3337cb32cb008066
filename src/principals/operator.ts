import { randomUUID } from 'node:crypto';
import os from 'node:os';
import { AuditTrail } from '../audit/audit-trail.js';

/** The OS user running the CLI, for the audit actor's name (a container may have none). */
function osUser(): string {
  try {
    return os.userInfo().username || 'unknown';
  } catch {
    return process.env.USER ?? 'unknown';
  }
}

/**
 * The audit trail of an operator command: actor `{ id: null, name: 'cli:<os user>', kind: 'staff',
 * roles: ['admin'] }` (no principal behind it: the operator holds the database and the root key),
 * a new request id, no client IP. `operatorName` overrides the OS user (tests, automation).
 */
export function operatorTrail(action: string, resourceType: string, operatorName = osUser()): AuditTrail {
  const trail = new AuditTrail(randomUUID(), action, resourceType, null);
  trail.actor = { id: null, name: `cli:${operatorName}`, kind: 'staff', roles: ['admin'] };
  return trail;
}
