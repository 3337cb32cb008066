import type { Type } from '@nestjs/common';
import { NestFactory } from '@nestjs/core';
import { FastifyAdapter, type NestFastifyApplication } from '@nestjs/platform-fastify';
import { SwaggerModule } from '@nestjs/swagger';
import type { FastifyError, FastifyInstance, FastifyReply, FastifyRequest, onRequestHookHandler } from 'fastify';
import { AppModule } from './app.module.js';
import { AuditedAnswers } from './audit/audited-answers.js';
import { Authenticator } from './principals/authenticator.js';
import { AllExceptionsFilter } from './common/all-exceptions.filter.js';
import { clientErrorAnswer } from './common/client-errors.js';
import { sendError } from './common/error-response.js';
import { useJsonBody } from './common/json-body.js';
import { PinoNestLogger } from './common/logger.js';
import { securityHeaders } from './common/security-headers.js';
import { generateRequestId, requestContext, requestLog } from './common/request-context.js';
import { createValidationPipe } from './common/validation.js';
import { registerConsole } from './console/console.js';
import type { VaultRuntime } from './config/runtime.js';
import { MetricsService } from './health/metrics.service.js';
import { registerDocsUi } from './openapi/docs-ui.js';
import { buildOpenApiDocument } from './openapi/openapi-document.js';
import { AuditSealer, type SealerStats } from './audit/audit-sealer.js';
import { PgAuditLog, type GroupCommitStats } from './audit/pg-audit-log.js';
import { AuditStreamService, type StreamStats } from './audit/audit-stream.service.js';
import { KeyRing } from './keys/key-ring.service.js';

/** The vault's HTTP application: NestJS on Fastify. */
export type VaultApp = NestFastifyApplication;

/** Router settings that keep the routes answering as they did on Express: any case, trailing slash or not, no parameter length limit (Node's 16 KiB header limit bounds it). */
const ROUTER_OPTIONS = { caseSensitive: false, ignoreTrailingSlash: true, maxParamLength: 16 * 1024 } as const;

/** One route as Fastify registered it. */
export interface ServedRoute {
  method: string;
  url: string;
}

const servedRoutes = new WeakMap<VaultApp, ServedRoute[]>();

/**
 * Every route Fastify serves (its `onRoute` hook, HEAD routes included), as registered: the route
 * table the route-policy test checks against the RouteRegistry's declarations.
 */
export function routesOf(app: VaultApp): readonly ServedRoute[] {
  return servedRoutes.get(app) ?? [];
}

/**
 * Builds the HTTP application on a prepared runtime (database open, root key loaded). The same
 * function serves `main.ts` and the e2e tests, so tests exercise the real pipeline. The returned
 * application is initialised and its Fastify instance ready (supertest can use its server).
 */
export async function createApp(runtime: VaultRuntime, options: { extraModules?: Type[] } = {}): Promise<VaultApp> {
  const metrics = new MetricsService();
  // The request hooks, set below; also run for the URLs the router refuses before any hook (frameworkErrors).
  let beforeRouting: onRequestHookHandler[] = [];
  let answer: (req: FastifyRequest, reply: FastifyReply, error: unknown) => void = (req, reply, error) => sendError(req, reply, error);
  const adapter = new FastifyAdapter({
    genReqId: generateRequestId,
    requestIdHeader: false,
    trustProxy: false,
    // Draining: requests on connections still open are served (with Connection: close), not refused.
    return503OnClosing: false,
    keepAliveTimeout: 5_000,
    // Node's own default (Fastify's is none): a request must arrive whole within 5 minutes.
    requestTimeout: 300_000,
    routerOptions: ROUTER_OPTIONS,
    clientErrorHandler: clientErrorAnswer(runtime.log),
    // Answered in the common shape (audited when authenticated) by the same exception layer as any other error.
    frameworkErrors: (error: FastifyError, req: FastifyRequest, reply: FastifyReply) => runHooks(beforeRouting, req, reply, () => answer(req, reply, error)),
    // No Nest middleware: every step is a Fastify hook.
    skipMiddie: true,
  });
  const app = await NestFactory.create<NestFastifyApplication>(AppModule.forRoot(runtime, metrics, options.extraModules), adapter, {
    bodyParser: false,
    abortOnError: false,
    logger: new PinoNestLogger(runtime.log.child({ component: 'nest' })),
  });
  const fastify = app.getHttpAdapter().getInstance();
  const routes: ServedRoute[] = [];
  servedRoutes.set(app, routes);
  fastify.addHook('onRoute', (route) => {
    for (const method of [route.method].flat()) routes.push({ method, url: route.url });
  });
  exposeAuditCounters(metrics, app.get(PgAuditLog).stats, app.get(AuditSealer).stats);
  exposeAuditStream(metrics, app.get(AuditStreamService).stats);
  exposeDekCacheFigures(metrics, app.get(KeyRing));
  // Per-request state, declared up front (one object shape for every request).
  fastify.decorateRequest('clientRequestId', null);
  fastify.decorateRequest('actor', undefined);
  fastify.decorateRequest('auditTrail', undefined);
  fastify.decorateRequest('access', undefined);
  // Order matters (DESIGN §4): request id, security headers, then on /v1 authentication before the
  // body is read or any guard or handler runs (401 before any 400, 404, 413 or 415); errors after it
  // are audited (AuditedAnswers, through Nest's exception layer, Fastify's error and 404 handler).
  beforeRouting = [requestContext, securityHeaders, app.get(Authenticator).authenticateFirst()];
  for (const hook of beforeRouting) fastify.addHook('onRequest', hook);
  fastify.addHook('onResponse', requestLog(runtime.log, (req, route, status, seconds) => metrics.observe(req.method, route, status, seconds)));
  useJsonBody(fastify, runtime.config.bodyLimitBytes);
  registerConsole(fastify);
  const answers = app.get(AuditedAnswers);
  answer = (req, reply, error) => answers.send(req, reply, error);
  app.useGlobalFilters(new AllExceptionsFilter(answer));
  app.useGlobalPipes(createValidationPipe());

  SwaggerModule.setup('docs', app, () => buildOpenApiDocument(app), { ui: false });
  registerDocsUi(fastify);
  try {
    await app.init();
    await fastify.ready();
  } catch (error) {
    // e.g. a route without its declarations (RouteRegistry): stop what already started, then fail.
    await app.close().catch(() => undefined);
    throw error;
  }
  return app;
}

/** Runs request hooks in order outside Fastify's lifecycle, then `then`, unless one answered. */
function runHooks(hooks: onRequestHookHandler[], req: FastifyRequest, reply: FastifyReply, then: () => void): void {
  const step = (index: number) => (error?: Error): void => {
    if (error) {
      void reply.send(error);
      return;
    }
    if (reply.sent) return;
    const hook = hooks[index];
    if (hook === undefined) {
      then();
      return;
    }
    void hook.call(req.server as FastifyInstance, req, reply, step(index + 1));
  };
  step(0)();
}

/** The audit log's own counters on /metrics: how events are batched, chained and checkpointed. */
function exposeAuditCounters(metrics: MetricsService, groupCommit: GroupCommitStats, sealer: SealerStats): void {
  metrics.exposeCounters({
    vault_audit_recorded_events_total: { help: 'Audit events written by the group commit (record)', read: () => groupCommit.events },
    vault_audit_recorded_batches_total: { help: 'Group-commit batches written (one INSERT each)', read: () => groupCommit.batches },
    vault_audit_failed_batches_total: { help: 'Group-commit batches that failed (their requests answered 503)', read: () => groupCommit.failedBatches },
    vault_audit_appended_events_total: { help: 'Events chained directly by this process as the sealer', read: () => sealer.appended },
    vault_audit_sealed_events_total: { help: 'Pending events moved into the chain by this process as the sealer', read: () => sealer.sealed },
    vault_audit_checkpoints_total: { help: 'Signed checkpoints written by this process', read: () => sealer.checkpoints },
    vault_audit_checkpoint_file_errors_total: { help: 'Checkpoints that could not be appended to the checkpoint file', read: () => sealer.checkpointFileErrors },
  });
}

/** The live audit stream on /metrics: open connections, and how many were closed for lagging. */
function exposeAuditStream(metrics: MetricsService, stream: StreamStats): void {
  metrics.exposeGauges({ vault_audit_stream_connections: { help: 'Open GET /v1/audit/stream connections in this process', read: () => stream.connections } });
  metrics.exposeCounters({
    vault_audit_stream_opened_total: { help: 'Audit streams opened in this process', read: () => stream.opened },
    vault_audit_stream_events_total: { help: 'Events written to audit streams by this process', read: () => stream.eventsSent },
    vault_audit_stream_closed_slow_total: { help: 'Audit streams closed because the consumer fell more than VAULT_AUDIT_STREAM_MAX_BACKLOG events behind', read: () => stream.closedSlow },
  });
}

/** The DEK cache on /metrics: how many unwrapped keys it holds, and the evictions it was sent. */
function exposeDekCacheFigures(metrics: MetricsService, keys: KeyRing): void {
  metrics.exposeGauges({ vault_dek_cache_entries: { help: 'Unwrapped DEKs held in this process\'s cache', read: () => keys.dekCacheStats.entries } });
  metrics.exposeCounters({
    vault_dek_evictions_received_total: { help: 'DEK destructions (erasures, re-keys) announced to this process over LISTEN/NOTIFY', read: () => keys.dekCacheStats.evictionsReceived },
    vault_dek_eviction_listener_connections_total: { help: 'Connections of the DEK eviction listener (each one clears the cache)', read: () => keys.dekCacheStats.listenerConnections },
  });
}
