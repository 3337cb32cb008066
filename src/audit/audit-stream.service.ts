import { Inject, Injectable, type BeforeApplicationShutdown } from '@nestjs/common';
import type { ServerResponse } from 'node:http';
import type { FastifyReply } from 'fastify';
import type { Logger } from 'pino';
import { AccessPolicy } from '../access/access-policy.js';
import type { Actor } from '../access/vocabulary.js';
import { describeUnexpected } from '../common/error-response.js';
import { VaultError } from '../common/vault-error.js';
import type { VaultConfig } from '../config/config.js';
import { ROOT_LOGGER, VAULT_CONFIG } from '../config/runtime.js';
import { rawToNdjsonLine, type ViewRow } from './audit-event.js';
import { AuditLog } from './audit-log.js';
import { AuditQueryService } from './audit-query.service.js';
import type { AuditTrail } from './audit-trail.js';

/** Rows per read, for the shared poll and for each connection's backfill. */
const BATCH = 1_000;
/** Reconnection delay suggested to EventSource clients (SSE `retry:`). */
const RETRY_MS = 2_000;

/** One sealed event as the stream sends it. */
export interface StreamEvent {
  seq: number;
  /** the event as one NDJSON line, without the newline (the export's form) */
  json: string;
}

export function toStreamEvent(row: ViewRow): StreamEvent {
  return { seq: Number(row.seq), json: rawToNdjsonLine(row).slice(0, -1) };
}

export interface StreamStats {
  connections: number;
  opened: number;
  eventsSent: number;
  /** connections closed because their consumer fell more than the backlog cap behind */
  closedSlow: number;
}

export type CloseReason = 'backlog' | 'shutdown' | 'error';

/**
 * One open SSE connection. It sends events in seq order with no gap and no duplicate, after
 * `sent`. Two modes:
 * - backfill: reads from the table, one batch at a time and only while the socket takes data
 *   (its pace is the consumer's, memory stays flat), until it has caught up with the hub's head;
 *   then it switches to live in the same synchronous step as that check, so no event the hub
 *   dispatches can fall between the two.
 * - live: the hub pushes each new batch; what the socket does not take at once is queued. More
 *   than `maxBacklog` queued events: the connection is closed with a `resume` event naming the
 *   last seq written, from which the client reconnects (Last-Event-ID) without a gap.
 * A batch that does not follow `tail` (which should not happen: seq is gapless and committed in
 * order by the single sealer) sends the connection back to backfill rather than skip.
 */
class StreamConnection {
  /** last seq written to the response */
  private sent: number;
  /** last seq written or queued */
  private tail: number;
  private readonly queue: StreamEvent[] = [];
  private mode: 'backfill' | 'live' = 'backfill';
  private blocked = false;
  private backfilling = false;
  closed = false;

  constructor(
    private readonly hub: AuditStreamService,
    private readonly res: ServerResponse,
    after: number,
    private readonly maxBacklog: number,
  ) {
    this.sent = after;
    this.tail = after;
    res.on('drain', this.onDrain);
    res.on('close', this.onClose);
  }

  start(): void {
    this.write(`retry: ${RETRY_MS}\n\n`);
    void this.backfill();
  }

  /** New events from the hub (contiguous, ascending). */
  deliver(events: StreamEvent[]): void {
    if (this.closed || this.mode !== 'live') return;
    for (const event of events) {
      if (event.seq <= this.tail) continue;
      if (event.seq !== this.tail + 1) {
        this.mode = 'backfill';
        void this.backfill();
        return;
      }
      this.tail = event.seq;
      if (!this.blocked && this.queue.length === 0) this.send(event);
      else this.queue.push(event);
    }
    if (this.queue.length > this.maxBacklog) this.close('backlog');
  }

  heartbeat(): void {
    // A blocked connection is not idle; its queue will move or hit the cap.
    if (!this.closed && !this.blocked) this.write(': heartbeat\n\n');
  }

  /** Ends the stream with the position to resume from (`resume` event: the last seq sent). */
  close(reason: CloseReason): void {
    if (this.closed) return;
    this.closed = true;
    this.queue.length = 0;
    if (reason === 'backlog') this.hub.stats.closedSlow++;
    // Queued behind what the socket still holds, so the client reads it after the last event sent.
    this.res.write(`event: resume\ndata: ${JSON.stringify({ seq: this.sent, reason })}\n\n`);
    this.res.end();
    this.detach();
  }

  private send(event: StreamEvent): void {
    this.write(`id: ${event.seq}\ndata: ${event.json}\n\n`);
    this.sent = event.seq;
    this.hub.stats.eventsSent++;
  }

  private write(text: string): void {
    if (!this.res.write(text)) this.blocked = true;
  }

  private readonly onDrain = (): void => {
    this.blocked = false;
    while (!this.blocked && this.queue.length > 0) this.send(this.queue.shift() as StreamEvent);
    if (!this.blocked && this.mode === 'backfill') void this.backfill();
  };

  private readonly onClose = (): void => {
    this.closed = true;
    this.queue.length = 0;
    this.detach();
  };

  private detach(): void {
    this.res.off('drain', this.onDrain);
    this.res.off('close', this.onClose);
    this.hub.remove(this);
  }

  private async backfill(): Promise<void> {
    if (this.backfilling) return;
    this.backfilling = true;
    try {
      while (!this.closed && this.mode === 'backfill' && !this.blocked && this.queue.length === 0) {
        const events = await this.hub.read(this.tail, BATCH);
        if (this.closed) return;
        for (const event of events) {
          if (event.seq !== this.tail + 1) break;
          this.tail = event.seq;
          this.send(event);
        }
        // Same synchronous step as the check: nothing the hub dispatches can slip in between.
        if (events.length < BATCH && this.tail >= this.hub.head) this.mode = 'live';
      }
    } catch (error) {
      this.hub.logFailure(error);
      this.close('error');
    } finally {
      this.backfilling = false;
    }
  }
}

/**
 * The live audit stream (DESIGN §4 `GET /v1/audit/stream`, docs/SECURITY.md "Live audit stream").
 * One poller per process, only while a stream is open, reads the events chained after its head (by
 * seq, from the table) every `auditStreamPollMs` and pushes them to every live connection. Polling
 * by seq, rather than LISTEN/NOTIFY on sealing, carries the events chained by every vault process
 * (the sealer may be another one) with nothing added to the audit write path (no trigger, no
 * notify queue lock at each commit), needs no dedicated listening connection (and works behind a
 * transaction-mode pooler), and loses nothing when a connection drops: the table is the queue.
 * The cost is one indexed query per interval per process with open streams, and up to one interval
 * of latency.
 */
@Injectable()
export class AuditStreamService implements BeforeApplicationShutdown {
  readonly stats: StreamStats = { connections: 0, opened: 0, eventsSent: 0, closedSlow: 0 };
  private readonly connections = new Set<StreamConnection>();
  /** Last seq the poller dispatched; -1 until the first stream opens. */
  head = -1;
  private pollTimer: NodeJS.Timeout | undefined;
  private heartbeatTimer: NodeJS.Timeout | undefined;
  private polling = false;
  private stopping = false;
  private readonly log: Logger;

  constructor(
    @Inject(AccessPolicy) private readonly policy: AccessPolicy,
    @Inject(AuditQueryService) private readonly query: AuditQueryService,
    @Inject(AuditLog) private readonly auditLog: AuditLog,
    @Inject(VAULT_CONFIG) private readonly config: VaultConfig,
    @Inject(ROOT_LOGGER) rootLog: Logger,
  ) {
    this.log = rootLog.child({ component: 'audit-stream' });
  }

  /**
   * Opens a stream on `reply` after `after` (undefined: from the current head, new events only).
   * Security only. The opening is audited once, committed before the first byte is sent (fail
   * closed: 503 when it cannot be); the request's event names the position it resumed from. The
   * reply is then taken over from Fastify (hijacked) and written to the Node response directly,
   * which already carries the request id and security headers of the request hooks.
   */
  async open(actor: Actor, trail: AuditTrail, after: number | undefined, reply: FastifyReply): Promise<void> {
    this.policy.assertCan(actor, 'readAuditLog');
    if (this.stopping) throw new VaultError('service_unavailable', 'the vault is shutting down');
    const head = await this.ensureHead();
    if (after !== undefined && after > head) {
      throw new VaultError('invalid_input', 'the resume position is beyond the head of the audit log', [{ field: 'from', problem: `must be at most the last seq (${head})` }]);
    }
    const start = after ?? head;
    trail.details = { ...trail.details, after: start, resumed: after !== undefined };
    await this.auditLog.record(trail.toEvent('allowed', 200));
    trail.recorded = true;
    const res = reply.raw;
    if (res.destroyed) return;
    reply.hijack();

    res.statusCode = 200;
    res.setHeader('Content-Type', 'text/event-stream; charset=utf-8');
    // no-transform: a compression middleware or proxy must pass events through as they come.
    res.setHeader('Cache-Control', 'no-cache, no-transform');
    res.setHeader('Connection', 'keep-alive');
    res.setHeader('X-Accel-Buffering', 'no');
    res.flushHeaders();
    res.socket?.setNoDelay(true);

    const connection = new StreamConnection(this, res, start, this.config.auditStreamMaxBacklog);
    this.connections.add(connection);
    this.stats.connections = this.connections.size;
    this.stats.opened++;
    this.startTimers();
    connection.start();
  }

  /** Sealed events after `after` as the stream sends them. */
  async read(after: number, limit: number): Promise<StreamEvent[]> {
    return (await this.query.after(after, limit)).map(toStreamEvent);
  }

  remove(connection: StreamConnection): void {
    this.connections.delete(connection);
    this.stats.connections = this.connections.size;
    if (this.connections.size === 0) this.stopTimers();
  }

  logFailure(error: unknown): void {
    this.log.error({ err: describeUnexpected(error) }, 'audit stream read failed; the connection is closed with its resume position');
  }

  /** Open streams end with their resume position, so clients reconnect to another instance. */
  beforeApplicationShutdown(): void {
    this.stopping = true;
    for (const connection of [...this.connections]) connection.close('shutdown');
    this.stopTimers();
  }

  /**
   * The head of the log, for the resume check. With no stream open the poller is idle and its head
   * stale: it restarts from the current head (earlier events are each connection's backfill).
   */
  private async ensureHead(): Promise<number> {
    const head = await this.query.headSeq();
    if (this.connections.size === 0) this.head = head;
    return head;
  }

  private startTimers(): void {
    if (this.pollTimer === undefined) {
      this.pollTimer = setInterval(() => void this.poll(), this.config.auditStreamPollMs);
      this.pollTimer.unref();
    }
    if (this.heartbeatTimer === undefined) {
      this.heartbeatTimer = setInterval(() => {
        for (const connection of this.connections) connection.heartbeat();
      }, this.config.auditStreamHeartbeatMs);
      this.heartbeatTimer.unref();
    }
  }

  private stopTimers(): void {
    clearInterval(this.pollTimer);
    clearInterval(this.heartbeatTimer);
    this.pollTimer = undefined;
    this.heartbeatTimer = undefined;
  }

  /** Reads what was chained after the head, in batches, and hands each batch to every connection. */
  private async poll(): Promise<void> {
    if (this.polling) return;
    this.polling = true;
    try {
      for (;;) {
        if (this.connections.size === 0) return;
        const events = await this.read(this.head, BATCH);
        // Only the contiguous run: a gap would mean an event not yet visible (never expected).
        let n = 0;
        while (n < events.length && events[n].seq === this.head + 1 + n) n++;
        if (n === 0) return;
        const batch = n === events.length ? events : events.slice(0, n);
        this.head = batch[batch.length - 1].seq;
        for (const connection of [...this.connections]) connection.deliver(batch);
        if (n < BATCH) return;
      }
    } catch (error) {
      this.log.warn({ err: describeUnexpected(error) }, 'audit stream poll failed; retrying on the next tick');
    } finally {
      this.polling = false;
    }
  }
}
