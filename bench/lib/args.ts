/** Command line of `npm run bench -- [flags]`. */
import { SCENARIOS, type Scenario } from './report.js';
import { BASELINE_STACKS, type BaselineStack } from './stack.js';

export const ONLY = ['rotation', 'verify', 'export', 'coldstart'] as const;
export type Only = (typeof ONLY)[number];

export interface Options {
  durationSeconds: number;
  warmupSeconds: number;
  customers: number;
  connections: number[];
  repeat: number;
  scenarios: Scenario[];
  /** The baselines to measure against, in this order; the first one the vault's own stack is the headline. */
  baselines: BaselineStack[];
  only?: Only;
  events: number;
  deks: number;
  seedConcurrency: number;
  pauseMs: number;
  timeoutSeconds: number;
  auditApi: boolean;
  rotationVia: 'both' | 'api' | 'script';
  rotationMaxSeconds: number;
  help: boolean;
}

export const USAGE = `npm run bench -- [flags]

  --duration S         seconds per measured run (default 10)
  --warmup S           unmeasured warm-up per scenario and system (default 2; 0 to skip)
  --customers N        customers seeded into each system (default 20000)
  --connections A,B    concurrency levels (default 16,64)
  --repeat N           alternating vault/baseline rounds per scenario and level (default 3)
  --scenarios LIST     create,read,masked,search,mix (default all)
  --baselines LIST     HTTP stacks of the plaintext baseline: fastify (the vault's own, the
                       headline ratio and the targets), express (NestJS on Express); default fastify.
                       Each gets its own process and database; every round runs the vault, then each.
  --no-audit-api       skip GET /v1/audit/verify and /export on the vault after the comparison
  --pause MS           idle time between runs, after the audit backlog is sealed (default 1000)
  --seed-concurrency N parallel requests while seeding (default 32)
  --timeout S          request timeout; a timed-out request counts as an error (default 10)

  --only coldstart     spawn on an empty embedded data dir -> /readyz 200 (repeated --repeat times)
  --only verify|export run bench/audit-verify.js (verify events/s, export peak RSS) on --events N (default 1000000)
  --only rotation      KEK rotation of --deks N DEKs (default 1000000): through the API while serving
                       reveal reads at the first --connections level (DEKs/s, read p99 during vs
                       without), and bench/rotation.js (rewrap alone, in-process) when present;
                       --rotation-via api|script|both (default both), --rotation-max S bounds the job (default 600)

Environment: DATABASE_URL (a PostgreSQL 13+ whose user may create databases) instead of an
embedded server; other VAULT_* variables (e.g. VAULT_DB_POOL_SIZE) pass through to the vault.`;

function positiveInt(name: string, value: string, min = 1): number {
  const n = Number(value);
  if (!Number.isInteger(n) || n < min) throw new Error(`${name} must be an integer >= ${min}`);
  return n;
}

export function parseArgs(argv: string[]): Options {
  const options: Options = {
    durationSeconds: 10,
    warmupSeconds: 2,
    customers: 20_000,
    connections: [16, 64],
    repeat: 3,
    scenarios: [...SCENARIOS],
    baselines: ['fastify'],
    events: 1_000_000,
    deks: 1_000_000,
    seedConcurrency: 32,
    pauseMs: 1_000,
    timeoutSeconds: 10,
    auditApi: true,
    rotationVia: 'both',
    rotationMaxSeconds: 600,
    help: false,
  };
  for (let i = 0; i < argv.length; i++) {
    const raw = argv[i];
    const eq = raw.indexOf('=');
    const flag = eq > 0 ? raw.slice(0, eq) : raw;
    const value = (): string => {
      const v = eq > 0 ? raw.slice(eq + 1) : argv[++i];
      if (v === undefined) throw new Error(`${flag} needs a value`);
      return v;
    };
    switch (flag) {
      case '--duration':
        options.durationSeconds = positiveInt(flag, value());
        break;
      case '--warmup':
        options.warmupSeconds = positiveInt(flag, value(), 0);
        break;
      case '--customers':
        options.customers = positiveInt(flag, value());
        break;
      case '--connections':
        options.connections = value().split(',').map((c) => positiveInt(flag, c.trim()));
        break;
      case '--repeat':
        options.repeat = positiveInt(flag, value());
        break;
      case '--scenarios': {
        const list = value().split(',').map((s) => s.trim());
        for (const s of list) if (!(SCENARIOS as readonly string[]).includes(s)) throw new Error(`unknown scenario ${s} (${SCENARIOS.join(', ')})`);
        // Keep the canonical order: the search target refers to the read scenario's baseline.
        options.scenarios = SCENARIOS.filter((s) => list.includes(s));
        break;
      }
      case '--baselines': {
        const list = value().split(',').map((s) => s.trim());
        for (const s of list) if (!(BASELINE_STACKS as readonly string[]).includes(s)) throw new Error(`unknown baseline ${s} (${BASELINE_STACKS.join(', ')})`);
        options.baselines = [...new Set(list)] as BaselineStack[];
        break;
      }
      case '--only': {
        const v = value();
        if (!(ONLY as readonly string[]).includes(v)) throw new Error(`--only takes one of ${ONLY.join(', ')}`);
        options.only = v as Only;
        break;
      }
      case '--events':
        options.events = positiveInt(flag, value());
        break;
      case '--deks':
        options.deks = positiveInt(flag, value());
        break;
      case '--seed-concurrency':
        options.seedConcurrency = positiveInt(flag, value());
        break;
      case '--pause':
        options.pauseMs = positiveInt(flag, value(), 0);
        break;
      case '--timeout':
        options.timeoutSeconds = positiveInt(flag, value());
        break;
      case '--no-audit-api':
        options.auditApi = false;
        break;
      case '--rotation-via': {
        const v = value();
        if (v !== 'api' && v !== 'script' && v !== 'both') throw new Error('--rotation-via takes api, script or both');
        options.rotationVia = v;
        break;
      }
      case '--rotation-max':
        options.rotationMaxSeconds = positiveInt(flag, value());
        break;
      case '--help':
      case '-h':
        options.help = true;
        break;
      default:
        throw new Error(`unknown flag ${raw}\n\n${USAGE}`);
    }
  }
  return options;
}

/** The value after `name` on the command line of a standalone bench script, or `fallback`. */
export function flag(name: string, fallback: string): string {
  const i = process.argv.indexOf(name);
  return i >= 0 ? (process.argv[i + 1] ?? fallback) : fallback;
}
