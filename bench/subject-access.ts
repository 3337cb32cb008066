/**
 * Subject-access report benchmark: time and memory of GET /v1/customers/:id/subject-access for a
 * customer with N access events (default 1,000, 10,000 and 100,000), through HTTP, signature included.
 * The client runs in the vault's process: its CPU column includes reading the answer (small).
 *
 *   npx tsc -p tsconfig.build.json && node dist/bench/subject-access.js [--events 1000,10000,100000] [--runs 5]
 *
 * Uses DATABASE_URL (a database it may fill; a fresh one is best) or else starts an embedded
 * PostgreSQL in a temporary directory. Prints a Markdown table for docs/BENCHMARKS.md.
 */
import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { availableParallelism, cpus, tmpdir, totalmem } from 'node:os';
import path from 'node:path';
import type { AddressInfo } from 'node:net';
import pg from 'pg';
import { createApp } from '../src/app.js';
import { AuditSealer } from '../src/audit/audit-sealer.js';
import { EVENT_COLUMNS } from '../src/audit/audit-event.js';
import { openRuntime } from '../src/bootstrap.js';
import { createRootLogger } from '../src/common/logger.js';
import { loadConfig } from '../src/config/config.js';
import { EmbeddedDatabase } from '../src/database/embedded-database.js';
import { operatorTrail } from '../src/principals/operator.js';
import { OPERATOR, PrincipalsService } from '../src/principals/principals.service.js';
import { freePort } from './lib/procs.js';
import { flag } from './lib/args.js';

const SIZES = flag('--events', '1000,10000,100000').split(',').map(Number);
const RUNS = Number(flag('--runs', '5'));
const median = (xs: number[]): number => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];

async function main(): Promise<void> {
  const dataDir = mkdtempSync(path.join(tmpdir(), 'cv-bench-sar-'));
  let embedded: EmbeddedDatabase | undefined;
  let url = process.env.DATABASE_URL;
  if (!url) {
    embedded = new EmbeddedDatabase({ dataDir, port: await freePort() });
    url = await embedded.start();
  }
  const config = loadConfig({ NODE_ENV: 'test', DATABASE_URL: url, VAULT_ROOT_KEY: randomBytes(32).toString('base64'), VAULT_DATA_DIR: dataDir, LOG_LEVEL: 'warn' });
  const runtime = await openRuntime({ config, log: createRootLogger('warn') });
  const app = await createApp(runtime);
  await app.listen(0, '127.0.0.1');
  const base = `http://127.0.0.1:${(app.getHttpServer().address() as AddressInfo).port}`;
  const admin = new pg.Client({ connectionString: url });
  await admin.connect();
  try {
    const [{ server_version: version }] = (await admin.query<{ server_version: string }>('SHOW server_version')).rows;
    console.log(`node ${process.version}, PostgreSQL ${version}, ${cpus()[0]?.model ?? 'CPU'}, ${availableParallelism()} CPUs, ${(totalmem() / 2 ** 30).toFixed(1)} GiB RAM; app and database on this machine\n`);
    const principals = app.get(PrincipalsService);
    const token = async (roles: ('ingest' | 'privacy')[]): Promise<string> =>
      (await principals.create({ by: OPERATOR, trail: operatorTrail('principal.create', 'principal', 'bench'), okStatus: 0 }, { name: `bench-${roles.join('-')}-${randomBytes(3).toString('hex')}`, kind: 'staff', roles })).token;
    const ingest = await token(['ingest']);
    const privacy = await token(['privacy']);
    const sealer = app.get(AuditSealer);

    console.log(`| access events | report bytes | median ms (of ${RUNS}) | min ms | max ms | vault CPU ms (median) | process RSS growth MB (peak) |`);
    console.log('|---:|---:|---:|---:|---:|---:|---:|');
    for (const size of SIZES) {
      const created = await fetch(`${base}/v1/customers`, {
        method: 'POST',
        headers: { authorization: `Bearer ${ingest}`, 'content-type': 'application/json' },
        body: JSON.stringify({ personal: { fullName: 'Nguyen Van An', email: 'an.nguyen@example.com', phone: '+84912345678' }, consents: { marketing: false, thirdPartySharing: true } }),
      });
      const { id } = (await created.json()) as { id: string };
      // The events of a busy customer: reads by support, 1 in 10 denied; written server-side, then sealed.
      for (let done = 0; done < size; done += 100_000) {
        await admin.query(
          `INSERT INTO audit_pending (${EVENT_COLUMNS.join(', ')})
           SELECT gen_random_uuid(), now() - (i || ' ms')::interval, 'req-' || i, '2f0c8f5e-5b4c-4e55-9d1e-0a0b0c0d0e0f', 'support-desk', 'service',
             '{support}', 'customer.read', 'customer', $2, 'service_support', 'TICKET-' || (i % 9999),
             '{fullName,email,phone}', '{address,nationalId,dateOfBirth}', '{}', CASE WHEN i % 10 = 0 THEN 'denied' ELSE 'allowed' END,
             CASE WHEN i % 10 = 0 THEN 403 ELSE 200 END, '10.0.0.7', NULL
           FROM generate_series(1, $1) AS i`,
          [Math.min(100_000, size - done), id],
        );
      }
      await sealer.sealNow();
      const times: number[] = [];
      const cpu: number[] = [];
      let bytes = 0;
      let peak = 0;
      const rssBefore = process.memoryUsage().rss;
      const sampler = setInterval(() => (peak = Math.max(peak, process.memoryUsage().rss)), 5);
      for (let run = 0; run < RUNS; run++) {
        const start = process.hrtime.bigint();
        const cpuStart = process.cpuUsage();
        const res = await fetch(`${base}/v1/customers/${id}/subject-access`, {
          headers: { authorization: `Bearer ${privacy}`, 'x-access-purpose': 'customer_request', 'x-access-reason': 'bench' },
        });
        const body = await res.arrayBuffer();
        times.push(Number(process.hrtime.bigint() - start) / 1e6);
        const used = process.cpuUsage(cpuStart);
        cpu.push((used.user + used.system) / 1000);
        if (res.status !== 200) throw new Error(`subject-access answered ${res.status}`);
        bytes = body.byteLength;
      }
      clearInterval(sampler);
      console.log(`| ${size.toLocaleString('en-US')} | ${bytes.toLocaleString('en-US')} | ${median(times).toFixed(0)} | ${Math.min(...times).toFixed(0)} | ${Math.max(...times).toFixed(0)} | ${median(cpu).toFixed(0)} | ${((peak - rssBefore) / 2 ** 20).toFixed(0)} |`);
    }
  } finally {
    await admin.end();
    await app.close();
    await runtime.database.close();
    await embedded?.stop();
    rmSync(dataDir, { recursive: true, force: true });
  }
}

await main();
