import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { createServer } from 'node:net';
import path from 'node:path';

const ROOT = process.cwd();

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

/** A vault server process from the compiled build (`npm test` compiles first). */
export class VaultProcess {
  readonly output: string[] = [];
  exitCode: number | null = null;
  private readonly exited: Promise<number | null>;

  private constructor(readonly child: ChildProcess, readonly port: number) {
    child.stdout?.on('data', (chunk: Buffer) => this.output.push(chunk.toString('utf8')));
    child.stderr?.on('data', (chunk: Buffer) => this.output.push(chunk.toString('utf8')));
    this.exited = new Promise((resolve) => child.on('exit', (code) => {
      this.exitCode = code;
      resolve(code);
    }));
  }

  static async start(env: Record<string, string>): Promise<VaultProcess> {
    const port = Number(env.PORT ?? (await freePort()));
    const child = spawn(process.execPath, [path.join(ROOT, 'dist/src/main.js')], {
      cwd: ROOT,
      env: { PATH: process.env.PATH ?? '', NODE_ENV: 'test', LOG_LEVEL: 'info', ...env, PORT: String(port) },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    return new VaultProcess(child, port);
  }

  get url(): string {
    return `http://127.0.0.1:${this.port}`;
  }

  text(): string {
    return this.output.join('');
  }

  /** Resolves when /readyz answers 200; rejects if the process exits or the time runs out. */
  async waitReady(timeoutMs = 30_000): Promise<number> {
    const started = Date.now();
    while (Date.now() - started < timeoutMs) {
      if (this.exitCode !== null) throw new Error(`vault exited with ${this.exitCode}:\n${this.text()}`);
      try {
        const res = await fetch(`${this.url}/readyz`);
        if (res.status === 200) return Date.now() - started;
      } catch {
        // not listening yet
      }
      await new Promise((resolve) => setTimeout(resolve, 50));
    }
    throw new Error(`vault not ready after ${timeoutMs} ms:\n${this.text()}`);
  }

  async stop(signal: NodeJS.Signals = 'SIGTERM'): Promise<number | null> {
    if (this.exitCode === null) this.child.kill(signal);
    return this.waitExit();
  }

  waitExit(): Promise<number | null> {
    return this.exited;
  }
}

/** The compiled CLI; other compiled entry points (e.g. dist/src/database/migrate.js) run the same way. */
const CLI = 'dist/src/cli/main.js';

/** An operator's environment: PATH, NODE_ENV=test and `env`, nothing else of this process. */
function operatorEnv(env: Record<string, string>): NodeJS.ProcessEnv {
  return { PATH: process.env.PATH ?? '', NODE_ENV: 'test', ...env };
}

/** Runs the compiled CLI (or `script`); returns exit code, stdout and stderr. */
export function runCli(args: string[], env: Record<string, string>, script = CLI): { status: number | null; stdout: string; stderr: string } {
  const result = spawnSync(process.execPath, [path.join(ROOT, script), ...args], {
    cwd: ROOT,
    env: operatorEnv(env),
    encoding: 'utf8',
    timeout: 60_000,
  });
  return { status: result.status, stdout: result.stdout, stderr: result.stderr };
}

/**
 * The compiled CLI as a child process without blocking this process: a test app in the same process
 * keeps serving and sealing while an operator's command runs (spawnSync would freeze it).
 */
export function runCliAsync(args: string[], env: Record<string, string>): Promise<{ status: number | null; stdout: string; stderr: string }> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [path.join(ROOT, CLI), ...args], {
      cwd: ROOT,
      env: operatorEnv(env),
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (chunk: Buffer) => (stdout += chunk.toString('utf8')));
    child.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString('utf8')));
    child.on('error', reject);
    child.on('close', (status) => resolve({ status, stdout, stderr }));
  });
}

export function lastLine(text: string): string {
  const lines = text.trim().split('\n');
  return lines[lines.length - 1] ?? '';
}
