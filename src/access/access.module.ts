import { Global, Module } from '@nestjs/common';
import { APP_GUARD, DiscoveryModule } from '@nestjs/core';
import { AccessPolicy } from './access-policy.js';
import { PoliciesGuard } from './policies.guard.js';
import { RouteRegistry } from './route-registry.js';

/** Global: every feature asks the one policy; every route's declared @Policy is enforced by the PoliciesGuard. */
@Global()
@Module({
  imports: [DiscoveryModule],
  providers: [AccessPolicy, RouteRegistry, PoliciesGuard, { provide: APP_GUARD, useExisting: PoliciesGuard }],
  exports: [AccessPolicy, RouteRegistry],
})
export class AccessModule {}
