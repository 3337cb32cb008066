import { randomFillSync } from 'node:crypto';
import pkcs11js from 'pkcs11js';
import { CryptoUsageError, DecryptionFailedError, InvalidKeyError } from './crypto.errors.js';
import { ENVELOPE_FORMAT, HEADER_BYTES, KEY_BYTES, TAG_BYTES, zero } from './envelope.js';
import { rootWrapContext, ROOT_KEY_ID_LABEL, type RootKeyProvider, type RootWrapTarget } from './root-key.js';

/**
 * Root key in an HSM over PKCS#11 (DESIGN section 2, "Root key providers"). The root key is a
 * non-extractable AES-256 secret key object in the token; it never enters this process.
 *
 * On-disk format of a key wrapped by this provider (bytea in kek_versions / blind_index_keys):
 *
 *   offset 0   1 B   format    0x01 (as every vault envelope)
 *   offset 1   1 B   algorithm 0x02 = AES-256-GCM inside a PKCS#11 token
 *   offset 2   4 B   version   u32 big-endian (KEK version or index key version)
 *   offset 6  12 B   IV        random (node:crypto)
 *   offset 18 32 B   ciphertext of the 32-byte key
 *   offset 50 16 B   GCM tag
 *
 * AAD = the 6 header bytes followed by the UTF-8 context string of the file provider:
 * `kek|v:<n>|root:<id>` or `bidx|field:<name>|v:<n>|root:<id>`. The file provider's envelope
 * (algorithm 0x01, XChaCha20-Poly1305) is unchanged; the algorithm byte tells the two apart.
 *
 * Key id: the first 8 bytes of AES-CMAC (CKM_AES_CMAC, computed in the token) of the label
 * `customer-vault/root-key-id/v1`, as 16 hex digits: bound to the key material, not to a label or
 * CKA_ID an operator can copy onto another key.
 *
 * Audit signing seed: NIST SP 800-108 KDF in counter mode with AES-CMAC as the PRF, computed in
 * the token: CMAC(K, [i]u8 || "customer-vault/audit-signing/v1" || 0x00 || [256]u32be) for i = 1, 2,
 * concatenated (32 bytes). The seed is in process memory (the Ed25519 signing happens here).
 *
 * Required attributes of the token key: CKA_CLASS=CKO_SECRET_KEY, CKA_KEY_TYPE=CKK_AES,
 * CKA_VALUE_LEN=32, CKA_TOKEN, CKA_PRIVATE, CKA_SENSITIVE, CKA_EXTRACTABLE=false, CKA_ENCRYPT,
 * CKA_DECRYPT, CKA_SIGN (for CMAC). A key that is extractable or lacks a usage is refused at boot.
 *
 * pkcs11js calls are synchronous: each operation (Init then the call) runs to completion without
 * interleaving, so one session serves every caller of this process. They happen at boot, on a
 * KEK rotation and a root rotation only: DEK unwraps use KEKs held in memory.
 */
export const ALG_AES256_GCM_PKCS11 = 0x02;
export const GCM_IV_BYTES = 12;
export const PKCS11_WRAPPED_KEY_BYTES = HEADER_BYTES + GCM_IV_BYTES + KEY_BYTES + TAG_BYTES;
export const AUDIT_SEED_KDF_LABEL = 'customer-vault/audit-signing/v1';

export interface Pkcs11Settings {
  /** Path of the PKCS#11 module (.so). */
  module: string;
  tokenLabel: string;
  /** User PIN; kept in the provider only, to log in again after a lost session. */
  pin: string;
  keyLabel: string;
}

/** The HSM or its settings are wrong: raised at boot with a message that names the setting, never the PIN. */
export class Pkcs11ConfigError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'Pkcs11ConfigError';
  }
}

type Handle = Buffer;

// One PKCS11 instance per module path: C_Initialize is per process, and `root:rotate` may hold two
// providers (two key labels) on the same module at once.
const modules = new Map<string, { lib: pkcs11js.PKCS11; refs: number }>();

function acquireModule(path: string): pkcs11js.PKCS11 {
  const known = modules.get(path);
  if (known) {
    known.refs++;
    return known.lib;
  }
  const lib = new pkcs11js.PKCS11();
  try {
    lib.load(path);
  } catch (error) {
    throw new Pkcs11ConfigError(`VAULT_PKCS11_MODULE (${path}) cannot be loaded: ${describe(error)}`);
  }
  try {
    lib.C_Initialize();
  } catch (error) {
    if (codeOf(error) !== pkcs11js.CKR_CRYPTOKI_ALREADY_INITIALIZED) {
      throw new Pkcs11ConfigError(`the PKCS#11 module ${path} failed to initialise: ${describe(error)}`);
    }
  }
  modules.set(path, { lib, refs: 1 });
  return lib;
}

function releaseModule(path: string): void {
  const known = modules.get(path);
  if (!known) return;
  if (--known.refs > 0) return;
  modules.delete(path);
  try {
    known.lib.C_Finalize();
  } catch {
    // closing: nothing left to do with a module that will not finalise
  }
}

function codeOf(error: unknown): number | undefined {
  return error instanceof pkcs11js.Pkcs11Error ? error.code : undefined;
}

/** The PKCS#11 return value name (CKR_...), never data. */
function describe(error: unknown): string {
  if (error instanceof pkcs11js.Pkcs11Error) return error.message.split(':')[0] ?? 'CKR error';
  return error instanceof Error ? error.name : 'unknown error';
}

/** Errors that mean "the session is gone", after which one new session is tried. */
const LOST_SESSION = new Set<number>([
  pkcs11js.CKR_SESSION_HANDLE_INVALID,
  pkcs11js.CKR_SESSION_CLOSED,
  pkcs11js.CKR_USER_NOT_LOGGED_IN,
  pkcs11js.CKR_DEVICE_REMOVED,
  pkcs11js.CKR_TOKEN_NOT_PRESENT,
]);

/** Errors of C_Decrypt that mean "this ciphertext does not open under this key" (SoftHSM2 answers a bad GCM tag with CKR_GENERAL_ERROR). */
const BAD_CIPHERTEXT = new Set<number>([pkcs11js.CKR_ENCRYPTED_DATA_INVALID, pkcs11js.CKR_ENCRYPTED_DATA_LEN_RANGE, pkcs11js.CKR_GENERAL_ERROR]);

export class Pkcs11RootKeyProvider implements RootKeyProvider {
  readonly kind = 'pkcs11';
  keyId = '';
  readonly #settings: Pkcs11Settings;
  readonly #lib: pkcs11js.PKCS11;
  #session: Handle | undefined;
  #key: Handle | undefined;
  #closed = false;

  private constructor(settings: Pkcs11Settings) {
    this.#settings = { ...settings };
    this.#lib = acquireModule(settings.module);
  }

  /** Opens a session on the token, logs in, finds and checks the key, computes the key id. */
  static async open(settings: Pkcs11Settings): Promise<Pkcs11RootKeyProvider> {
    const provider = new Pkcs11RootKeyProvider(settings);
    try {
      provider.#connect();
      provider.keyId = provider.#cmac(Buffer.from(ROOT_KEY_ID_LABEL, 'utf8')).subarray(0, 8).toString('hex');
      return provider;
    } catch (error) {
      await provider.close();
      throw error;
    }
  }

  /** Short description for logs: module, token and key label (no PIN). */
  get description(): string {
    return `pkcs11 token "${this.#settings.tokenLabel}" key "${this.#settings.keyLabel}"`;
  }

  async wrap(key: Uint8Array, target: RootWrapTarget): Promise<Buffer> {
    this.#assertOpen();
    if (key.length !== KEY_BYTES) throw new InvalidKeyError(`wrapped key must be ${KEY_BYTES} bytes`);
    const header = Buffer.alloc(HEADER_BYTES);
    header[0] = ENVELOPE_FORMAT;
    header[1] = ALG_AES256_GCM_PKCS11;
    header.writeUInt32BE(target.version, 2);
    const iv = randomFillSync(Buffer.alloc(GCM_IV_BYTES));
    const aad = Buffer.concat([header, Buffer.from(rootWrapContext(target, this.keyId), 'utf8')]);
    // The binding wants a Buffer: the copy of the key it gets is zeroised once the token is done.
    const plain = Buffer.from(key);
    let sealed: Buffer;
    try {
      sealed = this.#withSession((session, rootKey) => {
        this.#lib.C_EncryptInit(session, gcm(iv, aad), rootKey);
        return this.#lib.C_Encrypt(session, plain, Buffer.alloc(KEY_BYTES + TAG_BYTES));
      });
    } finally {
      plain.fill(0);
    }
    return Buffer.concat([header, iv, sealed]);
  }

  async unwrap(wrapped: Uint8Array, target: RootWrapTarget): Promise<Buffer> {
    this.#assertOpen();
    if (wrapped.length !== PKCS11_WRAPPED_KEY_BYTES || wrapped[0] !== ENVELOPE_FORMAT || wrapped[1] !== ALG_AES256_GCM_PKCS11) {
      throw new DecryptionFailedError(wrapped.length >= 2 && wrapped[1] !== ALG_AES256_GCM_PKCS11 ? 'unsupported_algorithm' : 'truncated');
    }
    const bytes = Buffer.from(wrapped);
    if (bytes.readUInt32BE(2) !== target.version) throw new DecryptionFailedError('authentication_failed');
    const iv = bytes.subarray(HEADER_BYTES, HEADER_BYTES + GCM_IV_BYTES);
    const aad = Buffer.concat([bytes.subarray(0, HEADER_BYTES), Buffer.from(rootWrapContext(target, this.keyId), 'utf8')]);
    const out = Buffer.alloc(KEY_BYTES + TAG_BYTES);
    try {
      const plain = this.#withSession((session, rootKey) => {
        this.#lib.C_DecryptInit(session, gcm(iv, aad), rootKey);
        try {
          return this.#lib.C_Decrypt(session, bytes.subarray(HEADER_BYTES + GCM_IV_BYTES), out);
        } catch (error) {
          const code = codeOf(error);
          if (code !== undefined && BAD_CIPHERTEXT.has(code)) throw new DecryptionFailedError('authentication_failed');
          throw error;
        }
      });
      if (plain.length !== KEY_BYTES) throw new DecryptionFailedError('authentication_failed');
      return Buffer.from(plain);
    } finally {
      zero(out);
    }
  }

  async auditSigningSeed(): Promise<Buffer> {
    this.#assertOpen();
    const label = Buffer.from(AUDIT_SEED_KDF_LABEL, 'utf8');
    const blocks = [1, 2].map((i) => {
      const input = Buffer.alloc(1 + label.length + 1 + 4);
      input[0] = i;
      label.copy(input, 1);
      input.writeUInt32BE(256, label.length + 2);
      return this.#cmac(input);
    });
    return Buffer.concat(blocks);
  }

  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    this.#disconnect();
    releaseModule(this.#settings.module);
    this.#settings.pin = '';
  }

  #cmac(data: Buffer): Buffer {
    return this.#withSession((session, rootKey) => {
      this.#lib.C_SignInit(session, { mechanism: pkcs11js.CKM_AES_CMAC }, rootKey);
      return Buffer.from(this.#lib.C_Sign(session, data, Buffer.alloc(16)));
    });
  }

  /** Runs `fn` on the session; when the token dropped the session, reconnects once and retries. */
  #withSession<T>(fn: (session: Handle, rootKey: Handle) => T): T {
    if (this.#session === undefined || this.#key === undefined) this.#connect();
    try {
      return fn(this.#session as Handle, this.#key as Handle);
    } catch (error) {
      const code = codeOf(error);
      if (code === undefined || !LOST_SESSION.has(code)) throw error;
      this.#disconnect();
      this.#connect();
      return fn(this.#session as Handle, this.#key as Handle);
    }
  }

  #connect(): void {
    const { tokenLabel, keyLabel, pin } = this.#settings;
    const slot = this.#lib.C_GetSlotList(true).find((s) => this.#lib.C_GetTokenInfo(s).label.trim() === tokenLabel);
    if (slot === undefined) throw new Pkcs11ConfigError(`no PKCS#11 token labelled "${tokenLabel}" (VAULT_PKCS11_TOKEN_LABEL) in ${this.#settings.module}`);
    const session = this.#lib.C_OpenSession(slot, pkcs11js.CKF_SERIAL_SESSION);
    try {
      try {
        this.#lib.C_Login(session, pkcs11js.CKU_USER, pin);
      } catch (error) {
        if (codeOf(error) !== pkcs11js.CKR_USER_ALREADY_LOGGED_IN) {
          throw new Pkcs11ConfigError(`login to PKCS#11 token "${tokenLabel}" failed: ${describe(error)} (check VAULT_PKCS11_PIN / VAULT_PKCS11_PIN_FILE)`);
        }
      }
      this.#lib.C_FindObjectsInit(session, [
        { type: pkcs11js.CKA_CLASS, value: pkcs11js.CKO_SECRET_KEY },
        { type: pkcs11js.CKA_LABEL, value: keyLabel },
      ]);
      let found: Handle[];
      try {
        found = this.#lib.C_FindObjects(session, 2);
      } finally {
        this.#lib.C_FindObjectsFinal(session);
      }
      if (found.length === 0) throw new Pkcs11ConfigError(`no secret key labelled "${keyLabel}" (VAULT_PKCS11_KEY_LABEL) in token "${tokenLabel}"`);
      if (found.length > 1) throw new Pkcs11ConfigError(`more than one secret key labelled "${keyLabel}" in token "${tokenLabel}": labels must be unique`);
      const [key] = found as [Handle];
      checkKeyAttributes(this.#lib, session, key, keyLabel);
      this.#session = session;
      this.#key = key;
    } catch (error) {
      try {
        this.#lib.C_CloseSession(session);
      } catch {
        // already failing
      }
      throw error;
    }
  }

  #disconnect(): void {
    if (this.#session === undefined) return;
    try {
      this.#lib.C_CloseSession(this.#session);
    } catch {
      // a lost session cannot be closed; nothing to release
    }
    this.#session = undefined;
    this.#key = undefined;
  }

  #assertOpen(): void {
    if (this.#closed) throw new CryptoUsageError('root key provider is closed');
  }
}

function gcm(iv: Buffer, aad: Buffer): pkcs11js.Mechanism {
  return { mechanism: pkcs11js.CKM_AES_GCM, parameter: { type: pkcs11js.CK_PARAMS_AES_GCM, iv, ivBits: GCM_IV_BYTES * 8, aad, tagBits: TAG_BYTES * 8 } as pkcs11js.GcmParams };
}

/** Refuses a key that is not a non-extractable AES-256 key with the usages the vault needs. */
function checkKeyAttributes(lib: pkcs11js.PKCS11, session: Handle, key: Handle, keyLabel: string): void {
  const attrs = lib.C_GetAttributeValue(session, key, [
    { type: pkcs11js.CKA_KEY_TYPE },
    { type: pkcs11js.CKA_VALUE_LEN },
    { type: pkcs11js.CKA_EXTRACTABLE },
    { type: pkcs11js.CKA_SENSITIVE },
    { type: pkcs11js.CKA_ENCRYPT },
    { type: pkcs11js.CKA_DECRYPT },
    { type: pkcs11js.CKA_SIGN },
  ]);
  const [keyType, valueLen, extractable, sensitive, encrypt, decrypt, sign] = attrs.map((a) => a.value as Buffer);
  const problems: string[] = [];
  if (keyType?.readUInt32LE(0) !== pkcs11js.CKK_AES) problems.push('it is not an AES key');
  if (valueLen?.readUInt32LE(0) !== KEY_BYTES) problems.push(`it is not ${KEY_BYTES * 8} bits`);
  if (extractable?.[0] !== 0) problems.push('it is extractable (CKA_EXTRACTABLE must be false)');
  if (sensitive?.[0] !== 1) problems.push('it is not sensitive (CKA_SENSITIVE must be true)');
  if (encrypt?.[0] !== 1 || decrypt?.[0] !== 1) problems.push('it cannot encrypt and decrypt (CKA_ENCRYPT, CKA_DECRYPT)');
  if (sign?.[0] !== 1) problems.push('it cannot sign (CKA_SIGN, needed for AES-CMAC)');
  if (problems.length > 0) throw new Pkcs11ConfigError(`the PKCS#11 key "${keyLabel}" is refused as the root key: ${problems.join('; ')}`);
}
