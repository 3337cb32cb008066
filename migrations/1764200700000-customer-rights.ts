import type { MigrationInterface, QueryRunner } from 'typeorm';

/**
 * The customer's rights (DESIGN §1, §3, §4): processing restriction and account closure on the
 * customer row, the consent history, and the disclosure register. Neither new table holds a field
 * value: consents are booleans, the register names the fields handed over, never their values.
 */
export class CustomerRights1764200700000 implements MigrationInterface {
  name = 'CustomerRights1764200700000';

  async up(q: QueryRunner): Promise<void> {
    await q.query(`
      ALTER TABLE customers
        ADD COLUMN restriction_reason text,
        ADD COLUMN restriction_since  timestamptz,
        ADD COLUMN restriction_by     uuid,
        ADD COLUMN closed_at          timestamptz`);
    // The retention job's scan: closed, not yet erased, oldest first.
    await q.query(`CREATE INDEX customers_retention ON customers (closed_at, id) WHERE closed_at IS NOT NULL AND erased_at IS NULL`);
    await q.query(`
      CREATE TABLE customer_consent_history (
        id                  bigserial PRIMARY KEY,
        customer_id         uuid NOT NULL REFERENCES customers (id),
        at                  timestamptz NOT NULL DEFAULT now(),
        marketing           boolean NOT NULL,
        third_party_sharing boolean NOT NULL,
        actor_id            uuid,
        actor_kind          text NOT NULL,
        actor_roles         text[] NOT NULL
      )`);
    await q.query(`CREATE INDEX customer_consent_history_customer ON customer_consent_history (customer_id, id)`);
    // Customers stored before this migration: their history starts with the values they hold now,
    // recorded by the system (what came before is only in the audit log's consent events).
    await q.query(`
      INSERT INTO customer_consent_history (customer_id, at, marketing, third_party_sharing, actor_id, actor_kind, actor_roles)
      SELECT id, now(), consent_marketing, consent_third_party, NULL, 'system', '{}' FROM customers WHERE erased_at IS NULL ORDER BY created_at, id`);
    await q.query(`
      CREATE TABLE customer_disclosures (
        id                      uuid PRIMARY KEY,
        customer_id             uuid NOT NULL REFERENCES customers (id),
        disclosed_at            timestamptz NOT NULL DEFAULT now(),
        recipient_name          text NOT NULL,
        recipient_country       text NOT NULL CHECK (recipient_country ~ '^[A-Z]{2}$'),
        legal_basis             text NOT NULL CHECK (legal_basis IN ('consent', 'legal_obligation')),
        reference               text,
        transfer_assessment_ref text,
        cross_border            boolean NOT NULL,
        fields                  text[] NOT NULL CHECK (cardinality(fields) > 0),
        by_id                   uuid NOT NULL,
        CHECK (legal_basis <> 'legal_obligation' OR reference IS NOT NULL),
        CHECK (NOT cross_border OR transfer_assessment_ref IS NOT NULL)
      )`);
    await q.query(`CREATE INDEX customer_disclosures_customer ON customer_disclosures (customer_id, disclosed_at, id)`);
  }

  async down(q: QueryRunner): Promise<void> {
    await q.query('DROP TABLE IF EXISTS customer_disclosures');
    await q.query('DROP TABLE IF EXISTS customer_consent_history');
    await q.query('DROP INDEX IF EXISTS customers_retention');
    await q.query('ALTER TABLE customers DROP COLUMN restriction_reason, DROP COLUMN restriction_since, DROP COLUMN restriction_by, DROP COLUMN closed_at');
  }
}
