import { availableParallelism } from 'node:os';
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
  /** Where the root key lives: `file` (VAULT_ROOT_KEY / VAULT_ROOT_KEY_FILE / development key) or `pkcs11` (an HSM). */
  rootKeyProvider: RootKeyProviderKind;
  /**
   * Base64 of 32 bytes, or a file holding it (raw 32 bytes or base64); at most one of the two. The
   * provider factory deletes `rootKey` from this object (and VAULT_ROOT_KEY from process.env) once
   * the provider holds its copy.
   */
  rootKey?: string;
  rootKeyFile?: string;
  /** PKCS#11 settings; required with the pkcs11 provider, read with any provider (root:rotate may move to one). */
  pkcs11?: Pkcs11Config;
  bodyLimitBytes: number;
  shutdownTimeoutMs: number;
  /** DEK cache bounds; either 0 turns the cache off. */
  dekCacheSize: number;
  dekCacheTtlMs: number;
  tokenCacheTtlMs: number;
  auditCheckpointFile: string;
  /** Public keys trusted to have signed checkpoints, besides the one derived from the root key (outside the database). */
  auditTrustedKeysFile: string;
  auditCheckpointEvery: number;
  auditCheckpointIntervalMs: number;
  auditSealIntervalMs: number;
  /** Live audit stream: events queued for one slow consumer before it is closed with a resume position. */
  auditStreamMaxBacklog: number;
  /** Live audit stream: SSE comment sent this often so proxies keep an idle stream open. */
  auditStreamHeartbeatMs: number;
  /** Live audit stream: how often a process with open streams looks for newly chained events. */
  auditStreamPollMs: number;
  /** DEKs rewrapped per transaction by the KEK rotation job. */
  rotationBatchSize: number;
  /** Pause between rotation batches (lets traffic through; tests use it to slow a job down). */
  rotationBatchPauseMs: number;
  /** Requests per principal per rate window (0: no limit). Per process. */
  rateLimitPerWindow: number;
  /** Customer searches per principal per rate window, on top of the request limit (0: no limit). Per process. */
  searchLimitPerWindow: number;
  /** Failed authentications per client address per rate window before it is refused outright (0: no limit). */
  authFailureLimitPerWindow: number;
  rateLimitWindowMs: number;
  /** HTTP worker processes (node:cluster) on one port; 1 runs the server in this process. */
  workers: number;
  /** Office hours for the console's "plaintext reads outside office hours" flag. */
  officeHours: { start: string; end: string; timeZone: string };
  /** ISO 3166-1 alpha-2 country of the company: disclosures to recipients elsewhere are cross-border. */
  homeCountry: string;
  /** Days after account closure before the retention job erases a customer (0: no retention job). */
  retentionDays: number;
  /** How often the retention job looks for customers due for erasure. */
  retentionIntervalMs: number;
  /** How long an Idempotency-Key and its stored answer are kept after the write (seconds). */
  idempotencyTtlSeconds: number;
}

export type RootKeyProviderKind = 'file' | 'pkcs11';

export interface Pkcs11Config {
  module?: string;
  tokenLabel?: string;
  /** The user PIN, or a file holding it; at most one of the two. Deleted from here once used. */
  pin?: string;
  pinFile?: string;
  keyLabel?: string;
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

  /** Durations such as `24h`, `30m`, `90s`, `7d` or a plain number of seconds; returns seconds. */
  seconds(name: string, fallback: number, min: number, max: number): number {
    const value = this.raw(name);
    if (value === undefined) return fallback;
    const match = /^(\d{1,9})\s*(s|m|h|d)?$/i.exec(value);
    const units: Record<string, number> = { s: 1, m: 60, h: 3600, d: 86_400 };
    const seconds = match ? Number(match[1]) * units[(match[2] ?? 's').toLowerCase()] : NaN;
    if (!Number.isFinite(seconds) || seconds < min || seconds > max) {
      this.problems.push(`${name} must be a duration from ${min}s to ${max / 86_400}d (e.g. 24h, 30m, 90s)`);
      return fallback;
    }
    return seconds;
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

  const rootKeyProvider = read.oneOf('VAULT_ROOT_KEY_PROVIDER', ['file', 'pkcs11'] as const, 'file');
  const pkcs11: Pkcs11Config = {
    module: read.raw('VAULT_PKCS11_MODULE'),
    tokenLabel: read.raw('VAULT_PKCS11_TOKEN_LABEL'),
    pin: read.raw('VAULT_PKCS11_PIN'),
    pinFile: optionalPath(read.raw('VAULT_PKCS11_PIN_FILE'), cwd),
    keyLabel: read.raw('VAULT_PKCS11_KEY_LABEL'),
  };
  if (pkcs11.pin !== undefined && pkcs11.pinFile !== undefined) read.problems.push('set only one of VAULT_PKCS11_PIN and VAULT_PKCS11_PIN_FILE');
  if (rootKeyProvider === 'pkcs11') {
    for (const [name, value] of [['VAULT_PKCS11_MODULE', pkcs11.module], ['VAULT_PKCS11_TOKEN_LABEL', pkcs11.tokenLabel], ['VAULT_PKCS11_KEY_LABEL', pkcs11.keyLabel]] as const) {
      if (value === undefined) read.problems.push(`VAULT_ROOT_KEY_PROVIDER=pkcs11 needs ${name}`);
    }
    if (pkcs11.pin === undefined && pkcs11.pinFile === undefined) read.problems.push('VAULT_ROOT_KEY_PROVIDER=pkcs11 needs VAULT_PKCS11_PIN or VAULT_PKCS11_PIN_FILE');
    if (rootKey !== undefined || rootKeyFile !== undefined) {
      read.problems.push('VAULT_ROOT_KEY and VAULT_ROOT_KEY_FILE are for VAULT_ROOT_KEY_PROVIDER=file: unset them with the pkcs11 provider');
    }
  }

  const auditCheckpointFile = path.resolve(cwd, read.string('VAULT_AUDIT_CHECKPOINT_FILE', path.join(dataDir, 'audit-checkpoints.ndjson')));
  const config: VaultConfig = {
    nodeEnv,
    host: read.string('HOST', '127.0.0.1'),
    port: read.int('PORT', 8080, 0, 65535),
    logLevel: read.oneOf('LOG_LEVEL', LOG_LEVELS, nodeEnv === 'test' ? 'warn' : 'info'),
    dataDir,
    databaseUrl,
    embeddedPgPort: read.int('VAULT_EMBEDDED_PG_PORT', 54329, 1024, 65535),
    dbPoolSize: read.int('VAULT_DB_POOL_SIZE', 10, 1, 200),
    rootKeyProvider,
    rootKey,
    rootKeyFile: optionalPath(rootKeyFile, cwd),
    pkcs11: Object.values(pkcs11).some((v) => v !== undefined) ? pkcs11 : undefined,
    bodyLimitBytes: read.bytes('VAULT_BODY_LIMIT', 64 * 1024),
    shutdownTimeoutMs: read.int('VAULT_SHUTDOWN_TIMEOUT_MS', 10_000, 0, 600_000),
    dekCacheSize: read.int('VAULT_DEK_CACHE_SIZE', 10_000, 0, 1_000_000),
    dekCacheTtlMs: read.int('VAULT_DEK_CACHE_TTL_MS', 60_000, 0, 3_600_000),
    tokenCacheTtlMs: read.int('VAULT_TOKEN_CACHE_TTL_MS', 1_000, 0, 1_000),
    auditCheckpointFile,
    // Beside the checkpoint file by default: both are the anchors kept outside the database.
    auditTrustedKeysFile: path.resolve(cwd, read.string('VAULT_AUDIT_TRUSTED_KEYS_FILE', path.join(path.dirname(auditCheckpointFile), 'audit-trusted-keys.ndjson'))),
    auditCheckpointEvery: read.int('VAULT_AUDIT_CHECKPOINT_EVERY', 1000, 1, 10_000_000),
    auditCheckpointIntervalMs: read.int('VAULT_AUDIT_CHECKPOINT_INTERVAL_MS', 10_000, 100, 86_400_000),
    auditSealIntervalMs: read.int('VAULT_AUDIT_SEAL_INTERVAL_MS', 50, 5, 10_000),
    auditStreamMaxBacklog: read.int('VAULT_AUDIT_STREAM_MAX_BACKLOG', 10_000, 1, 1_000_000),
    auditStreamHeartbeatMs: read.int('VAULT_AUDIT_STREAM_HEARTBEAT_MS', 15_000, 100, 600_000),
    auditStreamPollMs: read.int('VAULT_AUDIT_STREAM_POLL_MS', 250, 10, 60_000),
    rotationBatchSize: read.int('VAULT_ROTATION_BATCH_SIZE', 1000, 1, 100_000),
    rotationBatchPauseMs: read.int('VAULT_ROTATION_BATCH_PAUSE_MS', 0, 0, 60_000),
    rateLimitPerWindow: read.int('VAULT_RATE_LIMIT_PER_MINUTE', 60_000, 0, 10_000_000),
    searchLimitPerWindow: read.int('VAULT_SEARCH_LIMIT_PER_MINUTE', 600, 0, 10_000_000),
    authFailureLimitPerWindow: read.int('VAULT_AUTH_FAILURE_LIMIT_PER_MINUTE', 60, 0, 10_000_000),
    rateLimitWindowMs: read.int('VAULT_RATE_LIMIT_WINDOW_MS', 60_000, 1_000, 3_600_000),
    workers: workerCount(read.raw('VAULT_WORKERS')),
    officeHours: officeHours(read),
    homeCountry: read.string('VAULT_HOME_COUNTRY', 'VN').toUpperCase(),
    retentionDays: read.int('VAULT_RETENTION_DAYS', 0, 0, 36_500),
    retentionIntervalMs: read.int('VAULT_RETENTION_INTERVAL_MS', 3_600_000, 100, 604_800_000),
    idempotencyTtlSeconds: read.seconds('VAULT_IDEMPOTENCY_TTL', 86_400, 1, 30 * 86_400),
  };
  if (!Number.isInteger(config.workers) || config.workers > 64) read.problems.push('VAULT_WORKERS must be a whole number from 1 to 64, or auto');
  if (!/^[A-Z]{2}$/.test(config.homeCountry)) read.problems.push('VAULT_HOME_COUNTRY must be an ISO 3166-1 alpha-2 country code (e.g. VN)');

  if (nodeEnv === 'production') {
    if (databaseUrl === undefined) {
      read.problems.push('NODE_ENV=production refuses the embedded database: set DATABASE_URL to your PostgreSQL (13+)');
    }
    if (rootKeyProvider === 'file' && rootKey === undefined && rootKeyFile === undefined) {
      read.problems.push('NODE_ENV=production needs an explicit root key: set VAULT_ROOT_KEY (base64 of 32 bytes) or VAULT_ROOT_KEY_FILE');
    }
  }
  if (read.problems.length > 0) throw new ConfigError(read.problems);
  return config;
}

/** `VAULT_WORKERS`: a count, or `auto` for one per available CPU (NaN when malformed). */
export function workerCount(setting: string | undefined): number {
  if (setting === undefined) return 1;
  if (setting === 'auto') return availableParallelism();
  const count = Number(setting);
  return /^\d+$/.test(setting) && count >= 1 ? count : Number.NaN;
}

/** `VAULT_OFFICE_HOURS` (`HH:MM-HH:MM`, may cross midnight) in `VAULT_OFFICE_TIMEZONE` (IANA name). */
function officeHours(read: EnvReader): VaultConfig['officeHours'] {
  const hours = read.string('VAULT_OFFICE_HOURS', '08:00-18:00');
  const timeZone = read.string('VAULT_OFFICE_TIMEZONE', 'Asia/Ho_Chi_Minh');
  const match = /^([01]\d|2[0-3]):([0-5]\d)-([01]\d|2[0-3]):([0-5]\d)$/.exec(hours);
  if (match === null || hours.slice(0, 5) === hours.slice(6)) read.problems.push('VAULT_OFFICE_HOURS must be HH:MM-HH:MM (24-hour clock, start and end different), e.g. 08:00-18:00');
  try {
    new Intl.DateTimeFormat('en', { timeZone });
  } catch {
    read.problems.push('VAULT_OFFICE_TIMEZONE must be an IANA time zone name, e.g. Asia/Ho_Chi_Minh');
  }
  return { start: hours.slice(0, 5), end: hours.slice(6), timeZone };
}

function optionalPath(value: string | undefined, cwd: string): string | undefined {
  return value === undefined ? undefined : path.resolve(cwd, value);
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
