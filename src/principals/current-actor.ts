import { createParamDecorator, type ExecutionContext } from '@nestjs/common';
import type { Request } from 'express';
import type { Actor } from '../access/vocabulary.js';
import { VaultError } from '../common/vault-error.js';

declare module 'express-serve-static-core' {
  interface Request {
    /** The authenticated principal, set by the bearer guard on every /v1 route. */
    actor?: Actor;
  }
}

/** The authenticated principal of this request (the bearer guard guarantees one on /v1 routes). */
export const CurrentActor = createParamDecorator((_data: unknown, context: ExecutionContext): Actor => {
  const actor = context.switchToHttp().getRequest<Request>().actor;
  if (!actor) throw new VaultError('unauthenticated', 'authentication required');
  return actor;
});
