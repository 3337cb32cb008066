// Usage: node bench/request-cpu.mjs <checkout with dist/> <fresh database name> <port> [--keyed [rounds]]
// (needs PostgreSQL at 127.0.0.1:5432, user postgres)
// Server CPU per request (utime+stime of the vault process from /proc), for an A/B of two builds on a
// loaded machine: wall-clock throughput is noise there, CPU time per request much less so.
// --keyed: instead, creates without and with an Idempotency-Key (a new UUID each) alternated in one
// vault process, `rounds` pairs (default 4, ABBA), with the CPU per request of the PostgreSQL backends
// serving the vault's database too.
import { spawn } from 'node:child_process';
import { createHash, randomBytes, randomUUID } from 'node:crypto';
import { readdirSync, readFileSync } from 'node:fs';
import pg from 'pg';

const [root, dbName, port, mode, roundsArg] = process.argv.slice(2);
const keyed = mode === '--keyed';
const admin = 'postgres://postgres@127.0.0.1:5432/postgres';
const url = `postgres://postgres@127.0.0.1:5432/${dbName}`;
const c = new pg.Client({ connectionString: admin }); await c.connect();
await c.query(`DROP DATABASE IF EXISTS ${dbName} WITH (FORCE)`); await c.query(`CREATE DATABASE ${dbName}`); await c.end();
const env = { ...process.env, DATABASE_URL: url, VAULT_ROOT_KEY: randomBytes(32).toString('base64'), PORT: port, LOG_LEVEL: 'warn', VAULT_DATA_DIR: `${process.env.TMPDIR ?? '/tmp'}/cv-request-cpu-${dbName}`, VAULT_RATE_LIMIT_PER_MINUTE: '0', VAULT_DB_POOL_SIZE: '10' };
const vault = spawn('node', ['--max-old-space-size=160', `${root}/dist/src/main.js`], { env, stdio: ['ignore', 'ignore', 'inherit'] });
const base = `http://127.0.0.1:${port}`;
for (;;) { try { if ((await fetch(`${base}/readyz`)).ok) break; } catch { /* not listening yet */ } await new Promise((r) => setTimeout(r, 500)); }
const db = new pg.Client({ connectionString: url }); await db.connect();
async function principal(role) {
  const token = `cv_${randomBytes(32).toString('base64url')}`;
  await db.query('INSERT INTO principals (name, kind, roles, token_hash) VALUES ($1, $2, $3, $4)', [`${role}-${randomBytes(3).toString('hex')}`, 'service', [role], createHash('sha256').update(token).digest()]);
  return `Bearer ${token}`;
}
const ingest = await principal('ingest'); const billing = await principal('billing');
const statTicks = (pid) => { const f = readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1].split(' '); return Number(f[11]) + Number(f[12]); };
const ticks = () => statTicks(vault.pid);
/**
 * utime+stime of the PostgreSQL backends serving this database (their title names it; the vault's
 * pooled connections live through a run); shared processes (WAL writer, checkpointer) are not counted.
 */
const pgTicks = () => {
  let sum = 0;
  for (const pid of readdirSync('/proc').filter((name) => /^\d+$/.test(name))) {
    try { if (readFileSync(`/proc/${pid}/cmdline`, 'utf8').includes(` ${dbName} `)) sum += statTicks(pid); } catch { /* gone */ }
  }
  return sum;
};
let n = 0;
const create = (headers = {}) => fetch(`${base}/v1/customers`, { method: 'POST', headers: { Authorization: ingest, 'Content-Type': 'application/json', ...headers }, body: JSON.stringify({ externalRef: `ref-${dbName}-${n}`, personal: { fullName: `Person ${n}`, email: `p${n++}.${dbName}@example.com`, phone: '+44 20 7946 0000' }, payment: { cardNumber: '4111 1111 1111 1111', cardExpiry: '12/30', cardholderName: 'Person' } }) });
const ids = [];
async function run(label, total, make, conc = 8) {
  let i = 0; const t0 = ticks(); const p0 = keyed ? pgTicks() : 0; const w0 = Date.now(); let bad = 0;
  await Promise.all(Array.from({ length: conc }, async () => { while (i++ < total) { const r = await make(); if (!r.ok) bad++; const b = await r.json(); if (b.id && label.startsWith('create')) ids.push(b.id); } }));
  const cpuMs = (ticks() - t0) * 10; // USER_HZ = 100
  const pg = keyed ? { pgCpuMsPerRequest: +(((pgTicks() - p0) * 10) / total).toFixed(3) } : {};
  console.log(JSON.stringify({ root, label, total, bad, cpuMsPerRequest: +(cpuMs / total).toFixed(3), ...pg, wallMs: Date.now() - w0 }));
}
if (keyed) {
  await run('create-warm', 300, create);
  await run('create-keyed-warm', 300, () => create({ 'Idempotency-Key': randomUUID() }));
  const plain = () => run('create', 1500, create);
  const withKey = () => run('create-keyed', 1500, () => create({ 'Idempotency-Key': randomUUID() }));
  // ABBA: neither kind always runs first (the table and its indexes grow through the run).
  for (let round = 0; round < Number(roundsArg ?? 4); round++) {
    if (round % 2 === 0) { await plain(); await withKey(); } else { await withKey(); await plain(); }
  }
  await db.end(); vault.kill('SIGTERM');
  process.exit(0);
}
await run('create-warm', 300, create);
await run('create', 1500, create);
const read = () => fetch(`${base}/v1/customers/${ids[Math.floor(Math.random() * ids.length)]}`, { headers: { Authorization: billing, 'X-Access-Purpose': 'payment_confirmation' } });
await run('read-warm', 500, read);
await run('read', 3000, read);
await db.end(); vault.kill('SIGTERM');
