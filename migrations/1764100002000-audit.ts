import type { MigrationInterface, QueryRunner } from 'typeorm';

/** The columns an event carries before it is sealed; `audit_pending` and `audit_events` share them. */
const EVENT_COLUMNS = `
        event_id        uuid NOT NULL,
        at              timestamptz(3) NOT NULL,
        request_id      text NOT NULL,
        actor_id        text,
        actor_name      text NOT NULL,
        actor_kind      text NOT NULL,
        actor_roles     text[] NOT NULL,
        action          text NOT NULL,
        resource_type   text NOT NULL,
        resource_id     text,
        purpose         text,
        reason          text,
        fields_revealed text[] NOT NULL,
        fields_masked   text[] NOT NULL,
        fields_written  text[] NOT NULL,
        outcome         text NOT NULL CHECK (outcome IN ('allowed', 'denied', 'error')),
        status          integer NOT NULL,
        client_ip       text,
        details         jsonb`;

/**
 * Tamper-evident audit log (DESIGN §5, docs/AUDIT-FORMAT.md). Events are first inserted into
 * `audit_pending` (the unsealed window, in the caller's transaction or by the group-commit writer);
 * the single sealer moves them into the hash-chained `audit_events` and signs `audit_checkpoints`.
 * `audit_events`, `audit_checkpoints` and `audit_signing_keys` are append-only (trigger).
 */
export class Audit1764100002000 implements MigrationInterface {
  name = 'Audit1764100002000';

  async up(q: QueryRunner): Promise<void> {
    await q.query(`
      CREATE TABLE audit_pending (
        id              bigserial PRIMARY KEY,${EVENT_COLUMNS}
      )`);
    await q.query(`
      CREATE TABLE audit_events (
        seq             bigint PRIMARY KEY CHECK (seq > 0),${EVENT_COLUMNS},
        prev_hash       bytea NOT NULL,
        hash            bytea NOT NULL
      )`);
    await q.query(`CREATE UNIQUE INDEX audit_events_event_id ON audit_events (event_id)`);
    // Every filter is paged by seq, so each index ends with seq.
    await q.query(`CREATE INDEX audit_events_resource ON audit_events (resource_type, resource_id, seq)`);
    await q.query(`CREATE INDEX audit_events_actor ON audit_events (actor_id, seq)`);
    await q.query(`CREATE INDEX audit_events_action ON audit_events (action, seq)`);
    await q.query(`CREATE INDEX audit_events_purpose ON audit_events (purpose, seq)`);
    await q.query(`CREATE INDEX audit_events_outcome ON audit_events (outcome, seq)`);
    await q.query(`CREATE INDEX audit_events_at ON audit_events (at)`);
    await q.query(`
      CREATE TABLE audit_checkpoints (
        seq             bigint PRIMARY KEY CHECK (seq > 0),
        hash            bytea NOT NULL,
        at              timestamptz(3) NOT NULL,
        key_id          text NOT NULL,
        signature       bytea NOT NULL,
        prev_signature  bytea
      )`);
    await q.query(`
      CREATE TABLE audit_signing_keys (
        key_id          text PRIMARY KEY,
        public_key      bytea NOT NULL,
        created_at      timestamptz(3) NOT NULL DEFAULT now()
      )`);
    await q.query(`
      CREATE FUNCTION audit_append_only() RETURNS trigger LANGUAGE plpgsql AS $$
      BEGIN
        RAISE EXCEPTION 'audit table % is append-only: % refused', TG_TABLE_NAME, TG_OP
          USING ERRCODE = 'insufficient_privilege';
      END
      $$`);
    for (const table of ['audit_events', 'audit_checkpoints', 'audit_signing_keys']) {
      await q.query(`CREATE TRIGGER ${table}_no_change BEFORE UPDATE OR DELETE ON ${table} FOR EACH ROW EXECUTE FUNCTION audit_append_only()`);
      await q.query(`CREATE TRIGGER ${table}_no_truncate BEFORE TRUNCATE ON ${table} FOR EACH STATEMENT EXECUTE FUNCTION audit_append_only()`);
    }
  }

  async down(q: QueryRunner): Promise<void> {
    await q.query(`DROP TABLE IF EXISTS audit_signing_keys`);
    await q.query(`DROP TABLE IF EXISTS audit_checkpoints`);
    await q.query(`DROP TABLE IF EXISTS audit_events`);
    await q.query(`DROP TABLE IF EXISTS audit_pending`);
    await q.query(`DROP FUNCTION IF EXISTS audit_append_only()`);
  }
}
