import type { DataSource } from 'typeorm';
import { redactDatabaseUrl, type VaultConfig } from '../config/config.js';
import { createDataSource, runMigrations } from './data-source.js';
import { EmbeddedDatabase } from './embedded-database.js';

/**
 * The database the vault runs on: the configured PostgreSQL (DATABASE_URL) or the embedded one,
 * with the DataSource initialised and migrations applied. Used by the HTTP app and the CLI alike.
 */
export class VaultDatabase {
  private constructor(
    readonly dataSource: DataSource,
    readonly url: string,
    readonly kind: 'embedded' | 'external',
    private readonly embedded: EmbeddedDatabase | undefined,
  ) {}

  static async open(config: VaultConfig, log: (message: string) => void, options: { migrate?: boolean } = {}): Promise<VaultDatabase> {
    let embedded: EmbeddedDatabase | undefined;
    let url = config.databaseUrl;
    if (url === undefined) {
      embedded = new EmbeddedDatabase({ dataDir: config.dataDir, port: config.embeddedPgPort, log });
      url = await embedded.start();
    }
    const dataSource = createDataSource({ url, poolSize: config.dbPoolSize });
    try {
      await dataSource.initialize();
      if (options.migrate !== false) {
        const applied = await runMigrations(dataSource);
        if (applied.length > 0) log(`applied migrations: ${applied.join(', ')}`);
      }
    } catch (error) {
      await dataSource.destroy().catch(() => undefined);
      await embedded?.stop();
      throw error;
    }
    return new VaultDatabase(dataSource, url, embedded ? 'embedded' : 'external', embedded);
  }

  /** For log lines: never the password. */
  describe(): string {
    return `${this.kind} PostgreSQL at ${redactDatabaseUrl(this.url)}`;
  }

  /** Closes this process's connections but leaves an embedded server running (the cluster primary's case). */
  async releaseConnections(): Promise<void> {
    if (this.dataSource.isInitialized) await this.dataSource.destroy();
  }

  async close(): Promise<void> {
    if (this.dataSource.isInitialized) await this.dataSource.destroy();
    await this.embedded?.stop();
  }
}
