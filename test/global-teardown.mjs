import { readFileSync, rmSync } from 'node:fs';
import pg from 'pg';

/** Stops and removes the embedded server, or drops every database this run made on DATABASE_URL's. */
export default async function globalTeardown() {
  const file = process.env.CV_TEST_ENV_FILE;
  const environment = JSON.parse(readFileSync(file, 'utf8'));
  if (globalThis.__CV_EMBEDDED__) {
    await globalThis.__CV_EMBEDDED__.stop();
  } else {
    const admin = new pg.Client({ connectionString: environment.adminUrl });
    await admin.connect();
    try {
      const { rows } = await admin.query(`SELECT datname FROM pg_database WHERE datname LIKE $1`, [`cv\\_%${environment.runId}%`]);
      for (const { datname } of rows) await admin.query(`DROP DATABASE IF EXISTS "${datname}" WITH (FORCE)`);
    } finally {
      await admin.end();
    }
  }
  if (environment.softHsmDir) rmSync(environment.softHsmDir, { recursive: true, force: true });
  if (environment.embeddedDataDir) rmSync(environment.embeddedDataDir, { recursive: true, force: true });
  rmSync(file, { force: true });
}
