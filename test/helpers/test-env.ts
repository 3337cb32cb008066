import { existsSync, readFileSync } from 'node:fs';
import path from 'node:path';

/** What global-setup shares with the test files: the server, the migrated template and the run id. */
export interface TestEnvironment {
  adminUrl: string;
  templateDatabase: string;
  runId: string;
  embeddedDataDir?: string;
}

export const TEST_ENV_FILE = path.resolve(process.cwd(), 'var', 'test-env.json');

export function readTestEnvironment(): TestEnvironment {
  if (!existsSync(TEST_ENV_FILE)) throw new Error(`${TEST_ENV_FILE} is missing: run the tests through jest (global-setup writes it)`);
  return JSON.parse(readFileSync(TEST_ENV_FILE, 'utf8')) as TestEnvironment;
}

export function databaseUrl(adminUrl: string, database: string): string {
  const url = new URL(adminUrl);
  url.pathname = `/${database}`;
  return url.toString();
}
