import type { MigrationInterface, QueryRunner } from 'typeorm';

/**
 * Idempotent writes (issue 16, DESIGN §4 "Idempotency-Key"). A write sent with an `Idempotency-Key`
 * stores one row here in the same transaction (or the same statement) as the write and its audit
 * event: the key as the client sent it, scoped to the principal; a keyed digest of the request
 * (never the body); the status and the answer with ids and metadata only (never a field value,
 * token or free-text reason); until `expires_at` (VAULT_IDEMPOTENCY_TTL).
 *
 * `claim_idempotency_key(n)` is how a single-statement write makes the key its own: the claim is an
 * `INSERT ... ON CONFLICT DO UPDATE ... WHERE the row expired` (a live row is left alone, an expired
 * one taken over), and the statement passes the number of rows it claimed to this function, which
 * raises a unique violation on the primary key when it is 0 (the key is live, or a concurrent request
 * holding it just committed), so the write rolls back with it.
 *
 * No foreign key to principals: the principal is the authenticated caller, principals are never
 * deleted, and the check would cost every keyed write a lookup and a KEY SHARE lock.
 */
export class IdempotencyKeys1790000000000 implements MigrationInterface {
  name = 'IdempotencyKeys1790000000000';

  async up(q: QueryRunner): Promise<void> {
    await q.query(`
      CREATE TABLE idempotency_keys (
        principal_id     uuid NOT NULL,
        key              text NOT NULL CHECK (key ~ '^[\\x21-\\x7e]{1,255}$'),
        request_hash     bytea NOT NULL CHECK (octet_length(request_hash) = 32),
        hash_key_version integer NOT NULL,
        request_id       uuid NOT NULL,
        resource_id      text,
        status           smallint NOT NULL CHECK (status BETWEEN 200 AND 299),
        answer           jsonb NOT NULL,
        created_at       timestamptz NOT NULL DEFAULT now(),
        expires_at       timestamptz NOT NULL,
        PRIMARY KEY (principal_id, key)
      )`);
    // The purge job's scan (oldest first, in batches).
    await q.query('CREATE INDEX idempotency_keys_expiry ON idempotency_keys (expires_at)');
    await q.query(`
      CREATE FUNCTION claim_idempotency_key(claimed bigint) RETURNS boolean LANGUAGE plpgsql VOLATILE AS $$
      BEGIN
        IF claimed = 0 THEN
          RAISE EXCEPTION 'this Idempotency-Key is held by another request of this principal'
            USING ERRCODE = 'unique_violation', CONSTRAINT = 'idempotency_keys_pkey';
        END IF;
        RETURN true;
      END $$`);
  }

  async down(q: QueryRunner): Promise<void> {
    await q.query('DROP FUNCTION IF EXISTS claim_idempotency_key(bigint)');
    await q.query('DROP TABLE IF EXISTS idempotency_keys');
  }
}
