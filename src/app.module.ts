import { Module, type DynamicModule, type Type } from '@nestjs/common';
import { AccessModule } from './access/access.module.js';
import { AuditModule } from './audit/audit.module.js';
import type { VaultRuntime } from './config/runtime.js';
import { CoreModule } from './core.module.js';
import { CustomersModule } from './customers/customers.module.js';
import { HealthModule } from './health/health.module.js';
import { IdempotencyModule } from './idempotency/idempotency.module.js';
import type { MetricsService } from './health/metrics.service.js';
import { KeysModule } from './keys/keys.module.js';
import { PrincipalsModule } from './principals/principals.module.js';
import { RightsModule } from './rights/rights.module.js';

@Module({})
export class AppModule {
  /** `extraModules`: test-only additions (e.g. a route that throws), never used by the server. */
  static forRoot(runtime: VaultRuntime, metrics: MetricsService, extraModules: Type[] = []): DynamicModule {
    return {
      module: AppModule,
      imports: [
        CoreModule.forRoot(runtime, metrics),
        HealthModule,
        AccessModule,
        AuditModule,
        IdempotencyModule,
        PrincipalsModule,
        KeysModule,
        CustomersModule,
        RightsModule,
        ...extraModules,
      ],
    };
  }
}
