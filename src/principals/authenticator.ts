import { Inject, Injectable, type OnModuleDestroy } from '@nestjs/common';
import type { FastifyRequest, onRequestHookHandler } from 'fastify';
import type { Logger } from 'pino';
import { isUnderAuthenticatedPrefix, RouteRegistry } from '../access/route-registry.js';
import type { Actor } from '../access/vocabulary.js';
import { AuditLog, type AuditEventInput } from '../audit/audit-log.js';
import { clientIpOf, resourceOfRequest, withClientRequestId } from '../audit/audit-trail.js';
import { describeUnexpected, sendError } from '../common/error-response.js';
import { RateLimiter } from '../common/rate-limiter.js';
import { VaultError } from '../common/vault-error.js';
import type { VaultConfig } from '../config/config.js';
import { ROOT_LOGGER, VAULT_CONFIG } from '../config/runtime.js';
import { BlockedAddressSummaries, type BlockedSummary } from './blocked-address-summaries.js';
import { authenticationUnavailable, unauthenticated } from './principals.errors.js';
import { PrincipalsService, type Authentication } from './principals.service.js';
import { hashToken, parseBearer, tokenHashPrefix } from './tokens.js';

type FailureReason = 'missing' | 'malformed' | 'unknown' | 'revoked';

const ANONYMOUS = { id: null, name: 'anonymous', kind: 'anonymous', roles: [] } as const satisfies AuditEventInput['actor'];

/**
 * Authenticates every /v1 request first (`authenticateFirst`, a Fastify request hook: it runs before
 * the body is read and before any guard, pipe or handler, unmatched routes included): without a
 * valid `Authorization: Bearer cv_...` the answer is 401,
 * before any 400, 404, 413 or 415, and nothing of the request is read beyond its headers. Sets
 * `req.actor`. A failure answers 401 with one fixed message and `WWW-Authenticate: Bearer`, and is
 * audited: the reason and the first 8 hex characters of the token's hash, never the token. If that
 * audit write fails, the request fails with 503 (fail closed).
 *
 * Rate limits (per process, see docs/SECURITY.md), both answered 429 with Retry-After: a client
 * address with too many failed authentications in the window is refused *before* its token is
 * looked up (no database work for a guesser), and its refusals are summarised: one audit event per
 * address and window, with a count, written when the window ends (or at shutdown); an
 * authenticated principal over its request limit is refused (and audited) before the body is read.
 */
@Injectable()
export class Authenticator implements OnModuleDestroy {
  private readonly log: Logger;
  private readonly authFailures: RateLimiter;
  private readonly perPrincipal: RateLimiter;
  private readonly blocked = new BlockedAddressSummaries();
  private readonly sweep: NodeJS.Timeout;

  constructor(
    @Inject(PrincipalsService) private readonly principals: PrincipalsService,
    @Inject(AuditLog) private readonly auditLog: AuditLog,
    @Inject(RouteRegistry) private readonly routes: RouteRegistry,
    @Inject(ROOT_LOGGER) log: Logger,
    @Inject(VAULT_CONFIG) config: VaultConfig,
  ) {
    this.log = log.child({ component: 'auth' });
    this.authFailures = new RateLimiter(config.authFailureLimitPerWindow, config.rateLimitWindowMs);
    this.perPrincipal = new RateLimiter(config.rateLimitPerWindow, config.rateLimitWindowMs);
    this.sweep = setInterval(() => void this.writeSummaries(false), Math.min(config.rateLimitWindowMs, 5_000));
    this.sweep.unref();
  }

  /**
   * The request hook: authenticates requests under the authenticated prefix, by the route Fastify
   * matched, or, for an unmatched one, by its path (as written and decoded, in any case). Errors are
   * answered here, in the common shape.
   */
  authenticateFirst(): onRequestHookHandler {
    return (req, reply, done) => {
      if (!requiresAuthentication(req)) {
        done();
        return;
      }
      this.authenticate(req).then(
        () => done(),
        (error: unknown) => sendError(req, reply, error, this.log),
      );
    };
  }

  async authenticate(req: FastifyRequest): Promise<Actor> {
    const clientIp = clientIpOf(req) ?? 'unknown';
    const blocked = this.authFailures.peek(clientIp);
    if (!blocked.allowed) {
      const now = Date.now();
      const ready = this.blocked.note(clientIp, req.id, this.authFailures.windowEndOf(clientIp) ?? now, now);
      if (ready.length > 0) void this.write(ready);
      throw rateLimited(blocked.retryAfterSeconds);
    }

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
    const actor = authentication.actor;
    req.actor = actor;
    const allowed = this.perPrincipal.hit(actor.id);
    if (!allowed.allowed) {
      const route = this.routeOf(req);
      this.log.warn({ reqId: req.id, limit: 'principal', route }, 'rate limited');
      await this.auditLog.record(this.event(req, {
        actor: { id: actor.id, name: actor.name, kind: actor.kind, roles: [...actor.roles] },
        action: 'request.rate_limited',
        status: 429,
        details: { route, limit: 'principal', retryAfterSeconds: allowed.retryAfterSeconds },
      }));
      throw rateLimited(allowed.retryAfterSeconds);
    }
    return actor;
  }

  /** Writes the summaries still open (shutdown): no counted refusal is lost on a clean stop. */
  async onModuleDestroy(): Promise<void> {
    clearInterval(this.sweep);
    await this.writeSummaries(true);
  }

  /** Writes the summaries of ended windows (all with `everything`); exposed for tests. */
  async writeSummaries(everything: boolean): Promise<void> {
    const ready = this.blocked.take(Date.now(), everything);
    if (ready.length > 0) await this.write(ready);
  }

  private async write(summaries: BlockedSummary[]): Promise<void> {
    for (const summary of summaries) {
      try {
        await this.auditLog.record({
          requestId: summary.firstRequestId,
          actor: { ...ANONYMOUS, roles: [] },
          action: 'auth.rate_limited',
          resource: { type: 'request', id: null },
          purpose: null,
          reason: null,
          fields: { revealed: [], masked: [], written: [] },
          outcome: 'denied',
          status: 429,
          clientIp: summary.address,
          details: {
            limit: 'auth_failures',
            summary: true,
            count: summary.count,
            firstAt: new Date(summary.firstAt).toISOString(),
            lastAt: new Date(summary.lastAt).toISOString(),
            windowEndsAt: new Date(summary.windowEndsAt).toISOString(),
          },
        });
      } catch (error) {
        // Kept to try again at the next sweep; the summaries are bounded per address.
        this.log.error({ err: describeUnexpected(error), count: summary.count }, 'could not write a blocked-address summary; will retry');
        this.blocked.restore(summary);
      }
    }
  }

  private async fail(req: FastifyRequest, reason: FailureReason, hashPrefix: string | null): Promise<never> {
    this.authFailures.hit(clientIpOf(req) ?? 'unknown');
    const route = this.routeOf(req);
    this.log.info({ reqId: req.id, reason, route }, 'authentication failed');
    await this.auditLog.record(this.event(req, { actor: { ...ANONYMOUS, roles: [] }, action: 'auth.failed', status: 401, details: { route, reason, tokenHashPrefix: hashPrefix } }));
    throw unauthenticated();
  }

  private event(req: FastifyRequest, e: Pick<AuditEventInput, 'actor' | 'action' | 'status'> & { details: NonNullable<AuditEventInput['details']> }): AuditEventInput {
    return {
      requestId: req.id,
      actor: e.actor,
      action: e.action,
      resource: resourceOfRequest(req),
      purpose: null,
      reason: null,
      fields: { revealed: [], masked: [], written: [] },
      outcome: 'denied',
      status: e.status,
      clientIp: clientIpOf(req),
      details: withClientRequestId(e.details, req.clientRequestId),
    };
  }

  /** `METHOD /route/:pattern` of the request (never the concrete URL: ids stay out of the details). */
  private routeOf(req: FastifyRequest): string {
    return `${req.method} ${this.routes.patternOf(req.method, req.originalUrl.split('?')[0]!)}`;
  }
}

/** Whether a request is under the authenticated prefix: its route's pattern, else its path (raw and decoded). */
export function requiresAuthentication(req: FastifyRequest): boolean {
  if (!req.is404 && typeof req.routeOptions.url === 'string') return isUnderAuthenticatedPrefix(req.routeOptions.url);
  const path = req.url.split('?')[0]!;
  if (isUnderAuthenticatedPrefix(path)) return true;
  try {
    return isUnderAuthenticatedPrefix(decodeURIComponent(path));
  } catch {
    return false;
  }
}

function rateLimited(retryAfterSeconds: number): VaultError {
  return new VaultError('rate_limited', 'too many requests', undefined, { 'Retry-After': String(retryAfterSeconds) });
}
