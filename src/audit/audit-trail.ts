import type { FastifyRequest } from 'fastify';
import type { IdempotencyClaim } from '../idempotency/idempotency.js';
import type { AuditActor, AuditEventInput } from './audit-log.js';

/**
 * What one request has to say about itself for its audit event. Controllers and services fill it
 * in as they learn things (resource id, purpose, fields revealed or written); the AuditInterceptor
 * records it once per request: after success (before the response body leaves), or on failure.
 * A service that writes records the event inside its own transaction and marks the trail recorded.
 */
export class AuditTrail {
  actor: AuditActor = { id: null, name: 'anonymous', kind: 'anonymous', roles: [] };
  resource: { type: string; id: string | null };
  purpose: string | null = null;
  reason: string | null = null;
  readonly fields = { revealed: [] as string[], masked: [] as string[], written: [] as string[] };
  details: Record<string, string | number | boolean | null> = {};
  recorded = false;
  /** Set by the IdempotencyInterceptor when the request carries an Idempotency-Key: stored with the write. */
  idempotency?: IdempotencyClaim;

  constructor(
    readonly requestId: string,
    public action: string,
    resourceType: string,
    readonly clientIp: string | null,
    /** the client's own X-Request-Id, recorded as `details.clientRequestId` (never used as the id) */
    readonly clientRequestId: string | null = null,
  ) {
    this.resource = { type: resourceType, id: null };
  }

  /**
   * This request is answered from the stored answer of request `requestId` (same key, same
   * request): its event names that request and its resource, and nothing written or shown (the
   * attempt that found the key taken rolled back).
   */
  replayOf(requestId: string, resourceId: string | null): void {
    this.fields.revealed.length = 0;
    this.fields.masked.length = 0;
    this.fields.written.length = 0;
    this.details = { replayOf: requestId };
    this.resource.id = resourceId;
  }

  /**
   * What the trail says now (resource id, fields, details), to be put back by calling the returned
   * function: a write whose transaction rolled back because its Idempotency-Key was taken undoes what
   * it recorded while it ran (a revealed field, the id of a row never kept), so the refusal's event
   * says what was asked, not what was undone.
   */
  checkpoint(): () => void {
    const resourceId = this.resource.id;
    const fields = { revealed: [...this.fields.revealed], masked: [...this.fields.masked], written: [...this.fields.written] };
    const details = { ...this.details };
    return () => {
      this.resource.id = resourceId;
      for (const kind of ['revealed', 'masked', 'written'] as const) this.fields[kind].splice(0, this.fields[kind].length, ...fields[kind]);
      this.details = { ...details };
    };
  }

  toEvent(outcome: AuditEventInput['outcome'], status: number): AuditEventInput {
    return {
      requestId: this.requestId,
      actor: this.actor,
      action: this.action,
      resource: this.resource,
      purpose: this.purpose,
      reason: this.reason,
      fields: { revealed: [...this.fields.revealed], masked: [...this.fields.masked], written: [...this.fields.written] },
      outcome,
      status,
      clientIp: this.clientIp,
      details: withClientRequestId(Object.keys(this.details).length > 0 ? { ...this.details } : undefined, this.clientRequestId),
    };
  }
}

declare module 'fastify' {
  interface FastifyRequest {
    auditTrail?: AuditTrail;
  }
}

/** `details` with the client's request id added when there is one (DESIGN §4: recorded beside the vault's id). */
export function withClientRequestId(details: AuditEventInput['details'], clientRequestId: string | null | undefined): AuditEventInput['details'] {
  if (clientRequestId === null || clientRequestId === undefined) return details;
  return { ...details, clientRequestId };
}

export function clientIpOf(req: FastifyRequest): string | null {
  return req.socket.remoteAddress ?? null;
}

const CUSTOMER_PATH = /^\/v1\/customers\/([0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12})(?:[/?]|$)/i;

/**
 * The resource a request names, for events recorded before a route's own trail exists (failed
 * authentication, rate limits, all before routing): a denied event names the customer when the
 * request did (DESIGN §5). Read from the URL, as no route has matched yet.
 */
export function resourceOfRequest(req: FastifyRequest): { type: string; id: string | null } {
  const match = CUSTOMER_PATH.exec(req.originalUrl);
  return match ? { type: 'customer', id: match[1]!.toLowerCase() } : { type: 'request', id: null };
}
