import { Inject, Injectable, type CallHandler, type ExecutionContext, type NestInterceptor } from '@nestjs/common';
import { HTTP_CODE_METADATA } from '@nestjs/common/constants.js';
import { Reflector } from '@nestjs/core';
import type { Request } from 'express';
import { from, lastValueFrom, type Observable } from 'rxjs';
import { shapeError } from '../common/error-response.js';
import { AuditLog } from './audit-log.js';
import { AuditTrail, clientIpOf } from './audit-trail.js';
import { AUDITED, type AuditedRoute } from './audited.decorator.js';

/** Statuses that mean "the policy said no" rather than "something broke". */
const DENIED = new Set([401, 403, 404, 409, 410, 423, 429]);

/**
 * Records exactly one audit event per @Audited request. On success the event is committed before
 * the handler's result is handed on, so no plaintext leaves before its event is durable (fail
 * closed: if recording fails the request fails with 503 and the result is dropped). On failure the
 * event records the outcome (denied or error) and the original error is rethrown.
 */
@Injectable()
export class AuditInterceptor implements NestInterceptor {
  constructor(
    @Inject(Reflector) private readonly reflector: Reflector,
    @Inject(AuditLog) private readonly auditLog: AuditLog,
  ) {}

  intercept(context: ExecutionContext, next: CallHandler): Observable<unknown> {
    const route = this.reflector.getAllAndOverride<AuditedRoute | undefined>(AUDITED, [context.getHandler(), context.getClass()]);
    if (!route) return next.handle();
    const req = context.switchToHttp().getRequest<Request>();
    const trail = req.auditTrail ?? new AuditTrail(req.id, route.action, route.resourceType, clientIpOf(req));
    req.auditTrail = trail;
    if (req.actor) trail.actor = { id: req.actor.id, name: req.actor.name, kind: req.actor.kind, roles: [...req.actor.roles] };
    return from(this.run(trail, next, context));
  }

  private async run(trail: AuditTrail, next: CallHandler, context: ExecutionContext): Promise<unknown> {
    let result: unknown;
    try {
      result = await lastValueFrom(next.handle(), { defaultValue: undefined });
    } catch (error) {
      if (!trail.recorded) {
        const { status } = shapeError(error);
        trail.recorded = true;
        await this.auditLog.record(trail.toEvent(DENIED.has(status) || status === 400 ? 'denied' : 'error', status));
      }
      throw error;
    }
    if (!trail.recorded) {
      const status = this.successStatus(context);
      trail.recorded = true;
      await this.auditLog.record(trail.toEvent('allowed', status));
    }
    return result;
  }

  /** Nest applies @HttpCode (or its POST default 201) after interceptors: read it from metadata. */
  private successStatus(context: ExecutionContext): number {
    const code = this.reflector.get<number | undefined>(HTTP_CODE_METADATA, context.getHandler());
    if (code !== undefined) return code;
    return context.switchToHttp().getRequest<Request>().method === 'POST' ? 201 : 200;
  }
}
