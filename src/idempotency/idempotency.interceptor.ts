import { Inject, Injectable, type CallHandler, type ExecutionContext, type NestInterceptor } from '@nestjs/common';
import type { FastifyReply, FastifyRequest } from 'fastify';
import { timingSafeEqual } from 'node:crypto';
import { from, lastValueFrom, type Observable } from 'rxjs';
import { RouteRegistry } from '../access/route-registry.js';
import { AuditLog } from '../audit/audit-log.js';
import type { AuditTrail } from '../audit/audit-trail.js';
import { shapeError } from '../common/error-response.js';
import { VaultError } from '../common/vault-error.js';
import type { VaultConfig } from '../config/config.js';
import { VAULT_CONFIG } from '../config/runtime.js';
import { KeyRing } from '../keys/key-ring.service.js';
import { IDEMPOTENCY_HEADER, REPLAYED_HEADER, parseIdempotencyKey, requestMessage, type IdempotencyClaim } from './idempotency.js';
import { IdempotencyStore, type StoredAnswer } from './idempotency.store.js';

/**
 * Idempotency-Key on the write routes (bound by @Idempotent). Route-scoped, so it runs inside the
 * global AuditInterceptor and after the PoliciesGuard: the route's policy has passed (a revoked token
 * or a refused route never reaches a stored answer) and whatever this answers is audited.
 *
 * Optimistic: a keyed write runs as usual and claims its key in its own commit (AuditedWrites, or the
 * create's single statement). Only when it fails with a client error (4xx) is the key looked up,
 * because that is how a duplicate shows: the claim refused (the key is live, or a concurrent request
 * with it just committed: PostgreSQL makes the second wait on the first's key and then refuses it),
 * or the write itself refused because the first already did it (externalRef or principal name taken,
 * KEK already retired, ...). Then:
 * - a live key of this principal for the same request: the stored status and answer, with
 *   `Idempotent-Replayed: true`; the attempt rolled back, so nothing is written twice; the event
 *   says `replayOf` the original request and is recorded here, before the answer is marked a replay;
 * - a live key for another request: 422 `idempotency_key_reused`;
 * - no live key: the write's own error.
 * A first attempt therefore costs the claim's insert in the write's statement, and no lookup.
 * Server errors (5xx) are answered as they are: `outcome_unknown` above all, which the caller
 * resolves by retrying with its key.
 */
@Injectable()
export class IdempotencyInterceptor implements NestInterceptor {
  constructor(
    @Inject(RouteRegistry) private readonly routes: RouteRegistry,
    @Inject(IdempotencyStore) private readonly store: IdempotencyStore,
    @Inject(KeyRing) private readonly keys: KeyRing,
    @Inject(VAULT_CONFIG) private readonly config: VaultConfig,
    @Inject(AuditLog) private readonly audit: AuditLog,
  ) {}

  intercept(context: ExecutionContext, next: CallHandler): Observable<unknown> {
    const declared = this.routes.of(context.getHandler());
    const idempotent = declared?.idempotent;
    if (declared === undefined || idempotent === undefined || idempotent === null) return next.handle();
    const http = context.switchToHttp();
    const req = http.getRequest<FastifyRequest>();
    const header = req.headers['idempotency-key'];
    if (header === undefined) return next.handle();
    const key = parseIdempotencyKey(header);
    // A read sent as POST: nothing to deduplicate; a retry runs (and is audited) again.
    if (idempotent.kind === 'read') return next.handle();
    const trail = req.auditTrail;
    const principalId = req.actor?.id;
    if (trail === undefined || principalId === undefined) throw new VaultError('internal', 'a keyed write reached the interceptor without its trail or actor');
    const message = requestMessage({ method: req.method, route: declared.path, params: req.params, purpose: req.access?.purpose, reason: req.access?.reason, body: req.body as unknown });
    const { version, digest } = this.keys.requestDigest(message);
    const claim: IdempotencyClaim = { principalId, key, requestHash: digest, hashKeyVersion: version, ttlSeconds: this.config.idempotencyTtlSeconds, omit: idempotent.omit };
    trail.idempotency = claim;
    return from(this.settle(next, trail, claim, (stored) => this.sameRequest(stored, claim, message), http.getResponse<FastifyReply>()));
  }

  private async settle(next: CallHandler, trail: AuditTrail, claim: IdempotencyClaim, same: (stored: StoredAnswer) => Promise<boolean>, reply: FastifyReply): Promise<unknown> {
    try {
      return await lastValueFrom(next.handle(), { defaultValue: undefined });
    } catch (error) {
      const { status } = shapeError(error);
      if (trail.recorded || status < 400 || status >= 500) throw error;
      let stored: StoredAnswer | undefined;
      try {
        stored = await this.store.find(claim.principalId, claim.key);
      } catch {
        throw error;
      }
      if (stored === undefined) throw error;
      if (!(await same(stored))) throw new VaultError('idempotency_key_reused', `this ${IDEMPOTENCY_HEADER} was used for another request (route, resource, purpose, reason or body): use a new key for a new request`);
      trail.replayOf(stored.requestId, stored.resourceId);
      // The replay's event is committed before anything says it is a replay: when it cannot be
      // written, the answer is the audit log's 503, without the stored answer or the header.
      await this.audit.record(trail.toEvent('allowed', stored.status));
      trail.recorded = true;
      void reply.code(stored.status).header(REPLAYED_HEADER, 'true');
      return stored.answer;
    }
  }

  /**
   * Constant-time comparison of the digests, under the KEK version the stored one was made with. A
   * version newer than this process's active one was stored by a process that loaded a rotation this
   * one has not seen yet (key rings refresh each second): loaded now, so that retry is not a 422
   * (which a client could take for its key having been spent, and retry with a new one: a duplicate).
   */
  private async sameRequest(stored: StoredAnswer, claim: IdempotencyClaim, message: Buffer): Promise<boolean> {
    let digest = stored.hashKeyVersion === claim.hashKeyVersion ? claim.requestHash : this.keys.requestDigestUnder(stored.hashKeyVersion, message);
    if (digest === undefined && stored.hashKeyVersion > claim.hashKeyVersion) {
      // A ring that cannot be loaded now leaves the answer as it was (422): never a 5xx for a lookup.
      await this.keys.load().catch(() => undefined);
      digest = this.keys.requestDigestUnder(stored.hashKeyVersion, message);
    }
    return digest !== undefined && digest.length === stored.requestHash.length && timingSafeEqual(digest, stored.requestHash);
  }
}
