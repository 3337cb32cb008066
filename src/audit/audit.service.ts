import { Inject, Injectable } from '@nestjs/common';
import { AccessPolicy } from '../access/access-policy.js';
import type { Actor } from '../access/vocabulary.js';
import { VaultError } from '../common/vault-error.js';
import type { AuditEventView } from './audit-event.js';
import { AuditQueryService, type AuditFilters, type ExportFormat } from './audit-query.service.js';
import { AuditSealer } from './audit-sealer.js';
import { AuditSigning } from './audit-signing.js';
import type { AuditTrail } from './audit-trail.js';
import { AuditVerifier, type VerifyReport } from './audit-verifier.js';
import { MAX_PAGE, type AuditEventsQueryDto, type AuditFiltersDto } from './dto/audit-query.dto.js';

export interface PublicKeyView {
  keyId: string;
  publicKey: string;
  algorithm: 'Ed25519';
  previousKeys: { keyId: string; publicKey: string; createdAt: string }[];
}

/** A date-time without an offset is read as UTC, whatever the server's time zone. */
export function parseDate(value: string | undefined): Date | undefined {
  if (value === undefined) return undefined;
  const utc = /T[^Z+-]*(\d)$/.test(value) ? `${value}Z` : value;
  return new Date(utc);
}

export function toFilters(query: AuditFiltersDto): AuditFilters {
  return {
    customerId: query.customerId,
    actorId: query.actorId,
    action: query.action,
    purpose: query.purpose,
    outcome: query.outcome,
    from: parseDate(query.from),
    to: parseDate(query.to),
  };
}

/** Names of the filters used (never their values) for the request's own audit event. */
function filterNames(query: AuditFiltersDto): string {
  return (['customerId', 'actorId', 'action', 'purpose', 'outcome', 'from', 'to'] as const).filter((k) => query[k] !== undefined).join(',');
}

/**
 * The audit log API for security and privacy staff. Authorisation first; then the pending window is
 * sealed (`sealNow`) so every event recorded before the request is in the answer.
 */
@Injectable()
export class AuditService {
  constructor(
    @Inject(AccessPolicy) private readonly policy: AccessPolicy,
    @Inject(AuditQueryService) private readonly query: AuditQueryService,
    @Inject(AuditSealer) private readonly sealer: AuditSealer,
    @Inject(AuditVerifier) private readonly verifier: AuditVerifier,
    @Inject(AuditSigning) private readonly signing: AuditSigning,
  ) {}

  async list(actor: Actor, trail: AuditTrail, query: AuditEventsQueryDto): Promise<{ events: AuditEventView[]; nextCursor: string | null }> {
    this.policy.assertCan(actor, 'readAuditLog');
    trail.details.filters = filterNames(query);
    await this.sealer.sealNow();
    const page = await this.query.page(toFilters(query), Number(query.cursor ?? 0), query.limit ?? 100);
    trail.details.count = page.events.length;
    return page;
  }

  async export(actor: Actor, trail: AuditTrail, filters: AuditFiltersDto, format: ExportFormat): Promise<AsyncGenerator<string>> {
    this.policy.assertCan(actor, 'readAuditLog');
    trail.details.filters = filterNames(filters);
    trail.details.format = format;
    await this.sealer.sealNow();
    return this.query.export(toFilters(filters), format);
  }

  async verify(actor: Actor, trail: AuditTrail): Promise<VerifyReport> {
    this.policy.assertCan(actor, 'readAuditLog');
    await this.sealer.sealNow();
    const report = await this.verifier.verify();
    trail.details.valid = report.valid;
    trail.details.checked = report.checked;
    return report;
  }

  async publicKey(actor: Actor): Promise<PublicKeyView> {
    this.policy.assertCan(actor, 'readAuditLog');
    await this.signing.init();
    const current = this.signing.current;
    // Pinned keys only (never the database's audit_signing_keys, which the runtime role can insert into).
    const keys = await this.signing.trustedKeys();
    return {
      keyId: current.keyId,
      publicKey: current.publicKey.toString('base64'),
      algorithm: 'Ed25519',
      previousKeys: keys
        .filter((k) => k.keyId !== current.keyId)
        .map((k) => ({ keyId: k.keyId, publicKey: k.publicKey.toString('base64'), createdAt: k.pinnedAt.toISOString() })),
    };
  }

  /** Every event about one customer, denied ones included, in pages of at most 1000. */
  async accessReport(
    actor: Actor,
    trail: AuditTrail,
    customerId: string,
    cursor: string | undefined,
    limit: number | undefined,
  ): Promise<{ customerId: string; events: AuditEventView[]; nextCursor: string | null }> {
    trail.resource.id = customerId;
    this.policy.assertCan(actor, 'readCustomerAudit');
    await this.sealer.sealNow();
    const page = await this.query.page({ customerId }, Number(cursor ?? 0), limit ?? MAX_PAGE);
    if (page.events.length === 0 && cursor === undefined && !(await this.query.customerExists(customerId))) {
      throw new VaultError('not_found', 'no such customer');
    }
    trail.details.count = page.events.length;
    return { customerId, ...page };
  }
}
