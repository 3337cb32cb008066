import { createParamDecorator, Inject, Injectable, type CanActivate, type ExecutionContext } from '@nestjs/common';
import type { FastifyRequest } from 'fastify';
import { AuditTrail, clientIpOf } from '../audit/audit-trail.js';
import { VaultError } from '../common/vault-error.js';
import { AccessPolicy, type DeclaredAccess } from './access-policy.js';
import { RouteRegistry } from './route-registry.js';
import type { Purpose } from './vocabulary.js';

declare module 'fastify' {
  interface FastifyRequest {
    /** The purpose and reason of the request, checked by the PoliciesGuard. */
    access?: DeclaredAccess;
  }
}

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

/**
 * The one global guard (the NestJS CASL recipe's policies guard): enforces the `@Policy` a route
 * declared, before any pipe or handler runs. The caller was authenticated before routing
 * (`Authenticator.authenticateFirst` on /v1; start-up refuses non-public routes elsewhere).
 *
 * Per request: one Map lookup for the route's declarations (resolved at start-up), the access
 * headers (`X-Access-Purpose` required or optional, `X-Access-Reason`), and one check against the
 * cached CASL ability. It opens the request's AuditTrail, so a refusal here (400, 403) is recorded
 * under the route's own action by the error path (AuditedAnswers), and the handler's event later.
 */
@Injectable()
export class PoliciesGuard implements CanActivate {
  constructor(
    @Inject(RouteRegistry) private readonly routes: RouteRegistry,
    @Inject(AccessPolicy) private readonly policy: AccessPolicy,
  ) {}

  canActivate(context: ExecutionContext): boolean {
    const route = this.routes.of(context.getHandler());
    if (route === undefined) throw new VaultError('internal', 'route not registered');
    if (route.public) return true;
    const req = context.switchToHttp().getRequest<FastifyRequest>();
    const actor = req.actor;
    if (actor === undefined || route.policy === null || route.audit === null) throw new VaultError('unauthenticated', 'authentication required');

    const trail = new AuditTrail(req.id, route.audit.action, route.audit.resourceType, clientIpOf(req), req.clientRequestId);
    trail.actor = { id: actor.id, name: actor.name, kind: actor.kind, roles: [...actor.roles] };
    // A refused request names its target too; handlers validate the id and set it again.
    const id = (req.params as Record<string, string | undefined>).id;
    if (id !== undefined && UUID.test(id)) trail.resource.id = id.toLowerCase();
    req.auditTrail = trail;

    const access = this.policy.parseAccessHeaders(req.headers, route.policy.purpose === 'required');
    trail.purpose = access.purpose ?? null;
    trail.reason = access.reason ?? null;
    req.access = access;
    this.policy.assertRoute(actor, route.policy.rule, access.purpose);
    return true;
  }
}

/**
 * The request's `X-Access-Purpose` as checked by the PoliciesGuard: the purpose, or undefined when
 * the route's purpose is optional and none was sent. `@DeclaredPurpose('required')` on routes whose
 * @Policy requires one (never undefined there).
 */
export const DeclaredPurpose = createParamDecorator((need: 'required' | undefined, context: ExecutionContext): Purpose | undefined => {
  const purpose = context.switchToHttp().getRequest<FastifyRequest>().access?.purpose;
  if (need === 'required' && purpose === undefined) throw new VaultError('internal', '@DeclaredPurpose(\'required\') on a route whose @Policy does not require a purpose');
  return purpose;
});
