/** Child processes of the benchmark: spawn, wait for HTTP readiness, sample memory, stop. */
import { spawn, type ChildProcess } from 'node:child_process';
import { readdirSync, readFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { setTimeout as sleep } from 'node:timers/promises';

export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const address = server.address();
      server.close(() => resolve(typeof address === 'object' && address ? address.port : 0));
    });
  });
}

/** A node child whose output is kept (last lines only) to explain a failure, not printed. */
export class NodeChild {
  readonly proc: ChildProcess;
  readonly exited: Promise<number | null>;
  private exitCode: number | null | undefined;
  private readonly tail: string[] = [];

  constructor(
    readonly name: string,
    script: string,
    args: string[],
    env: NodeJS.ProcessEnv,
    nodeArgs: string[] = [],
  ) {
    this.proc = spawn(process.execPath, [...nodeArgs, script, ...args], { env, stdio: ['ignore', 'pipe', 'pipe'] });
    const keep = (chunk: Buffer): void => {
      for (const line of chunk.toString('utf8').split('\n')) {
        if (line.trim() === '') continue;
        this.tail.push(line.length > 500 ? `${line.slice(0, 500)}…` : line);
        if (this.tail.length > 40) this.tail.shift();
      }
    };
    this.proc.stdout?.on('data', keep);
    this.proc.stderr?.on('data', keep);
    this.exited = new Promise((resolve) => {
      this.proc.once('exit', (code, signal) => {
        this.exitCode = code ?? (signal ? -1 : null);
        resolve(this.exitCode);
      });
      this.proc.once('error', () => {
        this.exitCode = -1;
        resolve(-1);
      });
    });
  }

  get pid(): number {
    if (this.proc.pid === undefined) throw new Error(`${this.name} has no pid (did not start)`);
    return this.proc.pid;
  }

  get running(): boolean {
    return this.exitCode === undefined;
  }

  output(): string {
    return this.tail.join('\n');
  }

  /** SIGTERM, then SIGKILL when it has not exited after `timeoutMs`. */
  async stop(timeoutMs = 15_000): Promise<void> {
    if (!this.running) return;
    this.proc.kill('SIGTERM');
    const done = await Promise.race([this.exited.then(() => true), sleep(timeoutMs).then(() => false)]);
    if (!done && this.running) {
      this.proc.kill('SIGKILL');
      await Promise.race([this.exited, sleep(5_000)]);
    }
  }
}

/** Polls `url` until it answers 200; fails early when the child dies. Returns the elapsed ms. */
export async function waitForHttp(url: string, child: NodeChild, timeoutMs: number, intervalMs = 100): Promise<number> {
  const start = Date.now();
  while (Date.now() - start < timeoutMs) {
    if (!child.running) throw new Error(`${child.name} exited before ${url} answered:\n${child.output()}`);
    try {
      const response = await fetch(url, { signal: AbortSignal.timeout(2_000) });
      await response.arrayBuffer();
      if (response.status === 200) return Date.now() - start;
    } catch {
      // not listening yet
    }
    await sleep(intervalMs);
  }
  throw new Error(`${url} did not answer 200 within ${timeoutMs / 1000} s:\n${child.output()}`);
}

/** A `/proc/<pid>/status` figure in bytes (VmRSS: now; VmHWM: peak since start). */
export function procStatusBytes(pid: number, key: 'VmRSS' | 'VmHWM'): number | undefined {
  try {
    const match = new RegExp(`^${key}:\\s+(\\d+) kB`, 'm').exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
    return match ? Number(match[1]) * 1024 : undefined;
  } catch {
    return undefined;
  }
}

/** Samples VmRSS of a process (with its children: cluster workers) every `intervalMs` while started; keeps the peak. */
export class RssSampler {
  private timer?: NodeJS.Timeout;
  peak = 0;

  constructor(private readonly pid: number, private readonly intervalMs = 250) {}

  start(): this {
    this.peak = 0;
    this.sample();
    this.timer = setInterval(() => this.sample(), this.intervalMs);
    return this;
  }

  stop(): number {
    clearInterval(this.timer);
    this.sample();
    return this.peak;
  }

  /** Sums the process and its children (cluster workers), whose memory is what serving costs. */
  private sample(): void {
    const rss = withChildren(this.pid).reduce((sum, pid) => sum + (procStatusBytes(pid, 'VmRSS') ?? 0), 0);
    if (rss > this.peak) this.peak = rss;
  }
}

/** Runs a node script to completion (bounded), capturing stdout and stderr. */
export function runNode(script: string, args: string[], env: NodeJS.ProcessEnv, timeoutMs: number, echo = false): Promise<{ code: number | null; stdout: string; stderr: string }> {
  return new Promise((resolve, reject) => {
    const proc = spawn(process.execPath, [script, ...args], { env, stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    proc.stdout.on('data', (chunk: Buffer) => {
      stdout += chunk.toString('utf8');
      if (echo) process.stdout.write(chunk);
    });
    proc.stderr.on('data', (chunk: Buffer) => {
      stderr += chunk.toString('utf8');
      if (echo) process.stderr.write(chunk);
    });
    const timer = setTimeout(() => {
      proc.kill('SIGTERM');
      setTimeout(() => proc.kill('SIGKILL'), 10_000).unref();
      reject(new Error(`${script} ${args.join(' ')} did not finish within ${timeoutMs / 1000} s`));
    }, timeoutMs);
    proc.once('error', (error) => {
      clearTimeout(timer);
      reject(error);
    });
    proc.once('close', (code) => {
      clearTimeout(timer);
      resolve({ code, stdout, stderr });
    });
  });
}

/** Linux clock ticks per second (`getconf CLK_TCK`; 100 on every Linux this runs on). */
const CLK_TCK = 100;

/** CPU time (user + system) of one process in ms; 0 when it is gone. */
function cpuMsOf(pid: number): number {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    // Fields after the command name, which may hold spaces: state is field 3, utime 14, stime 15.
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    return ((Number(fields[11]) + Number(fields[12])) * 1000) / CLK_TCK;
  } catch {
    return 0;
  }
}

/** Every process on this machine whose stat matches: pid, its command name and its parent pid. */
function processes(): Array<{ pid: number; comm: string; ppid: number }> {
  const out: Array<{ pid: number; comm: string; ppid: number }> = [];
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      const stat = readFileSync(`/proc/${entry}/stat`, 'utf8');
      const close = stat.lastIndexOf(')');
      out.push({ pid: Number(entry), comm: stat.slice(stat.indexOf('(') + 1, close), ppid: Number(stat.slice(close + 2).split(' ')[1]) });
    } catch {
      // exited while listed
    }
  }
  return out;
}

/** Every PostgreSQL process on this machine (postmaster, backends, background workers). */
function postgresPids(): number[] {
  return processes().filter((p) => p.comm === 'postgres').map((p) => p.pid);
}

/** A process and its children (the HTTP workers of a vault started with VAULT_WORKERS > 1). */
function withChildren(pid: number): number[] {
  return [pid, ...processes().filter((p) => p.ppid === pid).map((p) => p.pid)];
}

export interface CpuUse {
  /** CPU ms spent by the system under test (the vault or the baseline process, with its worker processes in cluster mode). */
  appMs: number;
  /** CPU ms spent by all PostgreSQL processes of the machine (backends that exited during the run are missed). */
  pgMs: number;
}

/**
 * CPU spent by an app process and by PostgreSQL between start() and stop(): where a request's cost
 * goes on a machine where both share the CPUs. Backends are per connection and outlive a run, so
 * summing the live postgres processes at both ends is accurate for pooled connections.
 */
export class CpuMeter {
  private app = new Map<number, number>();
  private pg = new Map<number, number>();

  constructor(private readonly pid: number) {}

  start(): this {
    this.app = new Map(withChildren(this.pid).map((pid) => [pid, cpuMsOf(pid)]));
    this.pg = new Map(postgresPids().map((pid) => [pid, cpuMsOf(pid)]));
    return this;
  }

  stop(): CpuUse {
    let pgMs = 0;
    for (const pid of postgresPids()) pgMs += cpuMsOf(pid) - (this.pg.get(pid) ?? 0);
    let appMs = 0;
    for (const pid of withChildren(this.pid)) appMs += cpuMsOf(pid) - (this.app.get(pid) ?? 0);
    return { appMs, pgMs };
  }
}
