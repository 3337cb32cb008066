/**
 * Root key providers (issue 13): the file provider against the pkcs11 provider on SoftHSM2.
 *
 *   npm run build && node dist/bench/root-key.js [--deks 1000,10000,100000] [--repeat 3]
 *     [--parts open,boot,rotate,throughput] [--throughput-n 2000]
 *
 * Needs softhsm2-util and pkcs11-tool (apt-get install -y softhsm2 opensc). Makes its own token in a
 * temporary directory (SOFTHSM2_CONF, set before the module loads). Uses DATABASE_URL's server or an
 * embedded PostgreSQL. Measures:
 * - opening the provider (file: decode the key; pkcs11: load the module, log in, find and check the
 *   key, one CMAC for the key id) and one wrap + unwrap in the token;
 * - a server process's boot to /readyz on an existing database, with each provider;
 * - create and reveal-read throughput through HTTP with each provider (the provider is off the
 *   request path: DEK unwraps use KEKs held in memory), two rounds alternating;
 * - `keys:rotate` with N DEKs: the rotate call (a new KEK wrapped by the provider) and the rewrap
 *   job (in memory, under KEKs the process holds: the provider is not involved), the job's settle
 *   wait (2.5 s after the rotation) included as in production.
 * Markdown tables on stdout; progress on stderr.
 */
import { NestFactory } from '@nestjs/core';
import { execFileSync, spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { chmodSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { loadavg, tmpdir } from 'node:os';
import path from 'node:path';
import { DataSource } from 'typeorm';
import type { Role } from '../src/access/vocabulary.js';
import { createApp } from '../src/app.js';
import { AppModule } from '../src/app.module.js';
import { openRuntime } from '../src/bootstrap.js';
import { createRootLogger } from '../src/common/logger.js';
import { loadConfig } from '../src/config/config.js';
import { openRootKeyProvider } from '../src/config/root-key-source.js';
import { generateKey, initSodium } from '../src/crypto/index.js';
import { MetricsService } from '../src/health/metrics.service.js';
import { KeyRing } from '../src/keys/key-ring.service.js';
import { KeyRotationWorker } from '../src/keys/key-rotation.worker.js';
import { KeysService } from '../src/keys/keys.service.js';
import { operatorTrail } from '../src/principals/operator.js';
import { OPERATOR, PrincipalsService } from '../src/principals/principals.service.js';
import { BenchServer } from './lib/database.js';
import { freePort } from './lib/procs.js';
import { seedDeks } from './lib/seed-deks.js';
import { flag } from './lib/args.js';

const DEK_COUNTS = flag('--deks', '1000,10000,100000').split(',').map(Number);
const REPEAT = Number(flag('--repeat', '3'));
const PARTS = new Set(flag('--parts', 'open,boot,rotate,throughput').split(','));
const MODULE = ['/usr/lib/softhsm/libsofthsm2.so', '/usr/lib/x86_64-linux-gnu/softhsm/libsofthsm2.so'].find((p) => {
  try {
    execFileSync('test', ['-f', p]);
    return true;
  } catch {
    return false;
  }
});
const PIN = '1357-2468';
const log = (message: string) => process.stderr.write(`[root-key bench ${new Date().toISOString().slice(11, 19)}] ${message}\n`);
const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];
const ms = (x: number) => x.toFixed(x < 10 ? 2 : 0);

type Provider = 'file' | 'pkcs11';

async function main(): Promise<void> {
  if (!MODULE) throw new Error('SoftHSM2 is not installed: apt-get install -y softhsm2 opensc');
  const scratch = mkdtempSync(path.join(tmpdir(), 'cv-bench-root-key-'));
  // The embedded PostgreSQL runs as the postgres user when run as root: it must reach its directory.
  chmodSync(scratch, 0o755);
  const conf = path.join(scratch, 'softhsm2.conf');
  mkdirSync(path.join(scratch, 'tokens'), { mode: 0o700 });
  writeFileSync(conf, `directories.tokendir = ${path.join(scratch, 'tokens')}\nobjectstore.backend = file\nlog.level = ERROR\n`);
  process.env.SOFTHSM2_CONF = conf;
  execFileSync('softhsm2-util', ['--init-token', '--free', '--label', 'bench', '--so-pin', '0000-1111', '--pin', PIN], { stdio: 'ignore' });
  execFileSync('pkcs11-tool', ['--module', MODULE, '--token-label', 'bench', '--login', '--pin', PIN, '--keygen', '--key-type', 'AES:32', '--label', 'root', '--id', '01', '--sensitive', '--usage-sign', '--usage-decrypt'], { stdio: 'ignore' });
  const fileKey = randomBytes(32).toString('base64');
  const providerEnv = (provider: Provider): Record<string, string> =>
    provider === 'file'
      ? { VAULT_ROOT_KEY: fileKey }
      : { VAULT_ROOT_KEY_PROVIDER: 'pkcs11', VAULT_PKCS11_MODULE: MODULE, VAULT_PKCS11_TOKEN_LABEL: 'bench', VAULT_PKCS11_PIN: PIN, VAULT_PKCS11_KEY_LABEL: 'root', SOFTHSM2_CONF: conf };

  const server = await BenchServer.open(path.join(scratch, 'pg'));
  const md: string[] = [`Load average at start: ${loadavg().map((l) => l.toFixed(1)).join(', ')} (2 cores).`, ''];
  try {
    await initSodium();
    // 1. Opening the provider, and one wrap + unwrap under the root.
    md.push('| provider | open (median of ' + REPEAT * 3 + ') | wrap + unwrap one KEK (median of 100) |', '|---|---|---|');
    for (const provider of PARTS.has('open') ? (['file', 'pkcs11'] as const) : []) {
      const opens: number[] = [];
      const ops: number[] = [];
      for (let i = 0; i < REPEAT * 3; i++) {
        const config = loadConfig({ NODE_ENV: 'test', ...providerEnv(provider) });
        const started = performance.now();
        const { provider: opened } = await openRootKeyProvider(config);
        opens.push(performance.now() - started);
        if (i === 0) {
          for (let j = 0; j < 100; j++) {
            const t = performance.now();
            await opened.unwrap(await opened.wrap(generateKey(), { kind: 'kek', version: 1 }), { kind: 'kek', version: 1 });
            ops.push(performance.now() - t);
          }
        }
        await opened.close();
      }
      md.push(`| ${provider} | ${ms(median(opens))} ms | ${ms(median(ops))} ms |`);
      log(`${provider}: open ${ms(median(opens))} ms`);
    }

    // 2. Boot of a server process to /readyz on an existing database.
    md.push('', `| provider | server boot to /readyz (median of ${REPEAT}, after a first boot that created the keys) |`, '|---|---|');
    for (const provider of PARTS.has('boot') ? (['file', 'pkcs11'] as const) : []) {
      const url = await server.createDatabase(`cv_bench_boot_${provider}`);
      const boots: number[] = [];
      for (let i = 0; i <= REPEAT; i++) {
        const seconds = await bootToReady({ NODE_ENV: 'test', DATABASE_URL: url, VAULT_DATA_DIR: scratch, LOG_LEVEL: 'warn', ...providerEnv(provider) });
        if (i > 0) boots.push(seconds);
      }
      md.push(`| ${provider} | ${median(boots).toFixed(2)} s (${boots.map((b) => b.toFixed(2)).join(', ')}) |`);
      log(`${provider}: boot ${median(boots).toFixed(2)} s`);
    }

    // 3. keys:rotate with N DEKs.
    md.push('', '| DEKs | provider | rotate call (new KEK wrapped by the provider) | rewrap job (settle wait included) | DEKs/s |', '|---|---|---|---|---|');
    for (const deks of PARTS.has('rotate') ? DEK_COUNTS : []) {
      for (const provider of ['file', 'pkcs11'] as const) {
        const url = await server.createDatabase(`cv_bench_rot_${provider}_${deks}`);
        const config = loadConfig({ NODE_ENV: 'test', DATABASE_URL: url, VAULT_DATA_DIR: scratch, LOG_LEVEL: 'warn', ...providerEnv(provider) });
        const runtime = await openRuntime({ config, log: createRootLogger('warn') });
        const context = await NestFactory.createApplicationContext(AppModule.forRoot(runtime, new MetricsService()), { logger: false });
        try {
          const worker = context.get(KeyRotationWorker);
          await seedDeks(context.get(KeyRing), context.get(DataSource), deks);
          await context.get(DataSource).query('VACUUM ANALYZE customer_deks');
          const keys = context.get(KeysService);
          const t0 = performance.now();
          const rotated = await keys.rotate({ trail: operatorTrail('keys.rotate', 'key', 'bench'), okStatus: 0 });
          const t1 = performance.now();
          await worker.drain();
          const t2 = performance.now();
          const job = await keys.job(rotated.jobId);
          const jobSeconds = (t2 - t1) / 1000;
          md.push(`| ${deks.toLocaleString('en-US')} | ${provider} | ${ms(t1 - t0)} ms | ${jobSeconds.toFixed(1)} s (${job.state}) | ${Math.round(job.done / jobSeconds).toLocaleString('en-US')} |`);
          log(`${provider} ${deks}: rotate ${ms(t1 - t0)} ms, job ${jobSeconds.toFixed(1)} s`);
        } finally {
          await context.close();
          await runtime.database.close();
        }
      }
    }
    // 4. Create and read throughput, in-process app over HTTP on loopback, c=8.
    md.push('', `| provider | creates/s (${THROUGHPUT_N}, c=8) | reads/s (${THROUGHPUT_N} reveal reads, c=8) |`, '|---|---|---|');
    for (let round = 0; round < (PARTS.has('throughput') ? 2 : 0); round++) {
      for (const provider of ['file', 'pkcs11'] as const) {
        const url = await server.createDatabase(`cv_bench_rw_${provider}_${round}`);
        const result = await createReadThroughput({ NODE_ENV: 'test', DATABASE_URL: url, VAULT_DATA_DIR: scratch, LOG_LEVEL: 'warn', VAULT_RATE_LIMIT_PER_MINUTE: '0', ...providerEnv(provider) });
        md.push(`| ${provider} (round ${round + 1}) | ${result.creates.toFixed(0)} | ${result.reads.toFixed(0)} |`);
        log(`${provider}: ${result.creates.toFixed(0)} creates/s, ${result.reads.toFixed(0)} reads/s`);
      }
    }
    md.push('', `Load average at the end: ${loadavg().map((l) => l.toFixed(1)).join(', ')}.`);
    process.stdout.write(`${md.join('\n')}\n`);
  } finally {
    await server.close(log);
    rmSync(scratch, { recursive: true, force: true });
  }
}

const THROUGHPUT_N = Number(flag('--throughput-n', '2000'));

/** Requests per second of THROUGHPUT_N creates, then THROUGHPUT_N reveal reads, 8 at a time. */
async function createReadThroughput(env: Record<string, string>): Promise<{ creates: number; reads: number }> {
  const runtime = await openRuntime({ config: loadConfig(env), log: createRootLogger('warn') });
  const app = await createApp(runtime);
  try {
    await app.listen(0, '127.0.0.1');
    const address = app.getHttpServer().address() as { port: number };
    const base = `http://127.0.0.1:${address.port}`;
    const token = async (roles: Role[]) =>
      `Bearer ${(await app.get(PrincipalsService).create({ by: OPERATOR, trail: operatorTrail('principal.create', 'principal', 'bench'), okStatus: 0 }, { name: `bench-${roles.join('-')}`, kind: 'service', roles })).token}`;
    const ingest = await token(['ingest']);
    const privacy = await token(['privacy']);
    const ids: string[] = [];
    const run = async (fn: (i: number) => Promise<void>): Promise<number> => {
      let next = 0;
      const started = performance.now();
      await Promise.all(Array.from({ length: 8 }, async () => {
        while (next < THROUGHPUT_N) await fn(next++);
      }));
      return THROUGHPUT_N / ((performance.now() - started) / 1000);
    };
    const creates = await run(async (i) => {
      const res = await fetch(`${base}/v1/customers`, { method: 'POST', headers: { Authorization: ingest, 'Content-Type': 'application/json' }, body: JSON.stringify({ personal: { fullName: `Bench ${i}`, email: `bench.${i}@example.com` }, payment: { bankAccount: 'GB29NWBK60161331926819' } }) });
      if (res.status !== 201) throw new Error(`create answered ${res.status}`);
      ids.push(((await res.json()) as { id: string }).id);
    });
    const reads = await run(async (i) => {
      const res = await fetch(`${base}/v1/customers/${ids[i]}`, { headers: { Authorization: privacy, 'X-Access-Purpose': 'customer_request' } });
      if (res.status !== 200) throw new Error(`read answered ${res.status}`);
      await res.arrayBuffer();
    });
    return { creates, reads };
  } finally {
    await app.close();
    await runtime.database.close();
  }
}

/** Seconds from spawning dist/src/main.js to its first 200 on /readyz. */
async function bootToReady(env: Record<string, string>): Promise<number> {
  const port = await freePort();
  const started = performance.now();
  const child = spawn(process.execPath, [path.join(import.meta.dirname, '..', 'src', 'main.js')], { env: { PATH: process.env.PATH ?? '', ...env, PORT: String(port) }, stdio: ['ignore', 'ignore', 'pipe'] });
  let stderr = '';
  child.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString('utf8')));
  try {
    for (;;) {
      if (child.exitCode !== null) throw new Error(`the vault exited with ${child.exitCode}: ${stderr}`);
      const ok = await fetch(`http://127.0.0.1:${port}/readyz`).then((r) => r.status === 200, () => false);
      if (ok) return (performance.now() - started) / 1000;
      if (performance.now() - started > 300_000) throw new Error('no /readyz within 300 s');
      await new Promise((resolve) => setTimeout(resolve, 25));
    }
  } finally {
    if (child.exitCode === null) {
      const exited = new Promise((resolve) => child.once('exit', resolve));
      child.kill('SIGTERM');
      await exited;
    }
  }
}

await main();
