import type { Logger } from 'pino';
import type { VaultDatabase } from '../database/database.js';
import type { RootKeyProvider } from '../crypto/root-key.js';
import type { VaultConfig } from './config.js';

/** What the process built before Nest starts, handed to the module tree as providers. */
export interface VaultRuntime {
  config: VaultConfig;
  database: VaultDatabase;
  /** The root key provider (file or pkcs11): the only view of the root key the vault has. */
  rootKey: RootKeyProvider;
  log: Logger;
}

/** Injection tokens for the runtime's parts. */
export const VAULT_CONFIG = Symbol('VAULT_CONFIG');
export const ROOT_LOGGER = Symbol('ROOT_LOGGER');
/** Injects the runtime's RootKeyProvider. */
export const ROOT_KEY = Symbol('ROOT_KEY');
