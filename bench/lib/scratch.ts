/** The scaffolding of an in-process benchmark script (bench/audit-impact.ts): a scratch vault runtime and the exit code. */
import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { openRuntime } from '../../src/bootstrap.js';
import { createRootLogger } from '../../src/common/logger.js';
import { loadConfig } from '../../src/config/config.js';
import type { VaultRuntime } from '../../src/config/runtime.js';
import type { AuditEventInput } from '../../src/audit/audit-log.js';
import { EmbeddedDatabase } from '../../src/database/embedded-database.js';
import { freePort } from './procs.js';

export interface ScratchRuntime {
  runtime: VaultRuntime;
  url: string;
  /** Closes the runtime's database, stops the embedded PostgreSQL if one was started, removes the data dir. */
  close: () => Promise<void>;
}

/**
 * DATABASE_URL (a scratch database) or an embedded PostgreSQL in a temporary directory; migrations
 * applied; VAULT_ROOT_KEY (to reuse a database between runs) or a random root key.
 */
export async function scratchRuntime(prefix: string, env: Record<string, string> = {}): Promise<ScratchRuntime> {
  const dataDir = mkdtempSync(path.join(tmpdir(), prefix));
  let embedded: EmbeddedDatabase | undefined;
  let url = process.env.DATABASE_URL;
  if (!url) {
    embedded = new EmbeddedDatabase({ dataDir, port: await freePort() });
    url = await embedded.start();
  }
  const config = loadConfig({ NODE_ENV: 'test', DATABASE_URL: url, VAULT_ROOT_KEY: process.env.VAULT_ROOT_KEY ?? randomBytes(32).toString('base64'), VAULT_DATA_DIR: dataDir, LOG_LEVEL: 'warn', ...env });
  const runtime = await openRuntime({ config, log: createRootLogger('warn') });
  return {
    runtime,
    url,
    close: async () => {
      await runtime.database.close();
      await embedded?.stop();
      rmSync(dataDir, { recursive: true, force: true });
    },
  };
}

/** Runs a script's main; a failure is printed and sets exit code 1. */
export function runBench(main: () => Promise<void>): void {
  main().catch((err: unknown) => {
    console.error(err);
    process.exitCode = 1;
  });
}

/** A typical audit event of a customer read (support, service_support), number `i`, by `actorId`. */
export function readEvent(i: number, actorId = '2f0c8f5e-5b4c-4e55-9d1e-0a0b0c0d0e0f'): AuditEventInput {
  return {
    requestId: `bench-${i}`,
    actor: { id: actorId, name: 'support-desk', kind: 'service', roles: ['support'] },
    action: 'customer.read',
    resource: { type: 'customer', id: '6b3f2a8e-1111-4222-8333-444455556666' },
    purpose: 'service_support',
    reason: 'TICKET-1234',
    fields: { revealed: ['fullName', 'email', 'phone'], masked: ['address', 'nationalId', 'dateOfBirth'], written: [] },
    outcome: 'allowed',
    status: 200,
    clientIp: '10.0.0.7',
  };
}
