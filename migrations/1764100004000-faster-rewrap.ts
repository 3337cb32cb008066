import type { MigrationInterface, QueryRunner } from 'typeorm';
import { createPerRowKekGuard } from './1764100003000-key-lifecycle.js';

/**
 * KEK rotation rewrites every DEK row; this makes each rewrite cheaper (1764100003000 and 1764100001000
 * set up what it replaces):
 * - The index on kek_version is dropped: with it, each rewrap also inserted into that index and the
 *   primary key; without it, and with free space left in each page, PostgreSQL updates the row in
 *   its page (a HOT update) and touches no index. It only served admin counts (DEKs per KEK
 *   version), which a scan of customer_deks answers in well under a second at a million DEKs.
 * - The "no DEK under a retired KEK" guard checks once per statement (one lookup per KEK version
 *   the statement wrote under) instead of once per row, and also refuses an unknown KEK version,
 *   which makes the per-row foreign key on kek_version redundant: it is dropped. KEK rows are never
 *   deleted (a retired version keeps its row).
 */
export class FasterRewrap1764100004000 implements MigrationInterface {
  name = 'FasterRewrap1764100004000';

  async up(q: QueryRunner): Promise<void> {
    await q.query('DROP INDEX customer_deks_kek_version');
    // Room for a rewrapped version of most rows in their own page; applies to pages written from now on.
    await q.query('ALTER TABLE customer_deks SET (fillfactor = 80)');
    await q.query('DROP TRIGGER customer_deks_live_kek ON customer_deks');
    await q.query('DROP FUNCTION customer_deks_live_kek()');
    await q.query('ALTER TABLE customer_deks DROP CONSTRAINT customer_deks_kek_version_fkey');
    // FOR KEY SHARE waits for a concurrent retire (which holds FOR UPDATE on its row); the check that
    // follows runs with a new snapshot and so sees that retire's result.
    await q.query(`
      CREATE FUNCTION customer_deks_live_keks() RETURNS trigger LANGUAGE plpgsql AS $$
      DECLARE bad integer;
      BEGIN
        PERFORM 1 FROM kek_versions WHERE version IN (SELECT kek_version FROM written) FOR KEY SHARE;
        SELECT w.kek_version INTO bad FROM (SELECT DISTINCT kek_version FROM written) w
          LEFT JOIN kek_versions k ON k.version = w.kek_version
          WHERE k.version IS NULL OR k.state = 'retired' LIMIT 1;
        IF FOUND THEN
          RAISE EXCEPTION 'KEK version % is retired or unknown', bad USING ERRCODE = 'check_violation';
        END IF;
        RETURN NULL;
      END $$`);
    // Transition tables allow one event per trigger and no column list: two triggers, one function.
    await q.query(`
      CREATE TRIGGER customer_deks_live_keks_insert AFTER INSERT ON customer_deks
      REFERENCING NEW TABLE AS written FOR EACH STATEMENT EXECUTE FUNCTION customer_deks_live_keks()`);
    await q.query(`
      CREATE TRIGGER customer_deks_live_keks_update AFTER UPDATE ON customer_deks
      REFERENCING NEW TABLE AS written FOR EACH STATEMENT EXECUTE FUNCTION customer_deks_live_keks()`);
  }

  async down(q: QueryRunner): Promise<void> {
    await q.query('DROP TRIGGER customer_deks_live_keks_update ON customer_deks');
    await q.query('DROP TRIGGER customer_deks_live_keks_insert ON customer_deks');
    await q.query('DROP FUNCTION customer_deks_live_keks()');
    await q.query('ALTER TABLE customer_deks ADD CONSTRAINT customer_deks_kek_version_fkey FOREIGN KEY (kek_version) REFERENCES kek_versions (version)');
    await createPerRowKekGuard(q);
    await q.query('ALTER TABLE customer_deks RESET (fillfactor)');
    await q.query('CREATE INDEX customer_deks_kek_version ON customer_deks (kek_version)');
  }
}
