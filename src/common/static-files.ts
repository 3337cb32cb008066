import send from '@fastify/send';
import type { FastifyReply, FastifyRequest } from 'fastify';
import { sendError } from './error-response.js';
import { VaultError } from './vault-error.js';

declare module 'fastify' {
  interface FastifyContextConfig {
    /** The route reads no request body: the JSON body hook leaves it unread (static files). */
    readsNoBody?: boolean;
  }
}

/** GET and HEAD: the methods a static file answers. */
export function isReadMethod(req: FastifyRequest): boolean {
  return req.method === 'GET' || req.method === 'HEAD';
}

/**
 * Sends one file below `root` through @fastify/send (conditional GET, ranges, ETag, Last-Modified;
 * a path leaving `root`, a dotfile or a directory is never served): any client error of it is
 * answered with `notFound` in the error shape. `cacheControl` replaces send's own.
 */
export async function sendStaticFile(
  req: FastifyRequest,
  reply: FastifyReply,
  file: string,
  options: { root: string; immutable?: boolean; maxAge?: string; cacheControl?: string },
  notFound: () => VaultError,
): Promise<void> {
  const { cacheControl, ...sendOptions } = options;
  const result = await send(req.raw, file, { ...sendOptions, cacheControl: cacheControl === undefined, dotfiles: 'deny', index: false });
  if (result.type !== 'file') {
    result.stream.destroy();
    sendError(req, reply, result.statusCode >= 500 ? new VaultError('internal', 'static file unreadable') : notFound());
    return;
  }
  void reply.code(result.statusCode).headers(result.headers);
  // The registered type of JavaScript (RFC 9239), as Express's static files sent it.
  if (/\.m?js$/i.test(file)) void reply.header('Content-Type', 'text/javascript; charset=utf-8');
  if (cacheControl !== undefined) void reply.header('Cache-Control', cacheControl);
  await reply.send(result.stream);
}
