import type { Type } from '@nestjs/common';
import { NestFactory } from '@nestjs/core';
import type { NestExpressApplication } from '@nestjs/platform-express';
import { SwaggerModule } from '@nestjs/swagger';
import helmet from 'helmet';
import type { Request, Response } from 'express';
import { AUTHENTICATED_PREFIX } from './access/route-registry.js';
import { AppModule } from './app.module.js';
import { AuditedAnswers } from './audit/audited-answers.js';
import { Authenticator } from './principals/authenticator.js';
import { AllExceptionsFilter } from './common/all-exceptions.filter.js';
import { answerClientErrors } from './common/client-errors.js';
import { jsonBody } from './common/json-body.js';
import { PinoNestLogger } from './common/logger.js';
import { requestContext, routeOf } from './common/request-context.js';
import { createValidationPipe } from './common/validation.js';
import { consoleMiddleware } from './console/console.js';
import type { VaultRuntime } from './config/runtime.js';
import { MetricsService } from './health/metrics.service.js';
import { buildOpenApiDocument } from './openapi/openapi-document.js';
import { AuditSealer, type SealerStats } from './audit/audit-sealer.js';
import { PgAuditLog, type GroupCommitStats } from './audit/pg-audit-log.js';
import { AuditStreamService, type StreamStats } from './audit/audit-stream.service.js';
import { KeyRing } from './keys/key-ring.service.js';

/**
 * Builds the HTTP application on a prepared runtime (database open, root key loaded). The same
 * function serves `main.ts` and the e2e tests, so tests exercise the real pipeline.
 */
export async function createApp(runtime: VaultRuntime, options: { extraModules?: Type[] } = {}): Promise<NestExpressApplication> {
  const metrics = new MetricsService();
  const app = await NestFactory.create<NestExpressApplication>(AppModule.forRoot(runtime, metrics, options.extraModules), {
    bodyParser: false,
    abortOnError: false,
    logger: new PinoNestLogger(runtime.log.child({ component: 'nest' })),
  });
  answerClientErrors(app.getHttpServer(), runtime.log);
  exposeAuditCounters(metrics, app.get(PgAuditLog).stats, app.get(AuditSealer).stats);
  exposeAuditStream(metrics, app.get(AuditStreamService).stats);
  exposeDekCacheFigures(metrics, app.get(KeyRing));
  app.disable('x-powered-by');
  app.set('trust proxy', false);
  app.set('query parser', 'simple');
  // Order matters (DESIGN §4): request id, then on /v1 authentication before the body is read or a
  // route matched (401 before any 400, 404, 413 or 415); errors after it are audited (AuditedAnswers).
  app.use(requestContext(runtime.log, (req, res, seconds) => metrics.observe(req.method, routeOf(req), res.statusCode, seconds)));
  app.use(helmet());
  app.use(AUTHENTICATED_PREFIX, app.get(Authenticator).authenticateFirst());
  app.use('/console', consoleMiddleware());
  const answers = app.get(AuditedAnswers);
  const answer = (req: Request, res: Response, error: unknown): void => answers.send(req, res, error);
  app.use(...jsonBody(runtime.config.bodyLimitBytes, answer));
  app.useGlobalFilters(new AllExceptionsFilter(answer));
  app.useGlobalPipes(createValidationPipe());

  SwaggerModule.setup('docs', app, () => buildOpenApiDocument(app));
  try {
    await app.init();
  } catch (error) {
    // e.g. a route without its declarations (RouteRegistry): stop what already started, then fail.
    await app.close().catch(() => undefined);
    throw error;
  }
  return app;
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
