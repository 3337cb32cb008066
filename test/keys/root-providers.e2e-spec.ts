import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { randomBytes } from 'node:crypto';
import { writeFileSync } from 'node:fs';
import path from 'node:path';
import { rootKeyId } from '../../src/crypto/index.js';
import { SoftHsmToken } from '../helpers/softhsm.js';
import { lastLine, runCli, VaultProcess } from '../helpers/vault-process.js';
import { readAll, seededFixture } from './seeded.js';

/** `root:rotate` between providers (DESIGN section 2): file -> pkcs11 -> pkcs11 (new key label) -> file, each through the CLI. */
describe('root:rotate moves the root key between the file and the pkcs11 providers', () => {
  const fileKey = randomBytes(32);
  const finalKey = randomBytes(32);
  const fixture = seededFixture('cv-root-providers-', fileKey, 40);
  const { dataDir, processes, sql } = fixture;
  let token: SoftHsmToken;

  beforeAll(() => {
    token = new SoftHsmToken('providers');
    token.createKey('vault-root-1');
    token.createKey('vault-root-2');
  });
  afterAll(() => token?.remove());

  const base = () => ({ DATABASE_URL: fixture.seeded.databaseUrl, VAULT_DATA_DIR: dataDir, LOG_LEVEL: 'warn' });
  const fileEnv = (key: Buffer) => ({ ...base(), VAULT_ROOT_KEY: key.toString('base64') });
  /** The token's module, label and PIN, as an operator moving from the file provider sets them. */
  const tokenAccess = () => {
    const { VAULT_PKCS11_MODULE, VAULT_PKCS11_TOKEN_LABEL, VAULT_PKCS11_PIN, SOFTHSM2_CONF } = token.env('');
    return { VAULT_PKCS11_MODULE, VAULT_PKCS11_TOKEN_LABEL, VAULT_PKCS11_PIN, SOFTHSM2_CONF };
  };

  /** Rotates with `args` under `env`; returns the CLI's JSON result. */
  function rotate(args: string[], env: Record<string, string>): Record<string, unknown> {
    const result = runCli(['root:rotate', ...args], env);
    if (result.status !== 0) throw new Error(`root:rotate failed: ${result.stderr}`);
    for (const secret of [token.pin, fileKey.toString('base64'), finalKey.toString('base64')]) expect(result.stdout + result.stderr).not.toContain(secret);
    return JSON.parse(lastLine(result.stdout)) as Record<string, unknown>;
  }

  /** A server with `env` comes up, reads every customer, names the expected root key; returns its id. */
  async function serveWith(env: Record<string, string>, alg: number): Promise<string> {
    const vault = await VaultProcess.start(env);
    processes.push(vault);
    await vault.waitReady(120_000);
    await readAll(vault.url, fixture.seeded);
    const keys = (await (await fetch(`${vault.url}/v1/keys`, { headers: { Authorization: fixture.seeded.admin } })).json()) as { rootKeyId: string };
    await vault.stop();
    const rows = await sql<{ wrapped_key: Buffer; root_key_id: string }>('SELECT wrapped_key, root_key_id FROM kek_versions UNION ALL SELECT wrapped_key, root_key_id FROM blind_index_keys');
    for (const row of rows) expect({ alg: row.wrapped_key[1], id: row.root_key_id }).toEqual({ alg, id: keys.rootKeyId });
    expect(await sql('SELECT root_key_id FROM root_key_state')).toEqual([{ root_key_id: keys.rootKeyId }]);
    return keys.rootKeyId;
  }

  it('refuses ambiguous or missing targets without changing anything', () => {
    const keyFile = path.join(dataDir, 'unused.key');
    writeFileSync(keyFile, `${finalKey.toString('base64')}\n`, { mode: 0o600 });
    for (const args of [[], ['--new-key-file', keyFile, '--new-pkcs11-key-label', 'vault-root-1']]) {
      const result = runCli(['root:rotate', ...args], { ...fileEnv(fileKey), ...tokenAccess() });
      expect(result.status).toBe(1);
      expect(result.stderr).toContain('give exactly one of --new-key-file and --new-pkcs11-key-label');
    }
    const missing = runCli(['root:rotate', '--new-pkcs11-key-label', 'no-such-key'], { ...fileEnv(fileKey), ...tokenAccess() });
    expect(missing.status).toBe(1);
    expect(missing.stderr).toMatch(/no secret key labelled "no-such-key"/);
  }, 120_000);

  it('file -> pkcs11 -> pkcs11 (new key label) -> file: after each move the vault serves every customer with the new root key only', async () => {
    const toToken = rotate(['--new-pkcs11-key-label', 'vault-root-1'], { ...fileEnv(fileKey), ...tokenAccess() });
    expect(toToken).toMatchObject({ fromRootKeyId: rootKeyId(fileKey), fromProvider: 'file', toProvider: 'pkcs11', kekVersions: 1, indexKeys: 3 });
    const firstTokenId = await serveWith({ ...base(), ...token.env('vault-root-1') }, 2);
    expect(firstTokenId).toBe(toToken.toRootKeyId);

    // the file key no longer starts a vault on this database
    const stale = await VaultProcess.start(fileEnv(fileKey));
    processes.push(stale);
    expect(await stale.waitExit()).not.toBe(0);
    expect(stale.text()).toMatch(/is not the current root key/);

    const toSecond = rotate(['--new-pkcs11-key-label', 'vault-root-2'], { ...base(), ...token.env('vault-root-1') });
    expect(toSecond).toMatchObject({ fromRootKeyId: firstTokenId, fromProvider: 'pkcs11', toProvider: 'pkcs11' });
    const secondTokenId = await serveWith({ ...base(), ...token.env('vault-root-2') }, 2);
    expect(secondTokenId).toBe(toSecond.toRootKeyId);
    expect(secondTokenId).not.toBe(firstTokenId);

    const keyFile = path.join(dataDir, 'final-root.key');
    writeFileSync(keyFile, `${finalKey.toString('base64')}\n`, { mode: 0o600 });
    const toFile = rotate(['--new-key-file', keyFile], { ...base(), ...token.env('vault-root-2') });
    expect(toFile).toMatchObject({ fromRootKeyId: secondTokenId, toRootKeyId: rootKeyId(finalKey), fromProvider: 'pkcs11', toProvider: 'file' });
    expect(await serveWith(fileEnv(finalKey), 1)).toBe(rootKeyId(finalKey));

    const events = await sql<{ details: { fromProvider: string; toProvider: string } }>(
      `SELECT details FROM audit_events WHERE action = 'keys.root.rotate' AND outcome = 'allowed' UNION ALL SELECT details FROM audit_pending WHERE action = 'keys.root.rotate' AND outcome = 'allowed'`,
    );
    expect(events.map((e) => `${e.details.fromProvider}->${e.details.toProvider}`).sort()).toEqual(['file->pkcs11', 'pkcs11->file', 'pkcs11->pkcs11']);
  }, 600_000);
});
