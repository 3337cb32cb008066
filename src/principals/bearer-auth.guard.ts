import { Inject, Injectable, type CanActivate, type ExecutionContext } from '@nestjs/common';
import { Reflector } from '@nestjs/core';
import type { Request } from 'express';
import type { Logger } from 'pino';
import type { Actor } from '../access/vocabulary.js';
import { AuditLog } from '../audit/audit-log.js';
import { clientIpOf, resourceOfRequest } from '../audit/audit-trail.js';
import { describeUnexpected } from '../common/error-response.js';
import { RateLimiter } from '../common/rate-limiter.js';
import { routeOf } from '../common/request-context.js';
import { VaultError } from '../common/vault-error.js';
import type { VaultConfig } from '../config/config.js';
import { ROOT_LOGGER, VAULT_CONFIG } from '../config/runtime.js';
import { authenticationUnavailable, unauthenticated } from './principals.errors.js';
import { PrincipalsService, type Authentication } from './principals.service.js';
import { IS_PUBLIC } from './public.decorator.js';
import { hashToken, parseBearer, tokenHashPrefix } from './tokens.js';

type FailureReason = 'missing' | 'malformed' | 'unknown' | 'revoked';

/**
 * Global guard (APP_GUARD): every route needs `Authorization: Bearer cv_...` unless it is marked
 * @Public(). Sets `req.actor`. A failure answers 401 with one fixed message and
 * `WWW-Authenticate: Bearer`, and is audited here (guards run before the audit interceptor): the
 * reason and the first 8 hex characters of the token's hash, never the token. If that audit write
 * fails, the request fails with 503 (fail closed).
 *
 * Rate limits (per process, see docs/SECURITY.md), both answered 429 with Retry-After and audited:
 * a client address with too many failed authentications in the window is refused *before* its token
 * is looked up (no database work for a guesser); an authenticated principal over its request limit is
 * refused after authentication, before any handler runs.
 */
@Injectable()
export class BearerAuthGuard implements CanActivate {
  private readonly log: Logger;
  private readonly authFailures: RateLimiter;
  private readonly perPrincipal: RateLimiter;

  constructor(
    @Inject(Reflector) private readonly reflector: Reflector,
    @Inject(PrincipalsService) private readonly principals: PrincipalsService,
    @Inject(AuditLog) private readonly auditLog: AuditLog,
    @Inject(ROOT_LOGGER) log: Logger,
    @Inject(VAULT_CONFIG) config: VaultConfig,
  ) {
    this.log = log.child({ component: 'auth' });
    this.authFailures = new RateLimiter(config.authFailureLimitPerWindow, config.rateLimitWindowMs);
    this.perPrincipal = new RateLimiter(config.rateLimitPerWindow, config.rateLimitWindowMs);
  }

  async canActivate(context: ExecutionContext): Promise<boolean> {
    if (this.reflector.getAllAndOverride<boolean | undefined>(IS_PUBLIC, [context.getHandler(), context.getClass()])) return true;
    const req = context.switchToHttp().getRequest<Request>();
    const clientIp = clientIpOf(req) ?? 'unknown';
    const blocked = this.authFailures.peek(clientIp);
    if (!blocked.allowed) return this.refuse(req, null, 'auth_failures', blocked.retryAfterSeconds);

    const bearer = parseBearer(req.headers.authorization);
    if (bearer.kind !== 'token') return this.fail(req, bearer.kind, null);

    let authentication: Authentication;
    try {
      authentication = await this.principals.authenticate(bearer.token);
    } catch (error) {
      this.log.error({ reqId: req.id, err: describeUnexpected(error) }, 'token lookup failed');
      throw authenticationUnavailable();
    }
    if (authentication.result !== 'ok') return this.fail(req, authentication.result, tokenHashPrefix(hashToken(bearer.token)));
    req.actor = authentication.actor;
    const allowed = this.perPrincipal.hit(authentication.actor.id);
    if (!allowed.allowed) return this.refuse(req, authentication.actor, 'principal', allowed.retryAfterSeconds);
    return true;
  }

  /** 429 with Retry-After, audited: the actor when known, else the client address (always recorded). */
  private async refuse(req: Request, actor: Actor | null, limit: 'auth_failures' | 'principal', retryAfterSeconds: number): Promise<never> {
    const route = `${req.method} ${routeOf(req)}`;
    this.log.warn({ reqId: req.id, limit, route }, 'rate limited');
    await this.auditLog.record({
      requestId: req.id,
      actor: actor === null ? { id: null, name: 'anonymous', kind: 'anonymous', roles: [] } : { id: actor.id, name: actor.name, kind: actor.kind, roles: [...actor.roles] },
      action: limit === 'principal' ? 'request.rate_limited' : 'auth.rate_limited',
      resource: resourceOfRequest(req),
      purpose: null,
      reason: null,
      fields: { revealed: [], masked: [], written: [] },
      outcome: 'denied',
      status: 429,
      clientIp: clientIpOf(req),
      details: { route, limit, retryAfterSeconds },
    });
    throw new VaultError('rate_limited', 'too many requests', undefined, { 'Retry-After': String(retryAfterSeconds) });
  }

  private async fail(req: Request, reason: FailureReason, hashPrefix: string | null): Promise<never> {
    this.authFailures.hit(clientIpOf(req) ?? 'unknown');
    const route = `${req.method} ${routeOf(req)}`;
    this.log.info({ reqId: req.id, reason, route }, 'authentication failed');
    await this.auditLog.record({
      requestId: req.id,
      actor: { id: null, name: 'anonymous', kind: 'anonymous', roles: [] },
      action: 'auth.failed',
      resource: resourceOfRequest(req),
      purpose: null,
      reason: null,
      fields: { revealed: [], masked: [], written: [] },
      outcome: 'denied',
      status: 401,
      clientIp: clientIpOf(req),
      details: { route, reason, tokenHashPrefix: hashPrefix },
    });
    throw unauthenticated();
  }
}
