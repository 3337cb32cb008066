import { describe, expect, it } from '@jest/globals';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { initSodium, rootKeyId } from '../crypto/index.js';
import { ConfigError, loadConfig, redactDatabaseUrl } from './config.js';
import { loadRootKey, openRootKeyProvider } from './root-key-source.js';

const key = randomBytes(32).toString('base64');

function problemsOf(env: Record<string, string>): string[] {
  try {
    loadConfig(env, '/srv');
  } catch (error) {
    if (error instanceof ConfigError) return error.problems;
    throw error;
  }
  return [];
}

describe('loadConfig', () => {
  it('has working defaults', () => {
    const config = loadConfig({}, '/srv');
    expect(config).toMatchObject({ nodeEnv: 'development', port: 8080, host: '127.0.0.1', dataDir: '/srv/var', bodyLimitBytes: 65536 });
    expect(config.databaseUrl).toBeUndefined();
  });

  it.each([
    [{ PORT: 'eighty' }, 'PORT'],
    [{ PORT: '70000' }, 'PORT'],
    [{ NODE_ENV: 'staging' }, 'NODE_ENV'],
    [{ LOG_LEVEL: 'loud' }, 'LOG_LEVEL'],
    [{ DATABASE_URL: 'mysql://x' }, 'DATABASE_URL'],
    [{ VAULT_ROOT_KEY: 'c2hvcnQ=' }, 'VAULT_ROOT_KEY'],
    [{ VAULT_ROOT_KEY: key, VAULT_ROOT_KEY_FILE: '/k' }, 'VAULT_ROOT_KEY_FILE'],
    [{ VAULT_BODY_LIMIT: 'huge' }, 'VAULT_BODY_LIMIT'],
    [{ VAULT_DB_POOL_SIZE: '0' }, 'VAULT_DB_POOL_SIZE'],
    [{ VAULT_OFFICE_HOURS: '8-18' }, 'VAULT_OFFICE_HOURS'],
    [{ VAULT_OFFICE_HOURS: '08:00-08:00' }, 'VAULT_OFFICE_HOURS'],
    [{ VAULT_OFFICE_HOURS: '24:00-06:00' }, 'VAULT_OFFICE_HOURS'],
    [{ VAULT_OFFICE_TIMEZONE: 'Mars/Olympus' }, 'VAULT_OFFICE_TIMEZONE'],
    [{ VAULT_ROOT_KEY_PROVIDER: 'kms' }, 'VAULT_ROOT_KEY_PROVIDER'],
    [{ VAULT_ROOT_KEY_PROVIDER: 'pkcs11' }, 'VAULT_PKCS11_MODULE'],
    [{ VAULT_ROOT_KEY_PROVIDER: 'pkcs11', VAULT_PKCS11_MODULE: '/m.so', VAULT_PKCS11_PIN: '1', VAULT_PKCS11_KEY_LABEL: 'k' }, 'VAULT_PKCS11_TOKEN_LABEL'],
    [{ VAULT_ROOT_KEY_PROVIDER: 'pkcs11', VAULT_PKCS11_MODULE: '/m.so', VAULT_PKCS11_TOKEN_LABEL: 't', VAULT_PKCS11_KEY_LABEL: 'k' }, 'VAULT_PKCS11_PIN_FILE'],
    [{ VAULT_ROOT_KEY_PROVIDER: 'pkcs11', VAULT_PKCS11_MODULE: '/m.so', VAULT_PKCS11_TOKEN_LABEL: 't', VAULT_PKCS11_PIN: '1' }, 'VAULT_PKCS11_KEY_LABEL'],
    [{ VAULT_PKCS11_PIN: '1', VAULT_PKCS11_PIN_FILE: '/p' }, 'VAULT_PKCS11_PIN_FILE'],
    [{ VAULT_ROOT_KEY_PROVIDER: 'pkcs11', VAULT_PKCS11_MODULE: '/m.so', VAULT_PKCS11_TOKEN_LABEL: 't', VAULT_PKCS11_PIN: '1', VAULT_PKCS11_KEY_LABEL: 'k', VAULT_ROOT_KEY: key }, 'VAULT_ROOT_KEY'],
    [{ VAULT_HOME_COUNTRY: 'VNM' }, 'VAULT_HOME_COUNTRY'],
    [{ VAULT_HOME_COUNTRY: 'V1' }, 'VAULT_HOME_COUNTRY'],
    [{ VAULT_RETENTION_DAYS: '-1' }, 'VAULT_RETENTION_DAYS'],
    [{ VAULT_RETENTION_DAYS: '30d' }, 'VAULT_RETENTION_DAYS'],
    [{ VAULT_RETENTION_INTERVAL_MS: '10' }, 'VAULT_RETENTION_INTERVAL_MS'],
  ])('rejects %j naming %s', (env, variable) => {
    const problems = problemsOf(env);
    expect(problems.length).toBeGreaterThan(0);
    expect(problems.join('\n')).toContain(variable);
  });

  it('reads office hours and their zone; a window may cross midnight', () => {
    expect(loadConfig({}).officeHours).toEqual({ start: '08:00', end: '18:00', timeZone: 'Asia/Ho_Chi_Minh' });
    expect(loadConfig({ VAULT_OFFICE_HOURS: '22:00-06:30', VAULT_OFFICE_TIMEZONE: 'Europe/London' }).officeHours).toEqual({ start: '22:00', end: '06:30', timeZone: 'Europe/London' });
  });

  it('never echoes a bad root key value', () => {
    const problems = problemsOf({ VAULT_ROOT_KEY: 'not-a-key-but-secret-ish' });
    expect(problems.join('\n')).not.toContain('not-a-key-but-secret-ish');
  });

  it('in production refuses the embedded database and a missing root key, saying what to set', () => {
    const problems = problemsOf({ NODE_ENV: 'production' }).join('\n');
    expect(problems).toContain('DATABASE_URL');
    expect(problems).toContain('VAULT_ROOT_KEY');
    expect(() => loadConfig({ NODE_ENV: 'production', DATABASE_URL: 'postgres://db/vault', VAULT_ROOT_KEY: key })).not.toThrow();
  });

  it('in production accepts the pkcs11 provider without VAULT_ROOT_KEY; the PIN never appears in a problem', () => {
    const pkcs11 = { VAULT_ROOT_KEY_PROVIDER: 'pkcs11', VAULT_PKCS11_MODULE: '/m.so', VAULT_PKCS11_TOKEN_LABEL: 't', VAULT_PKCS11_KEY_LABEL: 'k' };
    expect(loadConfig({ NODE_ENV: 'production', DATABASE_URL: 'postgres://db/vault', ...pkcs11, VAULT_PKCS11_PIN_FILE: '/run/secrets/pin' }, '/srv')).toMatchObject({
      rootKeyProvider: 'pkcs11',
      pkcs11: { module: '/m.so', tokenLabel: 't', keyLabel: 'k', pinFile: '/run/secrets/pin' },
    });
    expect(problemsOf({ ...pkcs11, VAULT_PKCS11_PIN: 'pin-7731-secret', VAULT_ROOT_KEY: key }).join('\n')).not.toContain('pin-7731-secret');
  });

  it('VAULT_DEK_CACHE_TTL_MS=0 is accepted (the cache is off)', () => {
    expect(loadConfig({ VAULT_DEK_CACHE_TTL_MS: '0' }).dekCacheTtlMs).toBe(0);
  });

  it('customer rights: home country VN and retention off by default; the country is upper-cased', () => {
    expect(loadConfig({}, '/srv')).toMatchObject({ homeCountry: 'VN', retentionDays: 0, retentionIntervalMs: 3_600_000 });
    expect(loadConfig({ VAULT_HOME_COUNTRY: 'de', VAULT_RETENTION_DAYS: '30', VAULT_RETENTION_INTERVAL_MS: '60000' }, '/srv')).toMatchObject({
      homeCountry: 'DE',
      retentionDays: 30,
      retentionIntervalMs: 60_000,
    });
  });

  it('VAULT_IDEMPOTENCY_TTL: 24 h by default; a duration with s, m, h or d, or plain seconds; 1 s to 30 d', () => {
    expect(loadConfig({}).idempotencyTtlSeconds).toBe(86_400);
    expect(loadConfig({ VAULT_IDEMPOTENCY_TTL: '30m' }).idempotencyTtlSeconds).toBe(1_800);
    expect(loadConfig({ VAULT_IDEMPOTENCY_TTL: '2d' }).idempotencyTtlSeconds).toBe(172_800);
    expect(loadConfig({ VAULT_IDEMPOTENCY_TTL: '90' }).idempotencyTtlSeconds).toBe(90);
    for (const bad of ['0', '31d', '24 hours', '-1h', '1.5h']) {
      expect(problemsOf({ VAULT_IDEMPOTENCY_TTL: bad })).toEqual([expect.stringContaining('VAULT_IDEMPOTENCY_TTL must be a duration')]);
    }
  });

  it('parses sizes', () => {
    expect(loadConfig({ VAULT_BODY_LIMIT: '1mb' }).bodyLimitBytes).toBe(1024 * 1024);
    expect(loadConfig({ VAULT_BODY_LIMIT: '2048' }).bodyLimitBytes).toBe(2048);
  });

  it('redacts the password of a database URL', () => {
    expect(redactDatabaseUrl('postgres://vault:s3cret@db:5432/vault')).toBe('postgres://vault:***@db:5432/vault');
  });
});

describe('loadRootKey', () => {
  it('creates a development key once (mode 0600) and reuses it', () => {
    const dataDir = mkdtempSync(path.join(os.tmpdir(), 'cv-key-'));
    const config = loadConfig({ VAULT_DATA_DIR: dataDir });
    const first = loadRootKey(config);
    expect(first.createdDevelopmentKey).toBe(true);
    expect(first.key).toHaveLength(32);
    expect(statSync(path.join(dataDir, 'root.key')).mode & 0o777).toBe(0o600);
    const second = loadRootKey(config);
    expect(second.createdDevelopmentKey).toBe(false);
    expect(second.key.equals(first.key)).toBe(true);
  });

  it('reads VAULT_ROOT_KEY_FILE as base64 or raw bytes and rejects anything else', () => {
    const dir = mkdtempSync(path.join(os.tmpdir(), 'cv-key-'));
    const raw = randomBytes(32);
    writeFileSync(path.join(dir, 'raw.key'), raw);
    writeFileSync(path.join(dir, 'b64.key'), raw.toString('base64') + '\n');
    writeFileSync(path.join(dir, 'bad.key'), 'definitely-not-a-key');
    expect(loadRootKey(loadConfig({ VAULT_ROOT_KEY_FILE: path.join(dir, 'raw.key') })).key.equals(raw)).toBe(true);
    expect(loadRootKey(loadConfig({ VAULT_ROOT_KEY_FILE: path.join(dir, 'b64.key') })).key.equals(raw)).toBe(true);
    expect(() => loadRootKey(loadConfig({ VAULT_ROOT_KEY_FILE: path.join(dir, 'bad.key') }))).toThrow(/VAULT_ROOT_KEY_FILE/);
    expect(() => loadRootKey(loadConfig({ VAULT_ROOT_KEY_FILE: path.join(dir, 'missing.key') }))).toThrow(/ENOENT/);
    expect(readFileSync(path.join(dir, 'b64.key'), 'utf8')).toContain(raw.toString('base64'));
  });

  it.each([
    ['32 printable characters', 'correct horse battery staple 42!'],
    ['a longer passphrase with a newline', 'my vault passphrase is long enough\n'],
    // the red team's: `echo` adds a newline, and 31 characters plus it are 32 bytes
    ['32 bytes: 31 printable characters and a newline', 'my vault root passphrase 2026!!\n'],
    ['32 bytes of UTF-8 text', 'mật khẩu gốc của kho 202'],
  ])('refuses a key file holding %s: a passphrase, not a key, with a clear message that does not echo it', (_what, passphrase) => {
    const dir = mkdtempSync(path.join(os.tmpdir(), 'cv-key-'));
    const file = path.join(dir, 'root.key');
    writeFileSync(file, passphrase);
    if (_what.startsWith('32')) expect(Buffer.byteLength(passphrase)).toBe(32);
    const error = (() => {
      try {
        loadRootKey(loadConfig({ VAULT_ROOT_KEY_FILE: file }));
      } catch (e) {
        return e as ConfigError;
      }
      return undefined;
    })();
    expect(error).toBeInstanceOf(ConfigError);
    expect(error?.message).toMatch(/a passphrase, not a key/);
    expect(error?.message).toMatch(/openssl rand -base64 32/);
    expect(error?.message).not.toContain(passphrase.trim());
  });
});

describe('openRootKeyProvider (file)', () => {
  it('erases the raw key copies once the provider holds its own: config.rootKey and VAULT_ROOT_KEY are gone', async () => {
    await initSodium();
    const raw = randomBytes(32);
    const base64 = raw.toString('base64');
    const previous = process.env.VAULT_ROOT_KEY;
    process.env.VAULT_ROOT_KEY = base64;
    try {
      const config = loadConfig(process.env, '/srv');
      expect(config.rootKey).toBe(base64);
      const opened = await openRootKeyProvider(config);
      expect(opened.provider.keyId).toBe(rootKeyId(raw));
      expect(opened.source).toBe('env');
      expect(config.rootKey).toBeUndefined();
      expect('rootKey' in config).toBe(false);
      expect(process.env.VAULT_ROOT_KEY).toBeUndefined();
      expect(JSON.stringify(config)).not.toContain(base64);
      await opened.provider.close();
    } finally {
      if (previous === undefined) delete process.env.VAULT_ROOT_KEY;
      else process.env.VAULT_ROOT_KEY = previous;
    }
  });
});
