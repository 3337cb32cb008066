import type { MigrationInterface, QueryRunner } from 'typeorm';

/**
 * Anti-rollback (issue 13 §4, DESIGN §2): every field ciphertext's AD binds the record's revision
 * (`customer:<uuid>|field:<name>|rev:<n>`), which every write of the record's fields increments.
 *
 * - `customers.revision`: 0 for the records that exist now (their ciphertexts were written with the
 *   AD without a revision; "unbound"); new records start at 1 (the column default from here on, which
 *   the one-statement create relies on: see FIRST_REVISION in src/customers/record-cipher.ts).
 * - `field_revision_binding`: one row; `finished_at` is set by the revision job (keys:bind-revisions,
 *   also started by every vault process at boot) once no live record is unbound. From then on an
 *   unbound record is refused on read: otherwise a whole row set back to revision 0 with pre-migration
 *   ciphertexts would open. A database without live customers is finished at once.
 */
export class FieldRevisions1764200610000 implements MigrationInterface {
  name = 'FieldRevisions1764200610000';

  async up(q: QueryRunner): Promise<void> {
    await q.query(`ALTER TABLE customers ADD COLUMN revision integer NOT NULL DEFAULT 0 CONSTRAINT customers_revision_valid CHECK (revision >= 0)`);
    await q.query(`ALTER TABLE customers ALTER COLUMN revision SET DEFAULT 1`);
    await q.query(`
      CREATE TABLE field_revision_binding (
        singleton    boolean PRIMARY KEY DEFAULT true CHECK (singleton),
        bound        bigint NOT NULL DEFAULT 0,
        finished_at  timestamptz
      )`);
    await q.query(`INSERT INTO field_revision_binding (finished_at) SELECT CASE WHEN EXISTS (SELECT 1 FROM customers WHERE erased_at IS NULL) THEN NULL ELSE now() END`);
  }

  async down(q: QueryRunner): Promise<void> {
    // Records written since cannot be read by the code before this migration: refuse rather than lose them.
    const [{ n }] = (await q.query(`SELECT count(*)::int AS n FROM customers WHERE revision > 0 AND erased_at IS NULL`)) as { n: number }[];
    if (n > 0) throw new Error(`${n} customer records are bound to a revision; the code before this migration cannot read them`);
    await q.query('DROP TABLE field_revision_binding');
    await q.query('ALTER TABLE customers DROP COLUMN revision');
  }
}
