import { existsSync, readFileSync } from 'node:fs';

/** What global-setup shares with the test files: the server, the migrated template and the run id. */
export interface TestEnvironment {
  adminUrl: string;
  templateDatabase: string;
  runId: string;
  embeddedDataDir?: string;
  /** Holds softhsm2.conf (SOFTHSM2_CONF) and the tokens of the run. */
  softHsmDir: string;
}

export function readTestEnvironment(): TestEnvironment {
  const file = process.env.CV_TEST_ENV_FILE;
  if (file === undefined || !existsSync(file)) throw new Error('the test environment file is missing: run the tests through jest (global-setup writes it)');
  return JSON.parse(readFileSync(file, 'utf8')) as TestEnvironment;
}

export function databaseUrl(adminUrl: string, database: string): string {
  const url = new URL(adminUrl);
  url.pathname = `/${database}`;
  return url.toString();
}
