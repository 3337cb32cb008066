import type { AccessPolicy } from '../access/access-policy.js';
import type { Purpose } from '../access/vocabulary.js';
import type { AuditTrail } from '../audit/audit-trail.js';
import { VaultError } from '../common/vault-error.js';
import { isPlainText } from './validators.js';

export const REASON_MAX = 200;

type Headers = Record<string, string | undefined>;

/**
 * `X-Access-Purpose` and `X-Access-Reason` of a request on customer data, recorded on its trail.
 * Reads and searches need a purpose (400 when missing or unknown); writes record it when sent.
 */
export const accessHeaders = {
  /** Reads and searches: X-Access-Purpose is required (400 when missing or unknown). */
  purpose(policy: AccessPolicy, headers: Headers, trail: AuditTrail): Purpose {
    accessHeaders.reason(headers, trail);
    const purpose = policy.parsePurpose(headers['x-access-purpose']);
    trail.purpose = purpose;
    return purpose;
  },

  /** Writes: the purpose is optional, recorded when sent, and must be a known one when sent. */
  optionalPurpose(policy: AccessPolicy, headers: Headers, trail: AuditTrail): Purpose | undefined {
    accessHeaders.reason(headers, trail);
    if (headers['x-access-purpose'] === undefined) return undefined;
    return accessHeaders.purpose(policy, headers, trail);
  },

  /** The reason, when sent (400 when too long or not printable). */
  reason(headers: Headers, trail: AuditTrail): void {
    const reason = headers['x-access-reason'];
    if (reason === undefined) return;
    // Same rule as stored text: the reason is shown to auditors, so no control or bidi characters.
    if (reason.length > REASON_MAX || !isPlainText(reason)) {
      throw new VaultError('invalid_input', 'X-Access-Reason is invalid', [{ field: 'X-Access-Reason', problem: `at most ${REASON_MAX} printable characters` }]);
    }
    trail.reason = reason;
  },

  /** For requests that reveal most: 400 `reason_required` unless the trail carries a reason. */
  requireReason(trail: AuditTrail): void {
    if (trail.reason === null || trail.reason.trim() === '') {
      throw new VaultError('reason_required', 'X-Access-Reason is required for this request', [{ field: 'X-Access-Reason', problem: 'missing' }]);
    }
  },
};
