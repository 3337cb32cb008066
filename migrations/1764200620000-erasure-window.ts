import type { MigrationInterface, QueryRunner } from 'typeorm';

/**
 * The erasure window (issue 13 §3, DESIGN §2): a crypto-shredded customer's wrapped DEK survives in
 * backups, WAL archives and replicas, openable while a KEK that wrapped it lives. The erasure now
 * records the KEK version its DEK was under (`erased_kek_version`), so `keys:erasure-window` can
 * report the erasures no KEK retirement covers yet. Erasures made before this migration have none:
 * the report counts every KEK created before such an erasure.
 */
export class ErasureWindow1764200620000 implements MigrationInterface {
  name = 'ErasureWindow1764200620000';

  async up(q: QueryRunner): Promise<void> {
    await q.query('ALTER TABLE customers ADD COLUMN erased_kek_version integer');
  }

  async down(q: QueryRunner): Promise<void> {
    await q.query('ALTER TABLE customers DROP COLUMN erased_kek_version');
  }
}
