import type { Command } from 'commander';
import { RetentionService } from '../rights/retention.service.js';
import { withVaultContext, type CliOutput } from './cli-context.js';
import { CliError } from './database.commands.js';

/**
 * `retention:run [--dry-run]`: the retention job once, now, in this process (under the same advisory
 * lock as the background job). Each customer is a JSON line `{"id","closedAt"}` on stdout; the last
 * line is the summary.
 */
export function registerRetentionCommands(program: Command, out: CliOutput): void {
  program
    .command('retention:run')
    .description('erase the customers closed longer ago than VAULT_RETENTION_DAYS (restricted ones are kept); --dry-run lists them')
    .option('--dry-run', 'list what would be erased (ids and closedAt), erase nothing')
    .action(async (options: { dryRun?: boolean }) => {
      await withVaultContext(async (context) => {
        const retention = context.get(RetentionService);
        if (!retention.enabled) throw new CliError('retention is off: set VAULT_RETENTION_DAYS to a number of days');
        if (options.dryRun === true) {
          let count = 0;
          for await (const customer of retention.due()) {
            out.result(JSON.stringify(customer));
            count++;
          }
          out.result(JSON.stringify({ dryRun: true, due: count }));
          return;
        }
        const run = await retention.runOnce();
        if (!run.ran) throw new CliError('another process is running the retention job; try again later');
        for (const customer of run.erased) out.result(JSON.stringify(customer));
        out.result(JSON.stringify({ dryRun: false, erased: run.erased.length }));
      });
    });
}
