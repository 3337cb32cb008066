import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { createCipheriv, createDecipheriv, randomBytes } from 'node:crypto';
import pkcs11js from 'pkcs11js';
import { SoftHsmToken } from '../../test/helpers/softhsm.js';
import { DecryptionFailedError } from './crypto.errors.js';
import { generateKey, kekContext, blindIndexKeyContext } from './envelope.js';
import { LocalRootKeyProvider, ROOT_KEY_ID_LABEL } from './root-key.js';
import { AUDIT_SEED_KDF_LABEL, Pkcs11ConfigError, Pkcs11RootKeyProvider, PKCS11_WRAPPED_KEY_BYTES, type Pkcs11Settings } from './pkcs11-root-key.js';
import { initSodium } from './sodium.js';

/** AES-256-CMAC (RFC 4493) with node:crypto, to check what the token computes. */
function aesCmac(key: Buffer, message: Buffer): Buffer {
  const encryptBlock = (block: Buffer) => {
    const c = createCipheriv('aes-256-ecb', key, null).setAutoPadding(false);
    return Buffer.concat([c.update(block), c.final()]);
  };
  const dbl = (b: Buffer) => {
    const out = Buffer.alloc(16);
    for (let i = 0; i < 16; i++) out[i] = ((b[i] << 1) | (i < 15 ? b[i + 1] >> 7 : 0)) & 0xff;
    if (b[0] & 0x80) out[15] ^= 0x87;
    return out;
  };
  const k1 = dbl(encryptBlock(Buffer.alloc(16)));
  const k2 = dbl(k1);
  const n = Math.max(1, Math.ceil(message.length / 16));
  const complete = message.length > 0 && message.length % 16 === 0;
  const last = Buffer.alloc(16);
  message.subarray((n - 1) * 16).copy(last);
  if (!complete) last[message.length - (n - 1) * 16] = 0x80;
  const sub = complete ? k1 : k2;
  for (let i = 0; i < 16; i++) last[i] ^= sub[i];
  let x = Buffer.alloc(16);
  for (let b = 0; b < n - 1; b++) {
    const block = message.subarray(b * 16, b * 16 + 16);
    x = encryptBlock(Buffer.from(x.map((v, i) => v ^ block[i])));
  }
  return encryptBlock(Buffer.from(x.map((v, i) => v ^ last[i])));
}

/** Imports a known AES key into the token (sensitive, non-extractable), for known-answer checks. */
function importKey(token: SoftHsmToken, label: string, value: Buffer): void {
  const lib = new pkcs11js.PKCS11();
  lib.load(token.module);
  lib.C_Initialize();
  try {
    const slot = lib.C_GetSlotList(true).find((s) => lib.C_GetTokenInfo(s).label.trim() === token.tokenLabel) as Buffer;
    const session = lib.C_OpenSession(slot, pkcs11js.CKF_SERIAL_SESSION | pkcs11js.CKF_RW_SESSION);
    lib.C_Login(session, pkcs11js.CKU_USER, token.pin);
    lib.C_CreateObject(session, [
      { type: pkcs11js.CKA_CLASS, value: pkcs11js.CKO_SECRET_KEY },
      { type: pkcs11js.CKA_KEY_TYPE, value: pkcs11js.CKK_AES },
      { type: pkcs11js.CKA_TOKEN, value: true },
      { type: pkcs11js.CKA_PRIVATE, value: true },
      { type: pkcs11js.CKA_SENSITIVE, value: true },
      { type: pkcs11js.CKA_EXTRACTABLE, value: false },
      { type: pkcs11js.CKA_ENCRYPT, value: true },
      { type: pkcs11js.CKA_DECRYPT, value: true },
      { type: pkcs11js.CKA_SIGN, value: true },
      { type: pkcs11js.CKA_LABEL, value: label },
      { type: pkcs11js.CKA_VALUE, value },
    ]);
    lib.C_CloseSession(session);
  } finally {
    lib.C_Finalize();
  }
}

describe('Pkcs11RootKeyProvider (SoftHSM2)', () => {
  let token: SoftHsmToken;
  const known = randomBytes(32);
  const settings = (keyLabel: string, over: Partial<Pkcs11Settings> = {}): Pkcs11Settings => ({ module: token.module, tokenLabel: token.tokenLabel, pin: token.pin, keyLabel, ...over });
  const kek = { kind: 'kek', version: 4 } as const;
  const bidx = { kind: 'blind_index', field: 'email', version: 2 } as const;

  beforeAll(async () => {
    await initSodium();
    token = new SoftHsmToken('unit-test');
    token.createKey('root-a');
    token.createKey('root-b');
    token.createKey('extractable', { extractable: true });
    token.createKey('short', { keyType: 'AES:16' });
    importKey(token, 'known', known);
  });
  afterAll(() => token.remove());

  it('wraps in the documented format: header 01 02 version, 12-byte IV, AES-256-GCM with the header + DESIGN context as AAD (checked with node:crypto)', async () => {
    const provider = await Pkcs11RootKeyProvider.open(settings('known'));
    try {
      expect(provider.kind).toBe('pkcs11');
      expect(provider.keyId).toBe(aesCmac(known, Buffer.from(ROOT_KEY_ID_LABEL)).subarray(0, 8).toString('hex'));
      const key = generateKey();
      const wrapped = await provider.wrap(key, kek);
      expect(wrapped.length).toBe(PKCS11_WRAPPED_KEY_BYTES);
      expect([...wrapped.subarray(0, 6)]).toEqual([1, 2, 0, 0, 0, 4]);
      const decipher = createDecipheriv('aes-256-gcm', known, wrapped.subarray(6, 18));
      decipher.setAAD(Buffer.concat([wrapped.subarray(0, 6), Buffer.from(kekContext(4, provider.keyId))]));
      decipher.setAuthTag(wrapped.subarray(50));
      expect(Buffer.concat([decipher.update(wrapped.subarray(18, 50)), decipher.final()])).toEqual(key);
      expect(await provider.unwrap(wrapped, kek)).toEqual(key);
      // the audit seed: SP 800-108 counter mode, AES-CMAC PRF, two blocks
      const block = (i: number) => aesCmac(known, Buffer.concat([Buffer.from([i]), Buffer.from(AUDIT_SEED_KDF_LABEL), Buffer.from([0, 0, 0, 1, 0])]));
      expect(await provider.auditSigningSeed()).toEqual(Buffer.concat([block(1), block(2)]));
    } finally {
      await provider.close();
    }
  });

  it('opens only what it wrapped for the same target: another version, field, kind, key or a flipped bit fails with DecryptionFailedError', async () => {
    const a = await Pkcs11RootKeyProvider.open(settings('root-a'));
    const b = await Pkcs11RootKeyProvider.open(settings('root-b'));
    try {
      const key = generateKey();
      const wrapped = await a.wrap(key, bidx);
      expect(await a.unwrap(wrapped, bidx)).toEqual(key);
      await expect(a.unwrap(wrapped, { ...bidx, version: 3 })).rejects.toThrow(DecryptionFailedError);
      await expect(a.unwrap(wrapped, { ...bidx, field: 'phone' })).rejects.toThrow(DecryptionFailedError);
      await expect(a.unwrap(wrapped, { kind: 'kek', version: 2 })).rejects.toThrow(DecryptionFailedError);
      await expect(b.unwrap(wrapped, bidx)).rejects.toThrow(DecryptionFailedError);
      for (const at of [1, 5, 10, 30, 60]) {
        const bad = Buffer.from(wrapped);
        bad[at] ^= 0x01;
        await expect(a.unwrap(bad, bidx)).rejects.toThrow(DecryptionFailedError);
      }
      await expect(a.unwrap(wrapped.subarray(0, 40), bidx)).rejects.toThrow(DecryptionFailedError);
      // a file provider's envelope is not taken for a GCM one, and the other way round
      const local = new LocalRootKeyProvider(randomBytes(32));
      await expect(a.unwrap(await local.wrap(key, bidx), bidx)).rejects.toThrow(DecryptionFailedError);
      await expect(local.unwrap(wrapped, bidx)).rejects.toThrow(DecryptionFailedError);
      await local.close();
      expect(blindIndexKeyContext('email', 2, a.keyId)).toContain(`root:${a.keyId}`);
    } finally {
      await a.close();
      await b.close();
    }
  });

  it('derives a stable key id and audit seed per token key, different between keys; two providers share the module', async () => {
    const a1 = await Pkcs11RootKeyProvider.open(settings('root-a'));
    const a2 = await Pkcs11RootKeyProvider.open(settings('root-a'));
    const b = await Pkcs11RootKeyProvider.open(settings('root-b'));
    expect(a1.keyId).toMatch(/^[0-9a-f]{16}$/);
    expect(a2.keyId).toBe(a1.keyId);
    expect(b.keyId).not.toBe(a1.keyId);
    expect(await a2.auditSigningSeed()).toEqual(await a1.auditSigningSeed());
    expect(await b.auditSigningSeed()).not.toEqual(await a1.auditSigningSeed());
    await a1.close();
    // a2 still works after a1 closed (the module stays initialised while one provider uses it)
    const key = generateKey();
    expect(await a2.unwrap(await a2.wrap(key, kek), kek)).toEqual(key);
    await a2.close();
    await b.close();
    await expect(b.wrap(key, kek)).rejects.toThrow(/closed/);
  });

  it.each([
    ['a wrong PIN', 'root-a', { pin: '0000' }, /login to PKCS#11 token "unit-test-[0-9a-f]{8}" failed: CKR_PIN_INCORRECT/],
    ['an unknown token', 'root-a', { tokenLabel: 'nope' }, /no PKCS#11 token labelled "nope"/],
    ['an unknown key label', 'missing', {}, /no secret key labelled "missing"/],
    ['an extractable key', 'extractable', {}, /refused as the root key: it is extractable/],
    ['an AES-128 key', 'short', {}, /refused as the root key: it is not 256 bits/],
    ['a module that is not there', 'root-a', { module: '/nonexistent/libpkcs11.so' }, /VAULT_PKCS11_MODULE \(\/nonexistent\/libpkcs11.so\) cannot be loaded/],
  ] as const)('refuses %s at open with a clear message that never contains the PIN', async (_what, keyLabel, over, message) => {
    const bad = settings(keyLabel, over);
    const error = await Pkcs11RootKeyProvider.open(bad).then(() => undefined, (e: unknown) => e);
    expect(error).toBeInstanceOf(Pkcs11ConfigError);
    expect((error as Error).message).toMatch(message);
    expect((error as Error).message).not.toContain(token.pin);
  });
});
