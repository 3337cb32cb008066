import { Principals1764100000000 } from './1764100000000-principals.js';
import { KeysAndCustomers1764100001000 } from './1764100001000-keys-and-customers.js';
import { Audit1764100002000 } from './1764100002000-audit.js';
import { KeyLifecycle1764100003000 } from './1764100003000-key-lifecycle.js';
import { FasterRewrap1764100004000 } from './1764100004000-faster-rewrap.js';
import { SearchInAccessReports1764200100000 } from './1764200100000-search-in-access-reports.js';
import { BlindIndexNormalisation1764200101000 } from './1764200101000-blind-index-normalisation.js';
import { RootKeyFence1764200500000 } from './1764200500000-root-key-fence.js';
import { NewDeksUnderActiveKek1764200600000 } from './1764200600000-new-deks-under-active-kek.js';
import { FieldRevisions1764200610000 } from './1764200610000-field-revisions.js';
import { ErasureWindow1764200620000 } from './1764200620000-erasure-window.js';
import { CustomerRights1764200700000 } from './1764200700000-customer-rights.js';
import { AuditImpactIndex1764200800000 } from './1764200800000-audit-impact-index.js';
import { BlindIndexKeyReference1764300000000 } from './1764300000000-blind-index-key-reference.js';
import { IdempotencyKeys1790000000000 } from './1790000000000-idempotency-keys.js';

/** Every migration, in order. A new migration is added here as well as in its own file. */
export const MIGRATIONS: Function[] = [
  Principals1764100000000,
  KeysAndCustomers1764100001000,
  Audit1764100002000,
  KeyLifecycle1764100003000,
  FasterRewrap1764100004000,
  SearchInAccessReports1764200100000,
  BlindIndexNormalisation1764200101000,
  RootKeyFence1764200500000,
  NewDeksUnderActiveKek1764200600000,
  FieldRevisions1764200610000,
  ErasureWindow1764200620000,
  CustomerRights1764200700000,
  AuditImpactIndex1764200800000,
  BlindIndexKeyReference1764300000000,
  IdempotencyKeys1790000000000,
];
