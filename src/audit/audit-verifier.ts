import { Inject, Injectable } from '@nestjs/common';
import { createReadStream, existsSync } from 'node:fs';
import { access } from 'node:fs/promises';
import { availableParallelism } from 'node:os';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import { Worker } from 'node:worker_threads';
import { DataSource } from 'typeorm';
import type { VaultConfig } from '../config/config.js';
import { VAULT_CONFIG } from '../config/runtime.js';
import { VaultDatabase } from '../database/database.js';
import { signingKeyId } from '../crypto/index.js';
import { AuditDb } from './audit-db.js';
import { GENESIS_HASH } from './audit-event.js';
import { checkRange, type RangeResult } from './chain-check.js';
import type { ChainCheckJob, ChainCheckReply } from './chain-check.worker.js';
import { AuditSigning, checkpointFromJson, checkpointToJson, verifyCheckpoint, type Checkpoint, type CheckpointJson } from './audit-signing.js';

export interface VerifyReport {
  valid: boolean;
  /** events whose seq, link and hash were verified */
  checked: number;
  /** the last event in the database (hash null when the log is empty) */
  head: { seq: number; hash: string | null };
  /** the first seq that cannot be trusted */
  firstInvalidSeq?: number;
  /** the last checkpoint whose signature and (seq, hash) both verified */
  lastCheckpoint?: CheckpointJson;
  problem?: string;
  checkpoints: { database: number; file: number };
}

/** Rows per fetch: large enough that round trips do not matter, small enough for constant memory. */
const FETCH = 2_000;
/** Below this many events one thread verifies in well under a second. */
const MIN_EVENTS_FOR_WORKERS = 100_000;
const MAX_WORKERS = 4;

export interface VerifyOptions {
  /** worker threads for the chain (default: the CPUs available, at most 4; 1 = none) */
  workers?: number;
  minEventsForWorkers?: number;
  /** the compiled worker (tests run the verifier from TypeScript, and point at dist/) */
  workerScript?: URL;
}


interface Problem {
  seq: number;
  message: string;
}

interface Expectation {
  hash: Buffer;
  source: 'database' | 'file';
  checkpoint: Checkpoint;
}

/**
 * Verifies the whole log (docs/AUDIT-FORMAT.md, "Verifying"): the chain (gapless seq from 1, each
 * prevHash the previous hash, each hash recomputed), the checkpoints in the database (signature,
 * link to the previous checkpoint, hash equal to the chain's at that seq) and those of the
 * checkpoint file (same, and none beyond the head: a truncated tail). Streams events in seq order
 * in batches; memory is bounded by the number of checkpoints, not of events.
 */
@Injectable()
export class AuditVerifier {
  constructor(
    @Inject(DataSource) private readonly dataSource: DataSource,
    @Inject(AuditDb) private readonly db: AuditDb,
    @Inject(VaultDatabase) private readonly database: VaultDatabase,
    @Inject(VAULT_CONFIG) private readonly config: VaultConfig,
    @Inject(AuditSigning) private readonly signing: AuditSigning,
  ) {}

  async verify(options: VerifyOptions = {}): Promise<VerifyReport> {
    await this.signing.init();
    const problems: Problem[] = [];
    const keys = await this.trustedKeys();
    // The file first: each of its lines was written after its checkpoint committed, so everything
    // it names must be in the database read afterwards.
    const fileCheckpoints = await this.readCheckpointFile(problems);
    const dbCheckpoints = await this.readDatabaseCheckpoints();

    const expectations = new Map<number, Expectation[]>();
    const expect = (checkpoint: Checkpoint, source: Expectation['source']): void => {
      const list = expectations.get(checkpoint.seq) ?? [];
      list.push({ hash: checkpoint.hash, source, checkpoint });
      expectations.set(checkpoint.seq, list);
    };
    let previous: Checkpoint | undefined;
    const signedOk = new Set<Checkpoint>();
    for (const cp of dbCheckpoints) {
      if (!verifyCheckpoint(cp, keys)) {
        // A forged checkpoint says nothing about the chain: no expectation from it.
        problems.push({ seq: cp.seq, message: `checkpoint at seq ${cp.seq} has an invalid signature or unknown key (forged or altered)` });
      } else {
        if (!sameBytes(cp.prevSignature, previous ? previous.signature : null)) {
          problems.push({ seq: cp.seq, message: `checkpoint at seq ${cp.seq} does not name the previous checkpoint (a checkpoint was removed or inserted)` });
        } else {
          signedOk.add(cp);
        }
        expect(cp, 'database');
      }
      previous = cp;
    }
    for (const cp of fileCheckpoints) {
      if (!verifyCheckpoint(cp, keys)) {
        problems.push({ seq: cp.seq, message: `checkpoint file entry at seq ${cp.seq} has an invalid signature or unknown key` });
        continue;
      }
      expect(cp, 'file');
    }

    // The chain, in seq ranges (worker threads on large logs), then linked and held against the checkpoints.
    let checked = 0;
    let lastGoodCheckpointSeq = 0;
    let lastCheckpoint: Checkpoint | undefined;
    let chainProblem: Problem | undefined;
    let linkHash = GENESIS_HASH.toString('hex');
    outer: for (const range of await this.checkRanges(new Set(expectations.keys()), options)) {
      if (range.firstPrevHash !== null && range.firstPrevHash !== linkHash) {
        chainProblem = { seq: range.from, message: `event seq ${range.from}: prevHash is not the hash of seq ${range.from - 1}` };
        break;
      }
      for (const [seq, hex] of range.watched) {
        const expected = expectations.get(seq) ?? [];
        const bad = expected.find((e) => e.hash.toString('hex') !== hex);
        if (bad) {
          chainProblem = {
            seq: lastGoodCheckpointSeq + 1,
            message: `events after seq ${lastGoodCheckpointSeq} were rewritten: the chain at seq ${seq} differs from the ${bad.source} checkpoint`,
          };
          checked += seq - range.from;
          break outer;
        }
        lastGoodCheckpointSeq = seq;
        for (const e of expected) if (e.source === 'database' && signedOk.has(e.checkpoint)) lastCheckpoint = e.checkpoint;
      }
      checked += range.count;
      if (range.problem) {
        chainProblem = range.problem;
        break;
      }
      if (range.lastHash !== null) linkHash = range.lastHash;
    }
    if (chainProblem) problems.push(chainProblem);
    const chainBroken = chainProblem !== undefined;

    const head = await this.head();
    if (!chainBroken) {
      // Checkpoints beyond the last event: the tail was cut off.
      const beyond = [...expectations.keys()].filter((seq) => seq > head.seq).sort((a, b) => a - b);
      if (beyond.length > 0) {
        const sources = new Set(expectations.get(beyond[beyond.length - 1])?.map((e) => e.source));
        problems.push({
          seq: head.seq + 1,
          message: `the log ends at seq ${head.seq} but a ${[...sources].join(' and ')} checkpoint names seq ${beyond[beyond.length - 1]}: the tail was truncated`,
        });
      }
    }

    const first = problems.reduce<Problem | undefined>((min, p) => (min === undefined || p.seq < min.seq ? p : min), undefined);
    return {
      valid: first === undefined,
      checked,
      head: { seq: head.seq, hash: head.hash },
      ...(first ? { firstInvalidSeq: first.seq, problem: first.message } : {}),
      ...(lastCheckpoint ? { lastCheckpoint: checkpointToJson(lastCheckpoint) } : {}),
      checkpoints: { database: dbCheckpoints.length, file: fileCheckpoints.length },
    };
  }

  /**
   * The chain split into contiguous ranges checked side by side in worker threads when the log is
   * large (hashing is the bottleneck, and each range's check needs nothing from the others but the
   * link at its start); one range on the audit pool otherwise, and in tests run from TypeScript.
   * The last range is open-ended, so events sealed during the verification are checked too.
   */
  private async checkRanges(watch: ReadonlySet<number>, options: VerifyOptions): Promise<RangeResult[]> {
    const script = options.workerScript ?? new URL('./chain-check.worker.js', import.meta.url);
    const [{ max }] = await this.dataSource.query<{ max: string | null }[]>('SELECT max(seq) AS max FROM audit_events');
    const head = Number(max ?? 0);
    const workers = options.workers ?? Math.min(MAX_WORKERS, availableParallelism());
    if (workers < 2 || head < (options.minEventsForWorkers ?? MIN_EVENTS_FOR_WORKERS) || !existsSync(fileURLToPath(script))) {
      const client = await this.db.pool.connect();
      let failed = false;
      try {
        return [await checkRange(client, 1, null, watch, FETCH)];
      } catch (error) {
        failed = true;
        throw error;
      } finally {
        // A connection that failed mid-stream is discarded, not returned to the pool.
        client.release(failed);
      }
    }
    const size = Math.ceil(head / workers);
    return Promise.all(
      Array.from({ length: workers }, (_, k) => {
        const from = k * size + 1;
        const to = k === workers - 1 ? null : (k + 1) * size;
        const job: ChainCheckJob = { url: this.database.url, from, to, watch: [...watch].filter((seq) => seq >= from && (to === null || seq <= to)), batch: FETCH };
        return runWorker(script, job);
      }),
    );
  }

  private async head(): Promise<{ seq: number; hash: string | null }> {
    const rows = await this.dataSource.query<{ seq: string; hash: Buffer }[]>('SELECT seq, hash FROM audit_events ORDER BY seq DESC LIMIT 1');
    return rows[0] ? { seq: Number(rows[0].seq), hash: rows[0].hash.toString('hex') } : { seq: 0, hash: null };
  }

  /**
   * Published keys whose id matches their public key; the current key is the one derived from this
   * process's root key, whatever the table says about its id.
   */
  private async trustedKeys(): Promise<Map<string, Buffer>> {
    const keys = new Map<string, Buffer>();
    for (const key of await this.signing.publishedKeys()) {
      if (key.publicKey.length === 32 && signingKeyId(key.publicKey) === key.keyId) keys.set(key.keyId, key.publicKey);
    }
    keys.set(this.signing.current.keyId, this.signing.current.publicKey);
    return keys;
  }

  private async readDatabaseCheckpoints(): Promise<Checkpoint[]> {
    const rows = await this.dataSource.query<{ seq: string; hash: Buffer; at: Date; key_id: string; signature: Buffer; prev_signature: Buffer | null }[]>(
      'SELECT seq, hash, at, key_id, signature, prev_signature FROM audit_checkpoints ORDER BY seq',
    );
    return rows.map((r) => ({ seq: Number(r.seq), hash: r.hash, at: r.at, keyId: r.key_id, signature: r.signature, prevSignature: r.prev_signature }));
  }

  /** The file's checkpoints; a torn last line (crash during append) is ignored, any other bad line is a problem. */
  private async readCheckpointFile(problems: Problem[]): Promise<Checkpoint[]> {
    const file = this.config.auditCheckpointFile;
    try {
      await access(file);
    } catch {
      return [];
    }
    const checkpoints: Checkpoint[] = [];
    let bad: number | undefined;
    let lineNo = 0;
    for await (const line of createInterface({ input: createReadStream(file, 'utf8'), crlfDelay: Infinity })) {
      lineNo++;
      if (line.trim() === '') continue;
      const checkpoint = checkpointFromJson(line);
      if (checkpoint) {
        if (bad !== undefined) break;
        checkpoints.push(checkpoint);
      } else {
        bad ??= lineNo;
      }
    }
    if (bad !== undefined && bad !== lineNo) {
      const after = checkpoints.length > 0 ? checkpoints[checkpoints.length - 1].seq : 0;
      problems.push({ seq: after + 1, message: `the checkpoint file is damaged at line ${bad}` });
    }
    return checkpoints;
  }
}

function runWorker(script: URL, job: ChainCheckJob): Promise<RangeResult> {
  return new Promise((resolve, reject) => {
    const worker = new Worker(script, { workerData: job });
    worker.once('message', (reply: ChainCheckReply) => (reply.ok ? resolve(reply.result) : reject(new Error(`audit verification worker: ${reply.message}`))));
    worker.once('error', reject);
    worker.once('exit', (code) => {
      if (code !== 0) reject(new Error(`audit verification worker exited with ${code}`));
    });
  });
}

function sameBytes(a: Buffer | null, b: Buffer | null): boolean {
  return a === null || b === null ? a === b : a.equals(b);
}
