import net from 'node:net';

/**
 * Where a planned cut strikes:
 * - `statement`: the first client message that carries `marker` (a Bind's parameters, a Parse's or
 *   Query's text) sets it off;
 * - `commit`: a message with `marker` inside a transaction arms its connection, whose next `COMMIT`
 *   sets it off.
 * And how:
 * - `before-send`: the message is not forwarded; both sockets are destroyed at once (PostgreSQL never
 *   sees the statement: nothing is committed);
 * - `after-reply`: the message and what follows it are forwarded, PostgreSQL executes (and commits),
 *   its reply is swallowed up to ReadyForQuery, then both sockets are destroyed (the commit landed,
 *   the vault never hears of it).
 * Either way the vault's connection breaks while its statement is in flight.
 */
export interface CutPlan {
  marker: string;
  at: 'statement' | 'commit';
  mode: 'before-send' | 'after-reply';
}

/** One frame of the protocol: `type` is null for the untyped startup packet. */
interface Frame {
  type: string | null;
  bytes: Buffer;
}

/** Splits a byte stream into PostgreSQL protocol messages (type byte + int32 length, or length-only first). */
class Framer {
  private buffered = Buffer.alloc(0);
  constructor(private untypedFirst: boolean) {}

  push(chunk: Buffer): Frame[] {
    this.buffered = Buffer.concat([this.buffered, chunk]);
    const frames: Frame[] = [];
    for (;;) {
      const headerBytes = this.untypedFirst ? 4 : 5;
      if (this.buffered.length < headerBytes) break;
      const length = this.untypedFirst ? this.buffered.readInt32BE(0) : this.buffered.readInt32BE(1);
      const total = this.untypedFirst ? length : length + 1;
      if (this.buffered.length < total) break;
      const bytes = this.buffered.subarray(0, total);
      this.buffered = this.buffered.subarray(total);
      if (this.untypedFirst) {
        // An SSLRequest (code 80877103) is followed by the real startup packet, untyped too.
        const sslRequest = length === 8 && bytes.readInt32BE(4) === 80877103;
        this.untypedFirst = sslRequest;
        frames.push({ type: null, bytes });
      } else {
        frames.push({ type: String.fromCharCode(bytes[0]!), bytes });
      }
    }
    return frames;
  }
}

const BEGINS = /^(START TRANSACTION|BEGIN)\b/i;
const ENDS = /^(COMMIT|ROLLBACK|END)\b/i;

/** The SQL text of a simple Query message ('Q'), else null. */
function queryText(frame: Frame): string | null {
  return frame.type === 'Q' ? frame.bytes.subarray(5, frame.bytes.length - 1).toString('utf8').trim() : null;
}

/**
 * A TCP proxy between the vault and PostgreSQL that, when armed, cuts one connection at a chosen
 * point of the wire protocol (see CutPlan): how a failover or a network cut looks to the vault at the
 * worst moment, a commit in flight. Unarmed, it forwards bytes untouched.
 */
export class PgCutProxy {
  private plan: (CutPlan & { done: () => void }) | undefined;
  private readonly sockets = new Set<net.Socket>();
  /** How many cuts happened, and the last one's plan. */
  cuts = 0;

  private constructor(
    private readonly server: net.Server,
    private readonly target: { host: string; port: number },
  ) {}

  static async start(databaseUrl: string): Promise<PgCutProxy> {
    const url = new URL(databaseUrl);
    const target = { host: url.hostname, port: Number(url.port || 5432) };
    const server = net.createServer();
    const proxy = new PgCutProxy(server, target);
    server.on('connection', (client: net.Socket) => proxy.accept(client));
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    return proxy;
  }

  /** `databaseUrl` with its host and port replaced by the proxy's. */
  urlFor(databaseUrl: string): string {
    const url = new URL(databaseUrl);
    url.hostname = '127.0.0.1';
    url.port = String((this.server.address() as net.AddressInfo).port);
    return url.toString();
  }

  /** Arms one cut; resolves when it has happened. */
  arm(plan: CutPlan): Promise<void> {
    return new Promise((resolve) => {
      this.plan = { ...plan, done: resolve };
    });
  }

  get armed(): boolean {
    return this.plan !== undefined;
  }

  async close(): Promise<void> {
    for (const socket of this.sockets) socket.destroy();
    await new Promise<void>((resolve) => this.server.close(() => resolve()));
  }

  private accept(client: net.Socket): void {
    const server = net.connect(this.target.port, this.target.host);
    this.sockets.add(client);
    this.sockets.add(server);
    const fromClient = new Framer(true);
    const fromServer = new Framer(false);
    let inTransaction = false;
    let armedHere = false;
    let swallowing = false;
    let cut = false;
    const finish = (): void => {
      if (cut) return;
      cut = true;
      client.destroy();
      server.destroy();
      this.cuts++;
      const plan = this.plan;
      this.plan = undefined;
      plan?.done();
    };
    const end = (): void => {
      client.destroy();
      server.destroy();
      this.sockets.delete(client);
      this.sockets.delete(server);
    };
    client.on('error', end).on('close', end);
    server.on('error', end).on('close', end);

    client.on('data', (chunk: Buffer) => {
      for (const frame of fromClient.push(chunk)) {
        if (cut) return;
        const plan = this.plan;
        const text = queryText(frame);
        if (text !== null && BEGINS.test(text)) inTransaction = true;
        let trigger = false;
        if (plan !== undefined && !swallowing) {
          const carries = frame.type !== null && frame.bytes.includes(plan.marker);
          if (plan.at === 'statement' && carries) trigger = true;
          if (plan.at === 'commit' && carries && inTransaction) armedHere = true;
          if (plan.at === 'commit' && armedHere && text !== null && /^COMMIT\b/i.test(text)) trigger = true;
        }
        if (text !== null && ENDS.test(text)) {
          inTransaction = false;
          if (!trigger) armedHere = false;
        }
        if (trigger && plan?.mode === 'before-send') {
          finish();
          return;
        }
        if (trigger) swallowing = true;
        server.write(frame.bytes);
      }
    });
    server.on('data', (chunk: Buffer) => {
      for (const frame of fromServer.push(chunk)) {
        if (cut) return;
        if (!swallowing) {
          client.write(frame.bytes);
          continue;
        }
        // PostgreSQL finished the statement (and its commit): the vault never hears of it.
        if (frame.type === 'Z') finish();
      }
    });
  }
}
