import 'reflect-metadata';
import cluster from 'node:cluster';
import { createApp, type VaultApp } from './app.js';
import { runClusterPrimary } from './cluster/cluster.js';
import { openRuntime } from './bootstrap.js';
import { createRootLogger } from './common/logger.js';
import { ConfigError, loadConfig } from './config/config.js';
import type { VaultRuntime } from './config/runtime.js';

async function main(): Promise<void> {
  const started = Date.now();
  let config;
  try {
    config = loadConfig();
  } catch (error) {
    if (error instanceof ConfigError) {
      process.stderr.write(`${error.message}\n`);
      process.exit(1);
    }
    throw error;
  }
  const log = createRootLogger(config.logLevel);
  if (config.workers > 1 && cluster.isPrimary) {
    try {
      process.exitCode = await runClusterPrimary(config, config.workers, log);
    } catch (error) {
      log.fatal({ err: error instanceof Error ? { type: error.name } : undefined }, `start-up failed: ${error instanceof Error ? error.message : String(error)}`);
      process.exitCode = 1;
    }
    log.flush();
    return;
  }
  let runtime: VaultRuntime | undefined;
  let app: VaultApp | undefined;
  let stopping = false;

  const shutdown = async (signal: string): Promise<void> => {
    if (stopping) return;
    stopping = true;
    log.info({ signal }, 'shutting down: no new connections, finishing in-flight requests');
    const force = setTimeout(() => {
      log.warn('in-flight requests did not finish in time; closing their connections');
      app?.getHttpServer().closeAllConnections();
    }, config.shutdownTimeoutMs);
    force.unref();
    try {
      await app?.close();
      await runtime?.database.close();
      log.info('stopped');
    } catch (error) {
      log.error({ err: error instanceof Error ? error.name : 'unknown' }, 'error during shutdown');
      process.exitCode = 1;
    } finally {
      clearTimeout(force);
      log.flush();
      // A cluster worker's IPC channel to the primary would keep it alive: let it go once drained.
      if (cluster.isWorker && process.connected) process.disconnect();
    }
  };
  process.once('SIGINT', () => void shutdown('SIGINT'));
  process.once('SIGTERM', () => void shutdown('SIGTERM'));

  try {
    runtime = await openRuntime({ config, log });
    app = await createApp(runtime);
    const server = app.getHttpServer();
    await app.listen(config.port, config.host);
    const address = server.address();
    const port = typeof address === 'object' && address ? address.port : config.port;
    log.info(
      { url: `http://${config.host}:${port}`, database: runtime.database.describe(), startupMs: Date.now() - started },
      `Customer Vault listening on http://${config.host}:${port} using ${runtime.database.describe()}`,
    );
  } catch (error) {
    // Start-up handles no customer data, so its error messages are safe to show the operator.
    const message = error instanceof Error ? error.message : String(error);
    log.fatal({ err: error instanceof Error ? { type: error.name, code: (error as { code?: unknown }).code } : undefined }, `start-up failed: ${message}`);
    await app?.close().catch(() => undefined);
    await runtime?.database.close().catch(() => undefined);
    process.exitCode = 1;
  }
}

void main();
