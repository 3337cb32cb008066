import { Inject, Injectable } from '@nestjs/common';
import { DataSource } from 'typeorm';
import type { VaultConfig } from '../config/config.js';
import { ROOT_KEY, VAULT_CONFIG } from '../config/runtime.js';
import { signDetached, verifyDetached, type RootKeyProvider } from '../crypto/index.js';
import { auditSigningKeyPair, jsonObjectLine, pinKeys, readPinnedKeys, type AuditKeyPair } from './audit-trust.js';

/** What a checkpoint commits to; see docs/AUDIT-FORMAT.md, "Checkpoints". */
export interface CheckpointBody {
  seq: number;
  hash: Buffer;
  at: Date;
  keyId: string;
  prevSignature: Buffer | null;
}

export interface Checkpoint extends CheckpointBody {
  signature: Buffer;
}

/** The JSON line of the checkpoint file (and of the API). */
export interface CheckpointJson {
  seq: number;
  hash: string;
  at: string;
  keyId: string;
  signature: string;
  prevSignature: string | null;
}

export const CHECKPOINT_TYPE = 'customer-vault.audit.checkpoint.v1';

/** The signed bytes: canonical JSON (sorted keys, no whitespace) of the checkpoint body. */
export function checkpointMessage(c: CheckpointBody): Buffer {
  const prev = c.prevSignature === null ? 'null' : JSON.stringify(c.prevSignature.toString('base64'));
  return Buffer.from(
    `{"at":${JSON.stringify(c.at.toISOString())},"hash":"${c.hash.toString('hex')}","keyId":${JSON.stringify(c.keyId)},` +
      `"prevSignature":${prev},"seq":${c.seq},"type":"${CHECKPOINT_TYPE}"}`,
    'utf8',
  );
}

export function checkpointToJson(c: Checkpoint): CheckpointJson {
  return {
    seq: c.seq,
    hash: c.hash.toString('hex'),
    at: c.at.toISOString(),
    keyId: c.keyId,
    signature: c.signature.toString('base64'),
    prevSignature: c.prevSignature === null ? null : c.prevSignature.toString('base64'),
  };
}

/** Parses one checkpoint-file line; undefined when it is not a well-formed checkpoint. */
export function checkpointFromJson(line: string): Checkpoint | undefined {
  const o = jsonObjectLine(line);
  if (o === undefined) return undefined;
  if (
    !Number.isSafeInteger(o.seq) || (o.seq as number) < 1 ||
    typeof o.hash !== 'string' || !/^[0-9a-f]{64}$/.test(o.hash) ||
    typeof o.at !== 'string' || Number.isNaN(Date.parse(o.at)) ||
    typeof o.keyId !== 'string' || typeof o.signature !== 'string' ||
    (o.prevSignature !== null && typeof o.prevSignature !== 'string')
  ) {
    return undefined;
  }
  return {
    seq: o.seq as number,
    hash: Buffer.from(o.hash, 'hex'),
    at: new Date(o.at),
    keyId: o.keyId,
    signature: Buffer.from(o.signature, 'base64'),
    prevSignature: o.prevSignature === null ? null : Buffer.from(o.prevSignature as string, 'base64'),
  };
}

/** A key trusted to have signed checkpoints: the current one, or one pinned outside the database. */
export interface TrustedKey {
  keyId: string;
  publicKey: Buffer;
  /** When it was pinned (the current key, if not pinned: now). */
  pinnedAt: Date;
}

/**
 * The checkpoint signing key, its seed obtained through the root key provider (DESIGN §2: derived
 * from the key in memory, or computed in the HSM), and the keys trusted to have signed checkpoints:
 * that one, plus those pinned in `VAULT_AUDIT_TRUSTED_KEYS_FILE` (written at the first start and at
 * each root rotation, outside the database). `audit_signing_keys` still lists every key that signed,
 * for information: the runtime role may insert into it, so it is never a reason to trust a key.
 */
@Injectable()
export class AuditSigning {
  private pair: AuditKeyPair | undefined;

  constructor(
    @Inject(ROOT_KEY) private readonly rootKey: RootKeyProvider,
    @Inject(DataSource) private readonly dataSource: DataSource,
    @Inject(VAULT_CONFIG) private readonly config: VaultConfig,
  ) {}

  /**
   * Derives the key, pins it when the trusted-keys file does not exist yet (the vault's first start)
   * and lists it in the database (idempotent; safe with several processes).
   */
  async init(): Promise<AuditKeyPair> {
    if (this.pair) return this.pair;
    const pair = await auditSigningKeyPair(this.rootKey);
    await pinKeys(this.config.auditTrustedKeysFile, [pair], true);
    await this.dataSource.query(
      'INSERT INTO audit_signing_keys (key_id, public_key) VALUES ($1, $2) ON CONFLICT (key_id) DO NOTHING',
      [pair.keyId, pair.publicKey],
    );
    this.pair = pair;
    return pair;
  }

  get current(): AuditKeyPair {
    if (!this.pair) throw new Error('audit signing key not initialised');
    return this.pair;
  }

  sign(body: CheckpointBody): Buffer {
    return signDetached(checkpointMessage(body), this.current.privateKey);
  }

  /** Trusted keys, oldest pin first; the current key last unless pinned. */
  async trustedKeys(): Promise<TrustedKey[]> {
    const pinned = (await readPinnedKeys(this.config.auditTrustedKeysFile)) ?? [];
    const keys: TrustedKey[] = pinned.map((k) => ({ keyId: k.keyId, publicKey: k.publicKey, pinnedAt: k.pinnedAt }));
    const current = this.current;
    if (!keys.some((k) => k.keyId === current.keyId)) keys.push({ keyId: current.keyId, publicKey: current.publicKey, pinnedAt: new Date() });
    return keys;
  }

  /**
   * Before a root rotation: pins the current key (if the file lost it) and the new root's, so
   * checkpoints signed on either side of the rotation verify (creates the file if need be).
   */
  async pinForRootRotation(newRoot: RootKeyProvider | Uint8Array): Promise<string[]> {
    const current = await this.init();
    return pinKeys(this.config.auditTrustedKeysFile, [current, await auditSigningKeyPair(newRoot)]);
  }
}

export function sameSignature(a: Buffer | null, b: Buffer | null): boolean {
  return a === null || b === null ? a === b : a.equals(b);
}

/** The trusted keys by id. */
export function keyMap(keys: readonly TrustedKey[]): Map<string, Buffer> {
  return new Map(keys.map((k) => [k.keyId, k.publicKey]));
}

export function verifyCheckpoint(c: Checkpoint, keys: ReadonlyMap<string, Buffer>): boolean {
  const publicKey = keys.get(c.keyId);
  return publicKey !== undefined && verifyDetached(c.signature, checkpointMessage(c), publicKey);
}
