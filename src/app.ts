import type { Type } from '@nestjs/common';
import { NestFactory } from '@nestjs/core';
import type { NestExpressApplication } from '@nestjs/platform-express';
import { DocumentBuilder, SwaggerModule } from '@nestjs/swagger';
import helmet from 'helmet';
import { AppModule } from './app.module.js';
import { AllExceptionsFilter } from './common/all-exceptions.filter.js';
import { answerClientErrors } from './common/client-errors.js';
import { jsonBody } from './common/json-body.js';
import { PinoNestLogger } from './common/logger.js';
import { requestContext, routeOf } from './common/request-context.js';
import { createValidationPipe } from './common/validation.js';
import type { VaultRuntime } from './config/runtime.js';
import { MetricsService } from './health/metrics.service.js';
import { AuditSealer, type SealerStats } from './audit/audit-sealer.js';
import { PgAuditLog, type GroupCommitStats } from './audit/pg-audit-log.js';
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
  exposeDekCacheFigures(metrics, app.get(KeyRing));
  app.disable('x-powered-by');
  app.set('trust proxy', false);
  app.set('query parser', 'simple');
  app.use(requestContext(runtime.log, (req, res, seconds) => metrics.observe(req.method, routeOf(req), res.statusCode, seconds)));
  app.use(helmet());
  app.use(...jsonBody(runtime.config.bodyLimitBytes, runtime.log));
  app.useGlobalFilters(new AllExceptionsFilter(runtime.log));
  app.useGlobalPipes(createValidationPipe());

  const openApi = new DocumentBuilder()
    .setTitle('Customer Vault')
    .setDescription('Encrypted, purpose-bound, audited storage of customers\' personal and payment data.')
    .setVersion('1')
    .addBearerAuth()
    .build();
  SwaggerModule.setup('docs', app, () => SwaggerModule.createDocument(app, openApi));
  await app.init();
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

/** The DEK cache on /metrics: how many unwrapped keys it holds, and the evictions it was sent. */
function exposeDekCacheFigures(metrics: MetricsService, keys: KeyRing): void {
  metrics.exposeGauges({ vault_dek_cache_entries: { help: 'Unwrapped DEKs held in this process\'s cache', read: () => keys.dekCacheStats.entries } });
  metrics.exposeCounters({
    vault_dek_evictions_received_total: { help: 'DEK destructions (erasures, re-keys) announced to this process over LISTEN/NOTIFY', read: () => keys.dekCacheStats.evictionsReceived },
    vault_dek_eviction_listener_connections_total: { help: 'Connections of the DEK eviction listener (each one clears the cache)', read: () => keys.dekCacheStats.listenerConnections },
  });
}
