import { Inject, Injectable, type OnApplicationShutdown, type OnModuleInit } from '@nestjs/common';
import type { Logger } from 'pino';
import { DataSource } from 'typeorm';
import { ROOT_KEY, ROOT_LOGGER, VAULT_CONFIG } from '../config/runtime.js';
import type { LoadedRootKey } from '../config/root-key-source.js';
import type { VaultConfig } from '../config/config.js';
import {
  BLIND_INDEXED_FIELDS,
  blindIndex,
  DecryptionFailedError,
  DekCache,
  generateKey,
  initSodium,
  KeyNotFoundError,
  LocalRootKeyProvider,
  unwrapDek,
  wrapDek,
  zero,
  type BlindIndexedField,
  type RootKeyProvider,
} from '../crypto/index.js';
import { ReadinessService } from '../health/readiness.service.js';

/** Thrown at boot when the configured root key cannot open what the database holds. */
export class KeyBootError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'KeyBootError';
  }
}

/** Serialises creation of the first KEK and index keys across processes booting together. */
const KEY_BOOTSTRAP_LOCK = 0x6376_6b62; // 'cvkb'
const REFRESH_INTERVAL_MS = 1_000;

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
  private activeKekVersion = 0;
  private readonly indexKeys = new Map<BlindIndexedField, IndexKey[]>();
  private readonly dekCache: DekCache | undefined;
  private refreshTimer?: NodeJS.Timeout;

  constructor(
    @Inject(DataSource) private readonly dataSource: DataSource,
    @Inject(ROOT_KEY) rootKey: LoadedRootKey,
    @Inject(VAULT_CONFIG) config: VaultConfig,
    @Inject(ROOT_LOGGER) private readonly log: Logger,
    @Inject(ReadinessService) readiness: ReadinessService,
  ) {
    this.provider = new LocalRootKeyProvider(rootKey.key);
    this.dekCache = config.dekCacheSize > 0 ? new DekCache({ maxEntries: config.dekCacheSize, ttlMs: config.dekCacheTtlMs }) : undefined;
    readiness.register('keys', async () => {
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
    this.refreshTimer = setInterval(() => {
      this.load().catch((error: unknown) => this.log.warn({ err: error instanceof Error ? error.name : 'unknown' }, 'key refresh failed'));
    }, REFRESH_INTERVAL_MS);
    this.refreshTimer.unref();
  }

  async onApplicationShutdown(): Promise<void> {
    clearInterval(this.refreshTimer);
    for (const key of this.keks.values()) zero(key);
    for (const keys of this.indexKeys.values()) for (const { key } of keys) zero(key);
    this.keks.clear();
    this.dekCache?.clear();
    await this.provider.close();
  }

  /** First boot: one active KEK and one key per blind-indexed field, created exactly once. */
  private async bootstrap(): Promise<void> {
    await this.dataSource.transaction(async (manager) => {
      await manager.query('SELECT pg_advisory_xact_lock($1)', [KEY_BOOTSTRAP_LOCK]);
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

  /** (Re)loads KEK versions and index keys; picks up rotations made by other processes. */
  async load(): Promise<void> {
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
    this.dekCache?.set(customerId, version, dek);
    return { dek, wrapped: { version, kekVersion, wrapped } };
  }

  /** The customer's DEK (cache, else unwrapped with its KEK version). The caller zeroes it when done. */
  async dek(customerId: string, wrapped: WrappedDek): Promise<Buffer> {
    const cached = this.dekCache?.get(customerId, wrapped.version);
    if (cached) return cached;
    if (!this.keks.has(wrapped.kekVersion)) await this.load();
    const dek = unwrapDek(this.kek(wrapped.kekVersion), wrapped.wrapped, customerId, wrapped.version);
    this.dekCache?.set(customerId, wrapped.version, dek);
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

  /** Drops a customer's DEKs from this process's cache (erasure, re-key). */
  forgetDeks(customerId: string): void {
    this.dekCache?.delete(customerId);
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
