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
import { AuditImpactService, impactRequest } from '../audit/audit-impact.service.js';
import { toStreamEvent } from '../audit/audit-stream.service.js';
import { AuditImpactQueryDto } from '../audit/dto/audit-impact.dto.js';
import { SEQ_PATTERN } from '../audit/dto/audit-stream.dto.js';
import { VAULT_CONFIG } from '../config/runtime.js';
import type { VaultConfig } from '../config/config.js';
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

/** Validates CLI options with the HTTP route's DTO: the same rules, the same messages. */
async function validated<T extends object>(type: new () => T, options: Record<string, unknown>): Promise<T> {
  const dto = plainToInstance(type, options);
  const errors = await validate(dto, { whitelist: true, forbidNonWhitelisted: true, validationError: { target: false, value: false } });
  if (errors.length > 0) throw new CliError(`invalid input: ${validationDetails(errors).map((d) => `${d.field} ${d.problem}`).join('; ')}`);
  return dto;
}

async function writeOut(chunk: string): Promise<void> {
  if (!process.stdout.write(chunk)) await once(process.stdout, 'drain');
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
      const { format = 'ndjson', ...filters } = await validated(AuditExportQueryDto, { ...options });
      await withVaultContext(async (context) => {
        await context.get(AuditSealer).sealNow();
        const trail = operatorTrail('audit.export', 'audit');
        trail.details = { format };
        // Recorded before the first event leaves, as on the HTTP route.
        await context.get(AuditLog, { strict: false }).record(trail.toEvent('allowed', 0));
        for await (const chunk of context.get(AuditQueryService).export(toFilters(filters), format)) await writeOut(chunk);
      });
    });

  program
    .command('audit:impact')
    .description('breach impact: the customers (and per field, plaintext or masked) a principal saw in [from, to), from the audit log alone; JSON on one line, or CSV')
    .requiredOption('--actor <uuid>', 'the principal (revoked ones included)')
    .requiredOption('--from <date>', 'ISO 8601, inclusive')
    .requiredOption('--to <date>', 'ISO 8601, exclusive')
    .option('--format <format>', 'json or csv', 'json')
    .action(async (options: { actor: string; from: string; to: string; format: string }) => {
      const dto = await validated(AuditImpactQueryDto, { actorId: options.actor, from: options.from, to: options.to, format: options.format });
      let request;
      try {
        request = impactRequest(dto);
      } catch (error) {
        const details = (error as { details?: { field: string; problem: string }[] }).details ?? [];
        throw new CliError(`invalid input: ${details.map((d) => `${d.field} ${d.problem}`).join('; ')}`);
      }
      const format = dto.format ?? 'json';
      await withVaultContext(async (context) => {
        const trail = operatorTrail('audit.impact', 'principal');
        trail.resource.id = request.actorId;
        trail.details = { from: request.from.toISOString(), to: request.to.toISOString(), format };
        const log = context.get(AuditLog, { strict: false });
        let chunks;
        try {
          chunks = await context.get(AuditImpactService, { strict: false }).prepare(request, format);
        } catch (error) {
          await log.record(trail.toEvent('denied', 0));
          if ((error as { code?: string }).code === 'not_found') throw new CliError('the audit log names no such principal');
          throw error;
        }
        // Recorded before the report leaves, as on the HTTP route.
        await log.record(trail.toEvent('allowed', 0));
        for await (const chunk of chunks) await writeOut(chunk);
        if (format === 'json') await writeOut('\n');
      });
    });

  program
    .command('audit:tail')
    .description('follow the audit log: each sealed event as one NDJSON line on stdout as it is chained, until killed (SIGINT, SIGTERM) or stdout closes')
    .option('--from <seq>', 'start after this seq (0: the whole log); default: new events only')
    .action(async (options: { from?: string }) => {
      if (options.from !== undefined && !SEQ_PATTERN.test(options.from)) throw new CliError('--from must be a seq (a non-negative integer)');
      await withVaultContext(async (context) => {
        const query = context.get(AuditQueryService, { strict: false });
        const config = context.get<VaultConfig>(VAULT_CONFIG, { strict: false });
        const head = await query.headSeq();
        let after = options.from === undefined ? head : Number(options.from);
        if (after > head) throw new CliError(`--from is beyond the head of the audit log (${head})`);
        const trail = operatorTrail('audit.stream', 'audit');
        trail.details = { after, resumed: options.from !== undefined };
        await context.get(AuditLog, { strict: false }).record(trail.toEvent('allowed', 0));
        await follow(query, after, config.auditStreamPollMs, (next) => (after = next));
      });
    });
}

/**
 * Pulls sealed events after `after` and writes them as NDJSON until a signal or a closed stdout. The
 * reads follow stdout's pace (a slow shipper holds nothing), so no backlog cap is needed here.
 */
async function follow(query: AuditQueryService, after: number, pollMs: number, progress: (seq: number) => void): Promise<void> {
  let stop = false;
  let wake: (() => void) | undefined;
  const halt = (): void => {
    stop = true;
    wake?.();
  };
  process.once('SIGINT', halt);
  process.once('SIGTERM', halt);
  process.stdout.once('error', halt);
  try {
    while (!stop) {
      const rows = await query.after(after, 1_000);
      let chunk = '';
      for (const row of rows) {
        const event = toStreamEvent(row);
        if (event.seq !== after + 1) break;
        chunk += `${event.json}\n`;
        after = event.seq;
      }
      if (chunk !== '') {
        await writeOut(chunk);
        progress(after);
      }
      if (rows.length < 1_000) {
        await new Promise<void>((resolve) => {
          wake = resolve;
          setTimeout(resolve, pollMs);
        });
        wake = undefined;
      }
    }
  } finally {
    process.off('SIGINT', halt);
    process.off('SIGTERM', halt);
    process.stdout.off('error', halt);
  }
}
