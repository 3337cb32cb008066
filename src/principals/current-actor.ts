import { createParamDecorator, type ExecutionContext } from '@nestjs/common';
import type { FastifyRequest } from 'fastify';
import type { Actor } from '../access/vocabulary.js';
import { VaultError } from '../common/vault-error.js';

declare module 'fastify' {
  interface FastifyRequest {
    /** The authenticated principal, set by `Authenticator.authenticateFirst` on every /v1 request. */
    actor?: Actor;
  }
}

/** The authenticated principal of this request (the bearer guard guarantees one on /v1 routes). */
export const CurrentActor = createParamDecorator((_data: unknown, context: ExecutionContext): Actor => {
  const actor = context.switchToHttp().getRequest<FastifyRequest>().actor;
  if (!actor) throw new VaultError('unauthenticated', 'authentication required');
  return actor;
});
