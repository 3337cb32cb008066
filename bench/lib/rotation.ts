/**
 * KEK rotation through the API while the vault serves reads: POST /v1/keys/rotate (admin), poll
 * GET /v1/keys/jobs/:id until done, with reveal reads running the whole time; the read p99 during
 * the rotation is compared with a run just before it.
 *
 * A million customers through HTTP would take longer than the rotation itself, so beyond the
 * customers seeded through the API the DEK count is made up in SQL: key-only customers whose DEKs
 * are genuinely wrapped under the active KEK (the benchmark holds the root key it gave the vault),
 * so the job unwraps and rewraps each one exactly as it would a real one.
 */
import { randomUUID } from 'node:crypto';
import { setTimeout as sleep } from 'node:timers/promises';
import pg from 'pg';
import { generateKey, initSodium, LocalRootKeyProvider, wrapDek, zero } from '../../src/crypto/index.js';
import type { RotationJobView } from '../../src/keys/keys.service.js';
import type { LoadConfig, LoadResult } from './load-protocol.js';
import { runLoad, startLoad } from './loader.js';
import { RssSampler } from './procs.js';
import type { Stack } from './stack.js';

export interface RotationResult {
  deks: number;
  synthetic: number;
  fillSeconds: number;
  jobId: string;
  state: string;
  total: number;
  done: number;
  /** Server-side, job started -> finished (includes the job's 2.5 s settle pass). */
  jobSeconds: number;
  /** POST /v1/keys/rotate -> job seen done. */
  wallSeconds: number;
  deksPerSecond: number;
  readWithout: LoadResult;
  readDuring: LoadResult;
  peakRssMiB: number;
  error?: string;
}

/** GET /v1/keys/jobs/:id as the vault answers it. */
type JobView = RotationJobView;

/** Adds key-only customers until `customer_deks` holds `target` rows; returns how many were added. */
export async function fillDeks(stack: Stack, target: number, log: (message: string) => void): Promise<number> {
  await initSodium();
  const client = new pg.Client({ connectionString: stack.vaultDbUrl, application_name: 'cv-bench-fill' });
  await client.connect();
  const provider = LocalRootKeyProvider.fromBase64(stack.rootKey);
  try {
    const [{ count }] = (await client.query<{ count: string }>('SELECT count(*) AS count FROM customer_deks')).rows;
    const missing = target - Number(count);
    if (missing <= 0) return 0;
    const [active] = (await client.query<{ version: number; wrapped_key: Buffer }>(`SELECT version, wrapped_key FROM kek_versions WHERE state = 'active'`)).rows;
    const kek = await provider.unwrap(active.wrapped_key, { kind: 'kek', version: active.version });
    const started = Date.now();
    let lastReport = started;
    try {
      const BATCH = 10_000;
      for (let added = 0; added < missing; added += BATCH) {
        const n = Math.min(BATCH, missing - added);
        const ids: string[] = [];
        const wrapped: Buffer[] = [];
        for (let i = 0; i < n; i++) {
          const id = randomUUID();
          const dek = generateKey();
          ids.push(id);
          wrapped.push(wrapDek(kek, active.version, dek, id, 1));
          zero(dek);
        }
        await client.query('BEGIN');
        await client.query('INSERT INTO customers (id, dek_version) SELECT unnest($1::uuid[]), 1', [ids]);
        await client.query('INSERT INTO customer_deks (customer_id, version, kek_version, wrapped_key) SELECT unnest($1::uuid[]), 1, $2, unnest($3::bytea[])', [ids, active.version, wrapped]);
        await client.query('COMMIT');
        if (Date.now() - lastReport > 10_000) {
          lastReport = Date.now();
          log(`  DEK fill: ${added + n}/${missing}`);
        }
      }
    } finally {
      zero(kek);
    }
    await client.query('VACUUM ANALYZE customers');
    await client.query('VACUUM ANALYZE customer_deks');
    log(`added ${missing} key-only customers (DEKs wrapped under KEK v${active.version}) in ${((Date.now() - started) / 1000).toFixed(1)} s`);
    return missing;
  } finally {
    await provider.close();
    await client.end().catch(() => undefined);
  }
}

export async function rotateWhileServing(
  stack: Stack,
  readConfig: LoadConfig,
  options: { maxSeconds: number; settle: () => Promise<void>; log: (message: string) => void },
): Promise<Omit<RotationResult, 'deks' | 'synthetic' | 'fillSeconds'>> {
  const { log } = options;
  if (!stack.vault) throw new Error('the vault is not running');
  const admin = { ...stack.bearer('admin') };

  log(`reads without rotation: ${readConfig.durationSeconds} s at c=${readConfig.connections}`);
  const readWithout = await runLoad({ ...readConfig, tag: 'rot-before', title: 'read before rotation' });
  await options.settle();

  const sampler = new RssSampler(stack.vault.pid).start();
  const load = startLoad({ ...readConfig, durationSeconds: options.maxSeconds, tag: 'rot-during', title: 'read during rotation' });
  // Let the load reach steady state before the job starts.
  await sleep(1_000);
  const started = Date.now();
  let job: JobView | undefined;
  let jobId = '';
  let error: string | undefined;
  try {
    const response = await fetch(`${stack.vaultUrl}/v1/keys/rotate`, { method: 'POST', headers: admin, signal: AbortSignal.timeout(30_000) });
    const text = await response.text();
    if (response.status !== 202) throw new Error(`POST /v1/keys/rotate answered ${response.status}: ${text.slice(0, 300)}`);
    jobId = (JSON.parse(text) as { jobId: string }).jobId;
    const deadline = started + options.maxSeconds * 1000;
    let lastReport = started;
    while (Date.now() < deadline) {
      await sleep(250);
      const poll = await fetch(`${stack.vaultUrl}/v1/keys/jobs/${jobId}`, { headers: admin, signal: AbortSignal.timeout(30_000) });
      const body = await poll.text();
      if (poll.status !== 200) throw new Error(`GET /v1/keys/jobs/${jobId} answered ${poll.status}: ${body.slice(0, 300)}`);
      job = JSON.parse(body) as JobView;
      if (job.state === 'done' || job.state === 'failed') break;
      if (Date.now() - lastReport > 5_000) {
        lastReport = Date.now();
        log(`  rotation: ${job.done}/${job.total} (${job.state})`);
      }
    }
    if (job?.state === 'failed') error = `job failed: ${job.error ?? 'no reason given'}`;
    else if (job?.state !== 'done') error = `job not done after ${options.maxSeconds} s`;
  } catch (e) {
    error = e instanceof Error ? e.message : String(e);
  } finally {
    load.stop();
  }
  const wallSeconds = (Date.now() - started) / 1000;
  const readDuring = await load.result;
  const peak = sampler.stop();
  const jobSeconds = job?.startedAt && job.finishedAt ? (Date.parse(job.finishedAt) - Date.parse(job.startedAt)) / 1000 : NaN;
  const done = Number(job?.done ?? 0);
  return {
    jobId,
    state: job?.state ?? 'unknown',
    total: Number(job?.total ?? 0),
    done,
    jobSeconds,
    wallSeconds,
    deksPerSecond: done / (Number.isFinite(jobSeconds) ? jobSeconds : wallSeconds),
    readWithout,
    readDuring,
    peakRssMiB: peak / 2 ** 20,
    error,
  };
}
