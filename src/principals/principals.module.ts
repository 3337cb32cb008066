import { Module } from '@nestjs/common';
import { AccessModule } from '../access/access.module.js';
import type { VaultConfig } from '../config/config.js';
import { VAULT_CONFIG } from '../config/runtime.js';
import { Authenticator } from './authenticator.js';
import { MeController } from './me.controller.js';
import { PrincipalsController } from './principals.controller.js';
import { PrincipalsService } from './principals.service.js';
import { TokenCache } from './token-cache.js';

/** Bounds the per-process token cache (entries live <= 1 s, so this is plenty). */
const TOKEN_CACHE_MAX_ENTRIES = 10_000;

/**
 * Principals and authentication: the /v1/principals API, and the Authenticator that createApp mounts
 * before everything else on /v1. AuditLog comes from the global AuditModule.
 */
@Module({
  imports: [AccessModule],
  controllers: [PrincipalsController, MeController],
  providers: [
    PrincipalsService,
    { provide: TokenCache, useFactory: (config: VaultConfig) => new TokenCache(config.tokenCacheTtlMs, TOKEN_CACHE_MAX_ENTRIES), inject: [VAULT_CONFIG] },
    Authenticator,
  ],
  exports: [PrincipalsService, Authenticator],
})
export class PrincipalsModule {}
