import { Inject, Injectable } from '@nestjs/common';
import { createReadStream, existsSync } from 'node:fs';
import { availableParallelism } from 'node:os';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import { Worker } from 'node:worker_threads';
import { DataSource } from 'typeorm';
import type { VaultConfig } from '../config/config.js';
import { VAULT_CONFIG } from '../config/runtime.js';
import { VaultDatabase } from '../database/database.js';
import { AuditDb } from './audit-db.js';
import { GENESIS_HASH } from './audit-event.js';
import { checkRange, type ChainProblemCode, type RangeResult } from './chain-check.js';
import type { ChainCheckJob, ChainCheckReply } from './chain-check.worker.js';
import { AuditSigning, checkpointFromJson, checkpointToJson, keyMap, sameSignature, verifyCheckpoint, type Checkpoint, type CheckpointJson } from './audit-signing.js';

/** `problem` of the report: what was found at `firstInvalidSeq` (docs/AUDIT-FORMAT.md, "The report"). */
export type VerifyProblem =
  | ChainProblemCode
  | 'chain_rewritten'
  | 'log_truncated'
  | 'untrusted_signing_key'
  | 'checkpoint_signature_invalid'
  | 'checkpoint_link_broken'
  | 'checkpoint_missing_from_database'
  | 'checkpoint_file_missing'
  | 'checkpoint_file_empty'
  | 'checkpoint_file_damaged'
  | 'checkpoint_file_link_broken'
  | 'checkpoint_missing_from_file';

export interface VerifyReport {
  valid: boolean;
  /** events whose seq, link and hash were verified */
  checked: number;
  /** the last event in the database (hash null when the log is empty) */
  head: { seq: number; hash: string | null };
  /** the first seq that cannot be trusted */
  firstInvalidSeq?: number;
  /** the last database checkpoint whose key, signature, link and (seq, hash) all verified */
  lastCheckpoint?: CheckpointJson;
  /** what is wrong at firstInvalidSeq (a stable code), and in words */
  problem?: VerifyProblem;
  message?: string;
  /** checkpoints read: rows of audit_checkpoints, distinct entries of the checkpoint file */
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
  code: VerifyProblem;
  message: string;
}

/** The checkpoint file as read: undefined checkpoints when it does not exist. */
interface CheckpointFile {
  /** distinct entries (an entry appended twice counts once), in seq order */
  checkpoints: Checkpoint[] | undefined;
  /** the first bad line that is not the last one (1-based), and the highest seq before it */
  damaged?: { line: number; afterSeq: number };
}

/** How long a checkpoint the database holds may take to reach the file (commit, then append). */
const FILE_CATCH_UP_MS = 1_000;

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
    const keys = keyMap(await this.signing.trustedKeys());
    // The file first: each of its lines was written after its checkpoint committed, so everything
    // it names must be in the database read afterwards.
    let file = await this.readCheckpointFile();
    const dbCheckpoints = await this.readDatabaseCheckpoints();
    const signedBy = (cp: Checkpoint, where: string): Problem | undefined => {
      if (!keys.has(cp.keyId)) {
        return { seq: cp.seq, code: 'untrusted_signing_key', message: `${where} at seq ${cp.seq} is signed by key ${cp.keyId}, which is neither derived from the root key nor pinned in the trusted-keys file` };
      }
      if (!verifyCheckpoint(cp, keys)) return { seq: cp.seq, code: 'checkpoint_signature_invalid', message: `${where} at seq ${cp.seq} has an invalid signature (forged or altered)` };
      return undefined;
    };

    const expectations = new Map<number, Expectation[]>();
    const expect = (checkpoint: Checkpoint, source: Expectation['source']): void => {
      const list = expectations.get(checkpoint.seq) ?? [];
      list.push({ hash: checkpoint.hash, source, checkpoint });
      expectations.set(checkpoint.seq, list);
    };
    let previous: Checkpoint | undefined;
    const signedOk = new Set<Checkpoint>();
    /** trusted database checkpoints, which the file must hold too */
    const trusted: Checkpoint[] = [];
    for (const cp of dbCheckpoints) {
      const bad = signedBy(cp, 'checkpoint');
      if (bad) {
        // A forged checkpoint, or one by a key only the database vouches for, says nothing about the chain.
        problems.push(bad);
      } else {
        if (!sameSignature(cp.prevSignature, previous ? previous.signature : null)) {
          problems.push({ seq: cp.seq, code: 'checkpoint_link_broken', message: `checkpoint at seq ${cp.seq} does not name the previous checkpoint (a checkpoint was removed or inserted)` });
        } else {
          signedOk.add(cp);
        }
        expect(cp, 'database');
        trusted.push(cp);
      }
      previous = cp;
    }

    // A checkpoint committed a moment ago by the sealing process may not be in the file yet: read it again, briefly.
    const deadline = Date.now() + FILE_CATCH_UP_MS;
    while (file.checkpoints !== undefined && Date.now() < deadline) {
      const last = file.checkpoints.length > 0 ? file.checkpoints[file.checkpoints.length - 1].seq : 0;
      if (!trusted.some((cp) => cp.seq > last)) break;
      await new Promise((resolve) => setTimeout(resolve, 50));
      file = await this.readCheckpointFile();
    }
    const fileCheckpoints = file.checkpoints ?? [];
    problems.push(...this.checkFile(file, fileCheckpoints, trusted, dbCheckpoints, signedBy, expect));

    // The chain, in seq ranges (worker threads on large logs), then linked and held against the checkpoints.
    let checked = 0;
    let lastGoodCheckpointSeq = 0;
    let lastCheckpoint: Checkpoint | undefined;
    let chainProblem: Problem | undefined;
    let linkHash = GENESIS_HASH.toString('hex');
    outer: for (const range of await this.checkRanges(new Set(expectations.keys()), options)) {
      if (range.firstPrevHash !== null && range.firstPrevHash !== linkHash) {
        chainProblem = { seq: range.from, code: 'event_link_broken', message: `event seq ${range.from}: prevHash is not the hash of seq ${range.from - 1}` };
        break;
      }
      for (const [seq, hex] of range.watched) {
        const expected = expectations.get(seq) ?? [];
        const bad = expected.find((e) => e.hash.toString('hex') !== hex);
        if (bad) {
          chainProblem = {
            seq: lastGoodCheckpointSeq + 1,
            code: 'chain_rewritten',
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
      // Checkpoints beyond the last event: the tail was cut off (or the database restored from an
      // earlier state). Nothing after the last checkpoint the chain still matches can be vouched for.
      const beyond = [...expectations.keys()].filter((seq) => seq > head.seq).sort((a, b) => a - b);
      if (beyond.length > 0) {
        const sources = new Set(expectations.get(beyond[beyond.length - 1])?.map((e) => e.source));
        problems.push({
          seq: lastGoodCheckpointSeq + 1,
          code: 'log_truncated',
          message: `the log ends at seq ${head.seq} but a ${[...sources].join(' and ')} checkpoint names seq ${beyond[beyond.length - 1]}: the tail after seq ${lastGoodCheckpointSeq} was cut off`,
        });
      }
    }
    if (file.checkpoints === undefined) {
      problems.push({ seq: 1, code: 'checkpoint_file_missing', message: `the checkpoint file ${this.config.auditCheckpointFile} does not exist: nothing outside the database vouches for the log` });
    } else if (fileCheckpoints.length === 0 && (head.seq > 0 || dbCheckpoints.length > 0)) {
      problems.push({ seq: 1, code: 'checkpoint_file_empty', message: `the checkpoint file ${this.config.auditCheckpointFile} holds no checkpoint: nothing outside the database vouches for the log` });
    }

    // The lowest seq wins; at the same seq, the problem found first (keys, then the file, then the chain).
    const first = problems.reduce<Problem | undefined>((min, p) => (min === undefined || p.seq < min.seq ? p : min), undefined);
    return {
      valid: first === undefined,
      checked,
      head: { seq: head.seq, hash: head.hash },
      ...(first ? { firstInvalidSeq: first.seq, problem: first.code, message: first.message } : {}),
      ...(lastCheckpoint ? { lastCheckpoint: checkpointToJson(lastCheckpoint) } : {}),
      checkpoints: { database: dbCheckpoints.length, file: fileCheckpoints.length },
    };
  }

  /**
   * The checkpoint file against itself and the database: each entry signed by a trusted key; each
   * naming the entry before it (`prevSignature`; the first, none), so a removed line shows; every
   * trusted database checkpoint in the file, and every file entry up to the database's last
   * checkpoint in the database. Two entries naming the same predecessor mean the log went back to
   * that checkpoint and went on (a restore): reported as `log_truncated` after it.
   */
  private checkFile(
    file: CheckpointFile,
    entries: Checkpoint[],
    trusted: Checkpoint[],
    dbCheckpoints: Checkpoint[],
    signedBy: (cp: Checkpoint, where: string) => Problem | undefined,
    expect: (cp: Checkpoint, source: Expectation['source']) => void,
  ): Problem[] {
    const problems: Problem[] = [];
    if (file.damaged) {
      problems.push({ seq: file.damaged.afterSeq + 1, code: 'checkpoint_file_damaged', message: `the checkpoint file is damaged at line ${file.damaged.line}` });
    }
    const bySignature = new Map<string, Checkpoint>();
    let previous: Checkpoint | undefined;
    for (const cp of entries) {
      const bad = signedBy(cp, 'checkpoint file entry');
      if (bad) {
        // Reported as such; the next entry still has to name it.
        problems.push(bad);
        previous = cp;
        continue;
      }
      expect(cp, 'file');
      const expected = previous ? previous.signature : null;
      if (!sameSignature(cp.prevSignature, expected)) {
        const forkedFrom = cp.prevSignature === null ? undefined : bySignature.get(cp.prevSignature.toString('base64'));
        problems.push(
          forkedFrom
            ? { seq: forkedFrom.seq + 1, code: 'log_truncated', message: `checkpoints at seq ${cp.seq} and after seq ${forkedFrom.seq} both follow the checkpoint at seq ${forkedFrom.seq}: the log went back to it (a restore) and the events after it were replaced` }
            : {
                seq: (previous?.seq ?? 0) + 1,
                code: 'checkpoint_file_link_broken',
                message: `checkpoint file entry at seq ${cp.seq} does not name the entry before it${previous ? ` (seq ${previous.seq})` : ''}: a line was removed, or the file mixes two writers`,
              },
        );
      }
      bySignature.set(cp.signature.toString('base64'), cp);
      previous = cp;
    }
    if (entries.length === 0) return problems;
    for (const cp of trusted) {
      if (!bySignature.has(cp.signature.toString('base64'))) {
        problems.push({ seq: cp.seq, code: 'checkpoint_missing_from_file', message: `the checkpoint at seq ${cp.seq} is in the database but not in the checkpoint file (a line was removed)` });
      }
    }
    const inDatabase = new Set(dbCheckpoints.map((cp) => cp.signature.toString('base64')));
    const lastInDatabase = dbCheckpoints.length > 0 ? dbCheckpoints[dbCheckpoints.length - 1].seq : 0;
    for (const cp of bySignature.values()) {
      if (cp.seq <= lastInDatabase && !inDatabase.has(cp.signature.toString('base64'))) {
        problems.push({ seq: cp.seq, code: 'checkpoint_missing_from_database', message: `the checkpoint file names a checkpoint at seq ${cp.seq} that the database lacks (removed or replaced)` });
      }
    }
    return problems;
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

  private async readDatabaseCheckpoints(): Promise<Checkpoint[]> {
    const rows = await this.dataSource.query<{ seq: string; hash: Buffer; at: Date; key_id: string; signature: Buffer; prev_signature: Buffer | null }[]>(
      'SELECT seq, hash, at, key_id, signature, prev_signature FROM audit_checkpoints ORDER BY seq',
    );
    return rows.map((r) => ({ seq: Number(r.seq), hash: r.hash, at: r.at, keyId: r.key_id, signature: r.signature, prevSignature: r.prev_signature }));
  }

  /**
   * The file's distinct checkpoints in seq order (an entry appended twice, by a sealer that took
   * over and one finishing its append, counts once); a torn last line (crash during append) is
   * ignored, any other bad line is reported.
   */
  private async readCheckpointFile(): Promise<CheckpointFile> {
    const file = this.config.auditCheckpointFile;
    const checkpoints: Checkpoint[] = [];
    const seen = new Set<string>();
    let damaged: CheckpointFile['damaged'];
    let lastBad: CheckpointFile['damaged'];
    let maxSeq = 0;
    let lineNo = 0;
    try {
      for await (const line of createInterface({ input: createReadStream(file, 'utf8'), crlfDelay: Infinity })) {
        lineNo++;
        if (line.trim() === '') continue;
        const checkpoint = checkpointFromJson(line);
        if (!checkpoint) {
          damaged ??= lastBad;
          lastBad = { line: lineNo, afterSeq: maxSeq };
          continue;
        }
        damaged ??= lastBad;
        maxSeq = Math.max(maxSeq, checkpoint.seq);
        const id = `${checkpoint.seq}:${checkpoint.signature.toString('base64')}`;
        if (seen.has(id)) continue;
        seen.add(id);
        checkpoints.push(checkpoint);
      }
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code === 'ENOENT') return { checkpoints: undefined };
      throw error;
    }
    checkpoints.sort((a, b) => a.seq - b.seq);
    return { checkpoints, ...(damaged ? { damaged } : {}) };
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
