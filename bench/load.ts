/**
 * Load generator worker: runs autocannon in its own process, so the generator never shares an event
 * loop with the orchestrator (and its CPU use is visible as a separate process).
 *
 *   forked by bench/run.ts:   {type:'start', config} -> {type:'result', result}; {type:'stop'} ends early
 *   standalone:               node dist/bench/load.js <config.json>   (prints the result JSON)
 */
import autocannon from 'autocannon';
import { readFileSync } from 'node:fs';
import { customer } from './lib/data.js';
import type { FromWorker, LoadConfig, LoadResult, Op, OpSpec, ToWorker } from './lib/load-protocol.js';

function pick(ops: OpSpec[], total: number): OpSpec {
  let r = Math.random() * total;
  for (const spec of ops) {
    r -= spec.weight;
    if (r < 0) return spec;
  }
  return ops[ops.length - 1];
}

function run(config: LoadConfig, onInstance: (instance: autocannon.Instance) => void): Promise<LoadResult> {
  if (config.ops.length === 0) throw new Error('no operations');
  if (config.ops.some((o) => o.op === 'read') && config.ids.length === 0) throw new Error('reads need seeded ids');
  if (config.ops.some((o) => o.op === 'search') && config.emails.length === 0) throw new Error('searches need seeded emails');
  const totalWeight = config.ops.reduce((sum, o) => sum + o.weight, 0);
  const built: Partial<Record<Op, number>> = {};
  let created = 0;
  const json = { 'content-type': 'application/json' };

  // One request entry whose setupRequest picks the op and the target each time: autocannon takes
  // the base URL from `url` and the path from here.
  const setupRequest = (request: autocannon.RequestParams): autocannon.RequestParams => {
    const spec = pick(config.ops, totalWeight);
    built[spec.op] = (built[spec.op] ?? 0) + 1;
    switch (spec.op) {
      case 'read': {
        const id = config.ids[Math.floor(Math.random() * config.ids.length)];
        return { method: 'GET', path: `/v1/customers/${id}`, headers: { ...request.headers, ...spec.headers } };
      }
      case 'search': {
        const email = config.emails[Math.floor(Math.random() * config.emails.length)];
        return { method: 'POST', path: '/v1/customers/search', headers: { ...request.headers, ...spec.headers, ...json }, body: JSON.stringify({ email }) };
      }
      case 'create':
        return { method: 'POST', path: '/v1/customers', headers: { ...request.headers, ...spec.headers, ...json }, body: JSON.stringify(customer(config.tag, created++)) };
    }
  };

  return new Promise((resolve, reject) => {
    const instance = autocannon(
      {
        url: config.url,
        connections: config.connections,
        duration: config.durationSeconds,
        timeout: config.timeoutSeconds,
        pipelining: 1,
        title: config.title,
        requests: [{ setupRequest }],
      },
      (error, result) => {
        if (error) {
          reject(error);
          return;
        }
        const statusCodes: Record<string, number> = {};
        for (const [code, { count }] of Object.entries(result.statusCodeStats)) statusCodes[code] = count;
        // Completed requests over the measured time, not the mean of per-second samples (which
        // drops the last partial second).
        const requests = result.latency.totalCount;
        resolve({
          requests,
          durationSeconds: result.duration,
          rps: result.duration > 0 ? requests / result.duration : 0,
          latency: { p50: result.latency.p50, p90: result.latency.p90, p99: result.latency.p99, max: result.latency.max, mean: result.latency.mean },
          non2xx: result.non2xx,
          errors: result.errors,
          timeouts: result.timeouts,
          statusCodes,
          built,
        });
      },
    );
    onInstance(instance);
  });
}

/** Sends the one answer, then lets the worker exit (the callback fires once it is written). */
function answer(message: FromWorker): void {
  process.send?.(message, undefined, {}, () => {
    if (process.connected) process.disconnect();
  });
}

if (process.send !== undefined) {
  let instance: autocannon.Instance | undefined;
  let stopRequested = false;
  process.on('message', (message: ToWorker) => {
    if (message.type === 'stop') {
      stopRequested = true;
      instance?.stop();
      return;
    }
    run(message.config, (i) => {
      instance = i;
      if (stopRequested) i.stop();
    })
      .then((result) => answer({ type: 'result', result }))
      .catch((error: unknown) => answer({ type: 'error', message: error instanceof Error ? error.message : String(error) }));
  });
  // The orchestrator went away: do not keep loading its servers.
  process.on('disconnect', () => {
    instance?.stop();
    setTimeout(() => process.exit(0), 2_000).unref();
  });
} else {
  const file = process.argv[2];
  if (file === undefined) {
    process.stderr.write('usage: node dist/bench/load.js <config.json>\n');
    process.exit(2);
  }
  const config = JSON.parse(readFileSync(file, 'utf8')) as LoadConfig;
  run(config, () => undefined)
    .then((result) => process.stdout.write(`${JSON.stringify(result)}\n`))
    .catch((error: unknown) => {
      process.stderr.write(`${error instanceof Error ? error.message : String(error)}\n`);
      process.exitCode = 1;
    });
}
