/**
 * Micro-benchmark of the crypto core on one core (a single Node thread; pin it with
 * `taskset -c 0` for steadier figures):
 *
 *   npx tsc -p tsconfig.build.json && taskset -c 0 node dist/bench/crypto.js [--seconds 2] [--strict]
 *
 * Each operation is warmed up (~1 s, so V8 reaches its optimised tier), then run for ~2 s as
 * 20 slices of ~100 ms. Two rates per slice: wall clock, and CPU time of the process (user +
 * system, GC threads included, so conservative), which leaves out the time the process was
 * preempted by others on a shared machine. The figures are the median slices; the spread of the
 * wall-clock slices is shown too. Targets are checked against the CPU-time median (what the code
 * costs on one core); `--strict` exits 1 when one is missed.
 */
import { availableParallelism, cpus, loadavg, totalmem } from 'node:os';
import { parsePhoneNumberFromString } from 'libphonenumber-js/core';
import metadata from 'libphonenumber-js/min/metadata';
import {
  blindIndex,
  decryptField,
  encryptField,
  generateKey,
  initSodium,
  normalizeEmail,
  normalizeNationalId,
  normalizePhone,
  unwrapDek,
  wrapDek,
} from '../src/crypto/index.js';

interface Case {
  readonly name: string;
  readonly target?: number;
  readonly run: () => number;
}

function arg(name: string): string | undefined {
  const i = process.argv.indexOf(name);
  return i >= 0 ? process.argv[i + 1] : undefined;
}

const seconds = Number(arg('--seconds') ?? '2');
const strict = process.argv.includes('--strict');
const BATCH = 1_000;

interface Slice {
  readonly wall: number;
  readonly cpu: number;
}

function runFor(run: () => number, durationMs: number): { ops: number; wallSeconds: number; cpuSeconds: number; sink: number } {
  let sink = 0;
  let ops = 0;
  const cpu0 = process.cpuUsage();
  const start = process.hrtime.bigint();
  const limit = BigInt(Math.round(durationMs * 1e6));
  let elapsed = 0n;
  while (elapsed < limit) {
    for (let i = 0; i < BATCH; i++) sink += run();
    ops += BATCH;
    elapsed = process.hrtime.bigint() - start;
  }
  const cpu = process.cpuUsage(cpu0);
  return { ops, wallSeconds: Number(elapsed) / 1e9, cpuSeconds: (cpu.user + cpu.system) / 1e6, sink };
}

/** Ops/s (wall clock and per CPU-second) of each ~100 ms slice over `durationMs`. */
function measure(run: () => number, durationMs: number): Slice[] {
  const slices = Math.max(1, Math.round(durationMs / 100));
  const rates: Slice[] = [];
  let sink = 0;
  for (let s = 0; s < slices; s++) {
    const r = runFor(run, durationMs / slices);
    sink += r.sink;
    rates.push({ wall: r.ops / r.wallSeconds, cpu: r.ops / r.cpuSeconds });
  }
  if (sink === -1) console.log('unreachable'); // keeps the results alive
  return rates;
}

function median(values: number[]): number {
  const sorted = [...values].sort((x, y) => x - y);
  return sorted[Math.floor(sorted.length / 2)] ?? 0;
}

const fmt = (n: number): string => Math.round(n).toLocaleString('en-US');

async function main(): Promise<void> {
  await initSodium();
  const customerId = '6b3f2a8e-1111-4222-8333-444455556666';
  const dek = generateKey();
  const kek = generateKey();
  const indexKey = generateKey();
  const field64 = Buffer.alloc(64, 0x61); // a 64-byte field value
  const sealedField = encryptField(dek, 1, customerId, 'email', 1, field64);
  const wrappedDek = wrapDek(kek, 1, dek, customerId, 1);
  const email = normalizeEmail('  Alice.Example@Example.COM ');

  const cases: Case[] = [
    { name: 'field encrypt (64 B)', target: 150_000, run: () => encryptField(dek, 1, customerId, 'email', 1, field64).length },
    { name: 'field decrypt (64 B)', target: 500_000, run: () => decryptField(dek, sealedField, customerId, 'email', 1).length },
    { name: 'DEK wrap (32 B key)', run: () => wrapDek(kek, 1, dek, customerId, 1).length },
    { name: 'DEK unwrap (32 B key)', run: () => unwrapDek(kek, wrappedDek, customerId, 1).length },
    { name: 'blind index (BLAKE2b-128, 27 B e-mail)', run: () => blindIndex(indexKey, email).length },
    // Issue 12 §6: what the normalisers cost a create (each runs once per indexed field), against
    // normalisation 1 (trim + lower-case; phone isValid) inlined here for comparison.
    { name: 'normalise e-mail, ASCII domain (v2: NFKC, IDNA skipped)', run: () => normalizeEmail('  Alice.Example@Example.COM ').length },
    { name: 'normalise e-mail, ASCII domain (v1: trim, lower-case)', run: () => '  Alice.Example@Example.COM '.trim().toLowerCase().length },
    { name: 'normalise e-mail, IDN domain (v2: NFKC, domainToASCII)', run: () => normalizeEmail('  Anna@Bücher.Example ').length },
    { name: 'normalise national id (v2: NFKC)', run: () => normalizeNationalId('qx-778899-zz').length },
    { name: 'normalise national id (v1)', run: () => 'qx-778899-zz'.toUpperCase().replace(/[\s.\-/\u2010-\u2015\u2212]/g, '').length },
    { name: 'normalise phone (v2: NFKC, isPossible)', run: () => normalizePhone('+44 20 7946 0958')?.length ?? 0 },
    { name: 'normalise phone (v1: isValid)', run: () => (parsePhoneNumberFromString('+44 20 7946 0958', metadata)?.isValid() === true ? 1 : 0) },
  ];

  const cpu = cpus()[0]?.model ?? 'unknown CPU';
  console.log(`node ${process.version}, ${cpu}, ${availableParallelism()} CPUs visible, ${(totalmem() / 2 ** 30).toFixed(1)} GiB RAM, load average ${loadavg().map((x) => x.toFixed(2)).join(' ')}`);
  console.log(`warm-up 1 s, then ${seconds} s per operation in ~100 ms slices, batches of ${BATCH}\n`);
  console.log('| operation | ops/s per CPU-second (median) | µs CPU/op | ops/s wall (median) | wall slices slowest–fastest | target | |');
  console.log('|---|---:|---:|---:|---:|---:|---|');
  let missed = 0;
  for (const c of cases) {
    runFor(c.run, 1000);
    const slices = measure(c.run, seconds * 1000);
    const cpu = median(slices.map((x) => x.cpu));
    const walls = slices.map((x) => x.wall);
    const verdict = c.target === undefined ? '' : cpu >= c.target ? 'met' : 'MISSED';
    if (verdict === 'MISSED') missed++;
    const target = c.target === undefined ? '—' : `>= ${fmt(c.target)}`;
    const range = `${fmt(Math.min(...walls))}–${fmt(Math.max(...walls))}`;
    console.log(`| ${c.name} | ${fmt(cpu)} | ${(1e6 / cpu).toFixed(2)} | ${fmt(median(walls))} | ${range} | ${target} | ${verdict} |`);
  }
  if (strict && missed > 0) process.exitCode = 1;
}

main().catch((err: unknown) => {
  console.error(err);
  process.exitCode = 1;
});
