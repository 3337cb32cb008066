import { createParamDecorator, SetMetadata, type ExecutionContext } from '@nestjs/common';
import type { FastifyRequest } from 'fastify';
import { AuditTrail } from './audit-trail.js';

export const AUDITED = Symbol('AUDITED');

export interface AuditedRoute {
  action: string;
  resourceType: string;
}

/** Marks a route as audited: one event per request, allowed or denied, via the AuditInterceptor. */
export const Audited = (action: string, resourceType: string): MethodDecorator & ClassDecorator =>
  SetMetadata(AUDITED, { action, resourceType } satisfies AuditedRoute);

/** The request's AuditTrail (created by the AuditInterceptor for @Audited routes). */
export const Trail = createParamDecorator((_data: unknown, context: ExecutionContext): AuditTrail => {
  const trail = context.switchToHttp().getRequest<FastifyRequest>().auditTrail;
  if (!trail) throw new Error('@Trail() used on a route without @Audited()');
  return trail;
});
