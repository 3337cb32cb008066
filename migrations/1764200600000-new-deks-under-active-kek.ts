import type { MigrationInterface, QueryRunner } from 'typeorm';

/**
 * A new DEK may only be wrapped under the active KEK (issue 13 §2). Before, a new DEK was refused
 * only under a retired KEK, so a process with a stale key ring (a refresh that keeps failing, a
 * create that waited for a connection) could insert a DEK under the previous KEK after the rotation
 * job's last pass, and the job reported done while a DEK remained under the old version.
 *
 * The insert guard now locks the KEK rows it names FOR SHARE (not FOR KEY SHARE): a rotation's
 * `UPDATE kek_versions SET state = 'decrypt_only'` conflicts with it, so a rotation waits for every
 * transaction that inserted a DEK under the then-active KEK to end, and every insert that starts
 * after the rotation sees the new state and is refused (constraint `customer_deks_kek_active`; the
 * vault reloads its key ring and retries under the new KEK). A rotation job, which starts only
 * after its rotation committed, therefore sees every DEK under an old version.
 *
 * Updates (the rotation job's rewrap) keep the old rule: any KEK that is not retired.
 */
export class NewDeksUnderActiveKek1764200600000 implements MigrationInterface {
  name = 'NewDeksUnderActiveKek1764200600000';

  async up(q: QueryRunner): Promise<void> {
    await q.query(`
      CREATE FUNCTION customer_deks_new_under_active_kek() RETURNS trigger LANGUAGE plpgsql AS $$
      DECLARE bad integer;
      BEGIN
        PERFORM 1 FROM kek_versions WHERE version IN (SELECT kek_version FROM written) FOR SHARE;
        SELECT w.kek_version INTO bad FROM (SELECT DISTINCT kek_version FROM written) w
          LEFT JOIN kek_versions k ON k.version = w.kek_version
          WHERE k.version IS NULL OR k.state <> 'active' LIMIT 1;
        IF FOUND THEN
          RAISE EXCEPTION 'KEK version % is not active (retired, decrypt-only or unknown): a new DEK is wrapped under the active KEK', bad
            USING ERRCODE = 'check_violation', CONSTRAINT = 'customer_deks_kek_active';
        END IF;
        RETURN NULL;
      END $$`);
    await q.query('DROP TRIGGER customer_deks_live_keks_insert ON customer_deks');
    await q.query(`
      CREATE TRIGGER customer_deks_new_under_active_kek AFTER INSERT ON customer_deks
      REFERENCING NEW TABLE AS written FOR EACH STATEMENT EXECUTE FUNCTION customer_deks_new_under_active_kek()`);
  }

  async down(q: QueryRunner): Promise<void> {
    await q.query('DROP TRIGGER customer_deks_new_under_active_kek ON customer_deks');
    await q.query('DROP FUNCTION customer_deks_new_under_active_kek()');
    await q.query(`
      CREATE TRIGGER customer_deks_live_keks_insert AFTER INSERT ON customer_deks
      REFERENCING NEW TABLE AS written FOR EACH STATEMENT EXECUTE FUNCTION customer_deks_live_keks()`);
  }
}
