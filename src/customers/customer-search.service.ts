import { Inject, Injectable } from '@nestjs/common';
import type { Logger } from 'pino';
import { DataSource } from 'typeorm';
import { AccessPolicy } from '../access/access-policy.js';
import { SEARCH_FIELDS, type Actor, type Purpose, type SearchField } from '../access/vocabulary.js';
import type { AuditTrail } from '../audit/audit-trail.js';
import { RateLimiter } from '../common/rate-limiter.js';
import { VaultError } from '../common/vault-error.js';
import type { VaultConfig } from '../config/config.js';
import { ROOT_LOGGER, VAULT_CONFIG } from '../config/runtime.js';
import { normalizeForBlindIndex } from '../crypto/index.js';
import { preparedQuery } from '../database/query.js';
import { MetricsService } from '../health/metrics.service.js';
import { KeyRing } from '../keys/key-ring.service.js';
import type { SearchCustomersDto } from './customer.dto.js';

/** At most this many ids per answer (a search is a lookup, not a listing). */
export const SEARCH_RESULT_LIMIT = 100;

/**
 * Which customers a search may find: not erased, and not restricted unless the purpose is one a
 * restriction leaves open (DESIGN §3; parameter `$n`, so each lookup stays one prepared statement).
 * A restricted customer is simply not found: nothing says it matched.
 */
const FINDABLE = (n: number): string => `c.erased_at IS NULL AND ($${n}::boolean OR c.restriction_since IS NULL)`;

const BY_EXTERNAL_REF = `SELECT c.id FROM customers c WHERE c.external_ref = $1 AND ${FINDABLE(2)} ORDER BY 1 LIMIT ${SEARCH_RESULT_LIMIT}`;
const BY_DIGEST = `SELECT DISTINCT b.customer_id AS id FROM customer_blind_indexes b JOIN customers c ON c.id = b.customer_id
  WHERE b.field = $1 AND b.digest = ANY($2) AND ${FINDABLE(3)} ORDER BY 1 LIMIT ${SEARCH_RESULT_LIMIT}`;

/**
 * `POST /v1/customers/search` (DESIGN §3, §4). In order: the principal's search limit (every attempt
 * counts, refused ones too: probing is what it bounds), exactly one search key, the policy for that
 * key and the purpose (`search_not_allowed`), then the lookup. The audit event names the search key
 * and the ids found (`details.customerIds`, comma-separated), never the term, so each found customer
 * sees the search in its access report.
 */
@Injectable()
export class CustomerSearchService {
  private readonly limiter: RateLimiter;
  private readonly log: Logger;

  constructor(
    @Inject(DataSource) private readonly dataSource: DataSource,
    @Inject(KeyRing) private readonly keys: KeyRing,
    @Inject(AccessPolicy) private readonly policy: AccessPolicy,
    @Inject(MetricsService) private readonly metrics: MetricsService,
    @Inject(VAULT_CONFIG) config: VaultConfig,
    @Inject(ROOT_LOGGER) log: Logger,
  ) {
    this.limiter = new RateLimiter(config.searchLimitPerWindow, config.rateLimitWindowMs);
    this.log = log.child({ component: 'search' });
  }

  async search(actor: Actor, purpose: Purpose, body: SearchCustomersDto, trail: AuditTrail): Promise<{ results: { id: string }[] }> {
    const limit = this.limiter.hit(actor.id);
    if (!limit.allowed) {
      Object.assign(trail.details, { limit: 'search', retryAfterSeconds: limit.retryAfterSeconds });
      this.log.warn({ reqId: trail.requestId, limit: 'search' }, 'rate limited');
      throw new VaultError('rate_limited', 'too many searches', undefined, { 'Retry-After': String(limit.retryAfterSeconds) });
    }
    const keys = SEARCH_FIELDS.filter((key) => body[key] !== undefined);
    if (keys.length !== 1) {
      throw new VaultError('invalid_input', 'search by exactly one of email, phone, nationalId, externalRef', [{ field: 'body', problem: 'exactly one search key is required' }]);
    }
    const field = keys[0];
    trail.details.searchBy = field;
    this.policy.assertCanSearch(actor, purpose, field);

    const ids = await this.find(field, String(body[field]), this.policy.searchIncludesRestricted(purpose));
    trail.details.results = ids.length;
    if (ids.length > 0) trail.details.customerIds = ids.join(',');
    else this.metrics.countEmptySearch(field);
    return { results: ids.map((id) => ({ id })) };
  }

  /** Ids of the customers holding `term` in `field`, in id order. */
  private async find(field: SearchField, term: string, includeRestricted: boolean): Promise<string[]> {
    if (field === 'externalRef') return (await preparedQuery<{ id: string }>(this.dataSource, BY_EXTERNAL_REF, [term, includeRestricted])).map((row) => row.id);
    const normalized = normalizeForBlindIndex(field, term);
    if (normalized === null) throw new VaultError('invalid_input', 'the search value is not valid', [{ field, problem: 'not a valid value' }]);
    const digests = this.keys.searchDigests(field, normalized).map((d) => d.digest);
    return (await preparedQuery<{ id: string }>(this.dataSource, BY_DIGEST, [field, digests, includeRestricted])).map((row) => row.id);
  }
}
