import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import type { AddressInfo } from 'node:net';
import { connect } from 'node:net';
import type { Server } from 'node:http';
import type { Test } from 'supertest';
import { findLeaks } from '../helpers/leak-scan.js';
import { createPrincipal, type TestPrincipal } from '../helpers/principals.js';
import { startTestApp, type TestApp } from '../helpers/test-app.js';

/**
 * A hostile-input corpus through the real HTTP pipeline. Every input must be answered with a
 * documented 4xx (or, for a search, 200 with no results), never a 5xx, never echo its payload
 * (each carries a distinctive marker), and never write customer data (row counts of customers,
 * customer_deks, customer_blind_indexes before and after each input; audit events are expected).
 */

/** The 4xx statuses the vault documents (docs/SECURITY.md, DESIGN §4). 431 comes from Node's parser. */
const DOCUMENTED_4XX = new Set([400, 401, 403, 404, 405, 413, 415, 431]);

interface Reply {
  status: number;
  /** the raw response: status line, headers and body */
  text: string;
  body: unknown;
}

interface Case {
  category: string;
  name: string;
  /** distinctive substring of the payload: must never come back */
  marker: string;
  send: () => Promise<Reply>;
  /** a search may also answer 200 with no results */
  searchMayAnswerEmpty?: boolean;
  /** the payload is recorded on purpose (X-Access-Reason and a client's X-Request-Id go into the audit event) */
  storedByDesign?: boolean;
  /** answered by Node itself before the vault sees it, with an empty body (documented) */
  nodeAnswers?: boolean;
}

let seq = 0;
/** A distinctive marker: letters the vault never produces itself. */
function marker(): string {
  seq++;
  return `Hxq${seq.toString(36)}Zv`;
}

const SQL_AND_SHELL = [
  (m: string) => `' OR '${m}'='${m}`,
  (m: string) => `${m}'; DROP TABLE customers;--`,
  (m: string) => `${m}" OR ""="`,
  (m: string) => `1; SELECT pg_sleep(5)--${m}`,
  (m: string) => `${m}') UNION SELECT wrapped_key FROM customer_deks--`,
  (m: string) => `$(touch /tmp/${m})`,
  (m: string) => `\`id\`${m}`,
  (m: string) => `; rm -rf / # ${m}`,
  (m: string) => `| cat /etc/passwd ${m}`,
  (m: string) => `${m}\\'; --`,
  (m: string) => `{{7*7}}\${7*7}${m}`,
  (m: string) => `%27%20OR%201%3D1${m}`,
];

describe('hostile input through the HTTP API', () => {
  let vault: TestApp;
  let server: Server;
  let ingest: TestPrincipal;
  let privacy: TestPrincipal;
  let existingId: string;
  const cases: Case[] = [];
  const tally = { inputs: 0, fiveHundreds: 0, echoes: 0, writes: 0, refused: 0, emptySearches: 0 };
  const statuses: Record<string, number> = {};
  const responseTexts: string[] = [];

  function reply(res: { status: number; text: string; body: unknown; headers: Record<string, string | string[] | undefined> }): Reply {
    const headers = Object.entries(res.headers).map(([k, v]) => `${k}: ${Array.isArray(v) ? v.join(', ') : (v ?? '')}`).join('\n');
    return { status: res.status, text: `${headers}\n\n${res.text ?? ''}`, body: res.body };
  }
  async function via(test: Test): Promise<Reply> {
    return reply(await test);
  }
  /** Bytes on a socket, for what an HTTP client library refuses to send. */
  function raw(bytes: Buffer | string): Promise<Reply> {
    const { port } = server.address() as AddressInfo;
    return new Promise((resolve, reject) => {
      const socket = connect(port, '127.0.0.1');
      const chunks: Buffer[] = [];
      socket.on('data', (chunk: Buffer) => chunks.push(chunk));
      socket.on('error', (error: NodeJS.ErrnoException) => {
        // The server may answer and close while we are still writing: keep what it said.
        if (chunks.length === 0) reject(error);
      });
      socket.on('close', () => {
        const text = Buffer.concat(chunks).toString('latin1');
        const status = Number(/^HTTP\/1\.1 (\d{3})/.exec(text)?.[1] ?? 0);
        const bodyText = text.slice(text.indexOf('\r\n\r\n') + 4);
        let body: unknown;
        try {
          body = JSON.parse(bodyText);
        } catch {
          body = null;
        }
        resolve({ status, text, body });
      });
      // Write without half-closing (Node drops a request whose client already sent FIN); the
      // vault answers with Connection: close. A request it waits on (short body) is ended late.
      socket.write(bytes);
      setTimeout(() => socket.end(), 2_000).unref();
    });
  }
  function rawRequest(requestLine: string, headers: string[], body: Buffer | string = ''): Buffer {
    const bodyBytes = Buffer.isBuffer(body) ? body : Buffer.from(body, 'utf8');
    const head = [requestLine, 'Host: 127.0.0.1', 'Connection: close', ...headers].join('\r\n');
    return Buffer.concat([Buffer.from(`${head}\r\n\r\n`, 'latin1'), bodyBytes]);
  }

  const create = (body: unknown) => () => via(vault.http().post('/v1/customers').set('Authorization', ingest.authHeader).send(body as object));
  const createRaw = (text: string | Buffer, type = 'application/json') => () =>
    via(vault.http().post('/v1/customers').set('Authorization', ingest.authHeader).set('Content-Type', type).send(text));
  const search = (body: unknown, headers: Record<string, string | string[]> = { 'X-Access-Purpose': 'customer_request', 'X-Access-Reason': 'TICKET-4711' }) => () => {
    let test = vault.http().post('/v1/customers/search').set('Authorization', privacy.authHeader);
    for (const [name, value] of Object.entries(headers)) test = test.set(name, value as string);
    return via(test.send(body as object));
  };
  const read = (path: string, headers: Record<string, string | string[]> = { 'X-Access-Purpose': 'customer_request', 'X-Access-Reason': 'TICKET-4711' }) => () => {
    let test = vault.http().get(path).set('Authorization', privacy.authHeader);
    for (const [name, value] of Object.entries(headers)) test = test.set(name, value as string);
    return via(test);
  };

  const valid = (m: string) => ({ personal: { fullName: `Baseline ${m}`, email: `baseline.${m.toLowerCase()}@example.com` } });
  function add(category: string, name: string, build: (m: string) => Case['send'], extra: Partial<Case> = {}): void {
    const m = marker();
    cases.push({ category, name, marker: m, send: build(m), ...extra });
  }

  function buildCorpus(): void {
    // Malformed JSON
    add('malformed JSON', 'truncated object', (m) => createRaw(`{"personal":{"fullName":"${m}"`));
    add('malformed JSON', 'single quotes', (m) => createRaw(`{'personal':{'fullName':'${m}'}}`));
    add('malformed JSON', 'trailing comma', (m) => createRaw(`{"personal":{"fullName":"${m}",}}`));
    add('malformed JSON', 'NaN literal', (m) => createRaw(`{"personal":{"fullName":NaN,"x":"${m}"}}`));
    add('malformed JSON', 'comment', (m) => createRaw(`{/* ${m} */"personal":{}}`));
    add('malformed JSON', 'bare string', (m) => createRaw(`"${m}"`));
    add('malformed JSON', 'bare null', (m) => createRaw(`null ${m}`));
    add('malformed JSON', 'two documents', (m) => createRaw(`${JSON.stringify(valid(m))}${JSON.stringify(valid(m))}`));
    add('malformed JSON', 'BOM inside the body', (m) => createRaw(`{"personal":\ufeff${JSON.stringify(valid(m).personal)}}`));
    add('malformed JSON', 'unterminated string', (m) => createRaw(`{"personal":{"fullName":"${m}}}`));
    add('malformed JSON', 'unescaped control in string', (m) => createRaw(`{"personal":{"fullName":"${m}\n"}}`));
    add('malformed JSON', 'bad escape', (m) => createRaw(`{"personal":{"fullName":"\\x41${m}"}}`));
    add('malformed JSON', 'empty object', () => create({}));
    add('malformed JSON', 'duplicate key, last one wrong', (m) => createRaw(`{"personal":{"fullName":"A B"},"personal":"${m}"}`));
    add('malformed JSON', 'text/plain', (m) => createRaw(JSON.stringify(valid(m)), 'text/plain'));
    add('malformed JSON', 'form-encoded', (m) => createRaw(`personal[fullName]=${m}`, 'application/x-www-form-urlencoded'));
    add('malformed JSON', 'latin1 charset', (m) => createRaw(JSON.stringify(valid(m)), 'application/json; charset=latin1'));
    add('malformed JSON', 'multipart', (m) => createRaw(`--b\r\nContent-Disposition: form-data; name="x"\r\n\r\n${m}\r\n--b--`, 'multipart/form-data; boundary=b'));
    add('malformed JSON', 'no content type', (m) => () => raw(rawRequest('POST /v1/customers HTTP/1.1', [`Authorization: ${ingest.authHeader}`, `Content-Length: ${JSON.stringify(valid(m)).length}`], JSON.stringify(valid(m)))));
    add('malformed JSON', 'content-length larger than body', (m) => () => raw(rawRequest('POST /v1/customers HTTP/1.1', [`Authorization: ${ingest.authHeader}`, 'Content-Type: application/json', 'Content-Length: 5000'], `{"personal":{"fullName":"${m}"}}`)));
    add('malformed JSON', 'conflicting content-length headers', (m) => () => raw(rawRequest('POST /v1/customers HTTP/1.1', [`Authorization: ${ingest.authHeader}`, 'Content-Type: application/json', 'Content-Length: 10', 'Content-Length: 20'], `{"x":"${m}"}`)));
    add('malformed JSON', 'content-length with chunked (smuggling)', (m) => () => raw(rawRequest('POST /v1/customers HTTP/1.1', [`Authorization: ${ingest.authHeader}`, 'Content-Type: application/json', 'Content-Length: 4', 'Transfer-Encoding: chunked'], `0\r\n\r\nGET /${m} HTTP/1.1\r\n\r\n`)));
    add('malformed JSON', 'bad chunk size', (m) => () => raw(rawRequest('POST /v1/customers HTTP/1.1', [`Authorization: ${ingest.authHeader}`, 'Content-Type: application/json', 'Transfer-Encoding: chunked'], `zz\r\n{"x":"${m}"}\r\n0\r\n\r\n`)));

    // Wrong types
    for (const [name, value] of [['string', 'S'], ['number', 42], ['boolean', true], ['null', null], ['array', ['S']]] as const) {
      add('wrong types', `personal as ${name}`, (m) => create({ personal: typeof value === 'string' ? `${value}${m}` : value, externalRef: m }));
    }
    for (const [field, value] of [['fullName', 123], ['fullName', true], ['fullName', {}], ['fullName', null], ['email', 42], ['phone', 4420794609], ['dateOfBirth', 19870615], ['nationalId', { id: 1 }], ['address', 'street'], ['address', 7]] as const) {
      add('wrong types', `personal.${field} as ${Array.isArray(value) ? 'array' : value === null ? 'null' : typeof value}`, (m) => create({ externalRef: m, personal: { [field]: value } }));
    }
    add('wrong types', 'consents.marketing as string', (m) => create({ ...valid(m), consents: { marketing: 'true' } }));
    add('wrong types', 'consents.marketing as number', (m) => create({ ...valid(m), consents: { marketing: 1 } }));
    add('wrong types', 'externalRef as number', (m) => create({ ...valid(m), externalRef: 12345 }));
    add('wrong types', 'payment.cardNumber as number', (m) => create({ ...valid(m), payment: { cardNumber: 4111111111111111 } }));
    add('wrong types', 'huge number', (m) => createRaw(`{"personal":{"fullName":1e400},"externalRef":"${m}"}`));
    add('wrong types', 'search email as number', (m) => search({ email: 42, externalRef: undefined, x: m }));
    add('wrong types', 'search externalRef as object', (m) => search({ externalRef: { $ne: m } }));
    add('wrong types', 'search externalRef as array', (m) => search({ externalRef: [m, m] }));

    // Arrays for objects
    add('arrays for objects', 'body array of valid bodies', (m) => create([valid(m), valid(m)]));
    add('arrays for objects', 'empty array body', () => create([]));
    add('arrays for objects', 'personal array', (m) => create({ personal: [{ fullName: m }] }));
    add('arrays for objects', 'address array', (m) => create({ personal: { fullName: 'A B', address: [{ line1: m, city: 'C', country: 'GB' }] } }));
    add('arrays for objects', 'payment array', (m) => create({ ...valid(m), payment: [] }));
    add('arrays for objects', 'consents array', (m) => create({ ...valid(m), consents: [true, true] }));
    add('arrays for objects', 'search body array', (m) => search([{ externalRef: m }]), { searchMayAnswerEmpty: false });

    // Very long strings
    add('long strings', 'fullName 501 chars', (m) => create({ personal: { fullName: `${m}${'a'.repeat(501)}` } }));
    add('long strings', 'email 300 chars', (m) => create({ personal: { email: `${m}${'a'.repeat(290)}@example.com` } }));
    add('long strings', 'externalRef 129 chars', (m) => create({ ...valid('x'), externalRef: `${m}${'r'.repeat(129)}` }));
    add('long strings', 'cardNumber 41 chars', (m) => create({ ...valid(m), payment: { cardNumber: `4111 1111 1111 1111 ${'1'.repeat(25)}` } }));
    add('long strings', 'fullName beyond the body limit (70 000)', (m) => create({ personal: { fullName: `${m}${'a'.repeat(70_000)}` } }));
    add('long strings', 'body of 1 MiB', (m) => createRaw(`{"personal":{"fullName":"${m}${'b'.repeat(1024 * 1024)}"}}`));
    add('long strings', 'search email 400 chars', (m) => search({ email: `${m}${'e'.repeat(400)}@example.com` }));
    add('long strings', 'search externalRef 200 chars', (m) => search({ externalRef: `${m}${'r'.repeat(200)}` }));
    add('long strings', 'address.line1 501 chars', (m) => create({ personal: { fullName: 'A B', address: { line1: `${m}${'l'.repeat(501)}`, city: 'C', country: 'GB' } } }));

    // Deep nesting
    add('deep nesting', '10 000 nested objects under personal', (m) => createRaw(`{"externalRef":"${m}","personal":${'{"a":'.repeat(10_000)}1${'}'.repeat(10_000)}}`));
    add('deep nesting', '10 000 nested arrays as the body', (m) => createRaw(`[${'['.repeat(10_000)}"${m}"${']'.repeat(10_000)}]`));
    add('deep nesting', '10 000 nested arrays in fullName', (m) => createRaw(`{"personal":{"fullName":${'['.repeat(10_000)}"${m}"${']'.repeat(10_000)}}}`));
    add('deep nesting', '100 000 nested objects (beyond the body limit)', (m) => createRaw(`{"x":"${m}","personal":${'{"a":'.repeat(100_000)}1${'}'.repeat(100_000)}}`));
    add('deep nesting', '40 levels in address', (m) => createRaw(`{"personal":{"fullName":"A B","address":${'{"line1":'.repeat(40)}"${m}"${'}'.repeat(40)}}}`));
    add('deep nesting', '10 000 nested search body', (m) => search(JSON.parse(`${'{"email":'.repeat(2_000)}"${m}"${'}'.repeat(2_000)}`) as unknown));

    // NUL, control characters, bidi overrides, lone surrogates
    const nasty: [string, string][] = [
      ['NUL', '\u0000'], ['BEL', '\u0007'], ['CR LF', '\r\n'], ['ESC colour', '\u001b[31m'], ['DEL', '\u007f'], ['NEL (C1)', '\u0085'],
      ['RLO bidi override', '\u202e'], ['LRI bidi isolate', '\u2066'], ['BOM', '\ufeff'], ['lone high surrogate', '\ud800'], ['lone low surrogate', '\udfff'],
    ];
    for (const [name, ch] of nasty) {
      add('control and bidi', `fullName with ${name}`, (m) => create({ personal: { fullName: `Eve ${ch}${m}` } }));
      add('control and bidi', `address.city with ${name}`, (m) => create({ personal: { fullName: 'A B', address: { line1: 'L', city: `C${ch}${m}`, country: 'GB' } } }));
      add('control and bidi', `cardholderName with ${name}`, (m) => create({ ...valid('x'), payment: { cardholderName: `N ${ch}${m}` } }));
      add('control and bidi', `externalRef with ${name}`, (m) => create({ ...valid('x'), externalRef: `R${ch}${m}` }));
      add('control and bidi', `email with ${name}`, (m) => create({ personal: { email: `a${ch}${m}@example.com` } }));
    }
    add('control and bidi', 'lone surrogate as a JSON escape', (m) => createRaw(`{"personal":{"fullName":"A\\ud800${m}"}}`));

    // Invalid UTF-8 in the body
    const invalidUtf8: [string, number[]][] = [['0xFF 0xFE', [0xff, 0xfe]], ['overlong slash C0 AF', [0xc0, 0xaf]], ['lone continuation 0x80', [0x80]], ['truncated 4-byte F0 9F 98', [0xf0, 0x9f, 0x98]], ['CESU surrogate ED A0 80', [0xed, 0xa0, 0x80]], ['Latin-1 e-acute 0xE9', [0xe9]]];
    for (const [name, bytes] of invalidUtf8) {
      add('invalid UTF-8', `fullName with ${name}`, (m) => createRaw(Buffer.concat([Buffer.from(`{"personal":{"fullName":"Eve `), Buffer.from(bytes), Buffer.from(`${m}"}}`)])));
    }
    add('invalid UTF-8', 'UTF-16 body', (m) => createRaw(Buffer.from(JSON.stringify(valid(m)), 'utf16le'), 'application/json; charset=utf-16'));

    // Prototype keys
    for (const key of ['__proto__', 'constructor', 'prototype']) {
      add('prototype keys', `${key} at top level with a valid body`, (m) => createRaw(`{"${key}":{"admin":true,"x":"${m}"},"personal":{"fullName":"Proto Eve"}}`));
      add('prototype keys', `${key} inside personal`, (m) => createRaw(`{"personal":{"fullName":"Proto Eve","${key}":{"polluted":"${m}"}}}`));
      add('prototype keys', `${key} inside address`, (m) => createRaw(`{"personal":{"fullName":"Proto Eve","address":{"line1":"L","city":"C","country":"GB","${key}":{"x":"${m}"}}}}`));
      add('prototype keys', `${key} in search body`, (m) => () => via(vault.http().post('/v1/customers/search').set('Authorization', privacy.authHeader).set('X-Access-Purpose', 'customer_request').set('X-Access-Reason', 'TICKET-4711').set('Content-Type', 'application/json').send(`{"externalRef":"x","${key}":{"y":"${m}"}}`)));
      add('prototype keys', `${key} holding personal`, (m) => createRaw(`{"${key}":{"personal":{"fullName":"${m}"}}}`));
    }

    // SQL and shell metacharacters in every validated field (free-text fields: see the next test)
    const validatedFields: [string, (v: string) => unknown][] = [
      ['personal.email', (v) => ({ personal: { email: v } })],
      ['personal.phone', (v) => ({ personal: { phone: v } })],
      ['personal.nationalId', (v) => ({ personal: { nationalId: v } })],
      ['personal.dateOfBirth', (v) => ({ personal: { dateOfBirth: v } })],
      ['personal.address.country', (v) => ({ personal: { fullName: 'A B', address: { line1: 'L', city: 'C', country: v } } })],
      ['payment.cardNumber', (v) => ({ ...valid('x'), payment: { cardNumber: v } })],
      ['payment.cardExpiry', (v) => ({ ...valid('x'), payment: { cardExpiry: v } })],
      ['consents.marketing', (v) => ({ ...valid('x'), consents: { marketing: v } })],
      ['unknown property name', (v) => ({ ...valid('x'), [v]: 1 })],
    ];
    for (const [field, build] of validatedFields) {
      for (const [i, payload] of SQL_AND_SHELL.entries()) add('SQL and shell', `${field} #${i + 1}`, (m) => create(build(payload(m))));
    }
    for (const key of ['email', 'phone', 'nationalId']) {
      for (const [i, payload] of SQL_AND_SHELL.entries()) add('SQL and shell', `search ${key} #${i + 1}`, (m) => search({ [key]: payload(m) }), { searchMayAnswerEmpty: true });
    }
    for (const [i, payload] of SQL_AND_SHELL.entries()) {
      add('SQL and shell', `X-Access-Purpose on read #${i + 1}`, (m) => read(`/v1/customers/${existingId}`, { 'X-Access-Purpose': payload(m) }));
      add('SQL and shell', `X-Access-Purpose on search #${i + 1}`, (m) => search({ externalRef: 'x' }, { 'X-Access-Purpose': payload(m) }));
      // A printable client X-Request-Id is kept as the event's details.clientRequestId (DESIGN §4), never as its id.
      add('SQL and shell', `X-Request-Id #${i + 1}`, (m) => read(`/v1/customers/${existingId}`, { 'X-Access-Purpose': 'no_such_purpose', 'X-Request-Id': payload(m) }), { storedByDesign: true });
      add('SQL and shell', `X-Access-Reason with an unknown purpose #${i + 1}`, (m) => read(`/v1/customers/${existingId}`, { 'X-Access-Purpose': `nope`, 'X-Access-Reason': payload(m) }), { storedByDesign: true });
      add('SQL and shell', `?fields= #${i + 1}`, (m) => read(`/v1/customers/${existingId}?fields=${encodeURIComponent(payload(m))}`));
      add('SQL and shell', `id in the path #${i + 1}`, (m) => read(`/v1/customers/${encodeURIComponent(payload(m))}`));
      add('SQL and shell', `Authorization #${i + 1}`, (m) => () => via(vault.http().get(`/v1/customers/${existingId}`).set('Authorization', `Bearer ${payload(m)}`).set('X-Access-Purpose', 'customer_request').set('X-Access-Reason', 'TICKET-4711')));
    }

    // Headers: control characters, length, duplicates
    add('headers', 'X-Access-Reason 201 chars', (m) => read(`/v1/customers/${existingId}`, { 'X-Access-Purpose': 'customer_request', 'X-Access-Reason': `${m}${'r'.repeat(201)}` }));
    add('headers', 'X-Access-Reason with raw UTF-8 bidi override bytes', (m) => () => raw(Buffer.concat([Buffer.from(`GET /v1/customers/${existingId} HTTP/1.1\r\nHost: x\r\nConnection: close\r\nAuthorization: ${privacy.authHeader}\r\nX-Access-Purpose: customer_request\r\nX-Access-Reason: T`), Buffer.from('\u202e', 'utf8'), Buffer.from(`${m}\r\n\r\n`)])));
    add('headers', 'X-Access-Reason with NUL', (m) => () => raw(rawRequest(`GET /v1/customers/${existingId} HTTP/1.1`, [`Authorization: ${privacy.authHeader}`, 'X-Access-Purpose: customer_request', `X-Access-Reason: a\u0000${m}`])));
    add('headers', 'X-Access-Reason with ESC', (m) => () => raw(rawRequest(`GET /v1/customers/${existingId} HTTP/1.1`, [`Authorization: ${privacy.authHeader}`, 'X-Access-Purpose: customer_request', `X-Access-Reason: a\u001b[2J${m}`])));
    add('headers', 'X-Access-Purpose with NUL', (m) => () => raw(rawRequest(`GET /v1/customers/${existingId} HTTP/1.1`, [`Authorization: ${privacy.authHeader}`, `X-Access-Purpose: customer_request\u0000${m}`])));
    add('headers', 'header folding (obs-fold)', (m) => () => raw(rawRequest(`GET /v1/customers/${existingId} HTTP/1.1`, [`Authorization: ${privacy.authHeader}`, 'X-Access-Purpose: customer_request', `X-Access-Reason: a`, ` ${m}`])));
    add('headers', 'header name with a space', (m) => () => raw(rawRequest(`GET /v1/customers/${existingId} HTTP/1.1`, [`Authorization: ${privacy.authHeader}`, `X-Access Purpose: ${m}`])));
    add('headers', 'two X-Access-Purpose values', (m) => read(`/v1/customers/${existingId}`, { 'X-Access-Purpose': ['customer_request', `service_support${m}`] }));
    add('headers', 'two valid X-Access-Purpose values', () => read(`/v1/customers/${existingId}`, { 'X-Access-Purpose': ['customer_request', 'service_support'] }));
    add('headers', 'two X-Access-Purpose values on search', () => search({ externalRef: 'x' }, { 'X-Access-Purpose': ['customer_request', 'customer_request'] }));
    add('headers', 'two X-Access-Reason values, one too long', (m) => read(`/v1/customers/${existingId}`, { 'X-Access-Purpose': 'customer_request', 'X-Access-Reason': ['ok', `${m}${'r'.repeat(200)}`] }));
    add('headers', 'two X-Request-Id values with an unknown purpose', (m) => read(`/v1/customers/${existingId}`, { 'X-Access-Purpose': 'nope', 'X-Request-Id': [`req-${m}-aaaaaaaa`, `req-${m}-bbbbbbbb`] }), { storedByDesign: true });
    add('headers', 'two Authorization headers, first missing scheme', (m) => () => raw(rawRequest(`GET /v1/customers/${existingId} HTTP/1.1`, [`Authorization: ${m}`, `Authorization: ${privacy.authHeader}`, 'X-Access-Purpose: customer_request'])));
    add('headers', 'X-Access-Reason of 20 KiB (beyond the 16 KiB header limit)', (m) => () => raw(rawRequest(`GET /v1/customers/${existingId} HTTP/1.1`, [`Authorization: ${privacy.authHeader}`, 'X-Access-Purpose: customer_request', `X-Access-Reason: ${m}${'r'.repeat(20 * 1024)}`])));
    add('headers', 'Cookie of 64 KiB', (m) => () => raw(rawRequest(`GET /v1/customers/${existingId} HTTP/1.1`, [`Authorization: ${privacy.authHeader}`, `Cookie: c=${m}${'c'.repeat(64 * 1024)}`])));
    add('headers', '3000 small headers', (m) => () => raw(rawRequest(`GET /v1/customers/${existingId} HTTP/1.1`, [`Authorization: ${privacy.authHeader}`, 'X-Access-Purpose: nope', ...Array.from({ length: 3000 }, (_, i) => `X-H${i}: ${m}`)])));
    add('headers', 'Authorization of 20 KiB', (m) => () => raw(rawRequest(`GET /v1/customers/${existingId} HTTP/1.1`, [`Authorization: Bearer cv_${m}${'t'.repeat(20 * 1024)}`])));
    add('headers', 'Authorization of 10 KiB (under the limit)', (m) => () => via(vault.http().get(`/v1/customers/${existingId}`).set('Authorization', `Bearer cv_${m}${'t'.repeat(10 * 1024)}`)));
    add('headers', 'request line with a 20 KiB path', (m) => () => raw(rawRequest(`GET /v1/customers/${m}${'p'.repeat(20 * 1024)} HTTP/1.1`, [`Authorization: ${privacy.authHeader}`])));
    add('headers', 'not HTTP at all', (m) => () => raw(`HELLO ${m}\r\n\r\n`));
    add('headers', 'HTTP/1.1 without Host', (m) => () => raw(`GET /v1/customers/${m} HTTP/1.1\r\nConnection: close\r\n\r\n`), { nodeAnswers: true });

    // Ids
    for (const [name, id] of [
      ['word', 'HXID'], ['numeric', '12345'], ['uuid without dashes', '0b6f7c1e4a2d4f3b8c9e1d2a3b4c5d6e'], ['uuid with braces', '{0b6f7c1e-4a2d-4f3b-8c9e-1d2a3b4c5d6e}'],
      ['uuid plus suffix', '0b6f7c1e-4a2d-4f3b-8c9e-1d2a3b4c5d6eHX'], ['overlong (5000 chars)', 'a'.repeat(5000)], ['encoded NUL', '%00'], ['encoded slash traversal', '..%2F..%2Fetc%2Fpasswd'],
      ['unicode', encodeURIComponent('ünïcødé')], ['encoded newline', '%0d%0aSet-Cookie:%20x=1'], ['double-encoded quote', '%2527'], ['bad percent-encoding', '%zz'],
    ] as const) {
      add('ids', `read id: ${name}`, (m) => read(`/v1/customers/${id}${id.length > 100 || id.startsWith('%') ? '' : m}`));
      add('ids', `erase id: ${name}`, (m) => () => via(vault.http().delete(`/v1/customers/${id}${m}`).set('Authorization', privacy.authHeader)));
      add('ids', `correct id: ${name}`, (m) => () => via(vault.http().patch(`/v1/customers/${id}${m}`).set('Authorization', privacy.authHeader).send({ personal: { fullName: 'New Name' } })));
    }
    add('ids', 'unknown UUID: read', () => read('/v1/customers/0b6f7c1e-4a2d-4f3b-8c9e-1d2a3b4c5d6e'));
    add('ids', 'unknown UUID: erase', () => () => via(vault.http().delete('/v1/customers/0b6f7c1e-4a2d-4f3b-8c9e-1d2a3b4c5d6e').set('Authorization', privacy.authHeader)));
    add('ids', 'unknown UUID: correct', (m) => () => via(vault.http().patch('/v1/customers/0b6f7c1e-4a2d-4f3b-8c9e-1d2a3b4c5d6e').set('Authorization', privacy.authHeader).send({ personal: { fullName: `New ${m}` } })));
    add('ids', '?fields= unknown name', (m) => read(`/v1/customers/${existingId}?fields=fullName,${m}`));
    add('ids', '?fields= 5000 chars', (m) => read(`/v1/customers/${existingId}?fields=${m}${'f'.repeat(5000)}`));
    add('ids', '?fields= repeated with a bad one', (m) => read(`/v1/customers/${existingId}?fields=fullName&fields=${m}`));

    // Unknown purposes
    for (const purpose of ['HXPURPOSE', 'CUSTOMER_REQUEST', 'customer-request', 'customer_request;', 'customer_request,service_support', '*', 'all', 'admin', '../customer_request', 'customer_request\tservice_support']) {
      add('unknown purposes', `read for ${JSON.stringify(purpose)}`, (m) => read(`/v1/customers/${existingId}`, { 'X-Access-Purpose': purpose === 'HXPURPOSE' ? m : purpose }));
      add('unknown purposes', `search for ${JSON.stringify(purpose)}`, (m) => search({ externalRef: m }, { 'X-Access-Purpose': purpose === 'HXPURPOSE' ? m : purpose }));
      add('unknown purposes', `create for ${JSON.stringify(purpose)}`, (m) => () => via(vault.http().post('/v1/customers').set('Authorization', ingest.authHeader).set('X-Access-Purpose', purpose === 'HXPURPOSE' ? m : purpose).send(valid(m))));
    }
    add('unknown purposes', 'read without a purpose', () => read(`/v1/customers/${existingId}`, {}));
    add('unknown purposes', 'read with an empty purpose', () => read(`/v1/customers/${existingId}`, { 'X-Access-Purpose': '' }));
  }

  async function counts(): Promise<string> {
    const [row] = await vault.sql<{ c: number; d: number; b: number }>(
      'SELECT (SELECT count(*) FROM customers)::int AS c, (SELECT count(*) FROM customer_deks)::int AS d, (SELECT count(*) FROM customer_blind_indexes)::int AS b',
    );
    return `${row.c}/${row.d}/${row.b}`;
  }

  beforeAll(async () => {
    vault = await startTestApp();
    server = vault.app.getHttpServer() as Server;
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', () => resolve()));
    ingest = await createPrincipal(vault, { roles: ['ingest'] });
    privacy = await createPrincipal(vault, { roles: ['privacy'] });
    const created = await vault.http().post('/v1/customers').set('Authorization', ingest.authHeader).send({ externalRef: 'HOSTILE-BASE', personal: { fullName: 'Baseline Person', email: 'baseline.person@example.com', phone: '+44 20 7946 0001', nationalId: 'BASE-0001' } }).expect(201);
    existingId = created.body.id as string;
    buildCorpus();
  }, 60_000);
  afterAll(async () => {
    await vault.close();
  });

  it('answers every corpus input with a documented 4xx, without echo and without writing', async () => {
    const failures: string[] = [];
    for (const c of cases) {
      const before = await counts();
      const res = await c.send();
      const after = await counts();
      tally.inputs++;
      statuses[res.status] = (statuses[res.status] ?? 0) + 1;
      responseTexts.push(res.text);
      const label = `[${c.category}] ${c.name}: ${res.status}`;
      if (res.status >= 500 || res.status === 0) {
        tally.fiveHundreds++;
        failures.push(`${label} (5xx or no answer) ${res.text.slice(-300)}`);
      }
      const emptySearch = c.searchMayAnswerEmpty === true && res.status === 200 && JSON.stringify(res.body) === '{"results":[]}';
      if (emptySearch) tally.emptySearches++;
      else if (DOCUMENTED_4XX.has(res.status)) tally.refused++;
      else if (res.status < 500) failures.push(`${label} (not a documented 4xx)`);
      if (res.text.toLowerCase().includes(c.marker.toLowerCase())) {
        tally.echoes++;
        failures.push(`${label} echoes its payload`);
      }
      if (res.status !== 0 && c.nodeAnswers !== true && (typeof res.body !== 'object' || res.body === null || (!emptySearch && typeof (res.body as { error?: { code?: unknown } }).error?.code !== 'string'))) {
        failures.push(`${label} has no JSON error body`);
      }
      if (before !== after) {
        tally.writes++;
        failures.push(`${label} wrote customer data (${before} -> ${after})`);
      }
    }
    expect(failures).toEqual([]);
  }, 240_000);

  it('stores SQL and shell metacharacters in free-text fields as data: encrypted, read back exactly, nothing else touched', async () => {
    const before = await vault.sql<{ n: number }>('SELECT count(*)::int AS n FROM customers');
    for (const [i, payload] of SQL_AND_SHELL.entries()) {
      const m = marker();
      // eslint-disable-next-line no-control-regex -- strips control characters on purpose
      const text = payload(m).replace(/[\u0000-\u001f]/g, '');
      const body = {
        externalRef: `EXT-${i}-${text}`.slice(0, 128),
        personal: { fullName: `FN ${text}`, address: { line1: `L1 ${text}`, line2: `L2 ${text}`, city: `CT ${text}`, postalCode: `PC ${text}`.slice(0, 500), country: 'GB' } },
        payment: { cardholderName: `CH ${text}`, bankAccount: `BA ${text}` },
      };
      const created = await vault.http().post('/v1/customers').set('Authorization', ingest.authHeader).send(body);
      tally.inputs++;
      if (created.status >= 500) tally.fiveHundreds++;
      expect(created.status).toBe(201);
      expect(created.text).not.toContain(m);
      const back = await vault.http().get(`/v1/customers/${created.body.id as string}`).set('Authorization', privacy.authHeader).set('X-Access-Purpose', 'customer_request').set('X-Access-Reason', 'TICKET-4711').expect(200);
      expect(back.body.data.fullName).toBe(body.personal.fullName);
      expect(back.body.data.address).toEqual(body.personal.address);
      expect(back.body.data.cardholderName).toBe(body.payment.cardholderName);
      expect(back.body.data.bankAccount).toBe(body.payment.bankAccount);
      expect(back.body.externalRef).toBe(body.externalRef);
      const found = await vault.http().post('/v1/customers/search').set('Authorization', privacy.authHeader).set('X-Access-Purpose', 'customer_request').set('X-Access-Reason', 'TICKET-4711').send({ externalRef: body.externalRef }).expect(200);
      tally.inputs++;
      expect(found.body.results).toEqual([{ id: created.body.id as string }]);
      const none = await vault.http().post('/v1/customers/search').set('Authorization', privacy.authHeader).set('X-Access-Purpose', 'customer_request').set('X-Access-Reason', 'TICKET-4711').send({ externalRef: text.slice(0, 128) }).expect(200);
      tally.inputs++;
      expect(none.body.results).toEqual([]);
      // Leak scan needles: the free-text values are stored encrypted only (externalRef is plain by design).
      cases.push({ category: 'stored', name: `free text #${i + 1}`, marker: `FN ${text}`, send: () => Promise.reject(new Error('not sent')) });
    }
    const after = await vault.sql<{ n: number }>('SELECT count(*)::int AS n FROM customers');
    expect(after[0].n - before[0].n).toBe(SQL_AND_SHELL.length);
    const [tables] = await vault.sql<{ n: number }>("SELECT count(*)::int AS n FROM information_schema.tables WHERE table_schema = 'public' AND table_name IN ('customers', 'customer_deks', 'customer_blind_indexes')");
    expect(tables.n).toBe(3);
  }, 60_000);

  it('leaks nothing: no payload or token in the database, the logs or any response', async () => {
    const needles = [...cases.filter((c) => c.storedByDesign !== true).map((c) => c.marker), ingest.token, privacy.token];
    const leaks = await findLeaks(vault, needles, { responses: responseTexts.join('\n') });
    // the markers of the corpus cases are unique: a stored value would show up here
    const counts = { inputsTried: tally.inputs, fiveHundredsSeen: tally.fiveHundreds, leaksFound: leaks.length + tally.echoes, refusedWith4xx: tally.refused, emptySearches: tally.emptySearches, writes: tally.writes, corpusStatuses: statuses };
    process.stdout.write(`\nHOSTILE-INPUT CORPUS: ${JSON.stringify(counts)}\n`);
    expect(leaks).toEqual([]);
    expect(counts.fiveHundredsSeen).toBe(0);
    expect(counts.leaksFound).toBe(0);
    expect(counts.inputsTried).toBeGreaterThan(300);
  }, 120_000);
});
