import cluster, { type Worker } from 'node:cluster';
import type { Logger } from 'pino';
import type { VaultConfig } from '../config/config.js';
import { loadRootKey } from '../config/root-key-source.js';
import { VaultDatabase } from '../database/database.js';

/** A worker that dies this many times within the window means a crash loop: stop rather than spin. */
const CRASH_LOOP_RESTARTS = 5;
const CRASH_LOOP_WINDOW_MS = 30_000;

/**
 * The primary of `VAULT_WORKERS=N` (node:cluster): N HTTP workers share the port; the primary serves
 * nothing itself. It prepares what the workers must not race for (the embedded PostgreSQL, started
 * once, and the migrations; the development root key file), forks the workers, replaces a worker
 * that dies (logged; the others keep serving), and on SIGTERM/SIGINT drains them all before
 * stopping the embedded database.
 *
 * Singletons need no help from here: the audit sealer, the rotation worker and the retention job
 * each run under a PostgreSQL advisory lock, so they stay single across workers and machines alike.
 */
export async function runClusterPrimary(config: VaultConfig, count: number, log: Logger): Promise<number> {
  const workerEnv: Record<string, string> = {};
  if (config.rootKey === undefined && config.rootKeyFile === undefined && config.nodeEnv !== 'production') {
    // Create the development key once, here, so that N workers do not each try to.
    const created = loadRootKey(config);
    created.key.fill(0);
    if (created.createdDevelopmentKey) log.warn(`!!! DEVELOPMENT ROOT KEY CREATED in ${config.dataDir}/root.key: never use it in production !!!`);
  }
  const database = await VaultDatabase.open(config, (message) => log.info({ component: 'database' }, message));
  // Workers connect on their own; the primary keeps the embedded server (if any) running for them.
  if (database.kind === 'embedded') workerEnv.DATABASE_URL = database.url;
  await database.releaseConnections();

  let stopping = false;
  let exitCode = 0;
  const restarts: number[] = [];
  const fork = (): Worker => {
    const worker = cluster.fork(workerEnv);
    worker.once('online', () => log.info({ workerPid: worker.process.pid }, 'worker started'));
    return worker;
  };

  const drained = new Promise<void>((resolve) => {
    cluster.on('exit', (worker, code, signal) => {
      if (stopping) {
        if (code !== 0) exitCode = 1;
        if (Object.keys(cluster.workers ?? {}).length === 0) resolve();
        return;
      }
      const now = Date.now();
      restarts.push(now);
      while (restarts.length > 0 && (restarts[0] ?? now) < now - CRASH_LOOP_WINDOW_MS) restarts.shift();
      if (restarts.length > CRASH_LOOP_RESTARTS) {
        log.fatal({ workerPid: worker.process.pid, code, signal }, `workers died ${restarts.length} times within ${CRASH_LOOP_WINDOW_MS / 1000} s: stopping`);
        exitCode = 1;
        void stop('crash loop');
        return;
      }
      log.warn({ workerPid: worker.process.pid, code, signal }, 'worker died: replacing it; the other workers keep serving');
      fork();
    });
  });

  const stop = async (reason: string): Promise<void> => {
    if (stopping) return;
    stopping = true;
    const workers = Object.values(cluster.workers ?? {}).filter((worker): worker is Worker => worker !== undefined);
    log.info({ reason, workers: workers.length }, 'shutting down: draining every worker');
    for (const worker of workers) worker.process.kill('SIGTERM');
    const force = setTimeout(() => {
      log.warn('workers did not finish in time: killing them');
      for (const worker of Object.values(cluster.workers ?? {})) worker?.process.kill('SIGKILL');
    }, config.shutdownTimeoutMs + 5_000);
    force.unref();
    if (workers.length > 0) await drained;
    clearTimeout(force);
    await database.close();
    log.info('stopped');
  };

  const stopped = new Promise<void>((resolve) => {
    const onSignal = (signal: string) => void stop(signal).then(resolve);
    process.once('SIGINT', () => onSignal('SIGINT'));
    process.once('SIGTERM', () => onSignal('SIGTERM'));
  });
  for (let i = 0; i < count; i++) fork();
  log.info({ workers: count, port: config.port }, `Customer Vault primary: ${count} workers on port ${config.port}`);
  await stopped;
  return exitCode;
}
