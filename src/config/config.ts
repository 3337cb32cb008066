import path from 'node:path';

/**
 * Every setting the vault reads, in one typed place. `loadConfig` validates the whole environment at
 * boot and throws a ConfigError naming each bad variable, so a misconfigured vault never starts.
 */
export type NodeEnv = 'development' | 'production' | 'test';
export type LogLevel = 'fatal' | 'error' | 'warn' | 'info' | 'debug' | 'trace' | 'silent';

export interface VaultConfig {
  nodeEnv: NodeEnv;
  host: string;
  port: number;
  logLevel: LogLevel;
  /** Where local state lives: the embedded database, the development root key, checkpoint file. */
  dataDir: string;
  /** External PostgreSQL; undefined means the embedded one under `<dataDir>/pg`. */
  databaseUrl?: string;
  embeddedPgPort: number;
  dbPoolSize: number;
  /** Base64 of 32 bytes, or a file holding it (raw 32 bytes or base64); at most one of the two. */
  rootKey?: string;
  rootKeyFile?: string;
  bodyLimitBytes: number;
  shutdownTimeoutMs: number;
  dekCacheSize: number;
  dekCacheTtlMs: number;
  tokenCacheTtlMs: number;
  auditCheckpointFile: string;
  auditCheckpointEvery: number;
  auditCheckpointIntervalMs: number;
  auditSealIntervalMs: number;
  /** DEKs rewrapped per transaction by the KEK rotation job. */
  rotationBatchSize: number;
  /** Pause between rotation batches (lets traffic through; tests use it to slow a job down). */
  rotationBatchPauseMs: number;
  /** Requests per principal per rate window (0: no limit). Per process. */
  rateLimitPerWindow: number;
  /** Failed authentications per client address per rate window before it is refused outright (0: no limit). */
  authFailureLimitPerWindow: number;
  rateLimitWindowMs: number;
  /** ISO 3166-1 alpha-2 country of the company: disclosures to recipients elsewhere are cross-border. */
  homeCountry: string;
  /** Days after account closure before the retention job erases a customer (0: no retention job). */
  retentionDays: number;
  /** How often the retention job looks for customers due for erasure. */
  retentionIntervalMs: number;
}

export class ConfigError extends Error {
  constructor(readonly problems: string[]) {
    super(`Invalid configuration:\n  - ${problems.join('\n  - ')}`);
    this.name = 'ConfigError';
  }
}

type Env = Record<string, string | undefined>;

class EnvReader {
  readonly problems: string[] = [];
  constructor(private readonly env: Env) {}

  raw(name: string): string | undefined {
    const value = this.env[name];
    return value === undefined || value.trim() === '' ? undefined : value.trim();
  }

  string(name: string, fallback: string): string {
    return this.raw(name) ?? fallback;
  }

  int(name: string, fallback: number, min: number, max: number): number {
    const value = this.raw(name);
    if (value === undefined) return fallback;
    if (!/^\d+$/.test(value) || Number(value) < min || Number(value) > max) {
      this.problems.push(`${name} must be an integer from ${min} to ${max}`);
      return fallback;
    }
    return Number(value);
  }

  oneOf<T extends string>(name: string, allowed: readonly T[], fallback: T): T {
    const value = this.raw(name);
    if (value === undefined) return fallback;
    if (!(allowed as readonly string[]).includes(value)) {
      this.problems.push(`${name} must be one of ${allowed.join(', ')}`);
      return fallback;
    }
    return value as T;
  }

  /** Sizes such as `64kb`, `1mb` or a plain byte count. */
  bytes(name: string, fallback: number): number {
    const value = this.raw(name);
    if (value === undefined) return fallback;
    const match = /^(\d+)\s*(b|kb|mb)?$/i.exec(value);
    const units: Record<string, number> = { b: 1, kb: 1024, mb: 1024 * 1024 };
    const bytes = match ? Number(match[1]) * units[(match[2] ?? 'b').toLowerCase()] : NaN;
    if (!Number.isFinite(bytes) || bytes < 1024 || bytes > 16 * 1024 * 1024) {
      this.problems.push(`${name} must be a size from 1kb to 16mb (e.g. 64kb)`);
      return fallback;
    }
    return bytes;
  }
}

const LOG_LEVELS = ['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'] as const;

export function loadConfig(env: Env = process.env, cwd: string = process.cwd()): VaultConfig {
  const read = new EnvReader(env);
  const nodeEnv = read.oneOf('NODE_ENV', ['development', 'production', 'test'] as const, 'development');
  const dataDir = path.resolve(cwd, read.string('VAULT_DATA_DIR', 'var'));

  const databaseUrl = read.raw('DATABASE_URL');
  if (databaseUrl !== undefined && !/^postgres(ql)?:\/\/.+/.test(databaseUrl)) {
    read.problems.push('DATABASE_URL must be a postgres:// or postgresql:// URL');
  }
  const rootKey = read.raw('VAULT_ROOT_KEY');
  const rootKeyFile = read.raw('VAULT_ROOT_KEY_FILE');
  if (rootKey !== undefined && rootKeyFile !== undefined) {
    read.problems.push('set only one of VAULT_ROOT_KEY and VAULT_ROOT_KEY_FILE');
  }
  if (rootKey !== undefined && !isBase64Of32Bytes(rootKey)) {
    read.problems.push('VAULT_ROOT_KEY must be the base64 encoding of exactly 32 bytes (e.g. `openssl rand -base64 32`)');
  }

  const config: VaultConfig = {
    nodeEnv,
    host: read.string('HOST', '127.0.0.1'),
    port: read.int('PORT', 8080, 0, 65535),
    logLevel: read.oneOf('LOG_LEVEL', LOG_LEVELS, nodeEnv === 'test' ? 'warn' : 'info'),
    dataDir,
    databaseUrl,
    embeddedPgPort: read.int('VAULT_EMBEDDED_PG_PORT', 54329, 1024, 65535),
    dbPoolSize: read.int('VAULT_DB_POOL_SIZE', 10, 1, 200),
    rootKey,
    rootKeyFile: rootKeyFile === undefined ? undefined : path.resolve(cwd, rootKeyFile),
    bodyLimitBytes: read.bytes('VAULT_BODY_LIMIT', 64 * 1024),
    shutdownTimeoutMs: read.int('VAULT_SHUTDOWN_TIMEOUT_MS', 10_000, 0, 600_000),
    dekCacheSize: read.int('VAULT_DEK_CACHE_SIZE', 10_000, 0, 1_000_000),
    dekCacheTtlMs: read.int('VAULT_DEK_CACHE_TTL_MS', 60_000, 0, 3_600_000),
    tokenCacheTtlMs: read.int('VAULT_TOKEN_CACHE_TTL_MS', 1_000, 0, 1_000),
    auditCheckpointFile: path.resolve(cwd, read.string('VAULT_AUDIT_CHECKPOINT_FILE', path.join(dataDir, 'audit-checkpoints.ndjson'))),
    auditCheckpointEvery: read.int('VAULT_AUDIT_CHECKPOINT_EVERY', 1000, 1, 10_000_000),
    auditCheckpointIntervalMs: read.int('VAULT_AUDIT_CHECKPOINT_INTERVAL_MS', 10_000, 100, 86_400_000),
    auditSealIntervalMs: read.int('VAULT_AUDIT_SEAL_INTERVAL_MS', 50, 5, 10_000),
    rotationBatchSize: read.int('VAULT_ROTATION_BATCH_SIZE', 1000, 1, 100_000),
    rotationBatchPauseMs: read.int('VAULT_ROTATION_BATCH_PAUSE_MS', 0, 0, 60_000),
    rateLimitPerWindow: read.int('VAULT_RATE_LIMIT_PER_MINUTE', 60_000, 0, 10_000_000),
    authFailureLimitPerWindow: read.int('VAULT_AUTH_FAILURE_LIMIT_PER_MINUTE', 60, 0, 10_000_000),
    rateLimitWindowMs: read.int('VAULT_RATE_LIMIT_WINDOW_MS', 60_000, 1_000, 3_600_000),
    homeCountry: read.string('VAULT_HOME_COUNTRY', 'VN').toUpperCase(),
    retentionDays: read.int('VAULT_RETENTION_DAYS', 0, 0, 36_500),
    retentionIntervalMs: read.int('VAULT_RETENTION_INTERVAL_MS', 3_600_000, 100, 604_800_000),
  };
  if (!/^[A-Z]{2}$/.test(config.homeCountry)) read.problems.push('VAULT_HOME_COUNTRY must be an ISO 3166-1 alpha-2 country code (e.g. VN)');

  if (nodeEnv === 'production') {
    if (databaseUrl === undefined) {
      read.problems.push('NODE_ENV=production refuses the embedded database: set DATABASE_URL to your PostgreSQL (13+)');
    }
    if (rootKey === undefined && rootKeyFile === undefined) {
      read.problems.push('NODE_ENV=production needs an explicit root key: set VAULT_ROOT_KEY (base64 of 32 bytes) or VAULT_ROOT_KEY_FILE');
    }
  }
  if (read.problems.length > 0) throw new ConfigError(read.problems);
  return config;
}

export function isBase64Of32Bytes(value: string): boolean {
  return /^[A-Za-z0-9+/]{43}=$/.test(value) && Buffer.from(value, 'base64').length === 32;
}

/** The URL with its password replaced, for log lines. */
export function redactDatabaseUrl(url: string): string {
  try {
    const parsed = new URL(url);
    if (parsed.password) parsed.password = '***';
    return parsed.toString();
  } catch {
    return 'postgres://(unparseable url)';
  }
}
