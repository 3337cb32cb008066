import { Inject, Injectable } from '@nestjs/common';
import { randomUUID } from 'node:crypto';
import { DataSource } from 'typeorm';
import type { AuditTrail } from '../audit/audit-trail.js';
import { AuditedWrites } from '../audit/audited-writes.js';
import { VaultError } from '../common/vault-error.js';
import { generateKey, zero, type RootKeyProvider, type RootWrapTarget } from '../crypto/index.js';
import { returningRows } from '../database/query.js';
import { KEY_ADMIN_LOCK, KeyRing } from './key-ring.service.js';
import { KeyRotationWorker } from './key-rotation.worker.js';

export { KEY_ADMIN_LOCK } from './key-ring.service.js';

export interface KekVersionStatus {
  version: number;
  state: 'active' | 'decrypt_only' | 'retired';
  dekCount: number;
  createdAt: string;
}

export interface KeyStatus {
  rootKeyId: string;
  activeKekVersion: number;
  kekVersions: KekVersionStatus[];
}

export interface RotationJobView {
  id: string;
  targetVersion: number;
  state: 'queued' | 'running' | 'done' | 'failed';
  total: number;
  done: number;
  startedAt: string | null;
  finishedAt: string | null;
  error: string | null;
}

/** An erasure whose destroyed DEK a still-unretired KEK may have wrapped (see `erasureWindow`). */
export interface OpenErasure {
  customerId: string;
  erasedAt: string;
  /** Unretired KEK versions that may have wrapped the destroyed DEK. */
  kekVersions: number[];
}

export interface ErasureWindowReport {
  /** Erasures not yet covered by a KEK retirement. */
  openErasures: number;
  oldestOpenErasureAt: string | null;
  /** Retire these (after rotating away from the active one) to cover every open erasure. */
  kekVersionsToRetire: number[];
  activeKekVersion: number;
  /** Whether the active KEK is among them: rotate first (keys:rotate --wait), then retire. */
  rotateFirst: boolean;
  /** The oldest open erasures, at most `limit`. */
  erasures: OpenErasure[];
}

/** What an operation needs to audit itself: the trail, and the status to record on success. */
export interface KeyOperation {
  trail: AuditTrail;
  okStatus: number;
}

/**
 * Key lifecycle (DESIGN §4 key rows): KEK rotation (the rewrap itself runs in KeyRotationWorker),
 * retirement, status, root key rotation. Authorisation is the caller's (controller or CLI); each
 * write commits together with its audit event. Events carry versions and counts, never key bytes.
 */
@Injectable()
export class KeysService {
  constructor(
    @Inject(DataSource) private readonly dataSource: DataSource,
    @Inject(KeyRing) private readonly keys: KeyRing,
    @Inject(AuditedWrites) private readonly writes: AuditedWrites,
    @Inject(KeyRotationWorker) private readonly worker: KeyRotationWorker,
  ) {}

  /** A new active KEK version (the previous one becomes decrypt_only) and a queued rewrap job. */
  async rotate(op: KeyOperation): Promise<{ jobId: string; version: number }> {
    const kek = generateKey();
    const jobId = randomUUID();
    let started: { jobId: string; version: number };
    try {
      started = await this.writes.run(op.trail, op.okStatus, async (manager) => {
        await manager.query('SELECT pg_advisory_xact_lock($1)', [KEY_ADMIN_LOCK]);
        // A process still holding an older root key would wrap the new KEK under it: fenced.
        await this.keys.assertCurrentRoot(manager);
        const [row] = (await manager.query(
          `SELECT COALESCE(max(version), 0) + 1 AS next, max(version) FILTER (WHERE state = 'active') AS previous FROM kek_versions`,
        )) as { next: number; previous: number | null }[];
        const version = row.next;
        const wrapped = await this.keys.provider.wrap(kek, { kind: 'kek', version });
        await manager.query(`UPDATE kek_versions SET state = 'decrypt_only' WHERE state = 'active'`);
        await manager.query(`INSERT INTO kek_versions (version, state, wrapped_key, root_key_id) VALUES ($1, 'active', $2, $3)`, [version, wrapped, this.keys.rootKeyId]);
        // An unfinished job towards an older version is subsumed by this one.
        const superseded = await returningRows<{ id: string }>(
          manager,
          `UPDATE key_rotation_jobs SET state = 'failed', error = $1, finished_at = now() WHERE state IN ('queued', 'running') RETURNING id`,
          [`superseded by the rotation to version ${version}`],
        );
        await manager.query(`INSERT INTO key_rotation_jobs (id, target_version, state) VALUES ($1, $2, 'queued')`, [jobId, version]);
        op.trail.resource.id = String(version);
        Object.assign(op.trail.details, { jobId, fromKekVersion: row.previous, toKekVersion: version, supersededJobs: superseded.length });
        return { jobId, version };
      });
    } finally {
      zero(kek);
    }
    await this.keys.load();
    this.worker.poke();
    return started;
  }

  async status(): Promise<KeyStatus> {
    const rows = (await this.dataSource.query(
      // One pass over customer_deks for all versions (there is no index on kek_version: see
      // migration 1764100004000), not one per version.
      `SELECT k.version, k.state, k.created_at, COALESCE(d.dek_count, 0) AS dek_count
       FROM kek_versions k LEFT JOIN (SELECT kek_version, count(*) AS dek_count FROM customer_deks GROUP BY kek_version) d ON d.kek_version = k.version
       ORDER BY k.version`,
    )) as { version: number; state: KekVersionStatus['state']; created_at: Date; dek_count: string }[];
    return {
      rootKeyId: this.keys.rootKeyId,
      activeKekVersion: rows.find((row) => row.state === 'active')?.version ?? 0,
      kekVersions: rows.map((row) => ({ version: row.version, state: row.state, dekCount: Number(row.dek_count), createdAt: row.created_at.toISOString() })),
    };
  }

  /**
   * Erasures not yet covered by a KEK retirement (DESIGN §2): the erased customer's wrapped DEK
   * survives in backups, WAL archives and replicas taken before the erasure, and opens while a KEK
   * that wrapped it lives. Conservative: every unretired KEK version up to the one the DEK was under
   * at erasure counts (the rotation job moved it up through them); for an erasure recorded before
   * migration 1764200620000, every KEK created before it.
   */
  async erasureWindow(limit: number): Promise<ErasureWindowReport> {
    const rows = (await this.dataSource.query(
      `WITH open AS (
         SELECT c.id, c.erased_at, array_agg(k.version ORDER BY k.version) AS keks
         FROM customers c JOIN kek_versions k ON k.state <> 'retired'
           AND (k.version <= c.erased_kek_version OR (c.erased_kek_version IS NULL AND k.created_at <= c.erased_at))
         WHERE c.erased_at IS NOT NULL GROUP BY c.id, c.erased_at)
       SELECT (SELECT count(*) FROM open)::bigint AS total, (SELECT min(erased_at) FROM open) AS oldest,
         (SELECT array_agg(DISTINCT v ORDER BY v) FROM open, unnest(keks) AS v) AS all_keks,
         (SELECT version FROM kek_versions WHERE state = 'active') AS active,
         (SELECT json_agg(json_build_object('customerId', id, 'erasedAt', erased_at, 'kekVersions', keks) ORDER BY erased_at, id)
            FROM (SELECT * FROM open ORDER BY erased_at, id LIMIT $1) o) AS erasures`,
      [limit],
    )) as { total: string; oldest: Date | null; all_keks: number[] | null; active: number | null; erasures: { customerId: string; erasedAt: string; kekVersions: number[] }[] | null }[];
    const [row] = rows;
    const toRetire = row.all_keks ?? [];
    return {
      openErasures: Number(row.total),
      oldestOpenErasureAt: row.oldest?.toISOString() ?? null,
      kekVersionsToRetire: toRetire,
      activeKekVersion: row.active ?? 0,
      rotateFirst: row.active !== null && toRetire.includes(row.active),
      erasures: (row.erasures ?? []).map((e) => ({ customerId: e.customerId, erasedAt: new Date(e.erasedAt).toISOString(), kekVersions: e.kekVersions })),
    };
  }

  async job(id: string): Promise<RotationJobView> {
    const [row] = (await this.dataSource.query('SELECT * FROM key_rotation_jobs WHERE id = $1', [id])) as JobRow[];
    if (!row) throw new VaultError('not_found', 'no such key rotation job');
    return jobView(row);
  }

  /** Destroys a KEK version's wrapped key; only when no DEK is wrapped under it and it is not active. */
  async retire(version: number, op: KeyOperation): Promise<{ version: number; state: 'retired' }> {
    op.trail.resource.id = String(version);
    const retired = await this.writes.run(op.trail, op.okStatus, async (manager) => {
      await manager.query('SELECT pg_advisory_xact_lock($1)', [KEY_ADMIN_LOCK]);
      await this.keys.assertCurrentRoot(manager);
      // FOR UPDATE also holds back a DEK insert referencing this version until we commit (see the trigger).
      const [row] = (await manager.query('SELECT state FROM kek_versions WHERE version = $1 FOR UPDATE', [version])) as { state: string }[];
      if (!row) throw new VaultError('not_found', 'no such KEK version');
      if (row.state === 'active') throw new VaultError('conflict', 'the active KEK version cannot be retired: rotate first');
      if (row.state === 'retired') throw new VaultError('conflict', 'this KEK version is already retired');
      const [{ count }] = (await manager.query('SELECT count(*)::bigint AS count FROM customer_deks WHERE kek_version = $1', [version])) as { count: string }[];
      if (Number(count) > 0) {
        op.trail.details.remainingDeks = Number(count);
        throw new VaultError('conflict', `${count} customer keys are still wrapped under this KEK version`, [{ field: 'version', problem: 'customer keys remain under it; wait for the rotation job' }]);
      }
      await manager.query(`UPDATE kek_versions SET state = 'retired', wrapped_key = NULL, retired_at = now() WHERE version = $1`, [version]);
      op.trail.details.retiredKekVersion = version;
      return { version, state: 'retired' as const };
    });
    await this.keys.load();
    return retired;
  }

  /**
   * Rewraps every KEK and blind-index key under the `next` provider's root key (any provider kind), in
   * one transaction that also records `next` as the current root key: from then on every process
   * still running with the old root key is fenced (not ready, key operations refused) until it is
   * restarted with the new one. The old root key still opens backups taken before the rotation.
   * The caller owns `next` (and closes it).
   */
  async rotateRoot(next: RootKeyProvider, op: KeyOperation): Promise<{ fromRootKeyId: string; toRootKeyId: string; fromProvider: string; toProvider: string; kekVersions: number; indexKeys: number }> {
    const from = this.keys.rootKeyId;
    if (next.keyId === from) throw new VaultError('invalid_input', 'the new root key is the one in use', [{ field: 'newKey', problem: 'must be a different key' }]);
    op.trail.resource.id = next.keyId;
    return this.writes.run(op.trail, op.okStatus, async (manager) => {
      await manager.query('SELECT pg_advisory_xact_lock($1)', [KEY_ADMIN_LOCK]);
      await this.keys.assertCurrentRoot(manager);
      const keks = (await manager.query(`SELECT version, wrapped_key FROM kek_versions WHERE state <> 'retired' ORDER BY version FOR UPDATE`)) as { version: number; wrapped_key: Buffer }[];
      for (const row of keks) {
        const wrapped = await this.rewrapRoot(next, row.wrapped_key, { kind: 'kek', version: row.version });
        await manager.query('UPDATE kek_versions SET wrapped_key = $2, root_key_id = $3 WHERE version = $1', [row.version, wrapped, next.keyId]);
      }
      await manager.query('UPDATE kek_versions SET root_key_id = $1 WHERE state = $2', [next.keyId, 'retired']);
      const indexKeys = (await manager.query('SELECT field, version, wrapped_key FROM blind_index_keys ORDER BY field, version FOR UPDATE')) as { field: string; version: number; wrapped_key: Buffer }[];
      for (const row of indexKeys) {
        const wrapped = await this.rewrapRoot(next, row.wrapped_key, { kind: 'blind_index', field: row.field, version: row.version });
        await manager.query('UPDATE blind_index_keys SET wrapped_key = $3, root_key_id = $4 WHERE field = $1 AND version = $2', [row.field, row.version, wrapped, next.keyId]);
      }
      await manager.query('UPDATE root_key_state SET root_key_id = $1, provider = $2, updated_at = now()', [next.keyId, next.kind]);
      const result = { fromRootKeyId: from, toRootKeyId: next.keyId, fromProvider: this.keys.provider.kind, toProvider: next.kind, kekVersions: keks.length, indexKeys: indexKeys.length };
      Object.assign(op.trail.details, result);
      return result;
    });
  }

  private async rewrapRoot(next: RootKeyProvider, wrapped: Buffer, target: RootWrapTarget): Promise<Buffer> {
    const key = await this.keys.provider.unwrap(wrapped, target);
    try {
      return await next.wrap(key, target);
    } finally {
      zero(key);
    }
  }
}

export interface JobRow {
  id: string;
  target_version: number;
  state: RotationJobView['state'];
  total: string;
  done: string;
  last_customer_id: string | null;
  error: string | null;
  created_at: Date;
  started_at: Date | null;
  finished_at: Date | null;
}

export function jobView(row: JobRow): RotationJobView {
  return {
    id: row.id,
    targetVersion: row.target_version,
    state: row.state,
    total: Number(row.total),
    done: Number(row.done),
    startedAt: row.started_at?.toISOString() ?? null,
    finishedAt: row.finished_at?.toISOString() ?? null,
    error: row.error,
  };
}
