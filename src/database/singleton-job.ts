import type { Logger } from 'pino';
import type { DataSource, QueryRunner } from 'typeorm';
import { describeUnexpected } from '../common/error-response.js';

/** What `underSessionLock` returns when another session holds the lock (it does the work). */
export const LOCK_BUSY = Symbol('lock busy');

/**
 * Runs `work` on a connection of its own that holds the session advisory lock `lock`, when no other
 * session holds it; LOCK_BUSY otherwise. The background jobs (key rotation, blind-index re-index,
 * revision binding, retention) run in every process and across machines, and this is what keeps
 * each one single: session-level, so a process that dies releases it with its connection.
 */
export async function underSessionLock<T>(dataSource: DataSource, lock: number, work: (runner: QueryRunner) => Promise<T>): Promise<T | typeof LOCK_BUSY> {
  const runner = dataSource.createQueryRunner();
  await runner.connect();
  try {
    const [{ locked }] = (await runner.query('SELECT pg_try_advisory_lock($1) AS locked', [lock])) as { locked: boolean }[];
    if (!locked) return LOCK_BUSY;
    try {
      return await work(runner);
    } finally {
      await runner.query('SELECT pg_advisory_unlock($1)', [lock]);
    }
  } finally {
    await runner.release();
  }
}

/**
 * A background task on an unref'd timer (it never keeps a process alive), one run at a time per
 * process: first after `firstDelayMs`, then every `intervalMs` after a run ends (once only when
 * null). A failed run is logged as a warning (`failure`, with the error described as every
 * unexpected error is: class, code, frames, never its message, which may quote data) and the schedule
 * goes on; `stop` cancels what is scheduled and waits for the run in progress, so shutdown leaves
 * each batch committed or rolled back.
 */
export class RecurringTask {
  private timer?: NodeJS.Timeout;
  private current?: Promise<void>;
  private stopped = false;

  constructor(
    private readonly task: () => Promise<unknown>,
    private readonly onFailure: { log: Pick<Logger, 'warn'>; failure: string },
    private readonly intervalMs: number | null,
  ) {}

  start(firstDelayMs: number): void {
    this.schedule(firstDelayMs);
  }

  /** The run in progress, if any (a caller that must not overlap it awaits this first). */
  get running(): Promise<void> | undefined {
    return this.current;
  }

  /** Runs now rather than at the next tick, unless a run is in progress or the task is stopped. */
  runNow(): void {
    if (this.stopped || this.current) return;
    clearTimeout(this.timer);
    this.tick();
  }

  async stop(): Promise<void> {
    this.stopped = true;
    clearTimeout(this.timer);
    await this.current;
  }

  private schedule(delayMs: number): void {
    if (this.stopped) return;
    this.timer = setTimeout(() => this.tick(), delayMs);
    this.timer.unref();
  }

  private tick(): void {
    if (this.current || this.stopped) return;
    this.current = this.task()
      .then(
        () => undefined,
        (error: unknown) => this.onFailure.log.warn({ err: describeUnexpected(error) }, this.onFailure.failure),
      )
      .finally(() => {
        this.current = undefined;
        if (this.intervalMs !== null) this.schedule(this.intervalMs);
      });
  }
}
