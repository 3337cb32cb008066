import { describe, expect, it } from '@jest/globals';
import { setTimeout as sleep } from 'node:timers/promises';
import { RecurringTask } from './singleton-job.js';

/** A task that counts its runs and takes `ms` each; `failOn` runs throw. */
function counting(ms: number, failOn: number[] = []) {
  const state = { runs: 0, inFlight: 0, maxInFlight: 0, errors: [] as unknown[] };
  const task = async (): Promise<void> => {
    state.runs++;
    state.inFlight++;
    state.maxInFlight = Math.max(state.maxInFlight, state.inFlight);
    await sleep(ms);
    state.inFlight--;
    if (failOn.includes(state.runs)) throw new Error(`run ${state.runs}`);
  };
  // Failures reach the log's warn (the error described, never its message).
  return { state, task, onError: { log: { warn: (fields: { err: unknown }) => state.errors.push(fields.err) }, failure: 'test task failed' } };
}

describe('RecurringTask', () => {
  it('runs after the first delay, then every interval after a run ends; a failed run is reported and the schedule goes on', async () => {
    const { state, task, onError } = counting(5, [1]);
    const recurring = new RecurringTask(task, onError, 10);
    recurring.start(5);
    expect(state.runs).toBe(0);
    await sleep(80);
    await recurring.stop();
    expect(state.runs).toBeGreaterThanOrEqual(3);
    expect(state.errors).toHaveLength(1);
    expect(state.maxInFlight).toBe(1);
  });

  it('once only when the interval is null', async () => {
    const { state, task, onError } = counting(1);
    const once = new RecurringTask(task, onError, null);
    once.start(1);
    await sleep(40);
    expect(state.runs).toBe(1);
    await once.stop();
  });

  it('runNow runs at once but never beside a run in progress; stop waits for that run and cancels the next', async () => {
    const { state, task, onError } = counting(30);
    const recurring = new RecurringTask(task, onError, 5);
    recurring.start(60_000);
    recurring.runNow();
    expect(state.runs).toBe(1);
    recurring.runNow(); // in progress: ignored
    expect(state.runs).toBe(1);
    expect(recurring.running).toBeDefined();
    await recurring.stop();
    expect(state.inFlight).toBe(0);
    expect(recurring.running).toBeUndefined();
    await sleep(20);
    expect(state.runs).toBe(1);
    recurring.runNow(); // stopped: ignored
    expect(state.runs).toBe(1);
  });
});
