/**
 * Micro-benchmark of what an Idempotency-Key adds to a create in the vault process (one Node
 * thread; pin it with `taskset -c 0` for steadier figures):
 *
 *   npx tsc -p tsconfig.build.json && taskset -c 0 node dist/bench/idempotency.js [--seconds 2]
 *
 * The request's canonical form (RFC 8785 JCS of method, route, parameters, purpose, reason and the
 * body of a realistic create), its HMAC-SHA256 under a KEK-derived key, the key's syntax check, the
 * claim's parameters and the stored answer: everything the interceptor and the commit do in the
 * app for a keyed create, and nothing the database does (bench/request-cpu.mjs --keyed measures
 * the whole request, PostgreSQL's side included). CPU time per operation, median of 20 slices.
 */
import { randomUUID } from 'node:crypto';
import { createHmac } from 'node:crypto';
import { deriveRequestDigestKey, generateKey, initSodium } from '../src/crypto/index.js';
import { claimParams, parseIdempotencyKey, requestMessage, storedAnswer, type IdempotencyClaim } from '../src/idempotency/idempotency.js';

const seconds = Number(process.argv[process.argv.indexOf('--seconds') + 1] || 2);

const BODY = {
  externalRef: 'ACC-1001',
  personal: {
    fullName: 'Nguyen Van An',
    email: 'an.nguyen@example.com',
    phone: '+84 912 345 678',
    address: { line1: '12 Ly Thuong Kiet', city: 'Hanoi', country: 'VN' },
    dateOfBirth: '1990-04-01',
  },
  payment: { cardNumber: '4111 1111 1111 1111', cardExpiry: '12/29', cardholderName: 'Nguyen Van An' },
  consents: { marketing: false },
};

/** CPU µs per call of `fn`: warm-up, then the median of 20 slices. */
function measure(fn: () => unknown): number {
  const sliceMs = (seconds * 1000) / 20;
  const until = Date.now() + 500;
  while (Date.now() < until) fn();
  const perCall: number[] = [];
  for (let slice = 0; slice < 20; slice++) {
    const start = process.cpuUsage();
    const end = Date.now() + sliceMs;
    let calls = 0;
    while (Date.now() < end) {
      for (let i = 0; i < 100; i++) fn();
      calls += 100;
    }
    const used = process.cpuUsage(start);
    perCall.push((used.user + used.system) / calls);
  }
  perCall.sort((a, b) => a - b);
  return perCall[10]!;
}

await initSodium();
const kek = generateKey();
const digestKey = deriveRequestDigestKey(kek);
const key = randomUUID();
const request = () => requestMessage({ method: 'POST', route: '/v1/customers', params: {}, purpose: undefined, reason: undefined, body: BODY });
const message = request();
const claim: IdempotencyClaim = { principalId: randomUUID(), key, requestHash: Buffer.alloc(32), hashKeyVersion: 1, ttlSeconds: 86_400, omit: [] };

const cases: [string, () => unknown][] = [
  ['key syntax check', () => parseIdempotencyKey(key)],
  ['canonical request (JCS of the create)', request],
  ['HMAC-SHA256 of it', () => createHmac('sha256', digestKey).update(message).digest()],
  ['claim parameters', () => claimParams(claim, randomUUID(), randomUUID(), 201)],
  ['stored answer (principal create, token omitted)', () => storedAnswer({ id: key, name: 'svc', kind: 'service', roles: ['billing'], createdAt: '2026-11-30T00:00:00.000Z', token: 'cv_x' }, ['token'])],
  ['all of a keyed create (syntax, JCS, HMAC, parameters)', () => {
    parseIdempotencyKey(key);
    createHmac('sha256', digestKey).update(request()).digest();
    return claimParams(claim, randomUUID(), randomUUID(), 201);
  }],
];

console.log('| step | µs CPU per create |\n|---|---:|');
for (const [name, fn] of cases) console.log(`| ${name} | ${measure(fn).toFixed(2)} |`);
