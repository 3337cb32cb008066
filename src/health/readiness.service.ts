import { Inject, Injectable } from '@nestjs/common';
import { DataSource } from 'typeorm';

export type ReadinessCheck = () => Promise<void>;

const CHECK_TIMEOUT_MS = 2_000;

/** A check that fails for a reason worth naming in /readyz (e.g. `stale_root_key`); others report `failed`. */
export class ReadinessFailure extends Error {
  constructor(readonly reason: string) {
    super(reason);
    this.name = 'ReadinessFailure';
  }
}

/** Readiness is the database, the migrations and whatever feature modules register (keys loaded, ...). */
@Injectable()
export class ReadinessService {
  private readonly checks = new Map<string, ReadinessCheck>();

  constructor(@Inject(DataSource) private readonly dataSource: DataSource) {
    this.register('database', async () => {
      await this.dataSource.query('SELECT 1');
    });
    this.register('migrations', async () => {
      if (await this.dataSource.showMigrations()) throw new Error('pending migrations');
    });
  }

  register(name: string, check: ReadinessCheck): void {
    this.checks.set(name, check);
  }

  /** Each check's result: `ok`, `failed`, or the reason a ReadinessFailure named. */
  async evaluate(): Promise<{ ready: boolean; checks: Record<string, string> }> {
    const results: Record<string, string> = {};
    for (const [name, check] of this.checks) {
      results[name] = await withTimeout(check(), CHECK_TIMEOUT_MS);
      // Later checks need the database; do not wait on each of them when it is gone.
      if (name === 'database' && results[name] === 'failed') break;
    }
    const ready = this.checks.size === Object.keys(results).length && Object.values(results).every((r) => r === 'ok');
    return { ready, checks: results };
  }
}

async function withTimeout(promise: Promise<void>, ms: number): Promise<string> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<string>((resolve) => {
    timer = setTimeout(() => resolve('failed'), ms);
  });
  try {
    return await Promise.race([promise.then(() => 'ok', (error: unknown) => (error instanceof ReadinessFailure ? error.reason : 'failed')), timeout]);
  } finally {
    clearTimeout(timer);
  }
}
