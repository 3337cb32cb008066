import { Global, Inject, Module, type OnModuleInit } from '@nestjs/common';
import { APP_INTERCEPTOR } from '@nestjs/core';
import { DataSource } from 'typeorm';
import { AccessModule } from '../access/access.module.js';
import { ReadinessService } from '../health/readiness.service.js';
import { AuditDb } from './audit-db.js';
import { AuditFlagsController } from './audit-flags.controller.js';
import { AuditFlagsService } from './audit-flags.service.js';
import { AuditImpactController } from './audit-impact.controller.js';
import { AuditImpactService } from './audit-impact.service.js';
import { AuditLog } from './audit-log.js';
import { AuditQueryService } from './audit-query.service.js';
import { AuditSealer } from './audit-sealer.js';
import { AuditSigning } from './audit-signing.js';
import { AuditStreamService } from './audit-stream.service.js';
import { AuditVerifier } from './audit-verifier.js';
import { AuditedAnswers } from './audited-answers.js';
import { AuditedWrites } from './audited-writes.js';
import { AccessReportController, AuditController } from './audit.controller.js';
import { AuditInterceptor } from './audit.interceptor.js';
import { AuditService } from './audit.service.js';
import { PgAuditLog } from './pg-audit-log.js';

/** The audit log for every module: inject `AuditLog`; @Audited routes are recorded by the interceptor. */
@Global()
@Module({
  imports: [AccessModule],
  controllers: [AuditController, AccessReportController, AuditImpactController, AuditFlagsController],
  providers: [
    PgAuditLog,
    { provide: AuditLog, useExisting: PgAuditLog },
    { provide: APP_INTERCEPTOR, useClass: AuditInterceptor },
    AuditDb,
    AuditSigning,
    AuditSealer,
    AuditVerifier,
    AuditQueryService,
    AuditService,
    AuditedAnswers,
    AuditedWrites,
    AuditImpactService,
    AuditStreamService,
    AuditFlagsService,
  ],
  exports: [AuditLog, AuditSealer, AuditVerifier, AuditQueryService, AuditedAnswers, AuditedWrites, AuditImpactService, AuditStreamService, AuditSigning, AuditDb],
})
export class AuditModule implements OnModuleInit {
  constructor(
    @Inject(ReadinessService) private readonly readiness: ReadinessService,
    @Inject(DataSource) private readonly dataSource: DataSource,
    @Inject(AuditSealer) private readonly sealer: AuditSealer,
  ) {}

  /** Ready when the audit tables answer and, if this process seals, its checkpoint file is writable. */
  onModuleInit(): void {
    this.readiness.register('audit', async () => {
      await this.dataSource.query('SELECT 1 FROM audit_pending LIMIT 1');
      if (!this.sealer.checkpointFileHealthy) throw new Error('the audit checkpoint file cannot be written');
    });
  }
}
