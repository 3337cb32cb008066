import { Principals1764100000000 } from './1764100000000-principals.js';
import { KeysAndCustomers1764100001000 } from './1764100001000-keys-and-customers.js';
import { Audit1764100002000 } from './1764100002000-audit.js';
import { KeyLifecycle1764100003000 } from './1764100003000-key-lifecycle.js';
import { FasterRewrap1764100004000 } from './1764100004000-faster-rewrap.js';
import { CustomerRights1764200700000 } from './1764200700000-customer-rights.js';

/** Every migration, in order. A new migration is added here as well as in its own file. */
export const MIGRATIONS: Function[] = [
  Principals1764100000000,
  KeysAndCustomers1764100001000,
  Audit1764100002000,
  KeyLifecycle1764100003000,
  FasterRewrap1764100004000,
  CustomerRights1764200700000,
];
