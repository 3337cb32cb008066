import type { Logger } from 'pino';
import { loadConfig, type VaultConfig } from './config/config.js';
import { openRootKeyProvider } from './config/root-key-source.js';
import type { VaultRuntime } from './config/runtime.js';
import { VaultDatabase } from './database/database.js';
import { createRootLogger } from './common/logger.js';
import { initSodium } from './crypto/index.js';

/**
 * Builds the runtime shared by the server and the CLI: validated config, root key, open and
 * migrated database. Throws ConfigError (naming the variable) on bad configuration.
 */
export async function openRuntime(options: { config?: VaultConfig; log?: Logger; migrate?: boolean } = {}): Promise<VaultRuntime> {
  const config = options.config ?? loadConfig();
  await initSodium();
  const log = options.log ?? createRootLogger(config.logLevel);
  const rootKey = await openRootKeyProvider(config);
  if (rootKey.createdDevelopmentKey) {
    log.warn(
      `!!! DEVELOPMENT ROOT KEY CREATED in ${config.dataDir}/root.key: every customer record depends on it. ` +
        'Never use it in production: set VAULT_ROOT_KEY or VAULT_ROOT_KEY_FILE (see README, Configuration). !!!',
    );
  } else if (rootKey.source === 'development-file') {
    log.warn(`using the development root key in ${config.dataDir}/root.key: not for production`);
  }
  log.info({ rootKeyProvider: rootKey.provider.kind, rootKeyId: rootKey.provider.keyId }, 'root key provider ready');
  let database: VaultDatabase;
  try {
    database = await VaultDatabase.open(config, (message) => log.info({ component: 'database' }, message), { migrate: options.migrate });
  } catch (error) {
    await rootKey.provider.close();
    throw error;
  }
  return { config, database, rootKey: rootKey.provider, log };
}
