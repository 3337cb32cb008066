import { Global, Module, type DynamicModule } from '@nestjs/common';
import { DataSource } from 'typeorm';
import { ROOT_KEY, ROOT_LOGGER, VAULT_CONFIG, type VaultRuntime } from './config/runtime.js';
import { VaultDatabase } from './database/database.js';
import { MetricsService } from './health/metrics.service.js';
import { ReadinessService } from './health/readiness.service.js';

/** Process-wide providers every feature may inject: config, database, root key, logger, metrics, readiness. */
@Global()
@Module({})
export class CoreModule {
  static forRoot(runtime: VaultRuntime, metrics: MetricsService): DynamicModule {
    const providers = [
      { provide: VAULT_CONFIG, useValue: runtime.config },
      { provide: VaultDatabase, useValue: runtime.database },
      { provide: DataSource, useValue: runtime.database.dataSource },
      { provide: ROOT_KEY, useValue: runtime.rootKey },
      { provide: ROOT_LOGGER, useValue: runtime.log },
      { provide: MetricsService, useValue: metrics },
      ReadinessService,
    ];
    return { module: CoreModule, providers, exports: providers.map((p) => ('provide' in p ? p.provide : p)) };
  }
}
