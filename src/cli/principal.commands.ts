import type { INestApplicationContext } from '@nestjs/common';
import { isUUID } from 'class-validator';
import type { Command } from 'commander';
import { AuditLog } from '../audit/audit-log.js';
import { shapeError } from '../common/error-response.js';
import { VaultError } from '../common/vault-error.js';
import { operatorTrail } from '../principals/operator.js';
import { parsePrincipalInput } from '../principals/principal-input.js';
import { OPERATOR, PrincipalsService, type NewPrincipal, type PrincipalOperation } from '../principals/principals.service.js';
import { withVaultContext, type CliOutput } from './cli-context.js';
import { CliError } from './database.commands.js';

/**
 * `principal:create`, `principal:revoke`, `principal:list`: the same service as the HTTP API, run by
 * the operator (no token needed: the CLI holds the database credentials and root key). Each is
 * audited with actor `cli:<os user>` and status 0.
 */
export function registerPrincipalCommands(program: Command, out: CliOutput): void {
  program
    .command('principal:create')
    .description('create a principal; its token is the last line on stdout, shown this once')
    .requiredOption('--name <name>', 'unique among active principals, 1 to 100 printable characters')
    .requiredOption('--kind <kind>', 'service or staff')
    .requiredOption('--roles <roles>', 'comma-separated: admin, ingest, billing, support, marketing, security, privacy')
    .action(async (options: { name: string; kind: string; roles: string }) => {
      const input = await validCreateInput(options);
      await withVaultContext(async (context) => {
        const created = await runAudited(context, 'principal.create', (op) => context.get(PrincipalsService).create(op, input));
        out.info(`created principal ${created.id} (name ${created.name}, kind ${created.kind}, roles ${created.roles.join(',')})`);
        out.info('its token follows, shown this once: store it now');
        out.result(created.token);
      });
    });

  program
    .command('principal:revoke')
    .description('revoke a principal: its token is refused within 1 s everywhere')
    .argument('<id>', 'principal id (UUID)')
    .action(async (id: string) => {
      if (!isUUID(id)) throw new CliError('the principal id must be a UUID');
      await withVaultContext(async (context) => {
        const { alreadyRevoked } = await runAudited(context, 'principal.revoke', (op) => context.get(PrincipalsService).revoke(op, id));
        out.result(alreadyRevoked ? `already revoked ${id}` : `revoked ${id}`);
      });
    });

  program
    .command('principal:list')
    .description('list every principal, revoked ones included, as one JSON line (never a token)')
    .action(async () => {
      await withVaultContext(async (context) => {
        const principals = await runAudited(context, 'principal.list', (op) => context.get(PrincipalsService).list(op));
        out.result(JSON.stringify({ principals }));
      });
    });
}

/** The HTTP API's DTO rules apply to the CLI too; checked before the database is opened. */
async function validCreateInput(options: { name: string; kind: string; roles: string }): Promise<NewPrincipal> {
  const parsed = await parsePrincipalInput(options);
  if ('details' in parsed) throw new CliError(`invalid input: ${parsed.details.map((d) => `${d.field} ${d.problem}`).join('; ')}`);
  return parsed.input;
}

/** Mirrors the HTTP audit interceptor: one event per command, allowed or not (status 0). */
async function runAudited<T>(context: INestApplicationContext, action: string, fn: (op: PrincipalOperation) => Promise<T>): Promise<T> {
  const auditLog = context.get(AuditLog, { strict: false });
  const trail = operatorTrail(action, 'principal');
  let value: T;
  try {
    value = await fn({ by: OPERATOR, trail, okStatus: 0 });
  } catch (error) {
    if (!trail.recorded) {
      trail.recorded = true;
      const { status } = shapeError(error);
      await auditLog.record(trail.toEvent(status < 500 ? 'denied' : 'error', 0));
    }
    if (error instanceof VaultError) {
      const details = (error.details ?? []).map((d) => `${d.field} ${d.problem}`).join('; ');
      throw new CliError(details ? `${error.message} (${details})` : error.message);
    }
    throw error;
  }
  if (!trail.recorded) {
    trail.recorded = true;
    await auditLog.record(trail.toEvent('allowed', 0));
  }
  return value;
}
