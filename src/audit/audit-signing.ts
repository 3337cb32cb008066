import { Inject, Injectable } from '@nestjs/common';
import { DataSource } from 'typeorm';
import { ROOT_KEY } from '../config/runtime.js';
import { initSodium, type RootKeyProvider, signDetached, signingKeyPairFromSeed, verifyDetached, type SigningKeyPair } from '../crypto/index.js';

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
  let v: unknown;
  try {
    v = JSON.parse(line);
  } catch {
    return undefined;
  }
  if (typeof v !== 'object' || v === null) return undefined;
  const o = v as Record<string, unknown>;
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

export interface PublishedKey {
  keyId: string;
  publicKey: Buffer;
  createdAt: Date;
}

/**
 * The checkpoint signing key, its seed obtained through the root key provider (DESIGN §2: derived
 * from the key in memory, or computed in the HSM), and the published public keys.
 * Every key that ever signed stays in `audit_signing_keys`, so checkpoints signed before a root key
 * rotation still verify.
 */
@Injectable()
export class AuditSigning {
  private pair: SigningKeyPair | undefined;

  constructor(
    @Inject(ROOT_KEY) private readonly rootKey: RootKeyProvider,
    @Inject(DataSource) private readonly dataSource: DataSource,
  ) {}

  /** Derives the key and publishes its public half (idempotent; safe with several processes). */
  async init(): Promise<SigningKeyPair> {
    if (this.pair) return this.pair;
    await initSodium();
    const seed = await this.rootKey.auditSigningSeed();
    const pair = signingKeyPairFromSeed(seed);
    seed.fill(0);
    await this.dataSource.query(
      'INSERT INTO audit_signing_keys (key_id, public_key) VALUES ($1, $2) ON CONFLICT (key_id) DO NOTHING',
      [pair.keyId, pair.publicKey],
    );
    this.pair = pair;
    return pair;
  }

  get current(): SigningKeyPair {
    if (!this.pair) throw new Error('audit signing key not initialised');
    return this.pair;
  }

  sign(body: CheckpointBody): Buffer {
    return signDetached(checkpointMessage(body), this.current.privateKey);
  }

  /** Every published key, oldest first; the current one included even if its row is missing. */
  async publishedKeys(): Promise<PublishedKey[]> {
    const rows = await this.dataSource.query<{ key_id: string; public_key: Buffer; created_at: Date }[]>(
      'SELECT key_id, public_key, created_at FROM audit_signing_keys ORDER BY created_at, key_id',
    );
    const keys = rows.map((r) => ({ keyId: r.key_id, publicKey: r.public_key, createdAt: r.created_at }));
    const current = this.current;
    if (!keys.some((k) => k.keyId === current.keyId)) keys.push({ keyId: current.keyId, publicKey: current.publicKey, createdAt: new Date() });
    return keys;
  }
}

export function verifyCheckpoint(c: Checkpoint, keys: ReadonlyMap<string, Buffer>): boolean {
  const publicKey = keys.get(c.keyId);
  return publicKey !== undefined && verifyDetached(c.signature, checkpointMessage(c), publicKey);
}
