import type { Logger } from 'pino';
import type { VaultDatabase } from '../database/database.js';
import type { LoadedRootKey } from './root-key-source.js';
import type { VaultConfig } from './config.js';

/** What the process built before Nest starts, handed to the module tree as providers. */
export interface VaultRuntime {
  config: VaultConfig;
  database: VaultDatabase;
  rootKey: LoadedRootKey;
  log: Logger;
}

/** Injection tokens for the runtime's parts. */
export const VAULT_CONFIG = Symbol('VAULT_CONFIG');
export const ROOT_LOGGER = Symbol('ROOT_LOGGER');
export const ROOT_KEY = Symbol('ROOT_KEY');
