import { Inject, Injectable, RequestMethod, type OnModuleInit } from '@nestjs/common';
import { HTTP_CODE_METADATA, METHOD_METADATA, PATH_METADATA } from '@nestjs/common/constants.js';
import { DiscoveryService, MetadataScanner, Reflector } from '@nestjs/core';
import { AUDITED, type AuditedRoute } from '../audit/audited.decorator.js';
import { IDEMPOTENT, type IdempotentRoute } from '../idempotency/idempotency.js';
import { IS_PUBLIC } from '../principals/public.decorator.js';
import { POLICY, type RoutePolicy } from './route-policy.js';

/** Where callers are authenticated before anything else (body parsing, guards, handlers): see `authenticateFirst`. */
export const AUTHENTICATED_PREFIX = '/v1';

/** `/v1` or below it, in any case (routes are matched case-insensitively). */
export function isUnderAuthenticatedPrefix(path: string): boolean {
  const lower = path.toLowerCase();
  return lower === AUTHENTICATED_PREFIX || lower.startsWith(`${AUTHENTICATED_PREFIX}/`);
}

/** What a route declared, resolved once at start-up. Non-public routes have both `policy` and `audit`. */
export interface RouteSpec {
  method: string;
  /** e.g. `/v1/customers/:id` */
  path: string;
  public: boolean;
  policy: RoutePolicy | null;
  audit: AuditedRoute | null;
  /** How a POST, PUT or PATCH treats Idempotency-Key (@Idempotent); null on other methods. */
  idempotent: IdempotentRoute | null;
  /** the status of a success: @HttpCode, else Nest's default (201 for POST, 200 otherwise) */
  okStatus: number;
}

/** The methods that write: each of their /v1 routes declares @Idempotent. */
const WRITE_METHODS: ReadonlySet<string> = new Set(['POST', 'PUT', 'PATCH']);

/** Thrown at start-up, naming every route that declares too little. */
export class UndeclaredRouteError extends Error {}

function joinPath(base: string, sub: string): string {
  const joined = `/${base}/${sub}`.replace(/\/{2,}/g, '/');
  return joined.length > 1 ? joined.replace(/\/$/, '') : joined;
}

function asList(value: unknown): string[] {
  if (Array.isArray(value)) return value.map(String);
  return [typeof value === 'string' ? value : '/'];
}

/**
 * Every route of the application with its declarations (@Policy, @Audited, @Public), read from
 * Nest's discovery once at start-up, so the guard and the audit interceptor look a route up in one
 * Map instead of reflecting on every request. Start-up fails when a route is neither public nor
 * declares both its policy and its audit action, when a non-public POST, PUT or PATCH does not
 * declare how it treats Idempotency-Key (@Idempotent), or when a non-public route lies outside /v1
 * (where callers are authenticated before the body is parsed).
 */
@Injectable()
export class RouteRegistry implements OnModuleInit {
  private readonly byHandler = new Map<unknown, RouteSpec>();
  private readonly routes: RouteSpec[] = [];
  private matchers: { method: string; pattern: RegExp; spec: RouteSpec }[] = [];

  constructor(
    @Inject(DiscoveryService) private readonly discovery: DiscoveryService,
    @Inject(MetadataScanner) private readonly scanner: MetadataScanner,
    @Inject(Reflector) private readonly reflector: Reflector,
  ) {}

  onModuleInit(): void {
    const problems: string[] = [];
    const seen = new Set<unknown>();
    for (const wrapper of this.discovery.getControllers()) {
      const controller = wrapper.metatype as (abstract new (...args: never[]) => unknown) | null;
      if (typeof controller !== 'function' || seen.has(controller)) continue;
      seen.add(controller);
      const prototype = controller.prototype as Record<string, unknown>;
      const bases = asList(Reflect.getMetadata(PATH_METADATA, controller));
      for (const name of this.scanner.getAllMethodNames(prototype)) {
        const handler = prototype[name];
        if (typeof handler !== 'function') continue;
        const subPaths = Reflect.getMetadata(PATH_METADATA, handler) as unknown;
        if (subPaths === undefined) continue;
        const method = RequestMethod[Reflect.getMetadata(METHOD_METADATA, handler) as RequestMethod] ?? 'GET';
        const targets = [handler as () => unknown, controller];
        const isPublic = this.reflector.getAllAndOverride<boolean | undefined>(IS_PUBLIC, targets) === true;
        const policy = this.reflector.getAllAndOverride<RoutePolicy | undefined>(POLICY, targets) ?? null;
        const audit = this.reflector.getAllAndOverride<AuditedRoute | undefined>(AUDITED, targets) ?? null;
        const idempotent = this.reflector.get<IdempotentRoute | undefined>(IDEMPOTENT, handler as () => unknown) ?? null;
        const okStatus = (Reflect.getMetadata(HTTP_CODE_METADATA, handler) as number | undefined) ?? (method === 'POST' ? 201 : 200);
        for (const base of bases) {
          for (const sub of asList(subPaths)) {
            const spec: RouteSpec = { method, path: joinPath(base, sub), public: isPublic, policy, audit, idempotent, okStatus };
            const where = `${method} ${spec.path} (${controller.name}.${name})`;
            if (isPublic && policy) problems.push(`${where} is @Public() and declares a @Policy(): choose one`);
            if (!isPublic && !policy) problems.push(`${where} declares no @Policy(...)`);
            if (!isPublic && !audit) problems.push(`${where} declares no @Audited(...)`);
            if (!isPublic && WRITE_METHODS.has(method) && !idempotent) problems.push(`${where} declares no @Idempotent(...) (src/idempotency/idempotent.decorator.ts)`);
            if (idempotent && (isPublic || !WRITE_METHODS.has(method))) problems.push(`${where} declares @Idempotent(...), which only POST, PUT and PATCH routes under ${AUTHENTICATED_PREFIX} may`);
            if (!isPublic && !isUnderAuthenticatedPrefix(spec.path)) problems.push(`${where} is not @Public() and lies outside ${AUTHENTICATED_PREFIX}, where callers are authenticated first`);
            this.routes.push(spec);
            if (!this.byHandler.has(handler)) this.byHandler.set(handler, spec);
          }
        }
      }
    }
    if (problems.length > 0) {
      throw new UndeclaredRouteError(`every route declares @Policy and @Audited (and, if it writes, @Idempotent), or @Public (src/access/route-policy.ts):\n  ${problems.join('\n  ')}`);
    }
    this.matchers = this.routes.map((spec) => ({
      method: spec.method,
      // The router matches paths case-insensitively and ignores a trailing slash (app.ts); parameters are one segment.
      pattern: new RegExp(`^${spec.path.replace(/[.*+?^${}()|[\]\\]/g, '\\$&').replace(/:[A-Za-z0-9_]+/g, '[^/]+')}/?$`, 'i'),
      spec,
    }));
  }

  /** The declarations of a route handler (`context.getHandler()`). */
  of(handler: unknown): RouteSpec | undefined {
    return this.byHandler.get(handler);
  }

  /** Every route, for the route enumeration test and the docs. */
  list(): readonly RouteSpec[] {
    return this.routes;
  }

  /**
   * The route pattern a request would reach (for events written before routing: failed
   * authentication, rate limits), or `unmatched`. Only on those rare paths: a linear scan.
   */
  patternOf(method: string, path: string): string {
    const upper = method.toUpperCase();
    const found = this.matchers.find((m) => (m.method === upper || m.method === 'ALL' || (upper === 'HEAD' && m.method === 'GET')) && m.pattern.test(path));
    return found?.spec.path ?? 'unmatched';
  }
}
