import type pg from 'pg';
import { RAW_SELECT, RAW_TYPES, canonicalFromRaw, chainHash, type RawEventRow } from './audit-event.js';

/** `problem` codes of the chain itself (docs/AUDIT-FORMAT.md, "The report"). */
export type ChainProblemCode = 'event_missing' | 'event_link_broken' | 'event_hash_mismatch';

/** What one contiguous seq range of the chain looks like once checked on its own. */
export interface RangeResult {
  from: number;
  /** events that passed (before `problem`, if any) */
  count: number;
  /** hex of the stored prevHash of the range's first event: links it to the range before */
  firstPrevHash: string | null;
  /** hex of the recomputed hash of the last event that passed */
  lastHash: string | null;
  problem?: { seq: number; code: ChainProblemCode; message: string };
  /** [seq, recomputed hash hex] for the requested seqs (checkpoints), in seq order */
  watched: [number, string][];
}

interface ChainRow extends RawEventRow {
  seq: string;
  prev_hash: Buffer;
  hash: Buffer;
}

/**
 * Checks events `from`..`to` (`to` null: to the end, events sealed meanwhile included): seq gapless
 * from `from`, each prevHash the previous event's hash, each hash recomputed from the event's
 * columns. The first event's prevHash is taken as given and returned, for the caller to link the
 * ranges. Streams in batches of `batch`, fetching the next batch while this one is hashed; stops at
 * the first problem.
 */
export async function checkRange(client: pg.ClientBase, from: number, to: number | null, watch: ReadonlySet<number>, batch: number): Promise<RangeResult> {
  const result: RangeResult = { from, count: 0, firstPrevHash: null, lastHash: null, watched: [] };
  const fetch = async (afterSeq: number): Promise<ChainRow[]> =>
    (
      await client.query<ChainRow>({
        text: `SELECT seq, prev_hash, hash, ${RAW_SELECT} FROM audit_events
               WHERE seq > $1 ${to === null ? '' : 'AND seq <= $2'} ORDER BY seq LIMIT ${batch}`,
        values: to === null ? [afterSeq] : [afterSeq, to],
        types: RAW_TYPES,
      })
    ).rows;
  let expectedSeq = from;
  let prevHash: Buffer | undefined;
  const done = (problem?: RangeResult['problem']): RangeResult => {
    result.lastHash = prevHash === undefined ? null : prevHash.toString('hex');
    if (problem) result.problem = problem;
    return result;
  };
  let next = fetch(from - 1);
  try {
    for (;;) {
      const rows = await next;
      if (rows.length === 0) break;
      // Queued on the same connection: the database prepares it while this batch is hashed.
      next = rows.length === batch ? fetch(Number(rows[rows.length - 1].seq)) : Promise.resolve([]);
      for (const row of rows) {
        const seq = Number(row.seq);
        if (seq !== expectedSeq) {
          return done({ seq: expectedSeq, code: 'event_missing', message: `event seq ${expectedSeq} is missing (next stored is ${seq})` });
        }
        if (prevHash === undefined) {
          result.firstPrevHash = row.prev_hash.toString('hex');
        } else if (!row.prev_hash.equals(prevHash)) {
          return done({ seq, code: 'event_link_broken', message: `event seq ${seq}: prevHash is not the hash of seq ${seq - 1}` });
        }
        const hash = chainHash(row.prev_hash, canonicalFromRaw(row.seq, row));
        if (!hash.equals(row.hash)) {
          return done({ seq, code: 'event_hash_mismatch', message: `event seq ${seq}: hash does not match its content` });
        }
        if (watch.has(seq)) result.watched.push([seq, hash.toString('hex')]);
        prevHash = hash;
        result.count++;
        expectedSeq++;
      }
    }
    return done(to !== null && expectedSeq <= to ? { seq: expectedSeq, code: 'event_missing', message: `event seq ${expectedSeq} is missing` } : undefined);
  } finally {
    await next.catch(() => undefined);
  }
}
