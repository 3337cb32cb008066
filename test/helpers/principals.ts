import { randomBytes } from 'node:crypto';
import type { Role } from '../../src/access/vocabulary.js';
import { operatorTrail } from '../../src/principals/operator.js';
import type { PrincipalKind } from '../../src/principals/principal.entity.js';
import { OPERATOR, PrincipalsService } from '../../src/principals/principals.service.js';
import type { TestApp } from './test-app.js';

export interface TestPrincipal {
  id: string;
  name: string;
  roles: Role[];
  token: string;
  /** `Bearer cv_...`, ready for `.set('Authorization', p.authHeader)` */
  authHeader: string;
}

/**
 * Creates a principal through the real service, as the CLI operator does (audited as
 * `principal.create` by `cli:test-fixture`), and returns its token. Any role, the first admin too.
 */
export async function createPrincipal(
  vault: TestApp,
  options: { roles: Role[]; name?: string; kind?: PrincipalKind },
): Promise<TestPrincipal> {
  const principals = vault.app.get(PrincipalsService);
  const name = options.name ?? `${options.roles.join('-')}-${randomBytes(4).toString('hex')}`;
  const created = await principals.create(
    { by: OPERATOR, trail: operatorTrail('principal.create', 'principal', 'test-fixture'), okStatus: 0 },
    { name, kind: options.kind ?? 'service', roles: options.roles },
  );
  return { id: created.id, name: created.name, roles: created.roles, token: created.token, authHeader: `Bearer ${created.token}` };
}
