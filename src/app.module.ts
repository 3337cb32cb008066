import { Module, type DynamicModule } from '@nestjs/common';
import type { VaultRuntime } from './config/runtime.js';
import { CoreModule } from './core.module.js';
import { HealthModule } from './health/health.module.js';
import type { MetricsService } from './health/metrics.service.js';

@Module({})
export class AppModule {
  static forRoot(runtime: VaultRuntime, metrics: MetricsService): DynamicModule {
    return {
      module: AppModule,
      imports: [CoreModule.forRoot(runtime, metrics), HealthModule],
    };
  }
}
