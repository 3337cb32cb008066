/** Runs one load in the autocannon worker process (bench/load.ts) and returns its result. */
import { fork } from 'node:child_process';
import type { FromWorker, LoadConfig, LoadResult, ToWorker } from './load-protocol.js';
import { LOAD_WORKER } from './stack.js';

export interface RunningLoad {
  readonly result: Promise<LoadResult>;
  /** Ends the load now; `result` then resolves with what was measured so far. */
  stop(): void;
  /** Kills the worker (cleanup on failure). */
  kill(): void;
}

const live = new Set<RunningLoad>();

/** Workers still running (to kill on Ctrl-C). */
export function liveLoads(): RunningLoad[] {
  return [...live];
}

export function startLoad(config: LoadConfig): RunningLoad {
  const child = fork(LOAD_WORKER, [], { stdio: ['ignore', 'inherit', 'inherit', 'ipc'] });
  let timer: NodeJS.Timeout | undefined;
  const result = new Promise<LoadResult>((resolve, reject) => {
    let settled = false;
    child.on('message', (message: FromWorker) => {
      settled = true;
      if (message.type === 'result') resolve(message.result);
      else reject(new Error(`load worker: ${message.message}`));
    });
    child.once('exit', (code, signal) => {
      if (!settled) reject(new Error(`load worker exited (${signal ?? String(code)}) without a result`));
    });
    child.once('error', reject);
    // Bounded: the duration plus the request timeout and a margin, whatever happens.
    timer = setTimeout(() => child.kill('SIGKILL'), (config.durationSeconds + config.timeoutSeconds + 60) * 1000);
  });
  const running: RunningLoad = {
    result: result.finally(() => {
      clearTimeout(timer);
      live.delete(running);
    }),
    stop: () => {
      if (child.connected) child.send({ type: 'stop' } satisfies ToWorker);
    },
    kill: () => {
      if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
    },
  };
  live.add(running);
  child.send({ type: 'start', config } satisfies ToWorker);
  return running;
}

export function runLoad(config: LoadConfig): Promise<LoadResult> {
  return startLoad(config).result;
}
