import { Inject, Injectable, type OnApplicationBootstrap, type OnApplicationShutdown } from '@nestjs/common';
import { mkdir, open } from 'node:fs/promises';
import path from 'node:path';
import pg from 'pg';
import type { Logger } from 'pino';
import { DataSource } from 'typeorm';
import type { VaultConfig } from '../config/config.js';
import { ROOT_LOGGER, VAULT_CONFIG } from '../config/runtime.js';
import { VaultDatabase } from '../database/database.js';
import { EVENT_COLUMNS, GENESIS_HASH, RAW_SELECT, RAW_TYPES, RECORDSET_TYPES, canonicalFromRaw, chainHash, rawFromRow, type EventColumn, type RawEventRow } from './audit-event.js';
import { AuditSigning, checkpointFromJson, checkpointToJson, keyMap, sameSignature, verifyCheckpoint, type Checkpoint } from './audit-signing.js';
import { PgAuditLog } from './pg-audit-log.js';
import { describeUnexpected } from '../common/error-response.js';

/** Session advisory lock held by the one sealing process ('cvau'). */
export const SEALER_LOCK = 0x6376_6175;
/** Pending rows chained per transaction. */
const SEAL_BATCH = 2000;
/**
 * Pending rows moved since the last VACUUM of audit_pending that make the next one due. Every
 * direct append asks whether anything is pending, and on a queue table that question scans the dead
 * rows the moves left until they are vacuumed: measured here, 200k of them cut the sealing process's
 * own event rate from ~16,000/s to ~1,500/s (docs/BENCHMARKS.md, "The sealer's ceiling"). Autovacuum
 * comes too late (once a minute at best); vacuuming a table of a few thousand dead rows takes ~1 ms.
 */
const VACUUM_PENDING_AFTER = 2 * SEAL_BATCH;
/** How long `sealNow` waits for another process's sealer before answering with what is sealed. */
const SEAL_WAIT_MS = 5_000;
/** Enough of the checkpoint file's end to hold its last lines (one is about 250 bytes). */
const TAIL_BYTES = 64 * 1024;

/** The pending rows of a batch, deleted and returned with the seq and hashes the sealer computed. */
const MOVED_CTE = `x AS (SELECT * FROM unnest($1::int8[], $2::int8[], $3::text[], $4::text[]) AS x(id, seq, prev_hash, hash)),
  moved AS (
    DELETE FROM audit_pending p USING x WHERE p.id = x.id
    RETURNING x.seq, x.prev_hash, x.hash, ${EVENT_COLUMNS.map((c) => `p.${c}`).join(', ')}
  )`;
const INSERT_MOVED = `INSERT INTO audit_events (seq, ${EVENT_COLUMNS.join(', ')}, prev_hash, hash)
  SELECT seq, ${EVENT_COLUMNS.join(', ')}, decode(prev_hash, 'hex'), decode(hash, 'hex') FROM moved`;

/** Moves a batch of pending rows into the chain in one statement. */
const MOVE = `WITH ${MOVED_CTE} ${INSERT_MOVED}`;

/** Inserts new events, which travel as one jsonb parameter with their seq and hashes (see `appendIfSealer`). */
const appendFrom = (param: number): string => `INSERT INTO audit_events (seq, ${EVENT_COLUMNS.join(', ')}, prev_hash, hash)
  SELECT seq, ${EVENT_COLUMNS.join(', ')}, decode(prev_hash, 'hex'), decode(hash, 'hex')
  FROM jsonb_to_recordset($${param}::jsonb) AS y(seq int8, ${RECORDSET_TYPES}, prev_hash text, hash text)`;
const APPEND = appendFrom(1);
/** The same, inserting nothing when an event is pending (which must be chained first). */
const APPEND_IF_NOTHING_PENDING = `${APPEND} WHERE NOT EXISTS (SELECT 1 FROM audit_pending)`;

/** Both in one statement, so one commit (one WAL flush) chains what was pending and the new batch. */
const MOVE_AND_APPEND = `WITH ${MOVED_CTE}, m AS (${INSERT_MOVED} RETURNING 1), a AS (${appendFrom(5)} RETURNING 1)
  SELECT (SELECT count(*) FROM m)::int AS moved, (SELECT count(*) FROM a)::int AS appended`;

/** Pending rows read and hashed, not yet written: the MOVE parameters and the head after them. */
interface ChainedPending {
  count: number;
  params: [string[], number[], string[], string[]];
  head: ChainHead;
}

interface ChainHead {
  seq: number;
  hash: Buffer;
}

interface LastCheckpoint {
  seq: number;
  at: Date;
  signature: Buffer | null;
}

export interface SealerStats {
  sealed: number;
  /** Events chained straight from the group commit (never pending). */
  appended: number;
  batches: number;
  maxBatch: number;
  checkpoints: number;
  checkpointFileErrors: number;
  /** VACUUMs of audit_pending run by this process (see VACUUM_PENDING_AFTER). */
  vacuums: number;
}

/**
 * The single sealer (docs/AUDIT-FORMAT.md, "Sealing"). Every process runs the loop; the one holding
 * the session advisory lock on its own connection chains pending events: seq, prevHash and hash in
 * pending-id order, one transaction per batch, and signs a checkpoint every `auditCheckpointEvery`
 * events or `auditCheckpointIntervalMs`. When that process dies its session ends, the lock is free
 * and another process takes over on its next tick. Requests never wait for the sealer.
 */
@Injectable()
export class AuditSealer implements OnApplicationBootstrap, OnApplicationShutdown {
  private client: pg.Client | undefined;
  private holder = false;
  private last: LastCheckpoint | undefined;
  /** The chain head as this process last committed it while holding the lock; undefined: read it. */
  private head: ChainHead | undefined;
  /** Whether the last direct append found pending events (mixed traffic): then look first. */
  private pendingSeenLastFlush = false;
  /** Pending rows this process moved into the chain since it last vacuumed audit_pending. */
  private movedSinceVacuum = 0;
  private vacuumFailureLogged = false;
  private timer: NodeJS.Timeout | undefined;
  private stopped = false;
  private running: Promise<unknown> = Promise.resolve();
  private lastFileWriteFailed = false;
  /** Signature of the entry this process last appended to the file (null: none); undefined: unknown, look. */
  private fileTail: Buffer | null | undefined;
  private readonly log: Logger;
  readonly stats: SealerStats = { sealed: 0, appended: 0, batches: 0, maxBatch: 0, checkpoints: 0, checkpointFileErrors: 0, vacuums: 0 };

  constructor(
    @Inject(VaultDatabase) private readonly database: VaultDatabase,
    @Inject(DataSource) private readonly dataSource: DataSource,
    @Inject(VAULT_CONFIG) private readonly config: VaultConfig,
    @Inject(ROOT_LOGGER) rootLog: Logger,
    @Inject(AuditSigning) private readonly signing: AuditSigning,
    @Inject(PgAuditLog) private readonly auditLog: PgAuditLog,
  ) {
    this.log = rootLog.child({ component: 'audit-sealer' });
  }

  async onApplicationBootstrap(): Promise<void> {
    await this.signing.init();
    await this.createCheckpointFileIfNew();
    this.auditLog.attachChain(this);
    this.schedule(0);
  }

  async onApplicationShutdown(): Promise<void> {
    this.stopped = true;
    clearTimeout(this.timer);
    await this.auditLog.idle();
    // Best effort: seal what this process recorded last, so a lone instance leaves nothing pending.
    if (this.holder) await this.exclusive(() => this.cycle()).catch(() => undefined);
    await this.exclusive(() => this.disconnect());
  }

  /** Whether this process currently holds the sealer lock. */
  get isSealer(): boolean {
    return this.holder;
  }

  /** False when this process, as sealer, could not append its last checkpoint to the file. */
  get checkpointFileHealthy(): boolean {
    return !this.lastFileWriteFailed;
  }

  /**
   * Seals everything recorded (committed) before the call, so a read of the log sees it: directly
   * when this process is or becomes the sealer, else by waiting (bounded) for the sealing process.
   */
  async sealNow(): Promise<void> {
    if (await this.exclusive(() => this.cycle())) return;
    const [{ max }] = await this.dataSource.query<{ max: string | null }[]>('SELECT max(id) AS max FROM audit_pending');
    if (max === null) return;
    const deadline = Date.now() + SEAL_WAIT_MS;
    while (Date.now() < deadline) {
      const [{ waiting }] = await this.dataSource.query<{ waiting: boolean }[]>(
        'SELECT EXISTS (SELECT 1 FROM audit_pending WHERE id <= $1) AS waiting',
        [max],
      );
      if (!waiting) return;
      await new Promise((resolve) => setTimeout(resolve, Math.min(20, this.config.auditSealIntervalMs)));
      // The sealing process may have died meanwhile: take over if the lock is free.
      if (await this.exclusive(() => this.cycle())) return;
    }
    this.log.warn('pending audit events were not sealed in time by the sealing process');
  }

  private schedule(delay: number): void {
    if (this.stopped) return;
    this.timer = setTimeout(() => {
      void this.exclusive(() => this.cycle()).finally(() => this.schedule(this.config.auditSealIntervalMs));
    }, delay);
    this.timer.unref();
  }

  /** One cycle at a time per process (timer and sealNow share the connection). */
  private exclusive<T>(fn: () => Promise<T>): Promise<T> {
    const run = this.running.then(fn, fn);
    this.running = run.catch(() => undefined);
    return run;
  }

  /** Takes the lock if free, then seals until nothing is pending; returns whether this process seals. */
  private async cycle(): Promise<boolean> {
    try {
      if (!(await this.acquire())) return false;
      while ((await this.sealBatch()) === SEAL_BATCH) {
        // a full batch: more may be waiting
      }
      await this.vacuumPendingIfDue();
      return true;
    } catch (error) {
      this.log.error({ err: describeUnexpected(error) }, 'audit sealing failed; retrying on the next tick');
      await this.disconnect();
      return false;
    }
  }

  /**
   * Reclaims the dead rows of audit_pending once enough were moved (see VACUUM_PENDING_AFTER), on the
   * sealer's own connection between batches. SKIP_LOCKED: never waits behind another maintenance
   * run. A role that may not vacuum the table gets a warning from PostgreSQL, not an error; any
   * failure is logged once and sealing goes on (only speed depends on it).
   */
  private async vacuumPendingIfDue(): Promise<void> {
    if (this.movedSinceVacuum < VACUUM_PENDING_AFTER || this.client === undefined) return;
    this.movedSinceVacuum = 0;
    try {
      await this.client.query('VACUUM (SKIP_LOCKED) audit_pending');
      this.stats.vacuums++;
    } catch (error) {
      if (!this.vacuumFailureLogged) this.log.warn({ err: describeUnexpected(error) }, 'audit_pending could not be vacuumed; appends slow down until autovacuum runs');
      this.vacuumFailureLogged = true;
    }
  }

  private async acquire(): Promise<boolean> {
    if (this.client && this.holder) return true;
    if (this.stopped && !this.client) return false;
    if (!this.client) {
      const client = new pg.Client({
        connectionString: this.database.url,
        application_name: 'customer-vault-audit-sealer',
        connectionTimeoutMillis: 5_000,
        statement_timeout: 30_000,
        keepAlive: true,
      });
      // A lost connection means a lost lock: forget both, the next tick reconnects.
      client.on('error', (error) => {
        this.log.warn({ err: describeUnexpected(error) }, 'audit sealer connection lost');
        if (this.client === client) {
          this.client = undefined;
          this.holder = false;
        }
        client.end().catch(() => undefined);
      });
      await client.connect();
      this.client = client;
    }
    const { rows } = await this.client.query<{ ok: boolean }>('SELECT pg_try_advisory_lock($1) AS ok', [SEALER_LOCK]);
    if (!rows[0].ok) return false;
    this.holder = true;
    this.head = undefined;
    this.fileTail = undefined;
    const cp = await this.client.query<{ seq: string; at: Date; signature: Buffer }>(
      'SELECT seq, at, signature FROM audit_checkpoints ORDER BY seq DESC LIMIT 1',
    );
    this.last = cp.rows[0]
      ? { seq: Number(cp.rows[0].seq), at: cp.rows[0].at, signature: cp.rows[0].signature }
      : { seq: 0, at: new Date(), signature: null };
    this.log.info('this process is the audit sealer');
    return true;
  }

  private async disconnect(): Promise<void> {
    const client = this.client;
    this.client = undefined;
    this.holder = false;
    this.head = undefined;
    await client?.end().catch(() => undefined);
  }

  /**
   * Chains one batch of pending events (one statement) and signs a checkpoint when due (with it, in
   * one transaction); returns the batch size.
   */
  private async sealBatch(): Promise<number> {
    const client = this.client;
    const last = this.last;
    if (!client || !last) throw new Error('sealer not connected');
    let checkpoint: Checkpoint | undefined;
    let count: number;
    // No transaction unless a checkpoint is due (the move is one statement). The lock makes this the
    // only writer of the chain, so the cached head and the rows read stay valid until the writes.
    let inTransaction = false;
    try {
      const pending = await this.chainPending(client);
      count = pending.count;
      const { seq, hash: prev } = pending.head;
      const now = new Date();
      // The first checkpoint comes at once: until it exists, nothing outside the database vouches for the log.
      const due =
        seq > last.seq &&
        (last.seq === 0 || seq - last.seq >= this.config.auditCheckpointEvery || now.getTime() - last.at.getTime() >= this.config.auditCheckpointIntervalMs);
      if (due) {
        const body = { seq, hash: prev, at: now, keyId: this.signing.current.keyId, prevSignature: last.signature };
        checkpoint = { ...body, signature: this.signing.sign(body) };
        // The moved events and the checkpoint naming them commit together.
        await client.query('BEGIN');
        inTransaction = true;
      }
      if (count > 0) {
        const moved = await client.query(MOVE, pending.params);
        if (moved.rowCount !== count) throw new Error(`sealed ${String(moved.rowCount)} of ${count} pending audit events`);
      }
      if (checkpoint) {
        await client.query(
          'INSERT INTO audit_checkpoints (seq, hash, at, key_id, signature, prev_signature) VALUES ($1, $2, $3, $4, $5, $6)',
          [checkpoint.seq, checkpoint.hash, checkpoint.at, checkpoint.keyId, checkpoint.signature, checkpoint.prevSignature],
        );
        await client.query('COMMIT');
        inTransaction = false;
      }
      this.head = { seq, hash: prev };
    } catch (error) {
      this.head = undefined;
      if (inTransaction) await client.query('ROLLBACK').catch(() => undefined);
      throw error;
    }
    this.countSealed(count);
    if (checkpoint) {
      this.last = { seq: checkpoint.seq, at: checkpoint.at, signature: checkpoint.signature };
      this.stats.checkpoints++;
      await this.appendToFile(checkpoint);
    }
    return count;
  }

  /**
   * Chains new events straight into audit_events when this process is the sealer: whatever is
   * pending first (one query when nothing is), then the batch, in one statement committed on its
   * own (no pending row to insert, read and delete later for these events), the head kept in memory
   * since the lock makes this the only writer of the chain. Returns false when
   * another process seals (the caller writes the events to audit_pending instead). Throws when the
   * insert fails; the connection is then dropped (lock and cached head with it), since the outcome
   * of a failed commit is unknown and the next holder must read the head from the database.
   * Checkpoints are signed by the sealing step (before the append or on the next tick) when due.
   */
  appendIfSealer(rows: Record<EventColumn, unknown>[]): Promise<boolean> {
    return this.exclusive(async () => {
      const client = this.client;
      if (!this.holder || client === undefined || this.stopped) return false;
      try {
        // Whatever was committed to audit_pending before this batch (a create, another process's
        // events) is chained first, so seq order follows the order things happened. Usually nothing
        // is: then one statement appends the batch on the condition that nothing is pending. When
        // something is (or was at the last flush), the pending rows are read and hashed, then moved
        // and the batch appended in one statement; a backlog of more than one batch goes through
        // the sealing cycle first.
        if (!this.pendingSeenLastFlush) {
          const head = this.head ?? (await readHead(client));
          const fast = chainAfter(head, rows);
          const inserted = await client.query(APPEND_IF_NOTHING_PENDING, [JSON.stringify(fast.rows)]);
          if (inserted.rowCount === rows.length) {
            this.head = fast.head;
            this.stats.appended += rows.length;
            return true;
          }
          if (inserted.rowCount !== 0) throw new Error(`appended ${String(inserted.rowCount)} of ${rows.length} audit events`);
        }
        let pending = await this.chainPending(client);
        while (pending.count === SEAL_BATCH) {
          await this.sealBatch();
          pending = await this.chainPending(client);
        }
        this.pendingSeenLastFlush = pending.count > 0;
        const chained = chainAfter(pending.head, rows);
        if (pending.count === 0) {
          const inserted = await client.query(APPEND, [JSON.stringify(chained.rows)]);
          if (inserted.rowCount !== rows.length) throw new Error(`appended ${String(inserted.rowCount)} of ${rows.length} audit events`);
        } else {
          const { rows: [written] } = await client.query<{ moved: number; appended: number }>(MOVE_AND_APPEND, [...pending.params, JSON.stringify(chained.rows)]);
          if (written.moved !== pending.count || written.appended !== rows.length) {
            throw new Error(`sealed ${written.moved} of ${pending.count} pending and appended ${written.appended} of ${rows.length} audit events`);
          }
          this.countSealed(pending.count);
        }
        const { seq, hash: prev } = chained.head;
        this.head = { seq, hash: prev };
      } catch (error) {
        this.log.error({ err: describeUnexpected(error), events: rows.length }, 'audit events could not be appended to the chain');
        await this.disconnect();
        throw error;
      }
      this.stats.appended += rows.length;
      return true;
    });
  }

  /**
   * Reads the next batch of pending rows (in id order, without FOR UPDATE, which would need the
   * UPDATE privilege: the lock makes this the only sealer, and every move checks it deleted each row
   * it chained) and hashes them after the current head. Writes nothing.
   */
  private async chainPending(client: pg.Client): Promise<ChainedPending> {
    const head = this.head ?? (await readHead(client));
    let seq = head.seq;
    let prev = head.hash;
    const pending = await client.query<RawEventRow & { id: string }>({
      text: `SELECT id, ${RAW_SELECT} FROM audit_pending ORDER BY id LIMIT ${SEAL_BATCH}`,
      types: RAW_TYPES,
    });
    const params: ChainedPending['params'] = [[], [], [], []];
    for (const row of pending.rows) {
      seq++;
      // Hashed from the very columns that are copied into audit_events.
      const hash = chainHash(prev, canonicalFromRaw(seq, row));
      params[0].push(row.id);
      params[1].push(seq);
      params[2].push(prev.toString('hex'));
      params[3].push(hash.toString('hex'));
      prev = hash;
    }
    return { count: pending.rows.length, params, head: { seq, hash: prev } };
  }

  private countSealed(count: number): void {
    if (count === 0) return;
    this.movedSinceVacuum += count;
    this.stats.sealed += count;
    this.stats.batches++;
    if (count > this.stats.maxBatch) this.stats.maxBatch = count;
  }

  /**
   * A new vault (no checkpoint anywhere yet) creates its checkpoint file, empty, so that a missing
   * file always means a lost or deleted one (verification reports it).
   */
  private async createCheckpointFileIfNew(): Promise<void> {
    const file = this.config.auditCheckpointFile;
    try {
      const [{ any }] = await this.dataSource.query<{ any: boolean }[]>('SELECT EXISTS (SELECT 1 FROM audit_checkpoints) AS any');
      if (any) return;
      await mkdir(path.dirname(file), { recursive: true });
      await (await open(file, 'a', 0o600)).close();
    } catch (error) {
      this.lastFileWriteFailed = true;
      this.log.error({ err: describeUnexpected(error) }, 'the audit checkpoint file could not be created');
    }
  }

  /**
   * After the commit (a line in the file never names a checkpoint the database lacks), fsync'd.
   * When the file does not end with the checkpoint this one names (this process just took the
   * sealer over, or its last append failed), the checkpoints it lacks are copied from the database
   * first, each only if signed by a trusted key and naming the one before: one file with every
   * checkpoint, linked line by line, whichever process signed them.
   */
  private async appendToFile(checkpoint: Checkpoint): Promise<void> {
    const file = this.config.auditCheckpointFile;
    try {
      const tail = this.fileTail !== undefined && sameSignature(this.fileTail, checkpoint.prevSignature) ? undefined : await readTail(file);
      const missing = tail === undefined ? [] : await this.missingFromFile(tail.entry, checkpoint);
      await mkdir(path.dirname(file), { recursive: true });
      const handle = await open(file, 'a', 0o600);
      try {
        // A torn last line (a crash mid-append) goes, or the next line would be glued to it.
        let prefix = '';
        if (tail !== undefined && tail.tornBytes > 0) {
          prefix = await handle.truncate(tail.size - tail.tornBytes).then(() => '', () => '\n');
        }
        await handle.write(prefix + [...missing, checkpoint].map((c) => `${JSON.stringify(checkpointToJson(c))}\n`).join(''));
        await handle.sync();
      } finally {
        await handle.close();
      }
      this.fileTail = checkpoint.signature;
      this.lastFileWriteFailed = false;
    } catch (error) {
      this.fileTail = undefined;
      this.lastFileWriteFailed = true;
      this.stats.checkpointFileErrors++;
      this.log.error({ err: describeUnexpected(error), seq: checkpoint.seq }, 'audit checkpoint could not be appended to the checkpoint file');
    }
  }

  /**
   * The database's checkpoints between the file's last entry (or its start, when it has none) and
   * `next`, trusted and linked.
   */
  private async missingFromFile(tail: Checkpoint | undefined, next: Checkpoint): Promise<Checkpoint[]> {
    const client = this.client;
    const tailSignature = tail?.signature ?? null;
    if (!client || (tail !== undefined && tail.seq >= next.seq) || sameSignature(tailSignature, next.prevSignature)) return [];
    const { rows } = await client.query<{ seq: string; hash: Buffer; at: Date; key_id: string; signature: Buffer; prev_signature: Buffer | null }>(
      'SELECT seq, hash, at, key_id, signature, prev_signature FROM audit_checkpoints WHERE seq > $1 AND seq < $2 ORDER BY seq',
      [tail?.seq ?? 0, next.seq],
    );
    const keys = keyMap(await this.signing.trustedKeys());
    const copied: Checkpoint[] = [];
    let prev = tailSignature;
    for (const r of rows) {
      const cp: Checkpoint = { seq: Number(r.seq), hash: r.hash, at: r.at, keyId: r.key_id, signature: r.signature, prevSignature: r.prev_signature };
      if (!sameSignature(prev, cp.prevSignature) || !verifyCheckpoint(cp, keys)) {
        this.log.error({ seq: cp.seq }, 'a checkpoint missing from the checkpoint file is not signed by a trusted key or not linked: not copied (audit:verify reports it)');
        break;
      }
      copied.push(cp);
      prev = cp.signature;
    }
    if (copied.length > 0) this.log.warn({ from: copied[0].seq, to: copied[copied.length - 1].seq }, 'the checkpoint file lacked checkpoints another sealer committed: copied from the database');
    return copied;
  }
}

/**
 * The end of the checkpoint file: its last well-formed entry (undefined when it has none), its size
 * and the length of a torn last line (bytes after the last newline; 0 when it ends with one).
 */
async function readTail(file: string): Promise<{ entry: Checkpoint | undefined; size: number; tornBytes: number }> {
  let handle;
  try {
    handle = await open(file, 'r');
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return { entry: undefined, size: 0, tornBytes: 0 };
    throw error;
  }
  try {
    const { size } = await handle.stat();
    const length = Math.min(size, TAIL_BYTES);
    const { buffer } = await handle.read(Buffer.alloc(length), 0, length, size - length);
    const lastNewline = buffer.lastIndexOf(0x0a);
    const tornBytes = length - (lastNewline + 1);
    const lines = buffer.subarray(0, lastNewline + 1).toString('utf8').split('\n');
    for (let i = lines.length - 1; i >= 0; i--) {
      const cp = checkpointFromJson(lines[i]);
      if (cp) return { entry: cp, size, tornBytes };
    }
    return { entry: undefined, size, tornBytes };
  } finally {
    await handle.close();
  }
}

/** New event rows with the seq and hashes that follow `head`, and the head after them. */
function chainAfter(head: ChainHead, rows: Record<EventColumn, unknown>[]): { rows: Record<string, unknown>[]; head: ChainHead } {
  let seq = head.seq;
  let prev = head.hash;
  const chained = rows.map((row) => {
    seq++;
    const hash = chainHash(prev, canonicalFromRaw(seq, rawFromRow(row)));
    const out = { ...row, seq, prev_hash: prev.toString('hex'), hash: hash.toString('hex') };
    prev = hash;
    return out;
  });
  return { rows: chained, head: { seq, hash: prev } };
}

/** The last chained event (seq 0 and the genesis hash for an empty chain). */
async function readHead(client: pg.Client): Promise<ChainHead> {
  const { rows } = await client.query<{ seq: string; hash: Buffer }>('SELECT seq, hash FROM audit_events ORDER BY seq DESC LIMIT 1');
  return rows[0] ? { seq: Number(rows[0].seq), hash: rows[0].hash } : { seq: 0, hash: GENESIS_HASH };
}
