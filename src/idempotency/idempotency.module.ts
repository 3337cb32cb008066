import { Global, Module } from '@nestjs/common';
import { IdempotencyStore } from './idempotency.store.js';

/**
 * Idempotency-Key (DESIGN §4): the stored keys (lookup and purge). Global, so the IdempotencyInterceptor
 * that `@Idempotent` binds to each write route can be built in every controller's module. The write
 * side lives in AuditedWrites, which every write commits through.
 */
@Global()
@Module({ providers: [IdempotencyStore], exports: [IdempotencyStore] })
export class IdempotencyModule {}
