import type { MigrationInterface, QueryRunner } from 'typeorm';

/**
 * Blind-index normalisation version 2 (NFKC, IDNA e-mail domains, possible phone numbers): each
 * index row records the normalisation its digest was computed with. Rows written before this
 * migration are version 1. Digests are keyed hashes computed in the app, so SQL cannot recompute
 * them: the re-index worker (src/customers/blind-reindex.worker.ts) decrypts the values and rewrites
 * the rows of older versions, in resumable batches. The partial index lists exactly the rows it has
 * left, so its "anything left?" check is an index probe and new rows (version 2) are not indexed.
 * A later version adds its own partial index (`norm_version < 3`) and drops this one.
 */
export class BlindIndexNormalisation1764200101000 implements MigrationInterface {
  name = 'BlindIndexNormalisation1764200101000';

  async up(q: QueryRunner): Promise<void> {
    // A constant default: no table rewrite (PostgreSQL 11+); the app writes its version explicitly.
    await q.query('ALTER TABLE customer_blind_indexes ADD COLUMN norm_version smallint NOT NULL DEFAULT 1');
    await q.query('CREATE INDEX customer_blind_indexes_stale ON customer_blind_indexes (customer_id) WHERE norm_version < 2');
  }

  async down(q: QueryRunner): Promise<void> {
    await q.query('DROP INDEX IF EXISTS customer_blind_indexes_stale');
    await q.query('ALTER TABLE customer_blind_indexes DROP COLUMN norm_version');
  }
}
