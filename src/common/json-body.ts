import { isUtf8 } from 'node:buffer';
import type { IncomingHttpHeaders } from 'node:http';
import type { Readable, Transform } from 'node:stream';
import zlib from 'node:zlib';
import type { FastifyInstance, FastifyRequest } from 'fastify';
import { VaultError } from './vault-error.js';

const JSON_TYPE = /^application\/(?:[\w.+-]+\+)?json\s*(?:;|$)/i;
const CHARSET = /;\s*charset\s*=\s*(?:"([^"]*)"|([^;\s]*))/i;
// JSON's whitespace (space, tab, LF, CR), as body-parser's strict check.
// eslint-disable-next-line no-control-regex -- tab, LF and CR are JSON whitespace
const FIRST_NON_WHITESPACE = /^[\x20\x09\x0a\x0d]*([^\x20\x09\x0a\x0d]|$)/;

function hasBody(headers: IncomingHttpHeaders): boolean {
  const length = headers['content-length'];
  return headers['transfer-encoding'] !== undefined || (length !== undefined && length !== '0');
}

/** The vault's bodies are at most 3 levels deep; far deeper ones are hostile (recursion in the transformer). */
export const MAX_BODY_DEPTH = 32;
const RESERVED_KEYS: ReadonlySet<string> = new Set(['__proto__', 'constructor', 'prototype']);
/** `"\ud800"` is valid JSON but not text; validators (encodeURI inside validator.js) throw on it. */
const LONE_SURROGATE = /[\ud800-\udfff]/u;

/**
 * Why a parsed body is refused before it reaches class-transformer, or null: nesting deeper than
 * MAX_BODY_DEPTH, a prototype key anywhere (assigning `__proto__` while building a DTO would swap
 * the instance's prototype and slip past the unknown-property check), or a lone UTF-16 surrogate in
 * a string or key. Iterative: no stack to exhaust.
 */
export function refuseBodyShape(body: unknown): string | null {
  const stack: { value: unknown; depth: number }[] = [{ value: body, depth: 1 }];
  while (stack.length > 0) {
    const { value, depth } = stack.pop() as { value: unknown; depth: number };
    if (typeof value === 'string' && LONE_SURROGATE.test(value)) return 'request body holds a string that is not valid Unicode';
    if (typeof value !== 'object' || value === null) continue;
    if (depth > MAX_BODY_DEPTH) return `request body is nested deeper than ${MAX_BODY_DEPTH} levels`;
    for (const key of Object.keys(value)) {
      if (RESERVED_KEYS.has(key)) return 'request body uses a reserved property name';
      if (LONE_SURROGATE.test(key)) return 'request body holds a string that is not valid Unicode';
      stack.push({ value: (value as Record<string, unknown>)[key], depth: depth + 1 });
    }
  }
  return null;
}

const tooLarge = (): VaultError => new VaultError('payload_too_large', 'request body too large');
const unreadable = (): VaultError => new VaultError('invalid_input', 'request body could not be read');
const notUtf8Json = (): VaultError => new VaultError('unsupported_media_type', 'request body must be UTF-8 JSON');

/** A decompressing stream for a Content-Encoding, null for identity; throws 415 for others (gzip, deflate, br, zstd as before). */
function decoderFor(encoding: string): Transform | null {
  switch (encoding) {
    case 'identity':
      return null;
    case 'gzip':
      return zlib.createGunzip();
    case 'deflate':
      return zlib.createInflate();
    case 'br':
      return zlib.createBrotliDecompress();
    case 'zstd':
      if ('createZstdDecompress' in zlib) return (zlib as unknown as { createZstdDecompress: () => Transform }).createZstdDecompress();
  }
  throw notUtf8Json();
}

/**
 * Reads a request body of at most `limit` bytes (after decompression), checking a declared
 * Content-Length first. On failure the rest of the request is read off before the answer (as
 * body-parser did), so the connection stays usable.
 */
function readBody(req: Readable & { headers: IncomingHttpHeaders }, limit: number): Promise<Buffer> {
  const encoding = (req.headers['content-encoding'] ?? 'identity').toLowerCase();
  const decoder = decoderFor(encoding);
  const declared = decoder === null && req.headers['content-length'] !== undefined ? Number(req.headers['content-length']) : undefined;
  return new Promise((resolve, reject) => {
    const source: Readable = decoder ?? req;
    const chunks: Buffer[] = [];
    let received = 0;
    let settled = false;
    const cleanup = (): void => {
      source.off('data', onData);
      source.off('end', onEnd);
      source.off('error', onError);
      req.off('aborted', onAborted);
      req.off('error', onError);
      if (decoder !== null) {
        req.unpipe(decoder);
        decoder.on('error', () => undefined);
        decoder.destroy();
      }
    };
    /** Fails after the request has been read to its end (or has gone away). */
    const fail = (error: VaultError): void => {
      if (settled) return;
      settled = true;
      cleanup();
      if (req.readableEnded || req.destroyed) {
        reject(error);
        return;
      }
      const finish = (): void => reject(error);
      req.once('end', finish);
      req.once('close', finish);
      req.once('error', finish);
      req.resume();
    };
    const onData = (chunk: Buffer): void => {
      received += chunk.length;
      if (received > limit) {
        fail(tooLarge());
        return;
      }
      chunks.push(chunk);
    };
    const onEnd = (): void => {
      if (settled) return;
      if (declared !== undefined && received !== declared) {
        fail(unreadable());
        return;
      }
      settled = true;
      cleanup();
      if (decoder !== null) req.resume();
      resolve(Buffer.concat(chunks, received));
    };
    const onError = (): void => fail(unreadable());
    const onAborted = (): void => fail(unreadable());
    if (declared !== undefined && declared > limit) {
      fail(tooLarge());
      return;
    }
    source.on('data', onData);
    source.on('end', onEnd);
    source.on('error', onError);
    req.on('aborted', onAborted);
    if (decoder !== null) {
      req.on('error', onError);
      req.pipe(decoder);
    }
  });
}

/** Body-parser's strict JSON: empty is `{}`, the document must be an object or an array; a leading BOM is dropped. */
function parseStrictJson(bytes: Buffer): unknown {
  if (!isUtf8(bytes)) throw new VaultError('invalid_input', 'request body is not valid UTF-8');
  let text = bytes.toString('utf8');
  if (text.charCodeAt(0) === 0xfeff) text = text.slice(1);
  if (text.length === 0) return {};
  const first = FIRST_NON_WHITESPACE.exec(text)?.[1];
  if (first !== '{' && first !== '[') throw new VaultError('invalid_input', 'request body is not valid JSON');
  try {
    return JSON.parse(text) as unknown;
  } catch {
    throw new VaultError('invalid_input', 'request body is not valid JSON');
  }
}

/** The parsed, checked body of a request that has one; undefined for one without. */
async function jsonBodyOf(req: FastifyRequest, limitBytes: number): Promise<unknown> {
  const type = req.headers['content-type'] ?? '';
  if (!JSON_TYPE.test(type)) throw new VaultError('unsupported_media_type', 'request body must be application/json');
  const charset = CHARSET.exec(type);
  const name = (charset?.[1] ?? charset?.[2])?.toLowerCase();
  if (name !== undefined && name !== 'utf-8') throw notUtf8Json();
  const body = parseStrictJson(await readBody(req.raw, limitBytes));
  const refused = refuseBodyShape(body);
  if (refused !== null) throw new VaultError('invalid_input', refused, [{ field: 'body', problem: refused.replace('request body ', '') }]);
  return body;
}

/**
 * Request bodies: JSON only (415 otherwise), at most `limitBytes` (413), valid UTF-8 and well-formed (400).
 * Read in a `preParsing` hook, i.e. after the request hooks (on /v1, after authentication: an
 * anonymous caller's body is never read) and before any guard, pipe or controller, for every
 * method and for unmatched routes too; errors go to the error handler (common shape, audited when
 * authenticated). Fastify's own content-type parsers are replaced by one that hands this body on.
 */
export function useJsonBody(fastify: FastifyInstance, limitBytes: number): void {
  fastify.removeAllContentTypeParsers();
  fastify.addContentTypeParser('*', (req, _payload, done) => done(null, req.body));
  fastify.addHook('preParsing', (req, _reply, _payload, done) => {
    if (!hasBody(req.headers) || req.routeOptions.config.readsNoBody === true) {
      // Without a body to read, the Content-Type is not looked at (Fastify would refuse a malformed
      // one with 415 even with nothing to parse); the body of a route that reads none is left unread.
      if (req.headers['content-type'] !== undefined) delete req.headers['content-type'];
      done();
      return;
    }
    jsonBodyOf(req, limitBytes).then(
      (body) => {
        req.body = body;
        done();
      },
      (error: unknown) => done(error as Error),
    );
  });
}
