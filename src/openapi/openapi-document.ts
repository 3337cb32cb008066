import type { INestApplication } from '@nestjs/common';
import { DocumentBuilder, SwaggerModule, type OpenAPIObject } from '@nestjs/swagger';

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
