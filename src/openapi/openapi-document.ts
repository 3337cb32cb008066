import type { INestApplication } from '@nestjs/common';
import { DocumentBuilder, SwaggerModule, type OpenAPIObject } from '@nestjs/swagger';
import { IDEMPOTENCY_HEADER, REPLAYED_HEADER, type IdempotentRoute } from '../idempotency/idempotency.js';

/** DESIGN §4's error body, the same for every failing answer. */
const ERROR_RESPONSE_SCHEMA = {
  type: 'object',
  required: ['error'],
  properties: {
    error: {
      type: 'object',
      required: ['code', 'message', 'requestId'],
      properties: {
        code: { type: 'string', description: 'stable machine-readable code, e.g. invalid_input, forbidden, contact_hold' },
        message: { type: 'string', description: 'for people; never carries a field value, token or key' },
        requestId: { type: 'string', description: 'the id of this request in logs and in the audit log' },
        details: {
          type: 'array',
          items: { type: 'object', required: ['field', 'problem'], properties: { field: { type: 'string' }, problem: { type: 'string' } } },
        },
      },
    },
  },
} as const;

/** Answers every authenticated route can give, whatever the handler does. */
const COMMON_V1_ERRORS: Record<string, string> = {
  '401': 'missing, malformed, unknown or revoked token',
  '429': 'rate limited (Retry-After says when to come back)',
  '503': 'the audit log or the database cannot be written: nothing was done (fail closed)',
};

const HTTP_METHODS = ['get', 'put', 'post', 'delete', 'patch'] as const;

type Operation = NonNullable<OpenAPIObject['paths'][string]['post']>;

/**
 * What `@Idempotent` declares, written into the operation: the Idempotency-Key header, and for a
 * write the answers it adds (400 malformed key, 409 key in use, 422 key reused, 503 outcome_unknown)
 * and the `Idempotent-Replayed` header of a replayed success.
 */
function documentIdempotency(operation: Operation): void {
  const extensions = operation as Operation & { 'x-idempotency'?: { kind: IdempotentRoute['kind']; replayOmits: string[] } };
  const declared = extensions['x-idempotency'];
  if (declared === undefined) return;
  delete extensions['x-idempotency'];
  const write = declared.kind === 'write';
  operation.parameters = [
    ...(operation.parameters ?? []),
    {
      name: IDEMPOTENCY_HEADER,
      in: 'header',
      required: false,
      description: write
        ? 'a key of your own (a new UUID per write) that makes a retry safe: the same key with the same request answers the stored status and answer ' +
          `(header ${REPLAYED_HEADER}: true) without writing again, for VAULT_IDEMPOTENCY_TTL (default 24 h); stored as sent, so never put data in it` +
          (declared.replayOmits.length > 0 ? `; a replay leaves out ${declared.replayOmits.join(', ')}` : '')
        : 'accepted (checked like on writes) but not stored: this is a read, and a retry runs it again',
      schema: { type: 'string', minLength: 1, maxLength: 255, pattern: '^[\\x21-\\x7e]+$' },
    },
  ];
  const alsoAnswers = (status: string, text: string): void => {
    const response = operation.responses[status];
    operation.responses[status] = response === undefined || '$ref' in response ? { description: text } : { ...response, description: `${response.description}; or ${text}` };
  };
  alsoAnswers('400', `invalid_input: a malformed ${IDEMPOTENCY_HEADER}`);
  if (!write) return;
  for (const [status, response] of Object.entries(operation.responses)) {
    if (Number(status) >= 200 && Number(status) < 300 && response !== undefined && !('$ref' in response)) {
      response.headers = { ...response.headers, [REPLAYED_HEADER]: { description: `\`true\` when this answer is the stored answer of an earlier request with the same ${IDEMPOTENCY_HEADER}`, schema: { type: 'string', enum: ['true'] } } };
    }
  }
  alsoAnswers('409', `idempotency_key_in_use: a concurrent request of this principal holds this ${IDEMPOTENCY_HEADER}`);
  operation.responses['422'] = { description: `idempotency_key_reused: this ${IDEMPOTENCY_HEADER} was used for another request (route, resource, purpose, reason or body)` };
  operation.responses['503'] = {
    description: `${COMMON_V1_ERRORS['503']}; or outcome_unknown: the database went away while the write was being committed, so it may have been stored: retry with the same ${IDEMPOTENCY_HEADER}`,
  };
}

/**
 * The OpenAPI document of the HTTP API: served at /docs (and /docs-json), and the source of the
 * typed client in client/ (`npm run client:generate`). One builder for both, so they cannot drift.
 * Error answers are completed here, in one place: every /v1 operation documents 401, 429 and 503,
 * and every 4xx/5xx answer carries the one error schema.
 */
export function buildOpenApiDocument(app: INestApplication): OpenAPIObject {
  const config = new DocumentBuilder()
    .setTitle('Customer Vault')
    .setDescription("Encrypted, purpose-bound, audited storage of customers' personal and payment data.")
    .setVersion('1')
    .addBearerAuth()
    .build();
  const document = SwaggerModule.createDocument(app, config, {
    operationIdFactory: (controllerKey, methodKey) => `${controllerKey.replace(/Controller$/, '')}_${methodKey}`,
  });
  document.components = { ...document.components, schemas: { ...document.components?.schemas, ErrorResponse: structuredClone(ERROR_RESPONSE_SCHEMA) as never } };
  for (const [route, item] of Object.entries(document.paths)) {
    for (const method of HTTP_METHODS) {
      const operation = item[method];
      if (operation === undefined) continue;
      documentIdempotency(operation);
      if (route.startsWith('/v1/')) {
        for (const [status, description] of Object.entries(COMMON_V1_ERRORS)) operation.responses[status] ??= { description };
      }
      for (const [status, response] of Object.entries(operation.responses)) {
        if (response !== undefined && Number(status) >= 400 && !('$ref' in response)) {
          response.content = { 'application/json': { schema: { $ref: '#/components/schemas/ErrorResponse' } } };
        }
      }
    }
  }
  return document;
}
