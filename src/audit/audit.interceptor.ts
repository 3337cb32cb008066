import { Inject, Injectable, type CallHandler, type ExecutionContext, type NestInterceptor } from '@nestjs/common';
import type { FastifyRequest } from 'fastify';
import { from, lastValueFrom, type Observable } from 'rxjs';
import { RouteRegistry } from '../access/route-registry.js';
import { shapeError } from '../common/error-response.js';
import { AuditLog } from './audit-log.js';
import { AuditTrail, clientIpOf } from './audit-trail.js';
import { outcomeOf } from './audited-answers.js';

/**
 * Records exactly one audit event per @Audited request. On success the event is committed before
 * the handler's result is handed on, so no plaintext leaves before its event is durable (fail
 * closed: if recording fails the request fails with 503 and the result is dropped). On failure the
 * event records the outcome (denied or error) and the original error is rethrown. The route's
 * declarations come from the RouteRegistry (resolved at start-up); the trail from the PoliciesGuard.
 */
@Injectable()
export class AuditInterceptor implements NestInterceptor {
  constructor(
    @Inject(RouteRegistry) private readonly routes: RouteRegistry,
    @Inject(AuditLog) private readonly auditLog: AuditLog,
  ) {}

  intercept(context: ExecutionContext, next: CallHandler): Observable<unknown> {
    const route = this.routes.of(context.getHandler());
    if (!route?.audit) return next.handle();
    const req = context.switchToHttp().getRequest<FastifyRequest>();
    let trail = req.auditTrail;
    if (trail === undefined) {
      trail = new AuditTrail(req.id, route.audit.action, route.audit.resourceType, clientIpOf(req), req.clientRequestId);
      if (req.actor) trail.actor = { id: req.actor.id, name: req.actor.name, kind: req.actor.kind, roles: [...req.actor.roles] };
      req.auditTrail = trail;
    }
    return from(this.run(trail, next, route.okStatus));
  }

  private async run(trail: AuditTrail, next: CallHandler, okStatus: number): Promise<unknown> {
    let result: unknown;
    try {
      result = await lastValueFrom(next.handle(), { defaultValue: undefined });
    } catch (error) {
      if (!trail.recorded) {
        const { status, code } = shapeError(error);
        trail.recorded = true;
        try {
          await this.auditLog.record(trail.toEvent(outcomeOf(status), status));
        } catch (failure) {
          // Both are 503s that carry nothing, but only `outcome_unknown` tells the caller that its
          // write may have landed and to retry with its Idempotency-Key (the database is likely
          // gone for this event too).
          if (code === 'outcome_unknown') throw error;
          throw failure;
        }
      }
      throw error;
    }
    if (!trail.recorded) {
      trail.recorded = true;
      await this.auditLog.record(trail.toEvent('allowed', okStatus));
    }
    return result;
  }
}
