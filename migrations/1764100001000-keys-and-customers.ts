import type { MigrationInterface, QueryRunner } from 'typeorm';

/**
 * Key hierarchy (DESIGN §2) and customer records. Field values exist only as ciphertexts
 * (`0x01|0x01|dek_version|nonce|ct+tag`); searchable fields only as keyed BLAKE2b digests.
 */
export class KeysAndCustomers1764100001000 implements MigrationInterface {
  name = 'KeysAndCustomers1764100001000';

  async up(q: QueryRunner): Promise<void> {
    await q.query(`
      CREATE TABLE kek_versions (
        version      integer PRIMARY KEY CHECK (version > 0),
        state        text NOT NULL CHECK (state IN ('active', 'decrypt_only', 'retired')),
        wrapped_key  bytea,
        root_key_id  text NOT NULL,
        created_at   timestamptz NOT NULL DEFAULT now(),
        retired_at   timestamptz,
        CHECK ((state = 'retired') = (wrapped_key IS NULL))
      )`);
    await q.query(`CREATE UNIQUE INDEX kek_versions_one_active ON kek_versions ((true)) WHERE state = 'active'`);
    await q.query(`
      CREATE TABLE blind_index_keys (
        field        text NOT NULL CHECK (field IN ('email', 'phone', 'nationalId')),
        version      integer NOT NULL CHECK (version > 0),
        state        text NOT NULL CHECK (state IN ('active', 'retired')),
        wrapped_key  bytea NOT NULL,
        root_key_id  text NOT NULL,
        created_at   timestamptz NOT NULL DEFAULT now(),
        PRIMARY KEY (field, version)
      )`);
    await q.query(`CREATE UNIQUE INDEX blind_index_keys_one_active ON blind_index_keys (field) WHERE state = 'active'`);
    await q.query(`
      CREATE TABLE customers (
        id                  uuid PRIMARY KEY,
        external_ref        text UNIQUE,
        dek_version         integer NOT NULL,
        full_name           bytea,
        email               bytea,
        phone               bytea,
        address             bytea,
        national_id         bytea,
        date_of_birth       bytea,
        card_number         bytea,
        card_expiry         bytea,
        cardholder_name     bytea,
        bank_account        bytea,
        consent_marketing   boolean NOT NULL DEFAULT false,
        consent_third_party boolean NOT NULL DEFAULT false,
        hold_reason         text,
        hold_since          timestamptz,
        hold_by             uuid,
        created_at          timestamptz NOT NULL DEFAULT now(),
        updated_at          timestamptz NOT NULL DEFAULT now(),
        erased_at           timestamptz
      )`);
    await q.query(`
      CREATE TABLE customer_deks (
        customer_id  uuid NOT NULL REFERENCES customers (id),
        version      integer NOT NULL CHECK (version > 0),
        kek_version  integer NOT NULL REFERENCES kek_versions (version),
        wrapped_key  bytea NOT NULL,
        created_at   timestamptz NOT NULL DEFAULT now(),
        PRIMARY KEY (customer_id, version)
      )`);
    await q.query(`CREATE INDEX customer_deks_kek_version ON customer_deks (kek_version)`);
    await q.query(`
      CREATE TABLE customer_blind_indexes (
        customer_id  uuid NOT NULL REFERENCES customers (id),
        field        text NOT NULL,
        key_version  integer NOT NULL,
        digest       bytea NOT NULL,
        PRIMARY KEY (customer_id, field, key_version),
        FOREIGN KEY (field, key_version) REFERENCES blind_index_keys (field, version)
      )`);
    await q.query(`CREATE INDEX customer_blind_indexes_lookup ON customer_blind_indexes (field, digest)`);
  }

  async down(q: QueryRunner): Promise<void> {
    await q.query('DROP TABLE customer_blind_indexes');
    await q.query('DROP TABLE customer_deks');
    await q.query('DROP TABLE customers');
    await q.query('DROP TABLE blind_index_keys');
    await q.query('DROP TABLE kek_versions');
  }
}
