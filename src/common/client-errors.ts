import { randomUUID } from 'node:crypto';
import type { Duplex } from 'node:stream';
import type { Logger } from 'pino';
import type { ErrorBody } from './error-response.js';

/**
 * Requests Node's HTTP parser rejects before any hook runs (headers over `maxHeaderSize`, 16 KiB by
 * default; malformed request lines; header timeouts): Fastify's `clientErrorHandler`. Fastify's
 * default answer has its own shape; this one keeps the vault's JSON error shape (with a fresh
 * request id: none was assigned yet) and never echoes the offending bytes.
 */
export function clientErrorAnswer(log: Logger): (error: NodeJS.ErrnoException, socket: Duplex) => void {
  return (error: NodeJS.ErrnoException, socket: Duplex): void => {
    // A response already under way on this connection (pipelining) must not be interleaved with ours.
    const inFlight = (socket as Duplex & { _httpMessage?: { headersSent?: boolean } })._httpMessage;
    if (error.code === 'ECONNRESET' || !socket.writable || inFlight?.headersSent === true) {
      socket.destroy();
      return;
    }
    const [status, reason, code, message] =
      error.code === 'HPE_HEADER_OVERFLOW'
        ? [431, 'Request Header Fields Too Large', 'payload_too_large', 'request headers too large'] as const
        : error.code === 'ERR_HTTP_REQUEST_TIMEOUT'
          ? [408, 'Request Timeout', 'invalid_input', 'request timeout'] as const
          : [400, 'Bad Request', 'invalid_input', 'malformed HTTP request'] as const;
    const requestId = randomUUID();
    log.info({ reqId: requestId, status, parserError: error.code }, 'request rejected by the HTTP parser');
    const body: ErrorBody = { error: { code, message, requestId } };
    const json = JSON.stringify(body);
    socket.end(
      `HTTP/1.1 ${status} ${reason}\r\nContent-Type: application/json; charset=utf-8\r\nContent-Length: ${Buffer.byteLength(json)}\r\n` +
        `X-Request-Id: ${requestId}\r\nCache-Control: no-store\r\nConnection: close\r\n\r\n${json}`,
    );
  };
}
