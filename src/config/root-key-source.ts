import { chmodSync, existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { randomBytes } from 'node:crypto';
import path from 'node:path';
import { ConfigError, isBase64Of32Bytes, type VaultConfig } from './config.js';

export interface LoadedRootKey {
  key: Buffer;
  /** Where it came from, for the boot log line: never the key itself. */
  source: 'env' | 'file' | 'development-file';
  createdDevelopmentKey: boolean;
}

/**
 * Reads the root key from VAULT_ROOT_KEY or VAULT_ROOT_KEY_FILE. Outside production, with neither set,
 * a development key is created once in `<dataDir>/root.key` (mode 0600) and reused afterwards; the
 * caller warns loudly about it. Error messages never contain key bytes.
 */
export function loadRootKey(config: VaultConfig): LoadedRootKey {
  if (config.rootKey !== undefined) {
    return { key: Buffer.from(config.rootKey, 'base64'), source: 'env', createdDevelopmentKey: false };
  }
  if (config.rootKeyFile !== undefined) {
    return { key: readKeyFile(config.rootKeyFile, 'VAULT_ROOT_KEY_FILE'), source: 'file', createdDevelopmentKey: false };
  }
  if (config.nodeEnv === 'production') {
    throw new ConfigError(['NODE_ENV=production needs VAULT_ROOT_KEY or VAULT_ROOT_KEY_FILE']);
  }
  const devFile = path.join(config.dataDir, 'root.key');
  if (existsSync(devFile)) {
    return { key: readKeyFile(devFile, 'the development root key file'), source: 'development-file', createdDevelopmentKey: false };
  }
  mkdirSync(config.dataDir, { recursive: true });
  const key = randomBytes(32);
  writeFileSync(devFile, key.toString('base64') + '\n', { mode: 0o600, flag: 'wx' });
  chmodSync(devFile, 0o600);
  return { key, source: 'development-file', createdDevelopmentKey: true };
}

/** A key file holds the base64 of 32 bytes (one line) or the 32 raw bytes. */
export function readKeyFile(file: string, what: string): Buffer {
  let content: Buffer;
  try {
    content = readFileSync(file);
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code ?? 'unknown error';
    throw new ConfigError([`${what} (${file}) cannot be read: ${code}`]);
  }
  if (content.length === 32) return content;
  const text = content.toString('utf8').trim();
  if (isBase64Of32Bytes(text)) return Buffer.from(text, 'base64');
  throw new ConfigError([`${what} (${file}) must hold 32 raw bytes or their base64 encoding`]);
}
