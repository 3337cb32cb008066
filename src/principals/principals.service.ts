import { Inject, Injectable } from '@nestjs/common';
import { DataSource, QueryFailedError } from 'typeorm';
import { AccessPolicy } from '../access/access-policy.js';
import { conflictingRoles, isRole, type Actor, type Role } from '../access/vocabulary.js';
import type { AuditTrail } from '../audit/audit-trail.js';
import { AuditedWrites } from '../audit/audited-writes.js';
import { VaultError } from '../common/vault-error.js';
import { SEPARATE_DUTIES_MESSAGE } from './dto/create-principal.dto.js';
import type { CreatedPrincipalDto, PrincipalDto } from './dto/principal.dto.js';
import { Principal, type PrincipalKind } from './principal.entity.js';
import { lastActiveAdmin, principalNameTaken, principalNotFound } from './principals.errors.js';
import { TokenCache } from './token-cache.js';
import { generateToken, hashToken, sameHash } from './tokens.js';

/**
 * The operator at the CLI. Trusted without a token: it already holds the database credentials and
 * the root key. Its audit actor is built by `operatorTrail`.
 */
export const OPERATOR = 'operator' as const;
export type Requester = Actor | typeof OPERATOR;

/** Who asks, and the audit trail the operation's event is written from. */
export interface PrincipalOperation {
  by: Requester;
  trail: AuditTrail;
  /** status recorded on success: the HTTP status, 0 for the CLI */
  okStatus: number;
}

export interface NewPrincipal {
  name: string;
  kind: PrincipalKind;
  roles: Role[];
}

export type Authentication =
  | { result: 'ok'; actor: Actor }
  | { result: 'unknown' }
  | { result: 'revoked' };

/** Serialises revocations, so two admins revoking each other cannot leave none (pg advisory lock key 'cvpr'). */
const REVOCATION_LOCK = 0x6376_7072;

@Injectable()
export class PrincipalsService {
  constructor(
    @Inject(DataSource) private readonly dataSource: DataSource,
    @Inject(AccessPolicy) private readonly policy: AccessPolicy,
    @Inject(AuditedWrites) private readonly writes: AuditedWrites,
    @Inject(TokenCache) private readonly cache: TokenCache,
  ) {}

  /**
   * Creates a principal and its token; the token is in the answer and nowhere else (an
   * Idempotency-Key stores the answer without it: the route omits it). The row and its audit event
   * commit together: there is no principal whose creation is not on the log.
   */
  async create(op: PrincipalOperation, input: NewPrincipal): Promise<CreatedPrincipalDto & { token: string }> {
    this.authorize(op.by);
    const roles = [...new Set(input.roles)];
    // Also checked by the DTO (API and CLI); here for every other caller of the service.
    if (conflictingRoles(roles) !== null) throw new VaultError('invalid_input', 'the request is invalid', [{ field: 'roles', problem: SEPARATE_DUTIES_MESSAGE }]);
    const token = generateToken();
    op.trail.details = { ...op.trail.details, name: input.name, kind: input.kind, roles: roles.join(',') };
    return this.writes.run(op.trail, op.okStatus, async (manager) => {
      const repository = manager.getRepository(Principal);
      try {
        const row = await repository.save(repository.create({ name: input.name, kind: input.kind, roles, tokenHash: hashToken(token), revokedAt: null }));
        op.trail.resource.id = row.id;
        return { id: row.id, name: row.name, kind: row.kind, roles: row.roles, createdAt: row.createdAt.toISOString(), token };
      } catch (error) {
        if (isUniqueViolation(error, 'principals_active_name_key')) throw principalNameTaken();
        throw error;
      }
    });
  }

  /** Every principal, revoked ones included, oldest first. Never a token or a hash. */
  async list(op: PrincipalOperation): Promise<PrincipalDto[]> {
    this.authorize(op.by);
    const rows = await this.dataSource.getRepository(Principal).find({
      select: { id: true, name: true, kind: true, roles: true, createdAt: true, revokedAt: true },
      order: { createdAt: 'ASC', id: 'ASC' },
    });
    op.trail.details = { ...op.trail.details, count: rows.length };
    return rows.map(toView);
  }

  /**
   * Revokes a principal: its token is refused at once by this process and within the token cache
   * TTL (<= 1 s) by every other. Idempotent: revoking a revoked principal changes nothing and
   * succeeds. The last active admin cannot be revoked (no lock-out): create another admin first.
   */
  async revoke(op: PrincipalOperation, id: string): Promise<{ alreadyRevoked: boolean }> {
    op.trail.resource.id = id; // denied attempts name their target too
    this.authorize(op.by);
    const outcome = await this.writes.run(op.trail, op.okStatus, async (manager) => {
      await manager.query('SELECT pg_advisory_xact_lock($1)', [REVOCATION_LOCK]);
      const rows = (await manager.query('SELECT roles, revoked_at FROM principals WHERE id = $1 FOR UPDATE', [id])) as { roles: string[]; revoked_at: Date | null }[];
      const target = rows[0];
      if (!target) throw principalNotFound();
      if (target.revoked_at !== null) {
        op.trail.details = { ...op.trail.details, alreadyRevoked: true };
        return { alreadyRevoked: true };
      }
      if (target.roles.includes('admin')) {
        const others = (await manager.query(
          `SELECT count(*)::int AS n FROM principals WHERE revoked_at IS NULL AND 'admin' = ANY(roles) AND id <> $1`,
          [id],
        )) as { n: number }[];
        if ((others[0]?.n ?? 0) === 0) throw lastActiveAdmin();
      }
      await manager.query('UPDATE principals SET revoked_at = now() WHERE id = $1', [id]);
      return { alreadyRevoked: false };
    });
    this.cache.evictPrincipal(id);
    return outcome;
  }

  /**
   * The actor of a well-formed token (callers check the format first). Looked up by hash, then the
   * stored hash compared in constant time; verified actors are cached for the configured TTL.
   */
  async authenticate(token: string): Promise<Authentication> {
    const hash = hashToken(token);
    const key = hash.toString('hex');
    const cached = this.cache.get(key);
    if (cached) return { result: 'ok', actor: cached };
    const row = await this.dataSource
      .getRepository(Principal)
      .createQueryBuilder('p')
      .select(['p.id', 'p.name', 'p.kind', 'p.roles', 'p.tokenHash', 'p.revokedAt'])
      .where('p.token_hash = :hash', { hash })
      .getOne();
    if (!row || !sameHash(row.tokenHash, hash)) return { result: 'unknown' };
    if (row.revokedAt !== null) return { result: 'revoked' };
    const actor: Actor = { id: row.id, name: row.name, kind: row.kind, roles: row.roles.filter(isRole) };
    this.cache.set(key, actor);
    return { result: 'ok', actor };
  }

  private authorize(by: Requester): void {
    if (by !== OPERATOR) this.policy.assertCan(by, 'managePrincipals');
  }
}

function toView(row: Principal): PrincipalDto {
  return {
    id: row.id,
    name: row.name,
    kind: row.kind,
    roles: row.roles,
    createdAt: row.createdAt.toISOString(),
    revokedAt: row.revokedAt === null ? null : row.revokedAt.toISOString(),
  };
}

function isUniqueViolation(error: unknown, constraint: string): boolean {
  if (!(error instanceof QueryFailedError)) return false;
  const driverError = error.driverError as { code?: unknown; constraint?: unknown };
  return driverError.code === '23505' && driverError.constraint === constraint;
}
