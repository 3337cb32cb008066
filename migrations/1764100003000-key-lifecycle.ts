import type { MigrationInterface, QueryRunner } from 'typeorm';

/**
 * Key lifecycle (DESIGN §4 key rows): KEK rotation jobs with persisted progress (resumable after a
 * crash), and a guard so no DEK is ever written under a retired (destroyed) KEK version.
 */
export class KeyLifecycle1764100003000 implements MigrationInterface {
  name = 'KeyLifecycle1764100003000';

  async up(q: QueryRunner): Promise<void> {
    await q.query(`
      CREATE TABLE key_rotation_jobs (
        id                uuid PRIMARY KEY,
        target_version    integer NOT NULL REFERENCES kek_versions (version),
        state             text NOT NULL CHECK (state IN ('queued', 'running', 'done', 'failed')),
        total             bigint NOT NULL DEFAULT 0,
        done              bigint NOT NULL DEFAULT 0,
        last_customer_id  uuid,
        error             text,
        created_at        timestamptz NOT NULL DEFAULT now(),
        started_at        timestamptz,
        finished_at       timestamptz
      )`);
    await q.query(`CREATE INDEX key_rotation_jobs_pending ON key_rotation_jobs (created_at) WHERE state IN ('queued', 'running')`);
    // A process that has not yet seen a retirement must not wrap a DEK under the destroyed KEK.
    // FOR KEY SHARE waits for a concurrent retire (which holds FOR UPDATE) and then sees its result.
    await createPerRowKekGuard(q);
  }

  async down(q: QueryRunner): Promise<void> {
    await q.query('DROP TRIGGER customer_deks_live_kek ON customer_deks');
    await q.query('DROP FUNCTION customer_deks_live_kek()');
    await q.query('DROP TABLE key_rotation_jobs');
  }
}

/** The per-row guard as this migration created it (1764100004000 replaces it, and restores it on revert). */
export async function createPerRowKekGuard(q: QueryRunner): Promise<void> {
    await q.query(`
      CREATE FUNCTION customer_deks_live_kek() RETURNS trigger LANGUAGE plpgsql AS $$
      DECLARE kek_state text;
      BEGIN
        SELECT state INTO kek_state FROM kek_versions WHERE version = NEW.kek_version FOR KEY SHARE;
        IF kek_state = 'retired' THEN
          RAISE EXCEPTION 'KEK version % is retired', NEW.kek_version USING ERRCODE = 'check_violation';
        END IF;
        RETURN NEW;
      END $$`);
    await q.query(`
      CREATE TRIGGER customer_deks_live_kek BEFORE INSERT OR UPDATE OF kek_version ON customer_deks
      FOR EACH ROW EXECUTE FUNCTION customer_deks_live_kek()`);
}
