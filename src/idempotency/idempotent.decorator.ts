import { SetMetadata, UseInterceptors, applyDecorators } from '@nestjs/common';
import { ApiExtension } from '@nestjs/swagger';
import { IDEMPOTENT, type IdempotentRoute } from './idempotency.js';
import { IdempotencyInterceptor } from './idempotency.interceptor.js';

/**
 * Declares how a POST, PUT or PATCH route treats `Idempotency-Key`: `@Idempotent()` (the answer is
 * stored as it is: ids and metadata only), `@Idempotent({ omit: ['data'] })`, or
 * `@Idempotent('read')`. Binds the IdempotencyInterceptor to the route: route-scoped interceptors run
 * inside the global AuditInterceptor (a replay is audited like any answer), and reads never pay for
 * it. The OpenAPI document gets the header and the answers from the `x-idempotency` extension
 * (openapi-document.ts). Every POST, PUT and PATCH route declares it (RouteRegistry).
 */
export function Idempotent(options: { omit?: readonly string[] } | 'read' = {}): MethodDecorator {
  const route: IdempotentRoute = options === 'read' ? { kind: 'read', omit: [] } : { kind: 'write', omit: options.omit ?? [] };
  return applyDecorators(
    SetMetadata(IDEMPOTENT, route),
    UseInterceptors(IdempotencyInterceptor),
    ApiExtension('x-idempotency', { kind: route.kind, replayOmits: [...route.omit] }),
  );
}
