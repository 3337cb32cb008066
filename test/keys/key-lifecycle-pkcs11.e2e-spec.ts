import { keyLifecycleSuite } from './key-lifecycle.suite.js';

// The same suite as key-lifecycle.e2e-spec.ts, with the root key in a SoftHSM2 token.
keyLifecycleSuite('pkcs11');
