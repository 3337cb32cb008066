import type { INestApplicationContext } from '@nestjs/common';
import type { Command } from 'commander';
import { AuditLog } from '../audit/audit-log.js';
import { AuditSigning } from '../audit/audit-signing.js';
import { shapeError } from '../common/error-response.js';
import { VaultError } from '../common/vault-error.js';
import { loadConfig, type VaultConfig } from '../config/config.js';
import { openPkcs11, pkcs11Settings, readKeyFile } from '../config/root-key-source.js';
import { initSodium, LocalRootKeyProvider, type RootKeyProvider } from '../crypto/index.js';
import { KeyRotationWorker } from '../keys/key-rotation.worker.js';
import { KeysService, type KeyOperation } from '../keys/keys.service.js';
import { RevisionBinding } from '../keys/revision-binding.js';
import { operatorTrail } from '../principals/operator.js';
import { withVaultContext, type CliOutput } from './cli-context.js';
import { CliError } from './database.commands.js';

/**
 * `keys:rotate`, `keys:status`, `root:rotate`: the same service as the HTTP API, run by the operator
 * (audited with actor `cli:<os user>`, status 0). Results are one JSON line on stdout.
 */
export function registerKeyCommands(program: Command, out: CliOutput): void {
  program
    .command('keys:rotate')
    .description('new active KEK version; running vault processes rewrap every DEK to it in the background')
    .option('--wait', 'run the rewrap job in this process until it is done')
    .action(async (options: { wait?: boolean }) => {
      await withVaultContext(async (context) => {
        const worker = context.get(KeyRotationWorker);
        const keys = context.get(KeysService);
        const result = await runAudited(context, 'keys.rotate', (op) => keys.rotate(op));
        out.info(`KEK version ${result.version} is active; rewrap job ${result.jobId}`);
        if (options.wait) {
          await worker.drain();
          out.result(JSON.stringify({ ...result, job: await keys.job(result.jobId) }));
        } else {
          await worker.stop();
          out.result(JSON.stringify(result));
        }
      });
    });

  program
    .command('keys:status')
    .description('root key id, KEK versions with state and DEK count, as one JSON line')
    .action(async () => {
      await withVaultContext(async (context) => {
        await context.get(KeyRotationWorker).stop();
        const status = await runAudited(context, 'keys.status', () => context.get(KeysService).status());
        out.result(JSON.stringify(status));
      });
    });

  program
    .command('keys:erasure-window')
    .description('erasures not yet covered by a KEK retirement: their wrapped DEK, in backups taken before the erasure, opens while such a KEK lives (docs/SECURITY.md: closing the window)')
    .option('--limit <n>', 'list at most this many of the oldest open erasures', '100')
    .action(async (options: { limit: string }) => {
      const limit = positiveInt(options.limit, '--limit');
      await withVaultContext(async (context) => {
        await context.get(KeyRotationWorker).stop();
        const report = await runAudited(context, 'keys.erasure_window', async (op) => {
          const result = await context.get(KeysService).erasureWindow(limit);
          Object.assign(op.trail.details, { openErasures: result.openErasures, kekVersionsToRetire: result.kekVersionsToRetire.join(',') });
          return result;
        });
        if (report.openErasures === 0) out.info('no open erasure window: every erasure is covered by a KEK retirement');
        else {
          out.info(`${report.openErasures} erasures are not covered yet; the oldest at ${report.oldestOpenErasureAt}`);
          if (report.rotateFirst) out.info(`KEK version ${report.activeKekVersion} is active: rotate first (keys:rotate --wait)`);
          out.info(`retire KEK versions ${report.kekVersionsToRetire.join(', ')} once the backups taken before those erasures have expired`);
        }
        out.result(JSON.stringify(report));
      });
    });

  program
    .command('keys:bind-revisions')
    .description('bind every customer record written before migration 1764200610000 to its revision (anti-rollback); resumable, one process at a time')
    .option('--batch-size <n>', 'records per transaction', '500')
    .option('--max-batches <n>', 'stop after this many batches (run the job in slices)')
    .action(async (options: { batchSize: string; maxBatches?: string }) => {
      const batchSize = positiveInt(options.batchSize, '--batch-size');
      const maxBatches = options.maxBatches === undefined ? undefined : positiveInt(options.maxBatches, '--max-batches');
      await withVaultContext(async (context) => {
        await context.get(KeyRotationWorker).stop();
        const binding = context.get(RevisionBinding);
        await binding.pause();
        const result = await runAudited(context, 'keys.revisions.bind', async (op) => {
          const run = await binding.run({ batchSize, maxBatches });
          if (run === 'busy') throw new VaultError('conflict', 'another process is running the revision job: try again when it is done');
          Object.assign(op.trail.details, { ...run });
          return run;
        });
        out.info(result.finished ? 'every customer record is bound to its revision' : `${result.bound} records bound; run again to continue`);
        out.result(JSON.stringify(result));
      });
    });

  program
    .command('root:rotate')
    .description('rewrap every KEK and blind-index key under a new root key (a key file, or a key in a PKCS#11 token); restart every vault process with the new key afterwards')
    .option('--new-key-file <file>', 'move to the file provider: a file holding the new root key, base64 of 32 bytes or 32 raw bytes')
    .option('--new-pkcs11-key-label <label>', 'move to the pkcs11 provider: label of the new AES-256 key in the token (module and PIN from VAULT_PKCS11_*)')
    .option('--new-pkcs11-token-label <label>', 'with --new-pkcs11-key-label: the token holding it (default VAULT_PKCS11_TOKEN_LABEL)')
    .action(async (options: NewRootKeyOptions) => {
      const config = loadConfig();
      const next = await openNewRootKey(options, config);
      try {
        await withVaultContext(async (context) => {
          await context.get(KeyRotationWorker).stop();
          // Before the rotation: checkpoints signed under either root key stay verifiable.
          await context.get(AuditSigning, { strict: false }).pinForRootRotation(next);
          const result = await runAudited(context, 'keys.root.rotate', (op) => context.get(KeysService).rotateRoot(next, op));
          out.info(`root key ${result.fromRootKeyId} (${result.fromProvider}) -> ${result.toRootKeyId} (${result.toProvider}): ${result.kekVersions} KEK versions and ${result.indexKeys} index keys rewrapped`);
          out.info(
            'restart every vault process with the new root key now: until then, processes still running with the old one are fenced ' +
              '(not ready, key operations refused). Keep the old root key: database backups taken before this rotation still need it.',
          );
          out.result(JSON.stringify(result));
        }, config);
      } finally {
        await next.close();
      }
    });
}

interface NewRootKeyOptions {
  newKeyFile?: string;
  newPkcs11KeyLabel?: string;
  newPkcs11TokenLabel?: string;
}

/** The provider of the new root key, opened before the vault context so that a bad new key changes nothing. */
async function openNewRootKey(options: NewRootKeyOptions, config: VaultConfig): Promise<RootKeyProvider> {
  if ((options.newKeyFile === undefined) === (options.newPkcs11KeyLabel === undefined)) {
    throw new CliError('give exactly one of --new-key-file and --new-pkcs11-key-label');
  }
  if (options.newKeyFile !== undefined) {
    if (options.newPkcs11TokenLabel !== undefined) throw new CliError('--new-pkcs11-token-label goes with --new-pkcs11-key-label');
    await initSodium();
    const key = readKeyFile(options.newKeyFile, 'the new root key file');
    try {
      return new LocalRootKeyProvider(key);
    } finally {
      key.fill(0);
    }
  }
  return openPkcs11(pkcs11Settings(config.pkcs11 ?? {}, options.newPkcs11KeyLabel, options.newPkcs11TokenLabel ?? config.pkcs11?.tokenLabel));
}

function positiveInt(value: string, option: string): number {
  const n = Number(value);
  if (!/^\d{1,9}$/.test(value) || n < 1) throw new CliError(`${option} must be a positive integer`);
  return n;
}

/** One audit event per command, allowed or not (status 0), as the HTTP interceptor does. */
async function runAudited<T>(context: INestApplicationContext, action: string, fn: (op: KeyOperation) => Promise<T>): Promise<T> {
  const auditLog = context.get(AuditLog, { strict: false });
  const trail = operatorTrail(action, 'key');
  let value: T;
  try {
    value = await fn({ trail, okStatus: 0 });
  } catch (error) {
    if (!trail.recorded) {
      trail.recorded = true;
      const { status } = shapeError(error);
      await auditLog.record(trail.toEvent(status < 500 ? 'denied' : 'error', 0));
    }
    if (error instanceof VaultError) throw new CliError(error.message);
    throw error;
  }
  if (!trail.recorded) {
    trail.recorded = true;
    await auditLog.record(trail.toEvent('allowed', 0));
  }
  return value;
}
