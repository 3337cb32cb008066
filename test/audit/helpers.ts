import { canonicalEvent, chainHash, rowToEvent, EVENT_SELECT, type EventRow } from '../../src/audit/audit-event.js';
import type { AuditEventInput } from '../../src/audit/audit-log.js';
import { checkpointMessage, checkpointToJson, type Checkpoint, type CheckpointBody } from '../../src/audit/audit-signing.js';
import { initSodium, signDetached, signingKeyPairFromSeed } from '../../src/crypto/index.js';
import type { TestApp } from '../helpers/test-app.js';

let counter = 0;

/** A plausible event; `over` replaces any part. */
export function sampleEvent(over: Partial<AuditEventInput> = {}): AuditEventInput {
  counter++;
  return {
    requestId: `req-${counter}`,
    actor: { id: '00000000-0000-4000-8000-000000000001', name: 'support-desk', kind: 'service', roles: ['support'] },
    action: 'customer.read',
    resource: { type: 'customer', id: '00000000-0000-4000-8000-00000000aaaa' },
    purpose: 'service_support',
    reason: `ticket ${counter}`,
    fields: { revealed: ['fullName', 'email'], masked: ['address'], written: [] },
    outcome: 'allowed',
    status: 200,
    clientIp: '127.0.0.1',
    ...over,
  };
}

/**
 * Runs SQL as a database superuser would to get around the append-only trigger: in one transaction
 * with `session_replication_role = replica` (triggers off). Statements only, no parameters.
 */
export async function tamper(vault: TestApp, statements: string): Promise<void> {
  await vault.sql(`BEGIN; SET LOCAL session_replication_role = replica; ${statements}; COMMIT;`);
}

/**
 * Makes every insert into the audit log fail, as a full disk or a revoked grant would: into
 * audit_pending and into audit_events (where the sealing process appends its own events directly).
 */
export async function breakAuditInserts(vault: TestApp, broken: boolean): Promise<void> {
  if (broken) {
    await vault.sql(`CREATE OR REPLACE FUNCTION test_fail_audit() RETURNS trigger LANGUAGE plpgsql AS $$
      BEGIN RAISE EXCEPTION 'test: audit storage unavailable'; END $$;
      CREATE TRIGGER test_fail_audit BEFORE INSERT ON audit_pending FOR EACH STATEMENT EXECUTE FUNCTION test_fail_audit();
      CREATE TRIGGER test_fail_audit BEFORE INSERT ON audit_events FOR EACH STATEMENT EXECUTE FUNCTION test_fail_audit();`);
  } else {
    await vault.sql('DROP TRIGGER IF EXISTS test_fail_audit ON audit_pending; DROP TRIGGER IF EXISTS test_fail_audit ON audit_events');
  }
}


/** The environment a CLI needs to act on a test app's vault (same database, root key, checkpoint file). */
export function cliEnv(vault: TestApp): Record<string, string> {
  return {
    DATABASE_URL: vault.databaseUrl,
    VAULT_ROOT_KEY: vault.rootKey.toString('base64'),
    VAULT_DATA_DIR: vault.dataDir,
    VAULT_AUDIT_CHECKPOINT_FILE: vault.runtime.config.auditCheckpointFile,
    LOG_LEVEL: 'warn',
  };
}

/** The compiled CLI, asynchronously: the test app in this process keeps sealing meanwhile. */
export { runCliAsync as runCli } from '../helpers/vault-process.js';

/**
 * An attacker's rewrite from `fromSeq` on (after editing an event): every later prev_hash and hash
 * recomputed, so the chain is consistent with itself (SHA-256 has no secret).
 */
export async function rehashFrom(vault: TestApp, fromSeq: number): Promise<void> {
  const rows = await vault.sql<EventRow & { seq: string; prev_hash: Buffer }>(`SELECT seq, prev_hash, ${EVENT_SELECT} FROM audit_events WHERE seq >= ${fromSeq} ORDER BY seq`);
  let prev = rows[0].prev_hash;
  const updates: string[] = [];
  for (const row of rows) {
    const hash = chainHash(prev, canonicalEvent(Number(row.seq), rowToEvent(row)));
    updates.push(`UPDATE audit_events SET prev_hash = '\\x${prev.toString('hex')}', hash = '\\x${hash.toString('hex')}' WHERE seq = ${row.seq}`);
    prev = hash;
  }
  await tamper(vault, updates.join(';'));
}

/**
 * An attacker's re-signing of every database checkpoint with a key of their own, published in
 * audit_signing_keys as the runtime role may: each covers the chain as it now is and names the
 * previous one. Returns the new checkpoints (as checkpoint-file lines) and the key's id.
 */
export async function resignCheckpoints(vault: TestApp, seed: Buffer): Promise<{ keyId: string; lines: string[] }> {
  await initSodium();
  const pair = signingKeyPairFromSeed(seed);
  await vault.sql('INSERT INTO audit_signing_keys (key_id, public_key) VALUES ($1, $2)', [pair.keyId, pair.publicKey]);
  const rows = await vault.sql<{ seq: string; at: Date; hash: Buffer }>(
    'SELECT c.seq, c.at, e.hash FROM audit_checkpoints c JOIN audit_events e USING (seq) ORDER BY c.seq',
  );
  let prevSignature: Buffer | null = null;
  const checkpoints: Checkpoint[] = [];
  for (const row of rows) {
    const body: CheckpointBody = { seq: Number(row.seq), hash: row.hash, at: row.at, keyId: pair.keyId, prevSignature };
    const checkpoint: Checkpoint = { ...body, signature: signDetached(checkpointMessage(body), pair.privateKey) };
    checkpoints.push(checkpoint);
    prevSignature = checkpoint.signature;
  }
  const hex = (b: Buffer | null): string => (b === null ? 'NULL' : `'\\x${b.toString('hex')}'`);
  await tamper(
    vault,
    [
      'DELETE FROM audit_checkpoints',
      ...checkpoints.map(
        (c) => `INSERT INTO audit_checkpoints (seq, hash, at, key_id, signature, prev_signature) VALUES (${c.seq}, ${hex(c.hash)}, '${c.at.toISOString()}', '${c.keyId}', ${hex(c.signature)}, ${hex(c.prevSignature)})`,
      ),
    ].join(';'),
  );
  return { keyId: pair.keyId, lines: checkpoints.map((c) => JSON.stringify(checkpointToJson(c))) };
}

/** supertest parser that keeps a streamed body (an export, a report) as text. */
export function textParser(res: unknown, callback: (error: Error | null, body: string) => void): void {
  // On Node, superagent hands the parser the raw response stream.
  const stream = res as NodeJS.ReadableStream;
  let text = '';
  stream.setEncoding('utf8');
  stream.on('data', (chunk: string) => (text += chunk));
  stream.on('end', () => callback(null, text));
}
