/**
 * The systems under test: the vault (`node dist/src/main.js`, as deployed: NODE_ENV=production,
 * DATABASE_URL, explicit root key) and the plaintext baseline, each its own process on its own
 * database of one PostgreSQL server; principals made with the vault's CLI; seeding through HTTP.
 */
import { randomBytes } from 'node:crypto';
import { mkdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { fileURLToPath } from 'node:url';
import { customer, email } from './data.js';
import type { BenchServer } from './database.js';
import { freePort, NodeChild, runNode, waitForHttp } from './procs.js';

/** The repository root (this file runs as dist/bench/lib/stack.js). */
export const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..', '..');
export const DIST = path.join(ROOT, 'dist');
export const VAULT_MAIN = path.join(DIST, 'src', 'main.js');
export const VAULT_CLI = path.join(DIST, 'src', 'cli', 'main.js');
export const BASELINE_MAIN = path.join(DIST, 'bench', 'baseline', 'main.js');
export const LOAD_WORKER = path.join(DIST, 'bench', 'load.js');

export type Role = 'ingest' | 'billing' | 'support' | 'security' | 'admin';
export type Tokens = Partial<Record<Role, string>>;

/** Variables the benchmark sets itself; anything else VAULT_* in the caller's environment passes through. */
const OWNED = ['NODE_ENV', 'DATABASE_URL', 'VAULT_ROOT_KEY', 'VAULT_ROOT_KEY_FILE', 'VAULT_DATA_DIR', 'VAULT_AUDIT_CHECKPOINT_FILE', 'VAULT_EMBEDDED_PG_PORT', 'PORT', 'HOST', 'LOG_LEVEL', 'VAULT_RATE_LIMIT_PER_MINUTE', 'VAULT_SEARCH_LIMIT_PER_MINUTE'];

export function baseEnv(): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = { ...process.env };
  for (const name of OWNED) delete env[name];
  return env;
}

/** VAULT_* tuning the caller passed through (recorded with the results). */
export function passedThroughVaultEnv(): Record<string, string> {
  const out: Record<string, string> = {};
  for (const [name, value] of Object.entries(process.env)) {
    if (name.startsWith('VAULT_') && !OWNED.includes(name) && value !== undefined) out[name] = value;
  }
  return out;
}

export interface Seeded {
  ids: string[];
  emails: string[];
  seconds: number;
}

/** The HTTP stacks the plaintext baseline runs on (bench/baseline, BASELINE_HTTP); the vault's own is `fastify`. */
export const BASELINE_STACKS = ['fastify', 'express'] as const;
export type BaselineStack = (typeof BASELINE_STACKS)[number];
/** The stack the vault runs on: the baseline on it gives the headline ratio. */
export const VAULT_STACK: BaselineStack = 'fastify';

/** One running baseline: its process, URL and database. */
export interface Baseline {
  child: NodeChild;
  url: string;
  dbUrl: string;
}

/** What a run is measured on: the vault, or the baseline on one HTTP stack. */
export type Target = 'vault' | BaselineStack;

export class Stack {
  vault?: NodeChild;
  readonly baselines = new Map<BaselineStack, Baseline>();
  vaultUrl = '';
  vaultDbUrl = '';
  readonly rootKey = randomBytes(32).toString('base64');
  tokens: Tokens = {};
  private vaultEnv: NodeJS.ProcessEnv = {};

  constructor(
    readonly server: BenchServer,
    private readonly tmp: string,
    private readonly log: (message: string) => void,
  ) {}

  async startVault(): Promise<void> {
    this.vaultDbUrl = await this.server.createDatabase('cv_bench_vault');
    const dataDir = path.join(this.tmp, 'vault');
    mkdirSync(dataDir, { recursive: true });
    const port = await freePort();
    this.vaultEnv = {
      ...baseEnv(),
      NODE_ENV: 'production',
      DATABASE_URL: this.vaultDbUrl,
      VAULT_ROOT_KEY: this.rootKey,
      VAULT_DATA_DIR: dataDir,
      HOST: '127.0.0.1',
      PORT: String(port),
      LOG_LEVEL: 'warn',
      // The benchmark measures throughput: per-principal limits would cap it at the limit.
      VAULT_RATE_LIMIT_PER_MINUTE: '0',
      VAULT_SEARCH_LIMIT_PER_MINUTE: '0',
    };
    this.vaultUrl = `http://127.0.0.1:${port}`;
    this.vault = new NodeChild('vault', VAULT_MAIN, [], this.vaultEnv, [...startScriptNodeFlags(), ...nodeArgsFor('VAULT')]);
    const ms = await waitForHttp(`${this.vaultUrl}/readyz`, this.vault, 120_000);
    this.log(`vault ready on ${this.vaultUrl} (pid ${this.vault.pid}) in ${(ms / 1000).toFixed(1)} s`);
  }

  /** Starts the baseline on one HTTP stack, with a database of its own. */
  async startBaseline(http: BaselineStack): Promise<void> {
    const dbUrl = await this.server.createDatabase(`cv_bench_baseline_${http}`);
    const port = await freePort();
    const url = `http://127.0.0.1:${port}`;
    const env = { ...baseEnv(), NODE_ENV: 'production', DATABASE_URL: dbUrl, PORT: String(port), HOST: '127.0.0.1', BASELINE_HTTP: http };
    const child = new NodeChild(`baseline-${http}`, BASELINE_MAIN, [], env, [...startScriptNodeFlags(), ...nodeArgsFor('BASELINE')]);
    this.baselines.set(http, { child, url, dbUrl });
    const ms = await waitForHttp(`${url}/readyz`, child, 60_000);
    this.log(`baseline (${http}) ready on ${url} (pid ${child.pid}) in ${(ms / 1000).toFixed(1)} s`);
  }

  /** The process of a target. */
  child(target: Target): NodeChild | undefined {
    return target === 'vault' ? this.vault : this.baselines.get(target)?.child;
  }

  /** The base URL of a target. */
  url(target: Target): string {
    if (target === 'vault') return this.vaultUrl;
    const baseline = this.baselines.get(target);
    if (baseline === undefined) throw new Error(`no ${target} baseline`);
    return baseline.url;
  }

  /** One principal per role through the CLI (`principal:create`; the token is the last stdout line). */
  async createPrincipals(roles: Role[]): Promise<void> {
    const started = Date.now();
    const suffix = randomBytes(3).toString('hex');
    await Promise.all(
      roles.map(async (role) => {
        const kind = role === 'security' || role === 'admin' ? 'staff' : 'service';
        const { code, stdout, stderr } = await runNode(VAULT_CLI, ['principal:create', '--name', `bench-${role}-${suffix}`, '--kind', kind, '--roles', role], this.vaultEnv, 120_000);
        const token = stdout.trim().split('\n').at(-1)?.trim() ?? '';
        if (code !== 0 || !/^cv_[A-Za-z0-9_-]{43}$/.test(token)) throw new Error(`principal:create --roles ${role} failed (exit ${String(code)}):\n${stderr.slice(-2000)}`);
        this.tokens[role] = token;
      }),
    );
    this.log(`principals ${roles.join(', ')} created with the CLI in ${((Date.now() - started) / 1000).toFixed(1)} s`);
  }

  bearer(role: Role): Record<string, string> {
    const token = this.tokens[role];
    if (token === undefined) throw new Error(`no ${role} principal`);
    return { authorization: `Bearer ${token}` };
  }

  /** Creates `count` customers through POST /v1/customers with bounded concurrency; keeps ids in order. */
  async seed(target: Target, count: number, concurrency: number, headers: Record<string, string>): Promise<Seeded> {
    const base = this.url(target);
    const ids: string[] = new Array<string>(count);
    const started = Date.now();
    let next = 0;
    let lastReport = started;
    const worker = async (): Promise<void> => {
      while (next < count) {
        const i = next++;
        const body = JSON.stringify(customer('seed', i));
        let attempt = 0;
        for (;;) {
          let response: Response;
          try {
            response = await fetch(`${base}/v1/customers`, { method: 'POST', headers: { ...headers, 'content-type': 'application/json' }, body, signal: AbortSignal.timeout(30_000) });
          } catch (error) {
            const child = this.child(target);
            if (child && !child.running) throw new Error(`the ${target} exited while seeding:\n${child.output()}`, { cause: error });
            const cause = error instanceof Error && error.cause instanceof Error ? error.cause.message : String(error);
            if (attempt++ < 3) {
              this.log(`  seeding ${target}: customer ${i}: ${cause}; retrying`);
              await sleep(500);
              continue;
            }
            throw new Error(`seeding ${target}: customer ${i}: ${cause}`, { cause: error });
          }
          const text = await response.text();
          if (response.status === 201) {
            ids[i] = (JSON.parse(text) as { id: string }).id;
            break;
          }
          // A 503 (audit log momentarily unavailable) is retried a little; anything else is a bug.
          if (response.status === 503 && attempt++ < 3) {
            await sleep(200);
            continue;
          }
          throw new Error(`seeding ${target}: customer ${i} got ${response.status}: ${text.slice(0, 300)}`);
        }
        if (Date.now() - lastReport > 10_000) {
          lastReport = Date.now();
          this.log(`  seeding ${target}: ${i + 1}/${count}`);
        }
      }
    };
    await Promise.all(Array.from({ length: Math.min(concurrency, count) }, worker));
    const seconds = (Date.now() - started) / 1000;
    this.log(`seeded ${count} customers into ${target === 'vault' ? 'the vault' : `the ${target} baseline`} in ${seconds.toFixed(1)} s (${Math.round(count / seconds)}/s at concurrency ${concurrency})`);
    return { ids, emails: Array.from({ length: count }, (_, i) => email('seed', i)), seconds };
  }

  /** Stops every server (SIGTERM, then SIGKILL after the timeout). */
  async stop(): Promise<void> {
    await Promise.all([this.vault?.stop(20_000), ...[...this.baselines.values()].map((b) => b.child.stop(10_000))]);
  }
}

/** BENCH_VAULT_NODE_ARGS / BENCH_BASELINE_NODE_ARGS: node flags for one side, e.g. `--cpu-prof --cpu-prof-dir=/tmp/prof`. */
function nodeArgsFor(side: 'VAULT' | 'BASELINE'): string[] {
  return (process.env[`BENCH_${side}_NODE_ARGS`] ?? '').split(' ').filter((arg) => arg !== '');
}

let startFlags: string[] | undefined;

/** The node flags of `npm start` (package.json, read once), so the vault runs here as it is deployed. */
export function startScriptNodeFlags(): string[] {
  if (startFlags === undefined) {
    const pkg = JSON.parse(readFileSync(path.join(ROOT, 'package.json'), 'utf8')) as { scripts?: Record<string, string> };
    const match = /\bnode((?:\s+--\S+)*)\s+dist\/src\/main\.js/.exec(pkg.scripts?.start ?? '');
    startFlags = match ? match[1].trim().split(/\s+/).filter((flag) => flag !== '') : [];
  }
  return startFlags;
}
