import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { randomBytes } from 'node:crypto';
import pg from 'pg';
import { MIGRATIONS } from '../migrations/index.js';
import { dropTestDatabase } from './helpers/test-app.js';
import { databaseUrl, readTestEnvironment } from './helpers/test-env.js';
import { runCli } from './helpers/vault-process.js';

/** The compiled migration script (`npm test` compiles first), as `npm run migration:*` runs it. */
function migrate(command: string, env: Record<string, string>): { status: number | null; lines: string[]; stderr: string } {
  const result = runCli([command], env, 'dist/src/database/migrate.js');
  return { status: result.status, lines: result.stdout.split('\n').filter((line) => line !== ''), stderr: result.stderr };
}

describe('migration scripts (migrate.js run | revert | show)', () => {
  const names = MIGRATIONS.map((migration) => migration.name);
  const last = names[names.length - 1];
  let url: string;
  let env: Record<string, string>;

  async function sql<R extends pg.QueryResultRow>(text: string, params: unknown[] = []): Promise<R[]> {
    const client = new pg.Client({ connectionString: url });
    await client.connect();
    try {
      return (await client.query<R>(text, params)).rows;
    } finally {
      await client.end();
    }
  }

  const appliedInDatabase = async (): Promise<string[]> => (await sql<{ name: string }>('SELECT name FROM schema_migrations ORDER BY id')).map((row) => row.name);

  beforeAll(async () => {
    // An empty database, not a clone of the migrated template.
    const environment = readTestEnvironment();
    const name = `cv_m_${environment.runId}_${randomBytes(4).toString('hex')}`;
    const admin = new pg.Client({ connectionString: environment.adminUrl });
    await admin.connect();
    try {
      await admin.query(`CREATE DATABASE ${name}`);
    } finally {
      await admin.end();
    }
    url = databaseUrl(environment.adminUrl, name);
    env = { DATABASE_URL: url };
  });

  afterAll(async () => {
    if (url !== undefined) await dropTestDatabase(url);
  });

  it('run applies every migration on an empty database and creates the tables', async () => {
    expect(names.length).toBeGreaterThan(1);
    const result = migrate('run', env);
    expect(result.stderr).toBe('');
    expect(result.status).toBe(0);
    expect(result.lines).toEqual(names.map((name) => `applied ${name}`));
    expect(await appliedInDatabase()).toEqual(names);
    const tables = await sql<{ table: string | null }>(
      `SELECT to_regclass(t)::text AS table FROM unnest($1::text[]) AS t`,
      [['principals', 'kek_versions', 'customers', 'customer_deks', 'audit_events', 'audit_checkpoints', 'key_rotation_jobs']],
    );
    expect(tables.map((row) => row.table)).toEqual(['principals', 'kek_versions', 'customers', 'customer_deks', 'audit_events', 'audit_checkpoints', 'key_rotation_jobs']);
  });

  it('show lists every migration as applied', () => {
    const result = migrate('show', env);
    expect(result.status).toBe(0);
    expect(result.lines).toEqual([...names.map((name) => `applied ${name}`), `${names.length} applied, 0 pending`]);
  });

  it('revert undoes the last migration only, which show then lists as pending', async () => {
    const result = migrate('revert', env);
    expect(result.stderr).toBe('');
    expect(result.status).toBe(0);
    expect(result.lines).toEqual([`reverted ${last}`]);
    expect(await appliedInDatabase()).toEqual(names.slice(0, -1));

    const shown = migrate('show', env);
    expect(shown.status).toBe(0);
    expect(shown.lines).toEqual([...names.slice(0, -1).map((name) => `applied ${name}`), `pending ${last}`, `${names.length - 1} applied, 1 pending`]);
  });

  it('run re-applies it, then has nothing to apply', async () => {
    const again = migrate('run', env);
    expect(again.status).toBe(0);
    expect(again.lines).toEqual([`applied ${last}`]);
    expect(await appliedInDatabase()).toEqual(names);

    const idle = migrate('run', env);
    expect(idle.status).toBe(0);
    expect(idle.lines).toEqual(['nothing to apply']);
  });

  it('fails with exit 1 and one clean line on an unreachable database, printing no secret', () => {
    const password = `pw-${randomBytes(8).toString('hex')}`;
    const rootKey = randomBytes(32).toString('base64');
    const result = migrate('run', { DATABASE_URL: `postgres://x:${password}@127.0.0.1:1/none`, VAULT_ROOT_KEY: rootKey });
    expect(result.status).toBe(1);
    expect(result.lines).toEqual([]);
    expect(result.stderr).toMatch(/^error: .*ECONNREFUSED.*\n$/);
    expect(result.stderr.trim().split('\n')).toHaveLength(1);
    expect(result.stderr).not.toContain(password);
    expect(result.stderr).not.toContain(rootKey);
  });

  it('offers no generate command', () => {
    const result = migrate('generate', env);
    expect(result.status).toBe(1);
    expect(result.lines).toEqual([]);
    expect(result.stderr).toContain("unknown command 'generate'");
  });
});
