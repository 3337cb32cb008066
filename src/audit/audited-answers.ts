import { Inject, Injectable } from '@nestjs/common';
import type { FastifyReply, FastifyRequest } from 'fastify';
import type { Logger } from 'pino';
import { RouteRegistry } from '../access/route-registry.js';
import { sendError, shapeError } from '../common/error-response.js';
import { ROOT_LOGGER } from '../config/runtime.js';
import { AuditLog } from './audit-log.js';
import { AuditTrail, clientIpOf, resourceOfRequest } from './audit-trail.js';

/** Statuses that mean "the policy (or the input) said no" rather than "something broke". */
export const DENIED_STATUSES: ReadonlySet<number> = new Set([400, 401, 403, 404, 409, 410, 413, 415, 422, 423, 429]);

export function outcomeOf(status: number): 'denied' | 'error' {
  return DENIED_STATUSES.has(status) ? 'denied' : 'error';
}

/**
 * The last stop of every error answer (the exception filter and the body parser's error handler):
 * an authenticated request whose event was not written yet gets one now, before its answer leaves
 * (DESIGN §4: with a valid token every answer leaves one audit event). That covers what the audit
 * interceptor never sees: a malformed, oversized or non-JSON body (refused before routing), an
 * unknown route, and a route's policy refusing in the guard. Fail closed: when the event cannot be
 * written, the answer is the 503 of the audit log instead.
 */
@Injectable()
export class AuditedAnswers {
  private readonly log: Logger;

  constructor(
    @Inject(AuditLog) private readonly auditLog: AuditLog,
    @Inject(RouteRegistry) private readonly routes: RouteRegistry,
    @Inject(ROOT_LOGGER) log: Logger,
  ) {
    this.log = log.child({ component: 'http' });
  }

  /** Answers `error` in the common shape, after recording it when the request is authenticated and unaudited. */
  send(req: FastifyRequest, res: FastifyReply, error: unknown): void {
    const actor = req.actor;
    const trail = req.auditTrail;
    if (actor === undefined || trail?.recorded === true) {
      sendError(req, res, error, this.log);
      return;
    }
    const { status, code } = shapeError(error);
    let event = trail;
    if (event === undefined) {
      // No route was reached: the request itself is what the event is about.
      const path = req.originalUrl.split('?')[0]!;
      event = new AuditTrail(req.id, 'request.rejected', 'request', clientIpOf(req), req.clientRequestId);
      event.actor = { id: actor.id, name: actor.name, kind: actor.kind, roles: [...actor.roles] };
      event.resource = resourceOfRequest(req);
      event.details = { route: `${req.method} ${this.routes.patternOf(req.method, path)}`, code };
    }
    event.recorded = true;
    this.auditLog.record(event.toEvent(outcomeOf(status), status)).then(
      () => sendError(req, res, error, this.log),
      (failure: unknown) => sendError(req, res, failure, this.log),
    );
  }
}
