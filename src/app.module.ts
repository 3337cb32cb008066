import { Module, type DynamicModule, type Type } from '@nestjs/common';
import type { VaultRuntime } from './config/runtime.js';
import { CoreModule } from './core.module.js';
import { HealthModule } from './health/health.module.js';
import type { MetricsService } from './health/metrics.service.js';

@Module({})
export class AppModule {
  /** `extraModules`: test-only additions (e.g. a route that throws), never used by the server. */
  static forRoot(runtime: VaultRuntime, metrics: MetricsService, extraModules: Type[] = []): DynamicModule {
    return {
      module: AppModule,
      imports: [CoreModule.forRoot(runtime, metrics), HealthModule, ...extraModules],
    };
  }
}
