import { keyLifecycleSuite } from './key-lifecycle.suite.js';

keyLifecycleSuite('file');
