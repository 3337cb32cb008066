/* global WebSocket -- Node 20: --experimental-websocket */
// Usage: node --experimental-websocket bench/profile.mjs [--root <checkout with dist/>] [--scenario read|create|masked|search]
//          [--seconds 15] [--connections 64] [--interval-us 200] [--out /tmp/vault.cpuprofile] [--node-args '--max-semi-space-size=32']
// Profiles the vault's process under load, for the load window only (not its start or the seeding):
// starts `node dist/src/main.js` with --inspect on a fresh database of the PostgreSQL at
// 127.0.0.1:5432 (or BENCH_ADMIN_URL), seeds customers through the API, warms up, then starts the V8
// profiler over the inspector protocol, runs autocannon, stops the profiler and prints
// bench/profile-summary.mjs's tables with the number of 2xx answers (µs per request by component).
// The rate limit is off; any non-2xx answer fails the run.
import autocannon from 'autocannon';
import { spawn, execFileSync } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import { readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import pg from 'pg';

const args = process.argv.slice(2);
const opt = (name, fallback) => {
  const i = args.indexOf(`--${name}`);
  return i >= 0 ? args[i + 1] : fallback;
};
const root = path.resolve(opt('root', '.'));
const scenario = opt('scenario', 'read');
const seconds = Number(opt('seconds', '15'));
const connections = Number(opt('connections', '64'));
const intervalUs = Number(opt('interval-us', '200'));
const out = opt('out', `/tmp/vault-${scenario}.cpuprofile`);
const port = Number(opt('port', '3917'));
const inspectPort = port + 1;
const adminUrl = process.env.BENCH_ADMIN_URL ?? 'postgres://postgres@127.0.0.1:5432/postgres';
const dbName = `cv_profile_${randomBytes(4).toString('hex')}`;
const dbUrl = new URL(adminUrl);
dbUrl.pathname = `/${dbName}`;

const admin = new pg.Client({ connectionString: adminUrl });
await admin.connect();
await admin.query(`CREATE DATABASE ${dbName}`);

const env = {
  ...process.env, NODE_ENV: 'production', DATABASE_URL: dbUrl.toString(), VAULT_ROOT_KEY: randomBytes(32).toString('base64'),
  PORT: String(port), HOST: '127.0.0.1', LOG_LEVEL: 'warn', VAULT_DATA_DIR: `/tmp/${dbName}`,
  VAULT_AUDIT_CHECKPOINT_FILE: `/tmp/${dbName}/checkpoints`, VAULT_RATE_LIMIT_PER_MINUTE: '0', VAULT_SEARCH_LIMIT_PER_MINUTE: '0',
};
execFileSync('mkdir', ['-p', env.VAULT_DATA_DIR]);
const nodeArgs = opt('node-args', '').split(' ').filter((a) => a !== '');
const vault = spawn('node', ['--max-old-space-size=160', ...nodeArgs, `--inspect=127.0.0.1:${inspectPort}`, path.join(root, 'dist/src/main.js')], { env, stdio: ['ignore', 'ignore', 'inherit'] });
const base = `http://127.0.0.1:${port}`;
let cleanedUp = false;
async function cleanup() {
  if (cleanedUp) return;
  cleanedUp = true;
  vault.kill('SIGTERM');
  await new Promise((r) => vault.once('exit', r));
  await admin.query(`DROP DATABASE IF EXISTS ${dbName} WITH (FORCE)`);
  await admin.end();
}
try {
  for (let i = 0; ; i++) {
    try { if ((await fetch(`${base}/readyz`)).ok) break; } catch { /* not listening yet */ }
    if (i > 600) throw new Error('vault not ready in 60 s');
    await new Promise((r) => setTimeout(r, 100));
  }
  const db = new pg.Client({ connectionString: env.DATABASE_URL });
  await db.connect();
  async function principal(role) {
    const token = `cv_${randomBytes(32).toString('base64url')}`;
    await db.query('INSERT INTO principals (name, kind, roles, token_hash) VALUES ($1, $2, $3, $4)', [`${role}-profile`, 'service', [role], createHash('sha256').update(token).digest()]);
    return `Bearer ${token}`;
  }
  const auth = { ingest: await principal('ingest'), billing: await principal('billing'), support: await principal('support') };
  await db.end();

  let n = 0;
  const customer = () => {
    const i = n++;
    return JSON.stringify({
      externalRef: `prof-${i}-${randomBytes(3).toString('hex')}`,
      personal: { fullName: `Person ${i}`, email: `p${i}.${randomBytes(3).toString('hex')}@example.com`, phone: `+44 20 7946 ${String(i % 10000).padStart(4, '0')}`, dateOfBirth: '1980-04-02', address: { line1: `${i} High Street`, city: 'London', postalCode: 'N1 9GU', country: 'GB' } },
      payment: { cardNumber: '4111 1111 1111 1111', cardExpiry: '12/30', cardholderName: `Person ${i}`, bankAccount: 'GB33BUKB20201555555555' },
    });
  };
  const json = { 'content-type': 'application/json' };
  const ids = [];
  const emails = [];
  await Promise.all(Array.from({ length: 16 }, async () => {
    while (ids.length < 2000) {
      const body = customer();
      const r = await fetch(`${base}/v1/customers`, { method: 'POST', headers: { authorization: auth.ingest, ...json }, body });
      if (r.status !== 201) throw new Error(`seed: ${r.status}`);
      ids.push((await r.json()).id);
      emails.push(JSON.parse(body).personal.email);
    }
  }));
  const pickId = () => ids[Math.floor(Math.random() * ids.length)];
  const setupRequest = {
    read: () => ({ method: 'GET', path: `/v1/customers/${pickId()}`, headers: { authorization: auth.billing, 'x-access-purpose': 'payment_confirmation' } }),
    masked: () => ({ method: 'GET', path: `/v1/customers/${pickId()}`, headers: { authorization: auth.support, 'x-access-purpose': 'service_support' } }),
    search: () => ({ method: 'POST', path: '/v1/customers/search', headers: { authorization: auth.support, 'x-access-purpose': 'service_support', ...json }, body: JSON.stringify({ email: emails[Math.floor(Math.random() * emails.length)] }) }),
    create: () => ({ method: 'POST', path: '/v1/customers', headers: { authorization: auth.ingest, ...json }, body: customer() }),
  }[scenario];
  if (!setupRequest) throw new Error(`unknown scenario ${scenario}`);
  const load = (duration) => autocannon({ url: base, connections, duration, pipelining: 1, requests: [{ setupRequest }] });

  const ticks = () => { const f = readFileSync(`/proc/${vault.pid}/stat`, 'utf8').split(') ')[1].split(' '); return Number(f[11]) + Number(f[12]); };
  await load(3); // warm-up: JIT, pools, caches

  const { webSocketDebuggerUrl } = (await (await fetch(`http://127.0.0.1:${inspectPort}/json/list`)).json())[0];
  const ws = new WebSocket(webSocketDebuggerUrl);
  await new Promise((resolve, reject) => { ws.onopen = resolve; ws.onerror = reject; });
  let nextId = 1;
  const pending = new Map();
  ws.onmessage = (m) => { const msg = JSON.parse(m.data); pending.get(msg.id)?.(msg); pending.delete(msg.id); };
  const send = (method, params = {}) => new Promise((resolve) => { const id = nextId++; pending.set(id, resolve); ws.send(JSON.stringify({ id, method, params })); });
  await send('Profiler.enable');
  await send('Profiler.setSamplingInterval', { interval: intervalUs });
  const t0 = ticks();
  await send('Profiler.start');
  const result = await load(seconds);
  const stopped = await send('Profiler.stop');
  const cpuUs = (ticks() - t0) * 10_000; // USER_HZ = 100
  ws.close();
  writeFileSync(out, JSON.stringify(stopped.result.profile));
  const ok = result['2xx'];
  console.log(`${scenario}, c=${connections}, ${seconds} s: ${ok} answers 2xx (${Math.round(ok / seconds)} req/s), non2xx ${result.non2xx}, errors ${result.errors}, p50 ${result.latency.p50} ms, p99 ${result.latency.p99} ms; vault process CPU ${Math.round(cpuUs / ok)} µs per request (/proc, profiler included)`);
  console.log(`profile: ${out}\n`);
  if (result.non2xx !== 0 || result.errors !== 0) process.exitCode = 1;
  console.log(execFileSync('node', [path.join(path.dirname(new URL(import.meta.url).pathname), 'profile-summary.mjs'), out, String(ok), '--top', opt('top', '30')], { encoding: 'utf8' }));
} finally {
  await cleanup();
}
