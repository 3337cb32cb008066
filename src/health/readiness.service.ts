import { Inject, Injectable } from '@nestjs/common';
import { DataSource } from 'typeorm';

export type ReadinessCheck = () => Promise<void>;

const CHECK_TIMEOUT_MS = 2_000;

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

  async evaluate(): Promise<{ ready: boolean; checks: Record<string, 'ok' | 'failed'> }> {
    const results: Record<string, 'ok' | 'failed'> = {};
    for (const [name, check] of this.checks) {
      results[name] = (await withTimeout(check(), CHECK_TIMEOUT_MS)) ? 'ok' : 'failed';
      // Later checks need the database; do not wait on each of them when it is gone.
      if (name === 'database' && results[name] === 'failed') break;
    }
    const ready = this.checks.size === Object.keys(results).length && Object.values(results).every((r) => r === 'ok');
    return { ready, checks: results };
  }
}

async function withTimeout(promise: Promise<void>, ms: number): Promise<boolean> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<boolean>((resolve) => {
    timer = setTimeout(() => resolve(false), ms);
  });
  try {
    return await Promise.race([promise.then(() => true, () => false), timeout]);
  } finally {
    clearTimeout(timer);
  }
}
