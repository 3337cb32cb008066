import type { Logger } from 'pino';
import pg from 'pg';
import type { EntityManager } from 'typeorm';

/** The channel on which a committed erasure or re-key tells every vault process to evict DEKs. */
export const DEK_EVICTION_CHANNEL = 'cv_dek_destroyed';
const RECONNECT_MIN_MS = 250;
const RECONNECT_MAX_MS = 5_000;

/** A customer's destroyed DEK versions: those below `below` (Infinity: all of them, an erasure). */
export interface DekDestruction {
  customerId: string;
  below: number;
}

/** Announces a destruction to every process; delivered when (and only if) `manager`'s transaction commits. */
export async function announceDekDestruction(manager: EntityManager, destruction: DekDestruction): Promise<void> {
  await manager.query('SELECT pg_notify($1, $2)', [DEK_EVICTION_CHANNEL, encode(destruction)]);
}

/** `<uuid>` for every version, `<uuid>:<below>` for the versions below one. Ids and numbers only. */
function encode({ customerId, below }: DekDestruction): string {
  return Number.isFinite(below) ? `${customerId}:${below}` : customerId;
}

const PAYLOAD_RE = /^([0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12})(?::(\d{1,10}))?$/i;

export function decodeDekDestruction(payload: string): DekDestruction | undefined {
  const match = PAYLOAD_RE.exec(payload);
  if (match === null) return undefined;
  return { customerId: match[1].toLowerCase(), below: match[2] === undefined ? Number.POSITIVE_INFINITY : Number(match[2]) };
}

export interface DekEvictionHandlers {
  /** A destruction committed by some process (this one included). */
  evict(destruction: DekDestruction): void;
  /** Listening (again): anything announced while not listening was missed, so drop everything cached. */
  live(): void;
  /** Not listening any more: cached keys can no longer be trusted to be current. */
  lost(): void;
}

/**
 * A dedicated PostgreSQL connection (not one of the pool's: LISTEN is per session) that LISTENs for
 * DEK destructions. Reconnects with backoff when the connection drops. The KeyRing uses its cache
 * only while this is live, and clears it on every (re)connection.
 */
export class DekEvictionListener {
  private client?: pg.Client;
  private timer?: NodeJS.Timeout;
  private stopped = false;
  private delay = RECONNECT_MIN_MS;
  private connected = false;
  /** Notifications received (for /metrics). */
  received = 0;
  /** Connections (re)established. */
  connections = 0;

  constructor(
    private readonly url: string,
    private readonly applicationName: string,
    private readonly handlers: DekEvictionHandlers,
    private readonly log: Logger,
  ) {}

  get live(): boolean {
    return this.connected;
  }

  /** Connects and LISTENs; resolves once listening or after the first failure (then keeps retrying). */
  async start(): Promise<void> {
    await this.connect();
  }

  async stop(): Promise<void> {
    this.stopped = true;
    clearTimeout(this.timer);
    const client = this.client;
    this.client = undefined;
    this.setLost();
    await client?.end().catch(() => undefined);
  }

  private async connect(): Promise<void> {
    if (this.stopped) return;
    const client = new pg.Client({ connectionString: this.url, application_name: this.applicationName, connectionTimeoutMillis: 5_000 });
    this.client = client;
    let failed = false;
    const fail = (error: unknown): void => {
      if (failed) return;
      failed = true;
      if (this.client === client) this.client = undefined;
      this.setLost();
      client.end().catch(() => undefined);
      if (this.stopped) return;
      this.log.warn({ err: error instanceof Error ? error.name : 'closed', retryInMs: this.delay }, 'DEK eviction listener lost its connection: DEK cache off until it is back');
      this.timer = setTimeout(() => void this.connect(), this.delay);
      this.timer.unref();
      this.delay = Math.min(this.delay * 2, RECONNECT_MAX_MS);
    };
    client.on('error', fail);
    client.on('end', () => fail(undefined));
    client.on('notification', (message) => {
      if (message.channel !== DEK_EVICTION_CHANNEL || message.payload === undefined) return;
      const destruction = decodeDekDestruction(message.payload);
      if (destruction === undefined) return;
      this.received++;
      this.handlers.evict(destruction);
    });
    try {
      await client.connect();
      await client.query(`LISTEN ${DEK_EVICTION_CHANNEL}`);
    } catch (error) {
      fail(error);
      return;
    }
    if (failed || this.stopped) return;
    this.delay = RECONNECT_MIN_MS;
    this.connections++;
    this.connected = true;
    // Only now, after LISTEN: whatever was announced before could have been missed.
    this.handlers.live();
    if (this.connections > 1) this.log.info('DEK eviction listener reconnected: DEK cache cleared and back on');
  }

  private setLost(): void {
    const was = this.connected;
    this.connected = false;
    if (was) this.handlers.lost();
  }
}
