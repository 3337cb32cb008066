import pg from 'pg';
import { parentPort, workerData } from 'node:worker_threads';
import { checkRange, type RangeResult } from './chain-check.js';

/** Input of one verification worker: a seq range of the chain and where to read it. */
export interface ChainCheckJob {
  url: string;
  from: number;
  to: number | null;
  watch: number[];
  batch: number;
}

export type ChainCheckReply = { ok: true; result: RangeResult } | { ok: false; message: string };

/** Worker thread entry (compiled build only): checks one range on a connection of its own. */
const job = workerData as ChainCheckJob;
const client = new pg.Client({ connectionString: job.url, application_name: 'customer-vault-audit-verify' });
let reply: ChainCheckReply;
try {
  await client.connect();
  reply = { ok: true, result: await checkRange(client, job.from, job.to, new Set(job.watch), job.batch) };
} catch (error) {
  reply = { ok: false, message: error instanceof Error ? error.message : String(error) };
} finally {
  await client.end().catch(() => undefined);
}
parentPort?.postMessage(reply);
