/**
 * Cold start: from spawning `node dist/src/main.js` on an empty data directory (no DATABASE_URL:
 * embedded PostgreSQL is initialised, the development root key created, migrations applied) to
 * the first 200 from /readyz. Then a warm start on the same directory, for contrast.
 */
import { mkdirSync } from 'node:fs';
import path from 'node:path';
import { livePostmasterPid, stopPostmaster } from '../../src/database/embedded-database.js';
import { freePort, NodeChild, waitForHttp } from './procs.js';
import { baseEnv, startScriptNodeFlags, VAULT_MAIN } from './stack.js';

export interface ColdStartRun {
  coldMs: number;
  warmMs: number;
}

/** The vault stops its embedded PostgreSQL on SIGTERM; if it was SIGKILLed, stop the server it left. */
async function stopLeftoverPostgres(dataDir: string): Promise<void> {
  const pid = livePostmasterPid(path.join(dataDir, 'pg'));
  if (pid !== undefined && !(await stopPostmaster(pid))) process.kill(pid, 'SIGKILL');
}

async function startOnce(dataDir: string, name: string, register: (child: NodeChild) => void): Promise<number> {
  const port = await freePort();
  const env = {
    ...baseEnv(),
    // production refuses the embedded database: this is the `npm start` path of a fresh checkout.
    NODE_ENV: 'development',
    VAULT_DATA_DIR: dataDir,
    VAULT_EMBEDDED_PG_PORT: String(await freePort()),
    HOST: '127.0.0.1',
    PORT: String(port),
    LOG_LEVEL: 'warn',
  };
  const started = Date.now();
  const child = new NodeChild(name, VAULT_MAIN, [], env, startScriptNodeFlags());
  register(child);
  try {
    await waitForHttp(`http://127.0.0.1:${port}/readyz`, child, 120_000, 20);
    return Date.now() - started;
  } finally {
    await child.stop(30_000);
    await stopLeftoverPostgres(dataDir);
  }
}

export async function coldStart(repeat: number, tmp: string, log: (message: string) => void, register: (child: NodeChild) => void): Promise<ColdStartRun[]> {
  const runs: ColdStartRun[] = [];
  for (let r = 1; r <= repeat; r++) {
    const dataDir = path.join(tmp, `coldstart-${r}`);
    mkdirSync(dataDir, { recursive: true });
    const coldMs = await startOnce(dataDir, 'vault (cold start)', register);
    const warmMs = await startOnce(dataDir, 'vault (warm start)', register);
    log(`cold start #${r}: ${(coldMs / 1000).toFixed(2)} s to /readyz (warm restart ${(warmMs / 1000).toFixed(2)} s)`);
    runs.push({ coldMs, warmMs });
  }
  return runs;
}
