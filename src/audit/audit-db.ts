import { Inject, Injectable, type OnApplicationShutdown } from '@nestjs/common';
import pg from 'pg';
import { VaultDatabase } from '../database/database.js';

/**
 * A small pool of its own for reading the sealed log (pages, exports, verification): those read
 * many rows with per-query type parsers (RAW_TYPES), which TypeORM's `query` does not offer, and a
 * long export or verification should not hold one of the app's connections.
 */
@Injectable()
export class AuditDb implements OnApplicationShutdown {
  readonly pool: pg.Pool;

  constructor(@Inject(VaultDatabase) database: VaultDatabase) {
    this.pool = new pg.Pool({
      connectionString: database.url,
      max: 4,
      application_name: 'customer-vault-audit-read',
      connectionTimeoutMillis: 5_000,
      // Server-side bound, not node-postgres' query_timeout: that one's per-query timer keeps each
      // result reachable while it arrives, so streamed batches get promoted and an export of 1M
      // events peaked at ~255 MB RSS instead of ~145 MB.
      statement_timeout: 60_000,
      keepAlive: true,
    });
    // An idle connection dropped by the server must not crash the process; the next query reconnects.
    this.pool.on('error', () => undefined);
  }

  async onApplicationShutdown(): Promise<void> {
    await this.pool.end();
  }
}
