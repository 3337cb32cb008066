import type { AuditEventInput } from '../../src/audit/audit-log.js';
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

/** supertest parser that keeps a streamed body (an export, a report) as text. */
export function textParser(res: unknown, callback: (error: Error | null, body: string) => void): void {
  // On Node, superagent hands the parser the raw response stream.
  const stream = res as NodeJS.ReadableStream;
  let text = '';
  stream.setEncoding('utf8');
  stream.on('data', (chunk: string) => (text += chunk));
  stream.on('end', () => callback(null, text));
}
