import { execFileSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { existsSync } from 'node:fs';
import path from 'node:path';
import { readTestEnvironment } from './test-env.js';

/** Where Debian and other distributions put the SoftHSM2 PKCS#11 module. */
const MODULE_PATHS = ['/usr/lib/softhsm/libsofthsm2.so', '/usr/lib/x86_64-linux-gnu/softhsm/libsofthsm2.so', '/usr/lib/aarch64-linux-gnu/softhsm/libsofthsm2.so', '/usr/local/lib/softhsm/libsofthsm2.so'];

export function softHsmModule(): string {
  const found = MODULE_PATHS.find((p) => existsSync(p));
  if (!found) throw new Error('SoftHSM2 is not installed (apt-get install -y softhsm2 opensc; .ci/run does it)');
  return found;
}

/**
 * A SoftHSM2 token of its own, initialised with `softhsm2-util` and given keys with `pkcs11-tool`
 * (the operator steps the README documents), in the run's temporary token directory: global-setup
 * points SOFTHSM2_CONF at it before the workers start, since the module reads the real environment.
 */
export class SoftHsmToken {
  readonly module = softHsmModule();
  readonly conf = path.join(readTestEnvironment().softHsmDir, 'softhsm2.conf');
  readonly pin = '4719-2286';
  readonly soPin = '9021-5530';
  readonly tokenLabel: string;

  constructor(label = 'vault-test') {
    // Token labels are at most 32 characters and unique within the run's token directory.
    this.tokenLabel = `${label.slice(0, 23)}-${randomBytes(4).toString('hex')}`;
    this.run('softhsm2-util', ['--init-token', '--free', '--label', this.tokenLabel, '--so-pin', this.soPin, '--pin', this.pin]);
  }

  /** Generates an AES-256 key in the token: sensitive, non-extractable unless asked, with encrypt/decrypt/sign. */
  createKey(label: string, options: { id?: string; extractable?: boolean; keyType?: string } = {}): void {
    const args = ['--module', this.module, '--token-label', this.tokenLabel, '--login', '--pin', this.pin, '--keygen', '--key-type', options.keyType ?? 'AES:32', '--label', label, '--id', options.id ?? Buffer.from(label).toString('hex'), '--sensitive', '--usage-sign', '--usage-decrypt'];
    if (options.extractable) args.push('--extractable');
    this.run('pkcs11-tool', args);
  }

  /** The vault settings for the pkcs11 provider with `keyLabel` (and SOFTHSM2_CONF for a child process). */
  env(keyLabel: string): Record<string, string> {
    return {
      VAULT_ROOT_KEY_PROVIDER: 'pkcs11',
      VAULT_PKCS11_MODULE: this.module,
      VAULT_PKCS11_TOKEN_LABEL: this.tokenLabel,
      VAULT_PKCS11_PIN: this.pin,
      VAULT_PKCS11_KEY_LABEL: keyLabel,
      SOFTHSM2_CONF: this.conf,
    };
  }

  /** Deletes the token (its keys with it). */
  remove(): void {
    this.run('softhsm2-util', ['--delete-token', '--token', this.tokenLabel]);
  }

  private run(command: string, args: string[]): void {
    execFileSync(command, args, { env: { ...process.env, SOFTHSM2_CONF: this.conf }, stdio: ['ignore', 'pipe', 'pipe'] });
  }
}
