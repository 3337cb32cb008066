// Runs once per jest run, outside jest's module system: imports the compiled build (`npm test`
// compiles first, see "pretest"). Plain JS on purpose: jest loads global setup natively.
import { mkdirSync, mkdtempSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import os from 'node:os';
import path from 'node:path';
import pg from 'pg';
import { createDataSource, runMigrations } from '../dist/src/database/data-source.js';
import { EmbeddedDatabase } from '../dist/src/database/embedded-database.js';

/** One file per run (several runs may share a checkout); workers find it through the environment. */
export function testEnvFile(runId) {
  return path.resolve(process.cwd(), 'var', `test-env-${runId}.json`);
}

/**
 * One PostgreSQL server per run (embedded, or DATABASE_URL when set) and one template database with
 * every migration applied; each test file clones the template (CREATE DATABASE ... TEMPLATE), tens
 * of milliseconds instead of migrating again.
 */
export default async function globalSetup() {
  const runId = `${Date.now().toString(36)}_${process.pid}`;
  let adminUrl = process.env.DATABASE_URL;
  let embeddedDataDir;
  if (!adminUrl) {
    embeddedDataDir = mkdtempSync(path.join(os.tmpdir(), 'cv-test-pg-'));
    const embedded = new EmbeddedDatabase({ dataDir: embeddedDataDir, port: await freePort() });
    adminUrl = await embedded.start();
    globalThis.__CV_EMBEDDED__ = embedded;
  }
  const templateDatabase = `cv_template_${runId}`;
  const admin = new pg.Client({ connectionString: adminUrl });
  await admin.connect();
  try {
    await admin.query(`CREATE DATABASE ${templateDatabase}`);
  } finally {
    await admin.end();
  }
  const templateUrl = new URL(adminUrl);
  templateUrl.pathname = `/${templateDatabase}`;
  const dataSource = createDataSource({ url: templateUrl.toString(), poolSize: 2 });
  await dataSource.initialize();
  try {
    await runMigrations(dataSource);
  } finally {
    await dataSource.destroy();
  }
  const softHsmDir = softHsmConfig();
  const file = testEnvFile(runId);
  mkdirSync(path.dirname(file), { recursive: true });
  writeFileSync(file, JSON.stringify({ adminUrl, templateDatabase, runId, embeddedDataDir, softHsmDir }), { mode: 0o600 });
  process.env.CV_TEST_ENV_FILE = file;
}

/**
 * SoftHSM2 for the pkcs11 root key provider's tests: a config whose token directory is a temporary
 * one, in SOFTHSM2_CONF before the workers start (the PKCS#11 module reads the real environment,
 * which a test file's `process.env` does not reach). Each test file initialises its own token in it
 * (test/helpers/softhsm.ts).
 */
function softHsmConfig() {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'cv-test-softhsm-'));
  mkdirSync(path.join(dir, 'tokens'));
  writeFileSync(path.join(dir, 'softhsm2.conf'), `directories.tokendir = ${path.join(dir, 'tokens')}\nobjectstore.backend = file\nlog.level = ERROR\nslots.removable = false\n`);
  process.env.SOFTHSM2_CONF = path.join(dir, 'softhsm2.conf');
  return dir;
}

function freePort() {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const address = server.address();
      server.close(() => resolve(typeof address === 'object' && address ? address.port : 0));
    });
  });
}
