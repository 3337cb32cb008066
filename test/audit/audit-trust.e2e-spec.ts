import { afterEach, describe, expect, it, jest } from '@jest/globals';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync, statSync, unlinkSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { AuditLog } from '../../src/audit/audit-log.js';
import { AuditSealer } from '../../src/audit/audit-sealer.js';
import type { VerifyReport } from '../../src/audit/audit-verifier.js';
import { deriveAuditSigningSeed, initSodium, rootKeyId, signingKeyId, signingKeyPairFromSeed } from '../../src/crypto/index.js';
import { createPrincipal, type TestPrincipal } from '../helpers/principals.js';
import { startTestApp, type TestApp } from '../helpers/test-app.js';
import { lastLine } from '../helpers/vault-process.js';
import { cliEnv, rehashFrom, resignCheckpoints, runCli, sampleEvent, tamper } from './helpers.js';

/**
 * DESIGN §5, trust anchors: verification trusts only keys from outside the database (the one the
 * root key derives, those pinned in VAULT_AUDIT_TRUSTED_KEYS_FILE) and needs the checkpoint file,
 * whole. Each attack runs as an insider would (a database superuser, write access to the file),
 * and is checked through HTTP and the CLI.
 */

// Most tests run the CLI besides HTTP: a child process that starts the vault's context.
jest.setTimeout(90_000);

interface Fixture {
  vault: TestApp;
  security: TestPrincipal;
  /** checkpoint file and trusted-keys file */
  file: string;
  keysFile: string;
}

const open: TestApp[] = [];
const dirs: string[] = [];
afterEach(async () => {
  await Promise.all(open.splice(0).map((vault) => vault.close()));
  for (const dir of dirs.splice(0)) rmSync(dir, { recursive: true, force: true });
});

/**
 * No sealing tick and no checkpoint by time during a test (sealNow drives sealing, every 5 events a
 * checkpoint), so checkpoints sit where the test puts them however slow the machine.
 */
const ENV = { VAULT_AUDIT_CHECKPOINT_EVERY: '5', VAULT_AUDIT_SEAL_INTERVAL_MS: '10000', VAULT_AUDIT_CHECKPOINT_INTERVAL_MS: '86400000' };

/** A vault on a data directory of the test's own, which outlives a restart. */
async function start(options: Parameters<typeof startTestApp>[0] = {}): Promise<TestApp> {
  let dataDir = options.dataDir;
  if (dataDir === undefined) {
    dataDir = mkdtempSync(path.join(os.tmpdir(), 'cv-trust-'));
    dirs.push(dataDir);
  }
  const vault = await startTestApp({ ...options, dataDir, env: { ...ENV, ...options.env } });
  open.push(vault);
  return vault;
}

/** 20 events sealed in rounds of 5 (checkpoints at 5, 10, 15, 20), then a security principal. */
async function chainOf20(options: Parameters<typeof startTestApp>[0] = {}): Promise<Fixture> {
  const vault = await start(options);
  // The sealer first (the first checkpoint comes with the first sealed batch), then the events.
  await vault.app.get(AuditSealer).sealNow();
  await record(vault, 4);
  expect((await vault.sql<{ seq: string }>('SELECT seq FROM audit_checkpoints ORDER BY seq')).map((c) => Number(c.seq))).toEqual([5, 10, 15, 20]);
  const security = await createPrincipal(vault, { roles: ['security'] });
  await vault.app.get(AuditSealer).sealNow();
  return { vault, security, file: vault.runtime.config.auditCheckpointFile, keysFile: vault.runtime.config.auditTrustedKeysFile };
}

/** Stops the vault. */
async function stop(vault: TestApp): Promise<void> {
  await vault.close();
  open.splice(open.indexOf(vault), 1);
}

/** Stops the vault and starts another on the same database, data directory and root key, as after a crash or a restore. */
async function restart(vault: TestApp): Promise<TestApp> {
  await stop(vault);
  return start({ databaseUrl: vault.databaseUrl, rootKey: vault.rootKey, dataDir: vault.dataDir });
}

/** A new sealer finds the file as the test left it, seals 5 events (a checkpoint at 26), and the log verifies. */
async function expectCompletedByNextSealer(f: Fixture): Promise<void> {
  const vault = await restart(f.vault);
  await record(vault, 1);
  expect(fileLines(f.file).map((l) => (JSON.parse(l) as { seq: number }).seq)).toEqual([5, 10, 15, 20, 26]);
  const security = await createPrincipal(vault, { roles: ['security'] });
  expect(await verifyHttp({ ...f, vault, security })).toMatchObject({ valid: true });
}

async function record(vault: TestApp, rounds: number): Promise<void> {
  const log = vault.app.get(AuditLog);
  const sealer = vault.app.get(AuditSealer);
  for (let round = 0; round < rounds; round++) {
    await Promise.all(Array.from({ length: 5 }, () => log.record(sampleEvent())));
    await sealer.sealNow();
  }
}

async function verifyHttp(f: Fixture): Promise<VerifyReport> {
  return (await f.vault.http().get('/v1/audit/verify').set('Authorization', f.security.authHeader).expect(200)).body as VerifyReport;
}

/** The CLI's verdict: exit status, the seq it names on stderr, its report. */
async function verifyCli(f: Fixture): Promise<{ status: number | null; stderr: string; report: VerifyReport }> {
  const cli = await runCli(['audit:verify', '--workers', '1'], cliEnv(f.vault));
  return { status: cli.status, stderr: cli.stderr, report: JSON.parse(lastLine(cli.stdout)) as VerifyReport };
}

/** Both ways, the same first bad seq and problem. */
async function expectReported(f: Fixture, firstInvalidSeq: number, problem: string): Promise<void> {
  expect(await verifyHttp(f)).toMatchObject({ valid: false, firstInvalidSeq, problem });
  const cli = await verifyCli(f);
  expect(cli.status).toBe(1);
  expect(cli.stderr).toContain(`first invalid seq ${firstInvalidSeq}: ${problem}`);
  expect(cli.report).toMatchObject({ valid: false, firstInvalidSeq, problem });
}

function fileLines(file: string): string[] {
  return readFileSync(file, 'utf8').split('\n').filter((l) => l.length > 0);
}

describe('audit verification trusts only anchors outside the database (real PostgreSQL, HTTP and CLI)', () => {
  it('the honest path: valid through HTTP and the CLI; the first start pinned its key (0644) beside the checkpoint file (0600)', async () => {
    const f = await chainOf20();
    const report = await verifyHttp(f);
    expect(report).toMatchObject({ valid: true, checkpoints: { database: 4, file: 4 } });
    expect(report).not.toHaveProperty('problem');
    const cli = await verifyCli(f);
    expect(cli.status).toBe(0);
    expect(cli.report).toMatchObject({ valid: true });

    expect(path.dirname(f.keysFile)).toBe(path.dirname(f.file));
    expect(statSync(f.keysFile).mode & 0o777).toBe(0o644);
    expect(statSync(f.file).mode & 0o777).toBe(0o600);
    await initSodium();
    const own = signingKeyPairFromSeed(deriveAuditSigningSeed(f.vault.rootKey));
    const pinned = fileLines(f.keysFile).map((l) => JSON.parse(l) as { keyId: string; publicKey: string; rootKeyId: string; pinnedAt: string });
    expect(pinned).toEqual([{ keyId: own.keyId, publicKey: own.publicKey.toString('base64'), rootKeyId: rootKeyId(f.vault.rootKey), pinnedAt: expect.any(String) }]);
  });

  describe('a signing key found only in the database is not trusted', () => {
    it('an event rewritten, a new key inserted, every database checkpoint and the file re-signed with it: untrusted_signing_key at the first checkpoint it signed', async () => {
      const f = await chainOf20();
      await tamper(f.vault, `UPDATE audit_events SET resource_id = 'someone-else' WHERE seq = 7`);
      await rehashFrom(f.vault, 7);
      const rogue = await resignCheckpoints(f.vault, randomBytes(32));
      // The rogue key is well-formed: its id matches its bytes, as the old verifier required.
      const [row] = await f.vault.sql<{ public_key: Buffer }>('SELECT public_key FROM audit_signing_keys WHERE key_id = $1', [rogue.keyId]);
      expect(signingKeyId(row.public_key)).toBe(rogue.keyId);
      writeFileSync(f.file, `${rogue.lines.join('\n')}\n`);
      await expectReported(f, 5, 'untrusted_signing_key');
      // Nor is it published as a verification key.
      const key = (await f.vault.http().get('/v1/audit/public-key').set('Authorization', f.security.authHeader).expect(200)).body as { keyId: string; previousKeys: { keyId: string }[] };
      expect([key.keyId, ...key.previousKeys.map((k) => k.keyId)]).not.toContain(rogue.keyId);
    });

    it('the same with the checkpoint file left alone: the database checkpoints are still reported first', async () => {
      const f = await chainOf20();
      await tamper(f.vault, `UPDATE audit_events SET purpose = 'marketing' WHERE seq = 12`);
      await rehashFrom(f.vault, 12);
      await resignCheckpoints(f.vault, randomBytes(32));
      await expectReported(f, 5, 'untrusted_signing_key');
    });
  });

  describe('the checkpoint file is required, whole', () => {
    it('missing', async () => {
      const f = await chainOf20();
      unlinkSync(f.file);
      await expectReported(f, 1, 'checkpoint_file_missing');
    });

    it('emptied', async () => {
      const f = await chainOf20();
      writeFileSync(f.file, '');
      await expectReported(f, 1, 'checkpoint_file_empty');
    });

    it('one line shorter at its end: the database holds a checkpoint the file lacks', async () => {
      const f = await chainOf20();
      writeFileSync(f.file, `${fileLines(f.file).slice(0, -1).join('\n')}\n`);
      await expectReported(f, 20, 'checkpoint_missing_from_file');
    });

    it('one line shorter in its middle: the prevSignature links break after the last linked entry', async () => {
      const f = await chainOf20();
      const lines = fileLines(f.file);
      writeFileSync(f.file, `${[...lines.slice(0, 1), ...lines.slice(2)].join('\n')}\n`);
      // entries 5, 15, 20: 15 names 10, which is gone; nothing after 5 is vouched for by linked lines
      await expectReported(f, 6, 'checkpoint_file_link_broken');
    });

    it('a torn last line (a crash mid-append) and unknown members are not problems; a damaged line before the end is', async () => {
      const f = await chainOf20();
      const lines = fileLines(f.file).map((l) => JSON.stringify({ ...(JSON.parse(l) as object), writer: 'host-a' }));
      writeFileSync(f.file, `${lines.join('\n')}\n${lines[3].slice(0, 40)}`);
      expect(await verifyHttp(f)).toMatchObject({ valid: true, checkpoints: { file: 4 } });
      writeFileSync(f.file, `${lines.slice(0, 2).join('\n')}\n{"seq":\n${lines.slice(2).join('\n')}\n`);
      expect(await verifyHttp(f)).toMatchObject({ valid: false, firstInvalidSeq: 11, problem: 'checkpoint_file_damaged' });
    });
  });

  describe('after a restore or a cut, the seq after the last checkpoint still matched', () => {
    it('the tail cut (events and their checkpoints): 11, after the checkpoint at 10', async () => {
      const f = await chainOf20();
      await tamper(f.vault, 'DELETE FROM audit_events WHERE seq > 12; DELETE FROM audit_checkpoints WHERE seq > 12');
      // A restart, as after restoring a backup: the sealer reads the head from the database.
      const vault = await restart(f.vault);
      const restored = { ...f, vault };
      const security = await createPrincipal(vault, { roles: ['security'] });
      await expectReported({ ...restored, security }, 11, 'log_truncated');
      // ...and still 11 once the restored vault has written past the old checkpoints with new events.
      await record(vault, 3);
      expect(await verifyHttp({ ...restored, security })).toMatchObject({ valid: false, firstInvalidSeq: 11, problem: 'log_truncated' });
    });
  });

  it('a key pinned under a previous root (root:rotate) still verifies the checkpoints it signed; without its pin they are untrusted', async () => {
    const f = await chainOf20();
    const dataDir = f.vault.dataDir;
    const env = cliEnv(f.vault);
    await stop(f.vault);
    const newKey = randomBytes(32);
    const keyFile = path.join(dataDir, 'new-root.key');
    writeFileSync(keyFile, `${newKey.toString('base64')}\n`, { mode: 0o600 });
    const rotated = await runCli(['root:rotate', '--new-key-file', keyFile], env);
    expect(rotated.status).toBe(0);
    await initSodium();
    const oldId = signingKeyPairFromSeed(deriveAuditSigningSeed(f.vault.rootKey)).keyId;
    const newId = signingKeyPairFromSeed(deriveAuditSigningSeed(newKey)).keyId;
    expect(fileLines(f.keysFile).map((l) => (JSON.parse(l) as { keyId: string }).keyId)).toEqual([oldId, newId]);

    const vault = await start({ databaseUrl: f.vault.databaseUrl, rootKey: newKey, dataDir });
    await record(vault, 2);
    const keyIds = await vault.sql<{ key_id: string }>('SELECT DISTINCT key_id FROM audit_checkpoints');
    expect(keyIds.map((r) => r.key_id).sort()).toEqual([oldId, newId].sort());
    const rotatedFixture = { ...f, vault, security: await createPrincipal(vault, { roles: ['security'] }) };
    expect(await verifyHttp(rotatedFixture)).toMatchObject({ valid: true });
    const key = (await vault.http().get('/v1/audit/public-key').set('Authorization', rotatedFixture.security.authHeader).expect(200)).body as { keyId: string; previousKeys: { keyId: string }[] };
    expect(key).toMatchObject({ keyId: newId, previousKeys: [{ keyId: oldId }] });
    const cli = await runCli(['audit:verify'], cliEnv(vault));
    expect(cli.status).toBe(0);

    // The database still lists the old key, but only the pin makes it trusted.
    writeFileSync(f.keysFile, `${fileLines(f.keysFile).filter((l) => !l.includes(oldId)).join('\n')}\n`);
    await expectReported(rotatedFixture, 5, 'untrusted_signing_key');
  }, 150_000);

  it('a sealer that finds the file behind the database copies the checkpoints it lacks (trusted, linked ones only) before its own', async () => {
    const f = await chainOf20();
    // As if the process that committed the checkpoint at 20 died before appending it.
    writeFileSync(f.file, `${fileLines(f.file).slice(0, -1).join('\n')}\n`);
    await expectCompletedByNextSealer(f);
  });

  it('a torn last line left by a crash is dropped by the next sealer before it appends, not glued to the next line', async () => {
    const f = await chainOf20();
    writeFileSync(f.file, `${readFileSync(f.file, 'utf8')}{"seq":25,"hash":"ab`);
    await expectCompletedByNextSealer(f);
  });
});
