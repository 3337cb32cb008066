import { plainToInstance } from 'class-transformer';
import { validate } from 'class-validator';
import type { Command } from 'commander';
import { once } from 'node:events';
import { AuditLog } from '../audit/audit-log.js';
import { AuditQueryService } from '../audit/audit-query.service.js';
import { AuditSealer } from '../audit/audit-sealer.js';
import { AuditVerifier } from '../audit/audit-verifier.js';
import { toFilters } from '../audit/audit.service.js';
import { AuditExportQueryDto } from '../audit/dto/audit-query.dto.js';
import { validationDetails } from '../common/validation.js';
import { operatorTrail } from '../principals/operator.js';
import { withVaultContext, type CliOutput } from './cli-context.js';
import { CliError } from './database.commands.js';

interface ExportOptions {
  format: string;
  customerId?: string;
  actorId?: string;
  action?: string;
  purpose?: string;
  outcome?: string;
  from?: string;
  to?: string;
}

/**
 * `audit:verify` and `audit:export`: the operator's view of the log (no token: the CLI holds the
 * database and the root key). Both are audited like their HTTP routes, actor `cli:<os user>`.
 */
export function registerAuditCommands(program: Command, out: CliOutput): void {
  program
    .command('audit:verify')
    .description('verify the audit chain, checkpoints and checkpoint file; the report is the last line; exit 1 when not intact')
    .option('--workers <n>', 'threads hashing the chain (default: the CPUs available, at most 4; 1 = this thread only)')
    .action(async (options: { workers?: string }) => {
      const workers = options.workers === undefined ? undefined : Number(options.workers);
      if (workers !== undefined && (!Number.isInteger(workers) || workers < 1 || workers > 64)) throw new CliError('--workers must be an integer from 1 to 64');
      const report = await withVaultContext(async (context) => {
        await context.get(AuditSealer).sealNow();
        const result = await context.get(AuditVerifier).verify({ workers });
        const trail = operatorTrail('audit.verify', 'audit');
        trail.details = { valid: result.valid, checked: result.checked };
        await context.get(AuditLog, { strict: false }).record(trail.toEvent('allowed', 0));
        return result;
      });
      if (!report.valid) out.info(`audit log NOT intact: first invalid seq ${String(report.firstInvalidSeq)}: ${report.problem ?? ''}: ${report.message ?? ''}`);
      else out.info(`audit log intact: ${report.checked} events, head seq ${report.head.seq}`);
      out.result(JSON.stringify(report));
      if (!report.valid) throw new CliError(`first invalid seq ${String(report.firstInvalidSeq)}`);
    });

  program
    .command('audit:export')
    .description('stream the audit log to stdout as NDJSON (one event per line) or CSV')
    .option('--format <format>', 'ndjson or csv', 'ndjson')
    .option('--customer-id <uuid>', 'events about this customer')
    .option('--actor-id <uuid>', 'events by this principal')
    .option('--action <action>', 'e.g. customer.read')
    .option('--purpose <purpose>', 'access purpose')
    .option('--outcome <outcome>', 'allowed, denied or error')
    .option('--from <date>', 'ISO 8601, inclusive')
    .option('--to <date>', 'ISO 8601, exclusive')
    .action(async (options: ExportOptions) => {
      const dto = plainToInstance(AuditExportQueryDto, { ...options });
      const errors = await validate(dto, { whitelist: true, forbidNonWhitelisted: true, validationError: { target: false, value: false } });
      if (errors.length > 0) throw new CliError(`invalid input: ${validationDetails(errors).map((d) => `${d.field} ${d.problem}`).join('; ')}`);
      const { format = 'ndjson', ...filters } = dto;
      await withVaultContext(async (context) => {
        await context.get(AuditSealer).sealNow();
        const trail = operatorTrail('audit.export', 'audit');
        trail.details = { format };
        // Recorded before the first event leaves, as on the HTTP route.
        await context.get(AuditLog, { strict: false }).record(trail.toEvent('allowed', 0));
        for await (const chunk of context.get(AuditQueryService).export(toFilters(filters), format)) {
          if (!process.stdout.write(chunk)) await once(process.stdout, 'drain');
        }
      });
    });
}
