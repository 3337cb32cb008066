/**
 * Audit log figures. Two ways:
 * - the audit helper's own script (bench/audit-verify.ts: verify and NDJSON export of N events
 *   in-process, on a database it fills server-side), run on a fresh database of our server;
 * - through the running vault's API after the comparison run: GET /v1/audit/verify over every
 *   event the run produced, and GET /v1/audit/export?format=ndjson streamed while the vault's RSS
 *   is sampled.
 */
import { existsSync } from 'node:fs';
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import pg from 'pg';
import type { BenchServer } from './database.js';
import { procStatusBytes, runNode, RssSampler } from './procs.js';
import { baseEnv, DIST, type Stack } from './stack.js';

export const AUDIT_SCRIPT = path.join(DIST, 'bench', 'audit-verify.js');

export interface AuditScriptResult {
  events: number;
  output: string;
  exitCode: number | null;
  verifyEventsPerSecond?: number;
  exportPeakRssMiB?: number;
  exportEvents?: number;
}

const num = (text: string | undefined): number | undefined => (text === undefined ? undefined : Number(text.replace(/,/g, '')));

/** `scratch`: TMPDIR for the script (inside the run's temporary directory, removed with it). */
export async function auditScript(server: BenchServer, events: number, scratch: string, log: (message: string) => void): Promise<AuditScriptResult> {
  if (!existsSync(AUDIT_SCRIPT)) throw new Error(`${AUDIT_SCRIPT} is missing (bench/audit-verify.ts belongs to the audit log work)`);
  const url = await server.createDatabase('cv_bench_audit');
  log(`running bench/audit-verify.js --events ${events} on a fresh database (its output follows)`);
  // Generous bound: filling and sealing 1M events on 2 cores takes minutes.
  const { code, stdout } = await runNode(AUDIT_SCRIPT, ['--events', String(events)], { ...baseEnv(), DATABASE_URL: url, TMPDIR: scratch }, 3_600_000, true);
  // Its Markdown rows; if the format changes the raw output is still kept in the results.
  return {
    events,
    output: stdout,
    exitCode: code,
    verifyEventsPerSecond: num(/\|\s*verify[^|]*\|\s*([\d,]+) events\/s/.exec(stdout)?.[1]),
    exportPeakRssMiB: num(/export[^\n]*peak RSS ([\d,]+) MiB/.exec(stdout)?.[1]),
    exportEvents: num(/([\d,]+) events in the chain/.exec(stdout)?.[1]),
  };
}

/**
 * Waits until the vault's sealer has chained every pending audit event. Bounded by `timeoutMs`, and
 * gives up early when the oldest pending event has not moved for `stallMs` (a sealer that fails).
 */
export async function waitAuditSealed(dbUrl: string, timeoutMs: number, stallMs = 5_000): Promise<'sealed' | 'timeout' | 'stalled'> {
  const client = new pg.Client({ connectionString: dbUrl, application_name: 'cv-bench' });
  await client.connect();
  try {
    const deadline = Date.now() + timeoutMs;
    let head: string | null = null;
    let movedAt = Date.now();
    while (Date.now() < deadline) {
      const { rows } = await client.query<{ head: string | null }>('SELECT min(id)::text AS head FROM audit_pending');
      if (rows[0].head === null) return 'sealed';
      if (rows[0].head !== head) {
        head = rows[0].head;
        movedAt = Date.now();
      } else if (Date.now() - movedAt > stallMs) {
        return 'stalled';
      }
      await sleep(100);
    }
    return 'timeout';
  } finally {
    await client.end().catch(() => undefined);
  }
}

export interface AuditApiResult {
  verify: { status: number; valid?: boolean; checked?: number; seconds: number; eventsPerSecond?: number; error?: string };
  export: { status: number; lines: number; bytes: number; seconds: number; rssBeforeMiB: number; peakRssMiB: number; error?: string };
}

export async function auditViaApi(stack: Stack, log: (message: string) => void): Promise<AuditApiResult> {
  if (!stack.vault) throw new Error('the vault is not running');
  const headers = stack.bearer('security');
  await waitAuditSealed(stack.vaultDbUrl, 120_000);

  let started = Date.now();
  const verifyResponse = await fetch(`${stack.vaultUrl}/v1/audit/verify`, { headers, signal: AbortSignal.timeout(600_000) });
  const verifyText = await verifyResponse.text();
  const verifySeconds = (Date.now() - started) / 1000;
  const verify: AuditApiResult['verify'] = { status: verifyResponse.status, seconds: verifySeconds };
  if (verifyResponse.status === 200) {
    const report = JSON.parse(verifyText) as { valid: boolean; checked: number };
    Object.assign(verify, { valid: report.valid, checked: report.checked, eventsPerSecond: report.checked / verifySeconds });
    log(`GET /v1/audit/verify: ${report.checked} events, valid ${report.valid}, ${verifySeconds.toFixed(2)} s`);
  } else {
    verify.error = verifyText.slice(0, 300);
    log(`GET /v1/audit/verify answered ${verifyResponse.status}`);
  }

  const pid = stack.vault.pid;
  const rssBefore = procStatusBytes(pid, 'VmRSS') ?? 0;
  // Short export: sample often to catch the peak.
  const sampler = new RssSampler(pid, 25).start();
  started = Date.now();
  let lines = 0;
  let bytes = 0;
  let status = 0;
  let error: string | undefined;
  try {
    const response = await fetch(`${stack.vaultUrl}/v1/audit/export?format=ndjson`, { headers, signal: AbortSignal.timeout(1_800_000) });
    status = response.status;
    if (response.body) {
      for await (const chunk of response.body) {
        bytes += chunk.length;
        for (const byte of chunk) if (byte === 10) lines++;
      }
    }
    if (status !== 200) error = `status ${status}`;
  } catch (e) {
    error = e instanceof Error ? e.message : String(e);
  }
  const peak = sampler.stop();
  const seconds = (Date.now() - started) / 1000;
  log(`GET /v1/audit/export?format=ndjson: ${lines} events, ${(bytes / 2 ** 20).toFixed(1)} MiB in ${seconds.toFixed(2)} s, vault peak RSS ${(peak / 2 ** 20).toFixed(0)} MiB`);
  return {
    verify,
    export: { status, lines, bytes, seconds, rssBeforeMiB: rssBefore / 2 ** 20, peakRssMiB: peak / 2 ** 20, error },
  };
}
