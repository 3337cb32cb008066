/** What the orchestrator (bench/run.ts) and the load worker (bench/load.ts) exchange. */

export type Op = 'create' | 'read' | 'search';

export interface OpSpec {
  op: Op;
  /** Relative share of this operation in the run (e.g. read 0.8, create 0.2). */
  weight: number;
  /** Sent with every request of this op (auth, purpose); the baseline gets the same bytes. */
  headers: Record<string, string>;
}

export interface LoadConfig {
  /** Base URL (`http://127.0.0.1:port`); paths come from the ops. */
  url: string;
  connections: number;
  durationSeconds: number;
  timeoutSeconds: number;
  ops: OpSpec[];
  /** Customer ids for reads (seeded into the target under test). */
  ids: string[];
  /** Seeded emails for searches. */
  emails: string[];
  /** Makes the emails and externalRefs of this run's creates unique. */
  tag: string;
  title?: string;
}

export interface LoadResult {
  requests: number;
  durationSeconds: number;
  rps: number;
  /** Milliseconds. */
  latency: { p50: number; p90: number; p99: number; max: number; mean: number };
  non2xx: number;
  errors: number;
  timeouts: number;
  statusCodes: Record<string, number>;
  /** Requests built per op (includes the one each connection prepares up front). */
  built: Partial<Record<Op, number>>;
  /** Set by the orchestrator (not the load worker): CPU of the app and of PostgreSQL during the run. */
  cpu?: { appMs: number; pgMs: number };
}

export type ToWorker = { type: 'start'; config: LoadConfig } | { type: 'stop' };
export type FromWorker = { type: 'result'; result: LoadResult } | { type: 'error'; message: string };
