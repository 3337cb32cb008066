/**
 * One PostgreSQL server for the whole run (DATABASE_URL, or an embedded one in a temporary
 * directory) and the databases the benchmark creates on it, dropped again at the end.
 */
import { randomBytes } from 'node:crypto';
import pg from 'pg';
import { EmbeddedDatabase } from '../../src/database/embedded-database.js';
import { freePort } from './procs.js';

export interface ServerInfo {
  version: string;
  kind: 'embedded' | 'external';
  settings: Record<string, string>;
}

/** Settings that shape the figures, recorded with them. */
const SETTINGS = ['max_connections', 'shared_buffers', 'work_mem', 'effective_cache_size', 'synchronous_commit', 'fsync', 'wal_level', 'max_wal_size', 'checkpoint_timeout', 'autovacuum'];

export class BenchServer {
  private readonly created: string[] = [];
  private readonly suffix = randomBytes(3).toString('hex');

  private constructor(
    readonly adminUrl: string,
    readonly kind: 'embedded' | 'external',
    private readonly embedded: EmbeddedDatabase | undefined,
  ) {}

  /** `dataDir`: where an embedded cluster lives (a fresh temporary directory). */
  static async open(dataDir: string): Promise<BenchServer> {
    const external = process.env.DATABASE_URL;
    if (external !== undefined && external !== '') return new BenchServer(external, 'external', undefined);
    const embedded = new EmbeddedDatabase({ dataDir, port: await freePort() });
    const url = await embedded.start();
    return new BenchServer(url, 'embedded', embedded);
  }

  /** A new empty database; its URL. Names carry a random suffix so runs on a shared server do not collide. */
  async createDatabase(prefix: string): Promise<string> {
    const name = `${prefix}_${this.suffix}`;
    await this.admin(async (client) => {
      await client.query(`DROP DATABASE IF EXISTS ${name}`);
      await client.query(`CREATE DATABASE ${name}`);
    });
    this.created.push(name);
    return this.urlOf(name);
  }

  urlOf(database: string): string {
    const url = new URL(this.adminUrl);
    url.pathname = `/${database}`;
    return url.toString();
  }

  async info(): Promise<ServerInfo> {
    return this.admin(async (client) => {
      const { rows } = await client.query<{ name: string; setting: string; unit: string | null }>('SELECT name, setting, unit FROM pg_settings WHERE name = ANY($1)', [SETTINGS]);
      const settings: Record<string, string> = {};
      for (const row of rows) settings[row.name] = row.unit ? `${row.setting} (${row.unit})` : row.setting;
      const [{ server_version: version }] = (await client.query<{ server_version: string }>('SHOW server_version')).rows;
      return { version, kind: this.kind, settings };
    });
  }

  /** Runs `fn` on a short-lived client of `url` (default: the admin database). */
  async admin<T>(fn: (client: pg.Client) => Promise<T>, url = this.adminUrl): Promise<T> {
    const client = new pg.Client({ connectionString: url, application_name: 'cv-bench' });
    await client.connect();
    try {
      return await fn(client);
    } finally {
      await client.end().catch(() => undefined);
    }
  }

  /**
   * Drops what this run created on an external server; stops an embedded one (its cluster goes with
   * the temporary directory). Each step bounded; errors logged, not thrown.
   */
  async close(log: (message: string) => void): Promise<void> {
    for (const name of this.embedded ? [] : this.created.splice(0)) {
      // FORCE (PostgreSQL 13+) ends sessions a killed child may have left behind.
      await withTimeout(this.admin((client) => client.query(`DROP DATABASE IF EXISTS ${name} WITH (FORCE)`)), 15_000).catch((error: unknown) =>
        log(`could not drop database ${name}: ${error instanceof Error ? error.message : String(error)}`),
      );
    }
    if (this.embedded) {
      await withTimeout(this.embedded.stop(), 20_000).catch(() => log('embedded PostgreSQL did not stop in time'));
    }
  }
}

/** `promise`, or a rejection after `ms` (the timer does not keep the process alive). */
export function withTimeout<T>(promise: Promise<T>, ms: number): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`timed out after ${ms} ms`)), ms);
    timer.unref();
  });
  return Promise.race([promise, timeout]).finally(() => clearTimeout(timer));
}
