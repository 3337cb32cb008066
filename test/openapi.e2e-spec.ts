import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { Ajv, type ValidateFunction } from 'ajv';
import addFormats from 'ajv-formats';
import type { Response } from 'supertest';
import { readFileSync } from 'node:fs';
import ts from 'typescript';
import { createVaultClient } from '../client/index.js';
import { clientSources, staleFiles } from '../src/openapi/generate-client.js';
import { createPrincipal, type TestPrincipal } from './helpers/principals.js';
import { startTestApp, type TestApp } from './helpers/test-app.js';

/**
 * OpenAPI 3.0 `nullable: true` as JSON Schema: `null` or the schema. (Ajv's own `nullable` needs a
 * `type` beside it, and Nest writes a nullable reference as `{nullable, allOf: [$ref]}`.)
 */
function asJsonSchema(node: unknown): unknown {
  if (Array.isArray(node)) return node.map(asJsonSchema);
  if (node === null || typeof node !== 'object') return node;
  const { nullable, ...rest } = node as Record<string, unknown>;
  const converted = Object.fromEntries(Object.entries(rest).map(([key, value]) => [key, asJsonSchema(value)]));
  return nullable === true ? { anyOf: [{ type: 'null' }, converted] } : converted;
}

interface OperationDoc {
  responses: Record<string, { content?: Record<string, { schema?: object }> }>;
}
interface OpenApiDoc {
  paths: Record<string, Record<string, OperationDoc>>;
  components: { schemas: Record<string, object> };
}

/**
 * The OpenAPI document against the live API: every documented operation is called for real, its
 * status must be one the document lists for it, and a JSON answer must match the documented schema
 * (ajv, formats included). Every route has a case here, so a new route fails this test until it is
 * documented and exercised. The committed typed client must match the live document.
 */
describe('OpenAPI document (GET /docs-json) against live answers', () => {
  let vault: TestApp;
  let doc: OpenApiDoc;
  let ajv: Ajv;
  const who: Record<string, TestPrincipal> = {};
  let customerId: string;
  let jobId: string;
  const seen = new Set<string>();

  beforeAll(async () => {
    vault = await startTestApp();
    for (const role of ['admin', 'ingest', 'support', 'security', 'privacy'] as const) who[role] = await createPrincipal(vault, { roles: [role] });
    doc = (await vault.http().get('/docs-json').expect(200)).body as OpenApiDoc;
    ajv = new Ajv({ strict: false, allErrors: true });
    addFormats.default(ajv);
    ajv.addSchema(asJsonSchema({ components: doc.components }) as object, 'openapi');
  });
  afterAll(async () => {
    await vault?.close();
  });

  const validators = new Map<object, ValidateFunction>();
  /** Checks one live answer against the document; records the operation as exercised. */
  function conforms(method: string, route: string, res: Response): void {
    const operation = doc.paths[route]?.[method];
    expect({ route, method, documented: operation !== undefined }).toEqual({ route, method, documented: true });
    seen.add(`${method} ${route}`);
    const documented = (operation as OperationDoc).responses[String(res.status)];
    expect({ route, method, status: res.status, documented: documented !== undefined }).toEqual({ route, method, status: res.status, documented: true });
    const schema = documented?.content?.['application/json']?.schema;
    if (schema === undefined) return;
    expect(res.headers['content-type']).toMatch(/^application\/json/);
    const rewritten = asJsonSchema(JSON.parse(JSON.stringify(schema).replaceAll('"#/components', '"openapi#/components'))) as object;
    let validate = validators.get(schema);
    if (validate === undefined) {
      validate = ajv.compile(rewritten);
      validators.set(schema, validate);
    }
    const ok = validate(res.body);
    expect({ route, method, status: res.status, errors: ok ? null : validate.errors }).toEqual({ route, method, status: res.status, errors: null });
  }
  const as = (p: TestPrincipal) => ({ Authorization: p.authHeader });

  it('health routes', async () => {
    conforms('get', '/healthz', await vault.http().get('/healthz'));
    conforms('get', '/readyz', await vault.http().get('/readyz'));
    conforms('get', '/metrics', await vault.http().get('/metrics'));
  });

  it('customer routes, answers and errors', async () => {
    const created = await vault.http().post('/v1/customers').set(as(who.ingest)).send({
      externalRef: 'OAS-1',
      personal: { fullName: 'Oona Spec', email: 'oona.spec@example.com', phone: '+84 912 345 678', address: { line1: '1 Spec St', city: 'Hanoi', country: 'VN' } },
      consents: { marketing: false, thirdPartySharing: true },
    });
    conforms('post', '/v1/customers', created);
    customerId = created.body.id;
    conforms('post', '/v1/customers', await vault.http().post('/v1/customers').set(as(who.ingest)).send({ personal: { email: 'not-an-email' } }));
    conforms('post', '/v1/customers', await vault.http().post('/v1/customers').set(as(who.support)).send({ personal: { fullName: 'X' } }));
    conforms('post', '/v1/customers', await vault.http().post('/v1/customers').send({ personal: { fullName: 'X' } }));
    // Idempotency-Key: a replay (Idempotent-Replayed), the key reused for another body (422), a malformed key (400).
    const keyed = (body: object) => vault.http().post('/v1/customers').set(as(who.ingest)).set('Idempotency-Key', 'oas-create-1').send(body);
    conforms('post', '/v1/customers', await keyed({ personal: { fullName: 'Oona Keyed' } }));
    const replayed = await keyed({ personal: { fullName: 'Oona Keyed' } });
    expect(replayed.headers['idempotent-replayed']).toBe('true');
    conforms('post', '/v1/customers', replayed);
    conforms('post', '/v1/customers', await keyed({ personal: { fullName: 'Oona Other' } }));
    conforms('post', '/v1/customers', await vault.http().post('/v1/customers').set(as(who.ingest)).set('Idempotency-Key', 'not a key').send({ personal: { fullName: 'X' } }));

    const privacy = { ...as(who.privacy), 'X-Access-Purpose': 'customer_request', 'X-Access-Reason': 'ticket OAS-1' };
    conforms('get', '/v1/customers/{id}', await vault.http().get(`/v1/customers/${customerId}`).set(privacy));
    conforms('get', '/v1/customers/{id}', await vault.http().get(`/v1/customers/${customerId}`).set({ ...as(who.support), 'X-Access-Purpose': 'service_support' }));
    conforms('get', '/v1/customers/{id}', await vault.http().get(`/v1/customers/${customerId}`).set({ ...as(who.support), 'X-Access-Purpose': 'marketing' }));
    conforms('get', '/v1/customers/{id}', await vault.http().get('/v1/customers/00000000-0000-4000-8000-000000000000').set(privacy));
    conforms('post', '/v1/customers/search', await vault.http().post('/v1/customers/search').set(privacy).send({ externalRef: 'OAS-1' }));
    conforms('post', '/v1/customers/search', await vault.http().post('/v1/customers/search').set(privacy).send({}));
    conforms('patch', '/v1/customers/{id}', await vault.http().patch(`/v1/customers/${customerId}`).set(as(who.privacy)).send({ personal: { fullName: 'Oona Q Spec' } }));
    conforms('put', '/v1/customers/{id}/consents', await vault.http().put(`/v1/customers/${customerId}/consents`).set(privacy).send({ marketing: true }));
    const hold = () => vault.http().put(`/v1/customers/${customerId}/contact-hold`).set(as(who.security)).set('Idempotency-Key', 'oas-hold-1').send({ reason: 'suspected fraud, ticket OAS-2' });
    conforms('put', '/v1/customers/{id}/contact-hold', await hold());
    conforms('put', '/v1/customers/{id}/contact-hold', await hold()); // replayed: no reason
    conforms('delete', '/v1/customers/{id}/contact-hold', await vault.http().delete(`/v1/customers/${customerId}/contact-hold`).set(as(who.security)));
    conforms('post', '/v1/customers/{id}/rekey', await vault.http().post(`/v1/customers/${customerId}/rekey`).set(as(who.admin)));
    conforms('get', '/v1/customers/{id}/access-report', await vault.http().get(`/v1/customers/${customerId}/access-report`).set(as(who.security)));
    conforms('get', '/v1/customers/{id}/access-report', await vault.http().get('/v1/customers/not-a-uuid/access-report').set(as(who.security)));
    // the customer's rights (issue 14)
    const restrict = () => vault.http().put(`/v1/customers/${customerId}/restriction`).set(as(who.privacy)).set('Idempotency-Key', 'oas-restrict-1').send({ reason: 'dispute OAS-3' });
    conforms('put', '/v1/customers/{id}/restriction', await restrict());
    conforms('put', '/v1/customers/{id}/restriction', await restrict()); // replayed: no reason
    conforms('delete', '/v1/customers/{id}/restriction', await vault.http().delete(`/v1/customers/${customerId}/restriction`).set(as(who.privacy)));
    const disclose = () => vault.http().post(`/v1/customers/${customerId}/disclosures`).set(as(who.privacy)).set('Idempotency-Key', 'oas-disclose-1').send({ recipient: { name: 'Tax office', country: 'VN' }, legalBasis: 'legal_obligation', reference: 'Decree 13 art. 17', fields: ['fullName'] });
    conforms('post', '/v1/customers/{id}/disclosures', await disclose());
    const disclosedAgain = await disclose(); // replayed: no data
    expect(disclosedAgain.body.data).toBeUndefined();
    conforms('post', '/v1/customers/{id}/disclosures', disclosedAgain);
    conforms('get', '/v1/customers/{id}/disclosures', await vault.http().get(`/v1/customers/${customerId}/disclosures`).set(as(who.privacy)));
    conforms('get', '/v1/customers/{id}/subject-access', await vault.http().get(`/v1/customers/${customerId}/subject-access`).set(privacy));
    conforms('put', '/v1/customers/{id}/closure', await vault.http().put(`/v1/customers/${customerId}/closure`).set(as(who.ingest)).send({}));
    conforms('delete', '/v1/customers/{id}', await vault.http().delete(`/v1/customers/${customerId}`).set(as(who.privacy)));
    conforms('get', '/v1/customers/{id}', await vault.http().get(`/v1/customers/${customerId}`).set(privacy));
  });

  it('audit routes', async () => {
    conforms('get', '/v1/audit/events', await vault.http().get('/v1/audit/events?limit=5').set(as(who.security)));
    conforms('get', '/v1/audit/events', await vault.http().get('/v1/audit/events?limit=5000').set(as(who.security)));
    conforms('get', '/v1/audit/events', await vault.http().get('/v1/audit/events').set(as(who.support)));
    conforms('get', '/v1/audit/export', await vault.http().get('/v1/audit/export?format=csv').set(as(who.security)));
    conforms('get', '/v1/audit/verify', await vault.http().get('/v1/audit/verify').set(as(who.security)));
    conforms('get', '/v1/audit/public-key', await vault.http().get('/v1/audit/public-key').set(as(who.security)));
    conforms('get', '/v1/audit/flags', await vault.http().get('/v1/audit/flags').set(as(who.security)));
    conforms('get', '/v1/audit/impact', await vault.http().get(`/v1/audit/impact?actorId=${who.ingest.id}&from=2020-01-01&to=2030-01-01`).set(as(who.security)));
    conforms('get', '/v1/audit/impact', await vault.http().get('/v1/audit/impact').set(as(who.security)));
    conforms('get', '/v1/audit/stream', await vault.http().get('/v1/audit/stream?from=999999999').set(as(who.security)));
    conforms('get', '/v1/audit/stream', await vault.http().get('/v1/audit/stream').set(as(who.support)));
    conforms('get', '/v1/audit/flags', await vault.http().get('/v1/audit/flags?from=2020-01-01&to=2021-01-01').set(as(who.security)));
  });

  it('principal and key routes', async () => {
    const newPrincipal = () => vault.http().post('/v1/principals').set(as(who.admin)).set('Idempotency-Key', 'oas-principal-1').send({ name: 'oas-probe', kind: 'service', roles: ['support'] });
    const created = await newPrincipal();
    conforms('post', '/v1/principals', created);
    const createdAgain = await newPrincipal(); // replayed: no token
    expect(createdAgain.body.token).toBeUndefined();
    conforms('post', '/v1/principals', createdAgain);
    conforms('post', '/v1/principals', await vault.http().post('/v1/principals').set(as(who.admin)).send({ name: 'oas-probe', kind: 'service', roles: ['support'] }));
    conforms('get', '/v1/principals', await vault.http().get('/v1/principals').set(as(who.admin)));
    conforms('delete', '/v1/principals/{id}', await vault.http().delete(`/v1/principals/${created.body.id}`).set(as(who.admin)));
    conforms('get', '/v1/me', await vault.http().get('/v1/me').set(as(who.security)));
    conforms('get', '/v1/keys', await vault.http().get('/v1/keys').set(as(who.admin)));
    conforms('post', '/v1/keys/rotate', await vault.http().post('/v1/keys/rotate').set(as(who.admin)).set('Idempotency-Key', ' '));
    const rotation = await vault.http().post('/v1/keys/rotate').set(as(who.admin));
    conforms('post', '/v1/keys/rotate', rotation);
    jobId = rotation.body.jobId;
    conforms('get', '/v1/keys/jobs/{id}', await vault.http().get(`/v1/keys/jobs/${jobId}`).set(as(who.admin)));
    conforms('get', '/v1/keys/jobs/{id}', await vault.http().get('/v1/keys/jobs/00000000-0000-4000-8000-000000000000').set(as(who.admin)));
    conforms('post', '/v1/keys/{version}/retire', await vault.http().post(`/v1/keys/${rotation.body.version}/retire`).set(as(who.admin)));
    conforms('get', '/v1/keys', await vault.http().get('/v1/keys').set(as(who.support)));
  });

  it('every documented operation was exercised above, and nothing undocumented answers', () => {
    const documented = Object.entries(doc.paths).flatMap(([route, item]) => Object.keys(item).filter((m) => ['get', 'put', 'post', 'delete', 'patch'].includes(m)).map((m) => `${m} ${route}`));
    expect([...seen].sort()).toEqual(documented.sort());
  });

  it("the README's typed-client example runs as written against a live vault", async () => {
    const readme = readFileSync('README.md', 'utf8');
    const snippet = /## The typed client[\s\S]*?```ts\n([\s\S]*?)```/.exec(readme)?.[1];
    expect(snippet).toBeDefined();
    expect((snippet as string).split('\n').filter((line) => line.trim() !== '').length).toBeLessThanOrEqual(15);
    const body = (snippet as string).replace(/^import .*$/m, '');
    const js = ts.transpileModule(body, { compilerOptions: { target: ts.ScriptTarget.ES2022, module: ts.ModuleKind.ESNext } }).outputText;
    await vault.app.listen(0, '127.0.0.1');
    const address = vault.app.getHttpServer().address();
    const port = typeof address === 'object' && address ? address.port : 0;
    const printed: unknown[] = [];
    const AsyncFunction = Object.getPrototypeOf(async () => undefined).constructor as new (...args: string[]) => (...values: unknown[]) => Promise<void>;
    const run = new AsyncFunction('createVaultClient', 'process', 'console', js.replace("'http://localhost:8080'", `'http://127.0.0.1:${port}'`));
    const billing = await createPrincipal(vault, { roles: ['billing'] });
    await run(createVaultClient, { env: { VAULT_TOKEN: billing.token } }, { log: (...values: unknown[]) => printed.push(...values) });
    expect(printed).toEqual(['Tran Thi Binh', ['fullName', 'email']]);
  });

  it('the committed typed client (client/openapi.json, client/schema.ts) matches the live document', async () => {
    expect(staleFiles(await clientSources(doc as never))).toEqual([]);
  });
});
