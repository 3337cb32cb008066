import { Inject, Injectable, type OnApplicationShutdown, type OnModuleInit } from '@nestjs/common';
import { createHmac } from 'node:crypto';
import type { Logger } from 'pino';
import { DataSource, type EntityManager } from 'typeorm';
import { VaultError } from '../common/vault-error.js';
import { ROOT_KEY, ROOT_LOGGER, VAULT_CONFIG } from '../config/runtime.js';
import type { VaultConfig } from '../config/config.js';
import {
  BLIND_INDEXED_FIELDS,
  blindIndex,
  DecryptionFailedError,
  DekCache,
  deriveRequestDigestKey,
  generateKey,
  initSodium,
  KeyNotFoundError,
  unwrapDek,
  wrapDek,
  zero,
  type BlindIndexedField,
  type RootKeyProvider,
} from '../crypto/index.js';
import { ReadinessFailure, ReadinessService } from '../health/readiness.service.js';
import { DekEvictionListener, type DekDestruction } from './dek-evictions.js';

/** Thrown at boot when the configured root key cannot open what the database holds. */
export class KeyBootError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'KeyBootError';
  }
}

/** Serialises creation of the first KEK and index keys across processes booting together. */
const KEY_BOOTSTRAP_LOCK = 0x6376_6b62; // 'cvkb'
/** Serialises KEK rotations, retirements, root rotations and fence writes across processes (transaction-scoped). */
export const KEY_ADMIN_LOCK = 0x6376_6b61; // 'cvka'
const REFRESH_INTERVAL_MS = 1_000;
const STALE_KEK_ATTEMPTS = 3;

/**
 * The database's refusal of a new DEK under a KEK that is not the active one (trigger of migration
 * 1764200600000): this process wrapped it with a stale key ring.
 */
export function isStaleKekRefusal(error: unknown): boolean {
  const e = error as { code?: string; constraint?: string } | null;
  return e?.code === '23514' && e.constraint === 'customer_deks_kek_active';
}

export interface WrappedDek {
  version: number;
  kekVersion: number;
  wrapped: Buffer;
}

interface IndexKey {
  version: number;
  key: Buffer;
}

/**
 * The unwrapped upper part of the key hierarchy, held in memory: KEK versions (unwrapped by the
 * root key provider at boot) and blind-index keys. DEKs are unwrapped per request (bounded cache).
 * A wrong root key stops the boot: the vault never serves with keys it cannot open.
 */
@Injectable()
export class KeyRing implements OnModuleInit, OnApplicationShutdown {
  readonly provider: RootKeyProvider;
  private readonly keks = new Map<number, Buffer>();
  /** Request-digest keys derived from the KEK of the same version (see `requestDigest`), made on first use. */
  private readonly requestKeys = new Map<number, Buffer>();
  private activeKekVersion = 0;
  private readonly indexKeys = new Map<BlindIndexedField, IndexKey[]>();
  private readonly dekCache: DekCache | undefined;
  /** Keeps every process's cache free of destroyed DEKs; the cache is used only while it listens. */
  private readonly evictions: DekEvictionListener | undefined;
  private refreshTimer?: NodeJS.Timeout;
  /** The current root key id recorded in the database, when it is not this process's (fenced). */
  private staleAgainst: string | undefined;

  constructor(
    @Inject(DataSource) private readonly dataSource: DataSource,
    @Inject(ROOT_KEY) provider: RootKeyProvider,
    @Inject(VAULT_CONFIG) config: VaultConfig,
    @Inject(ROOT_LOGGER) private readonly log: Logger,
    @Inject(ReadinessService) readiness: ReadinessService,
  ) {
    this.provider = provider;
    const cache = new DekCache({ maxEntries: config.dekCacheSize, ttlMs: config.dekCacheTtlMs });
    this.dekCache = cache.enabled ? cache : undefined;
    const url = (dataSource.options as { url?: string }).url;
    if (this.dekCache && url !== undefined) {
      this.evictions = new DekEvictionListener(url, `customer-vault:dek-evictions:${process.pid}`, {
        evict: (destruction) => this.evictLocally(destruction),
        live: () => this.dekCache?.clear(),
        lost: () => this.dekCache?.clear(),
      }, log.child({ component: 'dek-evictions' }));
    }
    readiness.register('keys', async () => {
      await this.observeFence(await readRootKeyFence(this.dataSource.manager));
      if (this.staleAgainst !== undefined) throw new ReadinessFailure('stale_root_key');
      if (this.activeKekVersion === 0) throw new Error('keys not loaded');
    });
  }

  get rootKeyId(): string {
    return this.provider.keyId;
  }

  get activeVersion(): number {
    return this.activeKekVersion;
  }

  async onModuleInit(): Promise<void> {
    await initSodium();
    await this.bootstrap();
    await this.load();
    await this.evictions?.start();
    this.refreshTimer = setInterval(() => {
      this.load().catch((error: unknown) => this.log.warn({ err: error instanceof Error ? error.name : 'unknown' }, 'key refresh failed'));
    }, REFRESH_INTERVAL_MS);
    this.refreshTimer.unref();
  }

  async onApplicationShutdown(): Promise<void> {
    clearInterval(this.refreshTimer);
    for (const key of this.keks.values()) zero(key);
    for (const key of this.requestKeys.values()) zero(key);
    this.requestKeys.clear();
    for (const keys of this.indexKeys.values()) for (const { key } of keys) zero(key);
    this.keks.clear();
    await this.evictions?.stop();
    this.dekCache?.close();
    await this.provider.close();
  }

  /** Whether this process's root key is not the current one (DESIGN section 2, root key fencing). */
  get stale(): boolean {
    return this.staleAgainst !== undefined;
  }

  /**
   * The fence: call inside the transaction that writes a key wrapped under the root (or rotates the
   * root), after taking KEY_ADMIN_LOCK, which every writer of the fence holds. Throws 409
   * `stale_root_key` when the database names another root key than this process's.
   */
  async assertCurrentRoot(manager: EntityManager): Promise<void> {
    const current = await readRootKeyFence(manager);
    await this.observeFence(current);
    if (current !== null && current !== this.rootKeyId) {
      throw new VaultError(
        'stale_root_key',
        `this process runs with root key ${this.rootKeyId}, but the current root key is ${current}: restart it with the current root key`,
      );
    }
    // The recorded id is only a row that anyone with write access may clear or change: before any
    // wrap, the root key proves itself on the data, by opening the active KEK.
    const [active] = (await manager.query(`SELECT version, wrapped_key, root_key_id FROM kek_versions WHERE state = 'active'`)) as { version: number; wrapped_key: Buffer; root_key_id: string }[];
    if (active) {
      try {
        zero(await this.provider.unwrap(active.wrapped_key, { kind: 'kek', version: active.version }));
      } catch {
        this.log.error({ rootKeyId: this.rootKeyId, activeKekVersion: active.version }, 'this process\'s root key does not open the active KEK: refusing the key operation');
        throw new VaultError('stale_root_key', `this process's root key ${this.rootKeyId} does not open the active key-encryption key: restart it with the current root key`);
      }
    }
  }

  /** Records a change of the fence state, logging why once per transition (key ids only, never key bytes). */
  private async observeFence(current: string | null): Promise<void> {
    const stale = current !== null && current !== this.rootKeyId ? current : undefined;
    if (stale === this.staleAgainst) return;
    this.staleAgainst = stale;
    if (stale !== undefined) {
      this.log.error(
        { rootKeyId: this.rootKeyId, currentRootKeyId: stale },
        'the root key was rotated: this process holds a root key that is no longer current; it is not ready and refuses key operations until restarted with the current root key',
      );
    }
  }

  /**
   * First boot: one active KEK and one key per blind-indexed field, created exactly once. Records this
   * process's root key as the current one when no process has yet (new install, or the first start
   * after the fence migration, once the key has shown it opens the active KEK).
   */
  private async bootstrap(): Promise<void> {
    await this.dataSource.transaction(async (manager) => {
      await manager.query('SELECT pg_advisory_xact_lock($1)', [KEY_BOOTSTRAP_LOCK]);
      await manager.query('SELECT pg_advisory_xact_lock($1)', [KEY_ADMIN_LOCK]);
      const current = await readRootKeyFence(manager);
      if (current !== null && current !== this.rootKeyId) {
        throw new KeyBootError(
          `the configured root key (id ${this.rootKeyId}) is not the current root key (id ${current}) recorded in the database: ` +
            'it cannot open the stored key-encryption keys; start the vault with the current root key',
        );
      }
      if (current === null) await this.claimFence(manager);
      const [{ count }] = (await manager.query('SELECT count(*)::int AS count FROM kek_versions')) as { count: number }[];
      if (count === 0) {
        const kek = generateKey();
        const wrapped = await this.provider.wrap(kek, { kind: 'kek', version: 1 });
        zero(kek);
        await manager.query(`INSERT INTO kek_versions (version, state, wrapped_key, root_key_id) VALUES (1, 'active', $1, $2)`, [wrapped, this.rootKeyId]);
        this.log.info({ kekVersion: 1, rootKeyId: this.rootKeyId }, 'created the first key-encryption key');
      }
      for (const field of BLIND_INDEXED_FIELDS) {
        const rows = (await manager.query('SELECT 1 FROM blind_index_keys WHERE field = $1 LIMIT 1', [field])) as unknown[];
        if (rows.length > 0) continue;
        const key = generateKey();
        const wrapped = await this.provider.wrap(key, { kind: 'blind_index', field, version: 1 });
        zero(key);
        await manager.query(`INSERT INTO blind_index_keys (field, version, state, wrapped_key, root_key_id) VALUES ($1, 1, 'active', $2, $3)`, [field, wrapped, this.rootKeyId]);
      }
    });
  }

  /** Records this process's root key id as current, after checking that it opens the active KEK (if any). */
  private async claimFence(manager: EntityManager): Promise<void> {
    const [active] = (await manager.query(`SELECT version, wrapped_key, root_key_id FROM kek_versions WHERE state = 'active'`)) as { version: number; wrapped_key: Buffer; root_key_id: string }[];
    if (active) zero(await this.unwrapAtBoot(active.wrapped_key, { kind: 'kek', version: active.version }, active.root_key_id));
    // An upsert: a deleted row must not leave the fence unset for good.
    await manager.query(
      `INSERT INTO root_key_state (singleton, root_key_id, provider, updated_at) VALUES (true, $1, $2, now())
       ON CONFLICT (singleton) DO UPDATE SET root_key_id = EXCLUDED.root_key_id, provider = EXCLUDED.provider, updated_at = now()`,
      [this.rootKeyId, this.provider.kind],
    );
    this.log.info({ rootKeyId: this.rootKeyId, provider: this.provider.kind }, 'recorded this root key as the current one');
  }

  /**
   * (Re)loads KEK versions and index keys; picks up rotations made by other processes. A fenced
   * process (its root key is no longer current) keeps what it holds and loads nothing new: it could
   * not open it anyway.
   */
  async load(): Promise<void> {
    await this.observeFence(await readRootKeyFence(this.dataSource.manager));
    if (this.staleAgainst !== undefined) return;
    const keks = (await this.dataSource.query(
      `SELECT version, state, wrapped_key, root_key_id FROM kek_versions WHERE state <> 'retired' ORDER BY version`,
    )) as { version: number; state: string; wrapped_key: Buffer; root_key_id: string }[];
    let active = 0;
    const live = new Set<number>();
    for (const row of keks) {
      live.add(row.version);
      if (row.state === 'active') active = row.version;
      if (this.keks.has(row.version)) continue;
      this.keks.set(row.version, await this.unwrapAtBoot(row.wrapped_key, { kind: 'kek', version: row.version }, row.root_key_id));
    }
    for (const [version, key] of this.keks) {
      if (!live.has(version)) {
        zero(key);
        this.keks.delete(version);
        const requestKey = this.requestKeys.get(version);
        if (requestKey !== undefined) zero(requestKey);
        this.requestKeys.delete(version);
      }
    }
    if (active === 0) throw new KeyBootError('no active key-encryption key in the database');
    this.activeKekVersion = active;

    const indexRows = (await this.dataSource.query(
      `SELECT field, version, state, wrapped_key, root_key_id FROM blind_index_keys ORDER BY field, (state = 'active') DESC, version DESC`,
    )) as { field: BlindIndexedField; version: number; state: string; wrapped_key: Buffer; root_key_id: string }[];
    for (const field of BLIND_INDEXED_FIELDS) {
      const known = this.indexKeys.get(field) ?? [];
      const rows = indexRows.filter((row) => row.field === field);
      if (rows.length === known.length && rows.every((row, i) => known[i]?.version === row.version)) continue;
      const keys: IndexKey[] = [];
      for (const row of rows) {
        keys.push({ version: row.version, key: await this.unwrapAtBoot(row.wrapped_key, { kind: 'blind_index', field, version: row.version }, row.root_key_id) });
      }
      for (const old of known) zero(old.key);
      this.indexKeys.set(field, keys);
    }
  }

  private async unwrapAtBoot(wrapped: Buffer, target: Parameters<RootKeyProvider['unwrap']>[1], storedRootKeyId: string): Promise<Buffer> {
    try {
      return await this.provider.unwrap(wrapped, target);
    } catch (error) {
      if (error instanceof DecryptionFailedError) {
        throw new KeyBootError(
          `the configured root key (id ${this.rootKeyId}) cannot open the stored ${target.kind === 'kek' ? 'key-encryption key' : 'blind-index key'} ` +
            `version ${target.version} (wrapped under root key id ${storedRootKeyId}): start the vault with the root key this database was created with`,
        );
      }
      throw error;
    }
  }

  private kek(version: number): Buffer {
    const key = this.keks.get(version);
    if (!key) throw new KeyNotFoundError('kek', version);
    return key;
  }

  /** A new DEK for a customer, wrapped under the active KEK. The caller zeroes `dek` when done. */
  newDek(customerId: string, version = 1): { dek: Buffer; wrapped: WrappedDek } {
    const dek = generateKey();
    const kekVersion = this.activeKekVersion;
    const wrapped = wrapDek(this.kek(kekVersion), kekVersion, dek, customerId, version);
    this.cache()?.set(customerId, version, dek);
    return { dek, wrapped: { version, kekVersion, wrapped } };
  }

  /** `dek` (a new customer DEK) wrapped under the active KEK; after a refusal, see `retryOnStaleKek`. */
  wrapNewDek(customerId: string, dek: Uint8Array, version: number): WrappedDek {
    const kekVersion = this.activeKekVersion;
    return { version, kekVersion, wrapped: wrapDek(this.kek(kekVersion), kekVersion, dek, customerId, version) };
  }

  /**
   * Runs a write that inserts a new DEK; when the database refuses it because the KEK it was wrapped
   * under is no longer active (this process's ring is stale: a rotation elsewhere), reloads the ring
   * and runs it again (`attempt` > 0: wrap again with `wrapNewDek`). A few attempts: each reload
   * sees the newest active KEK, so a second refusal takes another rotation in between.
   */
  async retryOnStaleKek<T>(write: (attempt: number) => Promise<T>): Promise<T> {
    for (let attempt = 0; ; attempt++) {
      try {
        return await write(attempt);
      } catch (error) {
        if (!isStaleKekRefusal(error) || attempt >= STALE_KEK_ATTEMPTS - 1) throw error;
        this.log.info({ activeKekVersion: this.activeKekVersion }, 'a new DEK was refused under a KEK that is no longer active: reloading the key ring');
        await this.load();
      }
    }
  }

  /** The customer's DEK (cache, else unwrapped with its KEK version). The caller zeroes it when done. */
  async dek(customerId: string, wrapped: WrappedDek): Promise<Buffer> {
    const cached = this.cache()?.get(customerId, wrapped.version);
    if (cached) return cached;
    if (!this.keks.has(wrapped.kekVersion)) await this.load();
    const dek = unwrapDek(this.kek(wrapped.kekVersion), wrapped.wrapped, customerId, wrapped.version);
    // Refused if an erasure or re-key destroyed this version since the row was read (tombstone).
    this.cache()?.set(customerId, wrapped.version, dek);
    return dek;
  }

  /** Whether this process holds the unwrapped KEK of `version`, reloading from the database once if not. */
  async ensureKek(version: number): Promise<void> {
    if (!this.keks.has(version)) await this.load();
    this.kek(version);
  }

  /**
   * Rewraps a DEK from its KEK version to `targetVersion` (rotation job): same DEK bytes, so field
   * ciphertexts and cached DEKs stay valid. Returns the new wrapped bytes.
   */
  rewrapDekTo(customerId: string, wrapped: WrappedDek, targetVersion: number): Buffer {
    const dek = unwrapDek(this.kek(wrapped.kekVersion), wrapped.wrapped, customerId, wrapped.version);
    try {
      return wrapDek(this.kek(targetVersion), targetVersion, dek, customerId, wrapped.version);
    } finally {
      zero(dek);
    }
  }

  /**
   * The DEK cache, while it can be trusted: only while the eviction listener is connected (a
   * destruction announced while it was not would go unnoticed).
   */
  private cache(): DekCache | undefined {
    return this.evictions?.live === true ? this.dekCache : undefined;
  }

  /** Drops a customer's cached DEKs in this process (a write that rolled back; nothing destroyed). */
  forgetDeks(customerId: string): void {
    this.dekCache?.delete(customerId);
  }

  /**
   * After a transaction that destroyed DEKs committed (and announced it with
   * `announceDekDestruction`, which reaches every process): evicts them here at once, and keeps a
   * racing read from caching them again.
   */
  evictLocally(destruction: DekDestruction): void {
    this.dekCache?.evict(destruction.customerId, destruction.below);
  }

  /** DEK cache figures for /metrics. */
  get dekCacheStats(): { entries: number; evictionsReceived: number; listenerConnections: number } {
    return { entries: this.dekCache?.size ?? 0, evictionsReceived: this.evictions?.received ?? 0, listenerConnections: this.evictions?.connections ?? 0 };
  }

  /**
   * HMAC-SHA256 of an idempotent request's canonical form (`requestMessage`) under a key derived from
   * the active KEK, with that KEK's version: what an Idempotency-Key row stores instead of the request.
   */
  requestDigest(message: Buffer): { version: number; digest: Buffer } {
    const version = this.activeKekVersion;
    return { version, digest: this.requestDigestUnder(version, message) as Buffer };
  }

  /** The same under KEK `version` (a key stored before a rotation); undefined once that KEK is retired. */
  requestDigestUnder(version: number, message: Buffer): Buffer | undefined {
    let key = this.requestKeys.get(version);
    if (key === undefined) {
      const kek = this.keks.get(version);
      if (kek === undefined) return undefined;
      key = deriveRequestDigestKey(kek);
      this.requestKeys.set(version, key);
    }
    return createHmac('sha256', key).update(message).digest();
  }

  /** Digest to store for a value under the field's active index key. */
  indexDigest(field: BlindIndexedField, normalized: string): { version: number; digest: Buffer } {
    const active = this.indexKeys.get(field)?.[0];
    if (!active) throw new KeyNotFoundError('blind_index', 0);
    return { version: active.version, digest: blindIndex(active.key, normalized) };
  }

  /** Digests to search for under every index key version still in use. */
  searchDigests(field: BlindIndexedField, normalized: string): { version: number; digest: Buffer }[] {
    return (this.indexKeys.get(field) ?? []).map(({ version, key }) => ({ version, digest: blindIndex(key, normalized) }));
  }
}

/** The current root key id recorded in the database (null until the first process records it). */
async function readRootKeyFence(manager: EntityManager): Promise<string | null> {
  const [row] = (await manager.query('SELECT root_key_id FROM root_key_state')) as { root_key_id: string | null }[];
  return row?.root_key_id ?? null;
}
