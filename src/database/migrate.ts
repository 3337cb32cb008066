import 'reflect-metadata';
import { Command, CommanderError } from 'commander';
import { MigrationExecutor, type DataSource } from 'typeorm';
import { ConfigError, loadConfig, type VaultConfig } from '../config/config.js';
import { revertLastMigration, runMigrations } from './data-source.js';
import { VaultDatabase } from './database.js';

/**
 * `npm run migration:run|revert|show`: the schema migrations (raw SQL, by hand, under migrations/)
 * on the vault's database: DATABASE_URL, or the embedded PostgreSQL under VAULT_DATA_DIR, opened
 * exactly as the server and the CLI open it. The result is the last line on stdout; a failure is one
 * line on stderr and exit code 1. There is no `generate`: migrations are written by hand.
 */

/** Written to stdout, one line each. */
type Lines = string[];

async function run(dataSource: DataSource): Promise<Lines> {
  const applied = await runMigrations(dataSource);
  return applied.length === 0 ? ['nothing to apply'] : applied.map((name) => `applied ${name}`);
}

async function revert(dataSource: DataSource): Promise<Lines> {
  // TypeORM reverts the most recently executed one (highest id): the first of this list.
  const [last] = await new MigrationExecutor(dataSource).getExecutedMigrations();
  if (last === undefined) return ['nothing to revert'];
  await revertLastMigration(dataSource);
  return [`reverted ${last.name}`];
}

async function show(dataSource: DataSource): Promise<Lines> {
  const executor = new MigrationExecutor(dataSource);
  const executed = await executor.getExecutedMigrations();
  const pending = await executor.getPendingMigrations();
  const known = new Set(dataSource.migrations.map((migration) => migration.name ?? migration.constructor.name));
  const rows = [
    ...executed.map((migration) => ({ timestamp: migration.timestamp, name: migration.name, state: known.has(migration.name) ? 'applied' : 'applied (not in this build)' })),
    ...pending.map((migration) => ({ timestamp: migration.timestamp, name: migration.name, state: 'pending' })),
  ].sort((a, b) => a.timestamp - b.timestamp || a.name.localeCompare(b.name));
  return [...rows.map((row) => `${row.state} ${row.name}`), `${executed.length} applied, ${pending.length} pending`];
}

/** Strings that must never reach the terminal: database passwords and the root key. */
const secrets = new Set<string>();

function rememberUrlSecrets(url: string | undefined): void {
  if (url === undefined) return;
  secrets.add(url);
  try {
    const password = new URL(url).password;
    if (password !== '') {
      secrets.add(password);
      secrets.add(decodeURIComponent(password));
    }
  } catch {
    // not a URL: the whole string is already remembered
  }
}

/** One line, secrets masked. */
function describeError(error: unknown): string {
  let message: string;
  if (error instanceof ConfigError) message = `invalid configuration: ${error.problems.join('; ')}`;
  else if (error instanceof AggregateError && error.message === '') message = error.errors.map((inner) => describeError(inner)).join('; ');
  else if (error instanceof Error) message = error.message || (error as { code?: unknown }).code?.toString() || error.name;
  else message = String(error);
  for (const secret of [...secrets].sort((a, b) => b.length - a.length)) {
    if (secret.length > 0) message = message.split(secret).join('***');
  }
  return message.replace(/\s+/g, ' ').trim();
}

async function withDatabase(config: VaultConfig, fn: (dataSource: DataSource) => Promise<Lines>): Promise<void> {
  const verbose = config.logLevel === 'debug' || config.logLevel === 'trace';
  const database = await VaultDatabase.open(config, (message) => {
    if (verbose) process.stderr.write(`${message}\n`);
  }, { migrate: false });
  rememberUrlSecrets(database.url);
  try {
    for (const line of await fn(database.dataSource)) process.stdout.write(`${line}\n`);
  } finally {
    await database.close();
  }
}

function buildProgram(): Command {
  const program = new Command('migrate')
    .description('schema migrations of the vault database (DATABASE_URL, or the embedded one under VAULT_DATA_DIR)')
    .exitOverride()
    .showHelpAfterError();
  const action = (fn: (dataSource: DataSource) => Promise<Lines>) => async () => {
    await withDatabase(loadConfig(), fn);
  };
  program.command('run').description('apply the pending migrations (under the advisory lock the vault uses)').action(action(run));
  program.command('revert').description('undo the last applied migration').action(action(revert));
  program.command('show').description('list every migration, applied or pending').action(action(show));
  return program;
}

async function main(argv: string[]): Promise<number> {
  rememberUrlSecrets(process.env.DATABASE_URL?.trim());
  const rootKey = process.env.VAULT_ROOT_KEY?.trim();
  if (rootKey !== undefined && rootKey !== '') secrets.add(rootKey);
  try {
    await buildProgram().parseAsync(argv);
    return 0;
  } catch (error) {
    if (error instanceof CommanderError) return error.exitCode;
    process.stderr.write(`error: ${describeError(error)}\n`);
    return 1;
  }
}

process.exitCode = await main(process.argv);
