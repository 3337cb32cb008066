import type { MigrationInterface, QueryRunner } from 'typeorm';

/**
 * Principals (DESIGN §3). Tokens are stored only as SHA-256 digests. A name is unique among active
 * principals, so a revoked name can be given again. The role list is checked against the role
 * vocabulary of src/access/vocabulary.ts (a new role needs a migration that widens the check).
 */
export class Principals1764100000000 implements MigrationInterface {
  name = 'Principals1764100000000';

  async up(q: QueryRunner): Promise<void> {
    await q.query(`
      CREATE TABLE principals (
        id          uuid PRIMARY KEY DEFAULT gen_random_uuid(),
        name        text NOT NULL CONSTRAINT principals_name_valid
                      CHECK (char_length(name) BETWEEN 1 AND 100 AND name !~ '[[:cntrl:]]'),
        kind        text NOT NULL CONSTRAINT principals_kind_known CHECK (kind IN ('service', 'staff')),
        roles       text[] NOT NULL CONSTRAINT principals_roles_known
                      CHECK (cardinality(roles) > 0
                        AND array_position(roles, NULL) IS NULL
                        AND roles <@ ARRAY['admin', 'ingest', 'billing', 'support', 'marketing', 'security', 'privacy']::text[]),
        token_hash  bytea NOT NULL CONSTRAINT principals_token_hash_key UNIQUE
                      CONSTRAINT principals_token_hash_sha256 CHECK (octet_length(token_hash) = 32),
        created_at  timestamptz NOT NULL DEFAULT now(),
        revoked_at  timestamptz
      )`);
    await q.query(`CREATE UNIQUE INDEX principals_active_name_key ON principals (name) WHERE revoked_at IS NULL`);
  }

  async down(q: QueryRunner): Promise<void> {
    await q.query(`DROP TABLE IF EXISTS principals`);
  }
}
