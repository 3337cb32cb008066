import { createReadStream } from 'node:fs';
import { mkdir, open } from 'node:fs/promises';
import path from 'node:path';
import { createInterface } from 'node:readline';
import { LocalRootKeyProvider, initSodium, signingKeyId, signingKeyPairFromSeed, zero, type RootKeyProvider, type SigningKeyPair } from '../crypto/index.js';

export interface AuditKeyPair extends SigningKeyPair {
  /** Id of the root key it comes from. */
  readonly rootKeyId: string;
}

/**
 * The audit signing key pair of a root key: the one place that turns a root key into the checkpoint
 * key, through the provider's `auditSigningSeed()` (DESIGN §2), so an HSM provider changes nothing
 * here. Raw root key bytes are wrapped in a local provider (a copy, zeroed when done).
 */
export async function auditSigningKeyPair(root: RootKeyProvider | Uint8Array): Promise<AuditKeyPair> {
  await initSodium();
  const provider = root instanceof Uint8Array ? new LocalRootKeyProvider(root) : root;
  try {
    const seed = await provider.auditSigningSeed();
    try {
      return { ...signingKeyPairFromSeed(seed), rootKeyId: provider.keyId };
    } finally {
      zero(seed);
    }
  } finally {
    if (provider !== root) await provider.close();
  }
}

/** One line of `VAULT_AUDIT_TRUSTED_KEYS_FILE` (docs/AUDIT-FORMAT.md, "Trusted keys"). */
export interface PinnedKey {
  keyId: string;
  publicKey: Buffer;
  /** The root key the key is derived from (its id), when known. */
  rootKeyId: string | null;
  pinnedAt: Date;
}

/** One NDJSON line as an object; undefined when it is not one (a torn line, say). */
export function jsonObjectLine(line: string): Record<string, unknown> | undefined {
  let v: unknown;
  try {
    v = JSON.parse(line);
  } catch {
    return undefined;
  }
  return typeof v === 'object' && v !== null && !Array.isArray(v) ? (v as Record<string, unknown>) : undefined;
}

/** Parses one line; undefined unless it is a 32-byte key whose id matches it. */
function pinnedKeyFromJson(line: string): PinnedKey | undefined {
  const o = jsonObjectLine(line);
  if (o === undefined) return undefined;
  if (typeof o.keyId !== 'string' || typeof o.publicKey !== 'string') return undefined;
  const publicKey = Buffer.from(o.publicKey, 'base64');
  if (publicKey.length !== 32 || signingKeyId(publicKey) !== o.keyId) return undefined;
  const pinnedAt = typeof o.pinnedAt === 'string' && !Number.isNaN(Date.parse(o.pinnedAt)) ? new Date(o.pinnedAt) : new Date(0);
  return { keyId: o.keyId, publicKey, rootKeyId: typeof o.rootKeyId === 'string' ? o.rootKeyId : null, pinnedAt };
}

/**
 * The keys pinned in the file, first pin of each key id kept, oldest first; undefined when the file
 * does not exist. Lines that are not a well-formed key (a torn last line, an edit) pin nothing.
 */
export async function readPinnedKeys(file: string): Promise<PinnedKey[] | undefined> {
  await initSodium();
  const keys = new Map<string, PinnedKey>();
  try {
    for await (const line of createInterface({ input: createReadStream(file, 'utf8'), crlfDelay: Infinity })) {
      if (line.trim() === '') continue;
      const key = pinnedKeyFromJson(line);
      if (key && !keys.has(key.keyId)) keys.set(key.keyId, key);
    }
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw error;
  }
  return [...keys.values()];
}

/**
 * Appends the keys the file does not pin yet (one JSON line each, fsync'd), creating the file if
 * need be; `onlyIfMissing`: only when the file does not exist (a vault's first start: a process
 * started later with another root key pins nothing, only `root:rotate` does). Public keys only:
 * mode 0644. Returns the ids of the keys appended.
 */
export async function pinKeys(file: string, keys: AuditKeyPair[], onlyIfMissing = false): Promise<string[]> {
  const existing = await readPinnedKeys(file);
  if (existing !== undefined && onlyIfMissing) return [];
  const known = new Set((existing ?? []).map((k) => k.keyId));
  const fresh = keys.filter((k, i) => !known.has(k.keyId) && keys.findIndex((o) => o.keyId === k.keyId) === i);
  if (fresh.length === 0) return [];
  await mkdir(path.dirname(file), { recursive: true });
  const handle = await open(file, 'a', 0o644);
  try {
    const at = new Date().toISOString();
    await handle.write(
      fresh.map((k) => `${JSON.stringify({ keyId: k.keyId, publicKey: k.publicKey.toString('base64'), rootKeyId: k.rootKeyId, pinnedAt: at })}\n`).join(''),
    );
    await handle.sync();
  } finally {
    await handle.close();
  }
  return fresh.map((k) => k.keyId);
}
