import type { MigrationInterface, QueryRunner } from 'typeorm';

/**
 * Drops the foreign key from customer_blind_indexes (field, key_version) to blind_index_keys.
 *
 * Why: every create writes three index rows whose parents are the same three key rows, and each
 * foreign-key check locks its parent FOR KEY SHARE. With many creates in flight those locks become
 * multixacts on three hot rows, which every locker rewrites: measured on PostgreSQL 15 with the
 * create statement under pgbench at 16 clients, ~130 µs of PostgreSQL CPU per create, a quarter of
 * the database's share of a create (docs/BENCHMARKS.md, "The create's rows"; bench/layout/).
 *
 * What it guarded is kept otherwise: index rows are only written by the vault with a key version it
 * just used from its key ring (create, update, re-index), key rows are never deleted (keys are
 * retired in place, and a root rotation rewraps them in place), and a search looks up digests
 * computed with the ring's own keys, so a row under a key the ring does not hold is never matched. The foreign keys to customers (and the
 * DEK's, the consent history's) stay: their parent is the row the same statement inserts.
 */
export class BlindIndexKeyReference1764300000000 implements MigrationInterface {
  name = 'BlindIndexKeyReference1764300000000';

  async up(q: QueryRunner): Promise<void> {
    await q.query('ALTER TABLE customer_blind_indexes DROP CONSTRAINT IF EXISTS customer_blind_indexes_field_key_version_fkey');
  }

  async down(q: QueryRunner): Promise<void> {
    await q.query(
      'ALTER TABLE customer_blind_indexes ADD CONSTRAINT customer_blind_indexes_field_key_version_fkey FOREIGN KEY (field, key_version) REFERENCES blind_index_keys (field, version)',
    );
  }
}
