/** Medians, targets and the Markdown tables of the vault-vs-baseline comparison. */
import type { LoadResult } from './load-protocol.js';

export const SCENARIOS = ['create', 'read', 'masked', 'search', 'mix'] as const;
export type Scenario = (typeof SCENARIOS)[number];

export const SCENARIO_LABELS: Record<Scenario, string> = {
  create: 'create (ingest)',
  read: 'reveal read (billing, payment_confirmation)',
  masked: 'masked read (support, service_support)',
  search: 'search by email (support)',
  mix: 'mix 80% reveal read / 20% create',
};

export const MiB = 2 ** 20;

export function median(values: number[]): number {
  if (values.length === 0) return NaN;
  const sorted = [...values].sort((a, b) => a - b);
  const mid = sorted.length >> 1;
  return sorted.length % 2 === 1 ? sorted[mid] : (sorted[mid - 1] + sorted[mid]) / 2;
}

export interface Side {
  runs: LoadResult[];
  /** Medians over the runs. */
  rps: number;
  p50: number;
  p99: number;
  non2xx: number;
  errors: number;
  /** Any run with a non-2xx answer or a socket error/timeout. */
  failed: boolean;
}

export function summarise(runs: LoadResult[]): Side {
  const non2xx = runs.reduce((sum, r) => sum + r.non2xx, 0);
  const errors = runs.reduce((sum, r) => sum + r.errors, 0);
  return {
    runs,
    rps: median(runs.map((r) => r.rps)),
    p50: median(runs.map((r) => r.latency.p50)),
    p99: median(runs.map((r) => r.latency.p99)),
    non2xx,
    errors,
    failed: runs.length === 0 || non2xx > 0 || errors > 0,
  };
}

export type Verdict = 'PASS' | 'MISS' | 'FAILED' | 'n/a';

export interface Pair {
  scenario: Scenario;
  connections: number;
  /** The HTTP stack of the baseline (bench/baseline BASELINE_HTTP). */
  baselineStack: string;
  vault: Side;
  baseline: Side;
  /** vault req/s / baseline req/s (medians), same scenario. */
  ratio: number;
  /** vault p99 / baseline p99 (medians), same scenario. */
  p99Ratio: number;
  throughputTarget?: { min: number; against: string; baselineRps: number; ratio: number; verdict: Verdict };
  p99Target?: { max: number; verdict: Verdict };
}

/**
 * Issue 7 targets: the vault's req/s against a baseline figure, and p99 at concurrency 64. Judged
 * only against the baseline on the vault's own HTTP stack (`headline`); the others get ratios only.
 */
const THROUGHPUT_TARGETS: Partial<Record<Scenario, { min: number; against: Scenario }>> = {
  read: { min: 0.75, against: 'read' },
  create: { min: 0.75, against: 'create' },
  search: { min: 0.6, against: 'read' },
};
const P99_MAX_RATIO = 2;
const P99_AT_CONNECTIONS = 64;

export function evaluate(pairs: Pair[], headline: string): void {
  for (const pair of pairs) {
    if (pair.baselineStack !== headline) continue;
    const failed = pair.vault.failed || pair.baseline.failed;
    const target = THROUGHPUT_TARGETS[pair.scenario];
    if (target) {
      // The search target is against the baseline's read; fall back to its own scenario if read was not run.
      const reference = pairs.find((p) => p.baselineStack === pair.baselineStack && p.scenario === target.against && p.connections === pair.connections) ?? pair;
      const against = reference.scenario;
      const ratio = pair.vault.rps / reference.baseline.rps;
      const verdict: Verdict = failed || reference.baseline.failed ? 'FAILED' : ratio >= target.min ? 'PASS' : 'MISS';
      pair.throughputTarget = { min: target.min, against: `baseline ${against}`, baselineRps: reference.baseline.rps, ratio, verdict };
    }
    if (pair.connections === P99_AT_CONNECTIONS) {
      pair.p99Target = { max: P99_MAX_RATIO, verdict: failed ? 'FAILED' : pair.p99Ratio <= P99_MAX_RATIO ? 'PASS' : 'MISS' };
    }
  }
}

const int = (n: number): string => (Number.isFinite(n) ? Math.round(n).toLocaleString('en-US') : '—');
const ms = (n: number): string => (Number.isFinite(n) ? (n >= 100 ? n.toFixed(0) : n.toFixed(1)) : '—');
const x = (n: number): string => (Number.isFinite(n) ? `${n.toFixed(2)}×` : '—');

export function comparisonTable(pairs: Pair[]): string {
  const lines = [
    '| scenario | c | vault req/s | vault p50 / p99 ms | baseline req/s | baseline p50 / p99 ms | non-2xx + errors (vault / baseline) | vault/baseline req/s | req/s target | p99 ratio | p99 target (c=64) |',
    '|---|---:|---:|---:|---:|---:|---:|---:|---|---:|---|',
  ];
  for (const p of pairs) {
    const t = p.throughputTarget;
    const target = t ? `≥ ${t.min}× ${t.against}: ${x(t.ratio)} **${t.verdict}**` : '—';
    const p99 = p.p99Target ? `≤ ${p.p99Target.max}×: **${p.p99Target.verdict}**` : '—';
    const bad = (s: Side): string => `${s.non2xx + s.errors}${s.failed ? ' FAILED' : ''}`;
    lines.push(
      `| ${SCENARIO_LABELS[p.scenario]} | ${p.connections} | ${int(p.vault.rps)} | ${ms(p.vault.p50)} / ${ms(p.vault.p99)} | ${int(p.baseline.rps)} | ${ms(p.baseline.p50)} / ${ms(p.baseline.p99)} | ${bad(p.vault)} / ${bad(p.baseline)} | ${x(p.ratio)} | ${target} | ${x(p.p99Ratio)} | ${p99} |`,
    );
  }
  return lines.join('\n');
}

/** Every run, in the order they ran, for the JSON readers who want the spread. */
export function spreadTable(pairs: Pair[]): string {
  const lines = ['| scenario | c | vault req/s per run | baseline req/s per run |', '|---|---:|---|---|'];
  for (const p of pairs) {
    lines.push(`| ${p.scenario} | ${p.connections} | ${p.vault.runs.map((r) => int(r.rps)).join(', ')} | ${p.baseline.runs.map((r) => int(r.rps)).join(', ')} |`);
  }
  return lines.join('\n');
}

/**
 * CPU per request, median over a side's runs: the app process and PostgreSQL (all its processes),
 * in µs. On a machine where app, database and load generator share the CPUs, the req/s ratio is
 * roughly the inverse ratio of these totals; they also move less with other load than req/s does.
 */
export function cpuTable(pairs: Pair[]): string {
  const perRequest = (runs: Side['runs'], key: 'appMs' | 'pgMs'): number => median(runs.filter((r) => r.cpu && r.requests > 0).map((r) => ((r.cpu?.[key] ?? 0) * 1000) / r.requests));
  const lines = ['| scenario | c | vault app / PostgreSQL µs | baseline app / PostgreSQL µs | vault/baseline (app + PostgreSQL) |', '|---|---:|---:|---:|---:|'];
  for (const p of pairs) {
    const [va, vp, ba, bp] = [perRequest(p.vault.runs, 'appMs'), perRequest(p.vault.runs, 'pgMs'), perRequest(p.baseline.runs, 'appMs'), perRequest(p.baseline.runs, 'pgMs')];
    lines.push(`| ${p.scenario} | ${p.connections} | ${int(va)} / ${int(vp)} | ${int(ba)} / ${int(bp)} | ${x((va + vp) / (ba + bp))} |`);
  }
  return lines.join('\n');
}

export const fmt = { int, ms, x };
