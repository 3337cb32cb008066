import 'reflect-metadata';
import { Command, CommanderError } from 'commander';
import { ConfigError } from '../config/config.js';
import { registerAuditCommands } from './audit.commands.js';
import { stdoutOutput } from './cli-context.js';
import { CliError, registerDatabaseCommands } from './database.commands.js';
import { registerKeyCommands } from './key.commands.js';
import { registerPrincipalCommands } from './principal.commands.js';
import { registerRetentionCommands } from './retention.commands.js';

/** `npm run -s cli -- <command>`: operator commands on the vault's own services. */
export function buildProgram(): Command {
  const program = new Command('customer-vault')
    .description('Customer Vault operator commands; the result of a command is the last line on stdout')
    .exitOverride()
    .showHelpAfterError();
  registerDatabaseCommands(program, stdoutOutput);
  registerPrincipalCommands(program, stdoutOutput);
  registerKeyCommands(program, stdoutOutput);
  registerAuditCommands(program, stdoutOutput);
  registerRetentionCommands(program, stdoutOutput);
  return program;
}

async function main(argv: string[]): Promise<number> {
  try {
    await buildProgram().parseAsync(argv);
    return 0;
  } catch (error) {
    if (error instanceof CommanderError) return error.exitCode;
    if (error instanceof CliError) {
      process.stderr.write(`error: ${error.message}\n`);
      return error.exitCode;
    }
    if (error instanceof ConfigError) {
      process.stderr.write(`${error.message}\n`);
      return 1;
    }
    process.stderr.write(`error: ${error instanceof Error ? error.message : String(error)}\n`);
    return 1;
  }
}

process.exitCode = await main(process.argv);
