/**
 * Cold start: from spawning `node dist/src/main.js` on an empty data directory (no DATABASE_URL:
 * embedded PostgreSQL is initialised, the development root key created, migrations applied) to
 * the first 200 from /readyz. Then a warm start on the same directory, for contrast.
 */
import { existsSync, mkdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { freePort, NodeChild, waitForHttp } from './procs.js';
import { baseEnv, startScriptNodeFlags, VAULT_MAIN } from './stack.js';

export interface ColdStartRun {
  coldMs: number;
  warmMs: number;
}

function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

/** The vault stops its embedded PostgreSQL on SIGTERM; if it was SIGKILLed, stop the server it left. */
async function stopLeftoverPostgres(dataDir: string): Promise<void> {
  const pidFile = path.join(dataDir, 'pg', 'postmaster.pid');
  if (!existsSync(pidFile)) return;
  const pid = Number(readFileSync(pidFile, 'utf8').split('\n')[0]);
  if (!Number.isInteger(pid) || pid <= 0 || !isAlive(pid)) return;
  process.kill(pid, 'SIGINT');
  for (let waited = 0; waited < 15_000 && isAlive(pid); waited += 100) await sleep(100);
  if (isAlive(pid)) process.kill(pid, 'SIGKILL');
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
