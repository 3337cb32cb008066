import { chmodSync, existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { randomBytes } from 'node:crypto';
import path from 'node:path';
import { LocalRootKeyProvider, type RootKeyProvider } from '../crypto/root-key.js';
import { Pkcs11ConfigError, Pkcs11RootKeyProvider, type Pkcs11Settings } from '../crypto/pkcs11-root-key.js';
import { ConfigError, isBase64Of32Bytes, type Pkcs11Config, type VaultConfig } from './config.js';

export interface LoadedRootKey {
  key: Buffer;
  /** Where it came from, for the boot log line: never the key itself. */
  source: 'env' | 'file' | 'development-file';
  createdDevelopmentKey: boolean;
}

/** The provider the rest of the vault sees, and where its key came from (for the boot log line). */
export interface OpenedRootKey {
  provider: RootKeyProvider;
  source: LoadedRootKey['source'] | 'pkcs11';
  createdDevelopmentKey: boolean;
}

/**
 * The one place that builds the root key provider (VAULT_ROOT_KEY_PROVIDER). With `file`, the raw
 * key copies are erased once the provider holds its own: the decoded buffer is zeroed, and the
 * base64 text is dropped from `config` and from `process.env` (JavaScript strings cannot be
 * overwritten; dropping them keeps them out of child processes' environments and of anything that
 * later dumps the config or the environment). With `pkcs11`, the PIN is dropped the same way.
 */
export async function openRootKeyProvider(config: VaultConfig): Promise<OpenedRootKey> {
  if (config.rootKeyProvider === 'pkcs11') {
    const settings = pkcs11Settings(config.pkcs11 ?? {}, config.pkcs11?.keyLabel);
    delete config.pkcs11?.pin;
    delete process.env.VAULT_PKCS11_PIN;
    return { provider: await openPkcs11(settings), source: 'pkcs11', createdDevelopmentKey: false };
  }
  const loaded = loadRootKey(config);
  try {
    return { provider: new LocalRootKeyProvider(loaded.key), source: loaded.source, createdDevelopmentKey: loaded.createdDevelopmentKey };
  } finally {
    loaded.key.fill(0);
    delete config.rootKey;
    delete process.env.VAULT_ROOT_KEY;
  }
}

/** A pkcs11 provider; its configuration problems become a ConfigError (boot message, exit 1). */
export async function openPkcs11(settings: Pkcs11Settings): Promise<RootKeyProvider> {
  try {
    return await Pkcs11RootKeyProvider.open(settings);
  } catch (error) {
    if (error instanceof Pkcs11ConfigError) throw new ConfigError([error.message]);
    throw error;
  }
}

/** The PKCS#11 settings with the PIN resolved (from VAULT_PKCS11_PIN or the file); `keyLabel` may override the configured one. */
export function pkcs11Settings(pkcs11: Pkcs11Config, keyLabel: string | undefined, tokenLabel = pkcs11.tokenLabel): Pkcs11Settings {
  const problems: string[] = [];
  if (pkcs11.module === undefined) problems.push('the pkcs11 provider needs VAULT_PKCS11_MODULE');
  if (tokenLabel === undefined) problems.push('the pkcs11 provider needs VAULT_PKCS11_TOKEN_LABEL');
  if (keyLabel === undefined) problems.push('the pkcs11 provider needs a key label (VAULT_PKCS11_KEY_LABEL)');
  let pin = pkcs11.pin;
  if (pin === undefined && pkcs11.pinFile !== undefined) {
    try {
      pin = readFileSync(pkcs11.pinFile, 'utf8').replace(/\r?\n$/, '');
    } catch (error) {
      problems.push(`VAULT_PKCS11_PIN_FILE (${pkcs11.pinFile}) cannot be read: ${(error as NodeJS.ErrnoException).code ?? 'unknown error'}`);
    }
  }
  if (pin === undefined && pkcs11.pinFile === undefined) problems.push('the pkcs11 provider needs VAULT_PKCS11_PIN or VAULT_PKCS11_PIN_FILE');
  if (problems.length > 0) throw new ConfigError(problems);
  return { module: pkcs11.module as string, tokenLabel: tokenLabel as string, keyLabel: keyLabel as string, pin: pin as string };
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

/**
 * Valid UTF-8 without control characters, once one trailing (CR)LF is removed: what a passphrase
 * typed into a file looks like (32 random bytes pass with negligible probability).
 */
function looksLikeText(content: Buffer): boolean {
  let end = content.length;
  if (end > 0 && content[end - 1] === 0x0a) end--;
  if (end > 0 && content[end - 1] === 0x0d) end--;
  const body = content.subarray(0, end);
  const decoded = body.toString('utf8');
  if (!Buffer.from(decoded, 'utf8').equals(body)) return false; // not valid UTF-8
  return ![...decoded].some((char) => {
    const code = char.codePointAt(0) ?? 0;
    return code < 0x20 || (code >= 0x7f && code <= 0x9f);
  });
}

/**
 * A key file holds the base64 of 32 bytes (one line) or the 32 raw bytes. Text that is not that
 * base64 is refused: a passphrase is far weaker than a key.
 */
export function readKeyFile(file: string, what: string): Buffer {
  let content: Buffer;
  try {
    content = readFileSync(file);
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code ?? 'unknown error';
    throw new ConfigError([`${what} (${file}) cannot be read: ${code}`]);
  }
  try {
    const text = content.toString('utf8').trim();
    if (isBase64Of32Bytes(text)) return Buffer.from(text, 'base64');
    // Text, ASCII or not, once one trailing newline is set aside (`echo 'passphrase' > f` writes 31
    // characters and a newline: 32 bytes), is a passphrase. 32 random bytes are text by accident with
    // a negligible probability.
    if (content.length === 32 && !looksLikeText(content)) return Buffer.from(content);
    if (text.length > 0 && looksLikeText(content)) {
      throw new ConfigError([
        `${what} (${file}) holds printable text that is not the base64 of 32 bytes: a passphrase, not a key. ` +
          'Generate a key with `openssl rand -base64 32 > FILE` (or 32 random raw bytes)',
      ]);
    }
    throw new ConfigError([`${what} (${file}) must hold 32 raw bytes or their base64 encoding`]);
  } finally {
    content.fill(0);
  }
}
