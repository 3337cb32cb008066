import { randomBytes } from 'node:crypto';
import sodium, * as sodiumModule from 'libsodium-wrappers';

/**
 * libsodium-wrappers is a WebAssembly module: its functions exist only once `sodium.ready` has
 * resolved. `initSodium()` is awaited once at start-up (and in each spec's `beforeAll`); every
 * other function of `src/crypto` assumes it has been and fails with a clear error otherwise.
 */
let ready = false;
let initialising: Promise<void> | undefined;

export function initSodium(): Promise<void> {
  initialising ??= sodium.ready.then(() => {
    available = DirectXChaCha.create();
    direct = available;
    ready = true;
  });
  return initialising;
}

/** The initialised libsodium object; throws if `initSodium()` has not completed. */
export function lib(): typeof sodium {
  if (!ready) throw new Error('libsodium is not initialised: await initSodium() first');
  return sodium;
}

// ---------------------------------------------------------------------------------------------
// XChaCha20-Poly1305-IETF binding.
//
// The public wrappers of libsodium-wrappers malloc and copy every argument into the WebAssembly
// heap, free them without wiping (keys and plaintexts stay in freed heap memory) and return a
// freshly allocated, zero-filled Uint8Array: about half the time of a 64-byte decryption, which
// put the 500k decryptions/s target out of reach. The direct binding below calls the same
// libsodium C functions through the module's own exports, with one reusable heap region, and
// wipes the key and plaintext bytes it copied there after every call (plus, after key unwraps,
// the stack temporary of libsodium's ChaCha20: see `scrubStack`).
//
// It depends on internals of libsodium-wrappers (the `libsodium` export, i64 arguments passed as
// two 32-bit halves), so `initSodium()` checks it against the public wrapper on random inputs
// (encryption, decryption, tag rejection) and falls back to the wrapper if anything differs.
// The known-answer and Wycheproof tests run through both, and a test asserts that the direct one
// is the one in use.
//
// The other libsodium calls (keyed BLAKE2b for blind indexes and ids, crypto_kdf, Ed25519) go
// through the public wrapper: their key inputs (root key, index keys, signing key) are long-lived
// and held in JS memory for the life of the process anyway.
// ---------------------------------------------------------------------------------------------

interface SodiumWasm {
  readonly HEAPU8: Uint8Array;
  _malloc(size: number): number;
  _free(ptr: number): void;
  _crypto_aead_xchacha20poly1305_ietf_encrypt: EncryptFn;
  _crypto_aead_xchacha20poly1305_ietf_decrypt: DecryptFn;
}
/** (c, clen_p, m, mlen lo, mlen hi, ad, adlen lo, adlen hi, nsec, npub, k) -> 0 */
type EncryptFn = (...args: [number, number, number, number, number, number, number, number, number, number, number]) => number;
/** (m, mlen_p, nsec, c, clen lo, clen hi, ad, adlen lo, adlen hi, npub, k) -> 0 or -1 */
type DecryptFn = (...args: [number, number, number, number, number, number, number, number, number, number, number]) => number;

const KEY = 32;
const NONCE = 24;
const TAG = 16;

function asSodiumWasm(value: unknown): SodiumWasm | null {
  if (typeof value !== 'object' || value === null) return null;
  const v = value as Record<string, unknown>;
  const fns = ['_malloc', '_free', '_crypto_aead_xchacha20poly1305_ietf_encrypt', '_crypto_aead_xchacha20poly1305_ietf_decrypt'];
  if (!(v['HEAPU8'] instanceof Uint8Array) || fns.some((f) => typeof v[f] !== 'function')) return null;
  return value as SodiumWasm;
}

class DirectXChaCha {
  readonly #wasm: SodiumWasm;
  readonly #encrypt: EncryptFn;
  readonly #decrypt: DecryptFn;
  #heap: Uint8Array;
  #heapBuffer: Buffer;
  #base = 0;
  #capacity = 0;
  /** A 1-byte ciphertext under a fixed, public key: decrypting it scrubs libsodium's stack temporary. */
  readonly #scrubKey = Buffer.alloc(KEY, 0x5c);
  readonly #scrubNonce = Buffer.alloc(NONCE, 0x36);
  readonly #scrubCt = Buffer.alloc(1 + TAG);

  private constructor(wasm: SodiumWasm) {
    this.#wasm = wasm;
    this.#encrypt = wasm._crypto_aead_xchacha20poly1305_ietf_encrypt;
    this.#decrypt = wasm._crypto_aead_xchacha20poly1305_ietf_decrypt;
    this.#heap = wasm.HEAPU8;
    this.#heapBuffer = Buffer.from(this.#heap.buffer, this.#heap.byteOffset, this.#heap.byteLength);
  }

  /** The direct binding if it is available and agrees with the public wrapper, else null. */
  static create(): DirectXChaCha | null {
    const wasm = asSodiumWasm((sodiumModule as unknown as Record<string, unknown>)['libsodium']);
    if (wasm === null) return null;
    try {
      const binding = new DirectXChaCha(wasm);
      binding.sealInto(binding.#scrubKey, binding.#scrubNonce, 0, Buffer.alloc(1), Buffer.alloc(0), 0, 0, '', binding.#scrubCt, 0);
      return binding.#selfTest() ? binding : null;
    } catch {
      return null;
    }
  }

  #selfTest(): boolean {
    const key = randomBytes(KEY);
    const nonce = randomBytes(NONCE);
    const prefix = randomBytes(6);
    for (const suffix of ['', 'customer:self-test|field:email', 'customer:self-test|field:naïve✓']) {
      const ad = Buffer.concat([prefix, Buffer.from(suffix, 'utf8')]);
      for (const len of [0, 1, 64, 200, 5000]) {
        const pt = randomBytes(len);
        const expected = Buffer.from(sodium.crypto_aead_xchacha20poly1305_ietf_encrypt(pt, ad, null, nonce, key));
        const ct = Buffer.alloc(len + TAG + 3);
        this.sealInto(key, nonce, 0, pt, prefix, 0, prefix.length, suffix, ct, 3);
        if (!ct.subarray(3).equals(expected)) return false;
        const back = this.open(key, nonce, 0, ct, 3, len + TAG, ad, 0, ad.length, '');
        if (back === null || !back.equals(pt)) return false;
        ct[ct.length - 1] ^= 1;
        if (this.open(key, nonce, 0, ct, 3, len + TAG, prefix, 0, prefix.length, suffix) !== null) return false;
      }
    }
    return true;
  }

  /** The current heap; emscripten replaces HEAPU8 (and detaches the old one) when memory grows. */
  #currentHeap(): Uint8Array {
    if (this.#heap.length === 0 || this.#heap !== this.#wasm.HEAPU8) {
      this.#heap = this.#wasm.HEAPU8;
      this.#heapBuffer = Buffer.from(this.#heap.buffer, this.#heap.byteOffset, this.#heap.byteLength);
    }
    return this.#heap;
  }

  /** Makes the reusable heap region at least `size` bytes; returns the current heap. */
  #reserve(size: number): Uint8Array {
    if (size > this.#capacity) {
      if (this.#capacity > 0) this.#wasm._free(this.#base);
      this.#capacity = 0;
      const capacity = Math.max(4096, 2 ** Math.ceil(Math.log2(size)));
      const base = this.#wasm._malloc(capacity);
      if (base === 0) throw new Error('libsodium heap allocation failed');
      this.#base = base;
      this.#capacity = capacity;
      return this.#currentHeap();
    }
    return this.#heap.length === 0 ? this.#currentHeap() : this.#heap;
  }

  /** Writes UTF-8 of `text` at `at` (3 bytes per UTF-16 unit reserved); returns its length. */
  #writeText(at: number, text: string): number {
    return text.length === 0 ? 0 : this.#heapBuffer.write(text, at, 'utf8');
  }

  // Heap layout per call: the source arrays, each copied whole once (one TypedArray.set is
  // cheaper than creating views; the envelope is one source for nonce, AD prefix and
  // ciphertext), then AD (prefix || UTF-8 suffix), then key and plaintext side by side so that a
  // single fill wipes both: encryption key | plaintext | output, decryption key | plaintext.

  sealInto(
    key: Uint8Array, nonceSrc: Uint8Array, nonceAt: number, plaintext: Uint8Array,
    adSrc: Uint8Array, adAt: number, adLen: number, adSuffix: string, out: Uint8Array, outAt: number,
  ): void {
    const ptLen = plaintext.length;
    const outLen = ptLen + TAG;
    const adStaged = adSrc === nonceSrc ? 0 : adSrc.length;
    const heap = this.#reserve(nonceSrc.length + adStaged + adLen + 3 * adSuffix.length + KEY + ptLen + outLen);
    const nBase = this.#base;
    heap.set(nonceSrc, nBase);
    let aBase = nBase;
    if (adStaged > 0) {
      aBase = nBase + nonceSrc.length;
      heap.set(adSrc, aBase);
    }
    const a = aBase + (adStaged > 0 ? adSrc.length : nonceSrc.length);
    heap.copyWithin(a, aBase + adAt, aBase + adAt + adLen);
    const fullAdLen = adLen + this.#writeText(a + adLen, adSuffix);
    const k = a + fullAdLen;
    const i = k + KEY;
    const o = i + ptLen;
    heap.set(key, k);
    heap.set(plaintext, i);
    const rc = this.#encrypt(o, 0, i, ptLen, 0, a, fullAdLen, 0, 0, nBase + nonceAt, k);
    const after = this.#currentHeap();
    out.set(after.subarray(o, o + outLen), outAt);
    after.fill(0, k, o);
    if (rc !== 0) throw new Error('XChaCha20-Poly1305 encryption failed');
  }

  /**
   * libsodium's reference ChaCha20 (the one compiled to WebAssembly) runs the last partial block
   * (< 64 bytes) of a message through a stack temporary that it does not wipe, so after a
   * decryption the tail of the plaintext stays on the WebAssembly stack until the next partial
   * block overwrites it (the same function first zeroes that temporary). Decrypting a 1-byte
   * dummy ciphertext, by the very same call path, does that; used after unwrapping keys.
   */
  scrubStack(): void {
    if (this.open(this.#scrubKey, this.#scrubNonce, 0, this.#scrubCt, 0, this.#scrubCt.length, this.#scrubCt, 0, 0, '') === null) {
      throw new Error('libsodium stack scrub failed');
    }
  }

  open(
    key: Uint8Array, nonceSrc: Uint8Array, nonceAt: number, ctSrc: Uint8Array, ctAt: number, ctLen: number,
    adSrc: Uint8Array, adAt: number, adLen: number, adSuffix: string,
  ): Buffer | null {
    const outLen = ctLen - TAG;
    const ctStaged = ctSrc === nonceSrc ? 0 : ctSrc.length;
    const adStaged = adSrc === nonceSrc || adSrc === ctSrc ? 0 : adSrc.length;
    const heap = this.#reserve(nonceSrc.length + ctStaged + adStaged + adLen + 3 * adSuffix.length + KEY + outLen);
    let p = this.#base;
    const nBase = p;
    heap.set(nonceSrc, p);
    p += nonceSrc.length;
    let cBase = nBase;
    if (ctStaged > 0) {
      cBase = p;
      heap.set(ctSrc, p);
      p += ctStaged;
    }
    let aBase = adSrc === ctSrc ? cBase : nBase;
    if (adStaged > 0) {
      aBase = p;
      heap.set(adSrc, p);
      p += adStaged;
    }
    const a = p;
    heap.copyWithin(a, aBase + adAt, aBase + adAt + adLen);
    const fullAdLen = adLen + this.#writeText(a + adLen, adSuffix);
    const k = a + fullAdLen;
    const o = k + KEY;
    heap.set(key, k);
    const rc = this.#decrypt(o, 0, 0, cBase + ctAt, ctLen, 0, a, fullAdLen, 0, nBase + nonceAt, k);
    const after = this.#currentHeap();
    let out: Buffer | null = null;
    if (rc === 0) {
      out = Buffer.allocUnsafe(outLen);
      out.set(after.subarray(o, o + outLen));
    }
    after.fill(0, k, o + outLen);
    return out;
  }
}

/** The direct binding when its self-test passed; `direct` is the one in use. */
let available: DirectXChaCha | null = null;
let direct: DirectXChaCha | null = null;

export type XChaChaBinding = 'direct' | 'wrapper';

/** Which XChaCha20-Poly1305 binding is in use ('direct' unless its self-test failed). */
export function xchachaBinding(): XChaChaBinding {
  lib();
  return direct === null ? 'wrapper' : 'direct';
}

/**
 * Switches binding, so tests can run the vectors through both; not part of the public API.
 * Throws when 'direct' is asked for but unavailable.
 */
export function selectXChaChaBinding(binding: XChaChaBinding): void {
  lib();
  if (binding === 'direct' && available === null) throw new Error('the direct XChaCha20-Poly1305 binding is unavailable');
  direct = binding === 'direct' ? available : null;
}

/**
 * Wipes what libsodium's ChaCha20 may leave on the WebAssembly stack after a decryption (the last
 * partial block of plaintext, < 64 bytes). Costs one tiny decryption (~1 µs); called after key
 * unwraps. A no-op with the wrapper binding, which leaves unwiped copies in freed heap anyway.
 */
export function scrubAfterDecrypt(): void {
  lib();
  direct?.scrubStack();
}

function wrapperAd(adSrc: Uint8Array, adAt: number, adLen: number, adSuffix: string): Uint8Array {
  const ad = adSrc.subarray(adAt, adAt + adLen);
  return adSuffix.length === 0 ? ad : Buffer.concat([ad, Buffer.from(adSuffix, 'utf8')]);
}

/**
 * The XChaCha20-Poly1305-IETF encryption every caller goes through (aeadEncrypt, seal):
 * writes ciphertext || tag (plaintext length + 16 bytes) to out[outAt...]. Nonce =
 * nonceSrc[nonceAt, +24); AD = adSrc[adAt, +adLen) followed by UTF-8(adSuffix). Argument checks
 * (key 32 bytes, nonce in range, room in `out`) are the callers' job.
 */
export function xchachaSealInto(
  key: Uint8Array, nonceSrc: Uint8Array, nonceAt: number, plaintext: Uint8Array,
  adSrc: Uint8Array, adAt: number, adLen: number, adSuffix: string, out: Uint8Array, outAt: number,
): void {
  const s = lib();
  if (direct !== null) {
    direct.sealInto(key, nonceSrc, nonceAt, plaintext, adSrc, adAt, adLen, adSuffix, out, outAt);
    return;
  }
  const nonce = nonceSrc.subarray(nonceAt, nonceAt + NONCE);
  out.set(s.crypto_aead_xchacha20poly1305_ietf_encrypt(plaintext, wrapperAd(adSrc, adAt, adLen, adSuffix), null, nonce, key), outAt);
}

/**
 * The XChaCha20-Poly1305-IETF decryption every caller goes through (aeadDecrypt, open) of
 * ctSrc[ctAt, +ctLen) (ciphertext || tag, ctLen >= 16); nonce and AD as for `xchachaSealInto`.
 * Returns the plaintext, or null when the tag does not verify.
 */
export function xchachaOpen(
  key: Uint8Array, nonceSrc: Uint8Array, nonceAt: number, ctSrc: Uint8Array, ctAt: number, ctLen: number,
  adSrc: Uint8Array, adAt: number, adLen: number, adSuffix: string,
): Buffer | null {
  const s = lib();
  if (direct !== null) return direct.open(key, nonceSrc, nonceAt, ctSrc, ctAt, ctLen, adSrc, adAt, adLen, adSuffix);
  try {
    const pt = s.crypto_aead_xchacha20poly1305_ietf_decrypt(
      null,
      ctSrc.subarray(ctAt, ctAt + ctLen),
      wrapperAd(adSrc, adAt, adLen, adSuffix),
      nonceSrc.subarray(nonceAt, nonceAt + NONCE),
      key,
    );
    return Buffer.from(pt.buffer, pt.byteOffset, pt.byteLength);
  } catch {
    return null;
  }
}
