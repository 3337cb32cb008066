import type { Command } from 'commander';
import { loadConfig } from '../config/config.js';
import { EmbeddedDatabase } from '../database/embedded-database.js';
import type { CliOutput } from './cli-context.js';

export function registerDatabaseCommands(program: Command, out: CliOutput): void {
  program
    .command('db:url')
    .description('print the connection URL of the database in use, credentials included (embedded one too)')
    .action(() => {
      const config = loadConfig();
      if (config.databaseUrl !== undefined) {
        out.result(config.databaseUrl);
        return;
      }
      const embedded = new EmbeddedDatabase({ dataDir: config.dataDir, port: config.embeddedPgPort });
      if (!embedded.isInitialised()) throw new CliError(`no embedded database under ${config.dataDir} yet: start the vault once (npm start)`);
      out.result(embedded.url);
    });
}

/** A failure the operator can act on: its message is printed, exit code 1 (or the given one). */
export class CliError extends Error {
  constructor(message: string, readonly exitCode = 1) {
    super(message);
    this.name = 'CliError';
  }
}
