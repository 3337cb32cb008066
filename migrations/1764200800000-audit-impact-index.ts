import type { MigrationInterface, QueryRunner } from 'typeorm';

const INDEX = 'audit_events_impact';

/**
 * Breach impact (GET /v1/audit/impact): "which customers could principal X have seen between A and
 * B" reads only the allowed events of one actor that revealed a field (plaintext or masked) in a
 * time window. A partial index on (actor_id, at) holding those events alone, with the columns the
 * report needs (INCLUDE), answers it with an index-only scan: no heap visit for the events of other
 * actors, of other times or that revealed nothing (writes, searches, denied attempts, audit reads).
 * Its write cost on the audit path is measured in docs/BENCHMARKS.md ("Breach impact").
 *
 * Built CONCURRENTLY (outside a transaction), so a vault upgraded in place keeps recording audit
 * events while the index builds; a build that failed half-way leaves an invalid index, dropped and
 * rebuilt on the next run.
 */
export class AuditImpactIndex1764200800000 implements MigrationInterface {
  name = 'AuditImpactIndex1764200800000';
  transaction = false;

  async up(q: QueryRunner): Promise<void> {
    const invalid = (await q.query(
      `SELECT count(*)::int AS n FROM pg_index i JOIN pg_class c ON c.oid = i.indexrelid WHERE c.relname = $1 AND NOT i.indisvalid`,
      [INDEX],
    )) as { n: number }[];
    if (invalid[0].n > 0) await q.query(`DROP INDEX CONCURRENTLY IF EXISTS ${INDEX}`);
    // A large log takes longer to index than the application's statement timeout allows.
    await q.query('SET statement_timeout = 0');
    try {
      await q.query(`
        CREATE INDEX CONCURRENTLY IF NOT EXISTS ${INDEX} ON audit_events (actor_id, at)
          INCLUDE (resource_id, fields_revealed, fields_masked)
          WHERE outcome = 'allowed' AND resource_type = 'customer' AND resource_id IS NOT NULL
            AND cardinality(fields_revealed) + cardinality(fields_masked) > 0`);
    } finally {
      await q.query('RESET statement_timeout');
    }
  }

  /** Not CONCURRENTLY: TypeORM reverts inside a transaction whatever `transaction` says; a drop is brief. */
  async down(q: QueryRunner): Promise<void> {
    await q.query(`DROP INDEX IF EXISTS ${INDEX}`);
  }
}
