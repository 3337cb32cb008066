import type { MigrationInterface, QueryRunner } from 'typeorm';

/**
 * A search's audit event names the customers it found in `details.customerIds` (comma-separated
 * ids, inside the hashed canonical event, so tamper-evident), and each of them must find the event in
 * its access report. This GIN index on the split list makes that lookup an index probe. Partial: only
 * events that name customers this way are indexed, so no other event pays for it when it is sealed.
 * audit_events is append-only, so the index never sees an update.
 */
export class SearchInAccessReports1764200100000 implements MigrationInterface {
  name = 'SearchInAccessReports1764200100000';

  async up(q: QueryRunner): Promise<void> {
    await q.query(`
      CREATE INDEX audit_events_customer_ids ON audit_events
      USING gin ((string_to_array(details ->> 'customerIds', ',')))
      WHERE details ? 'customerIds'`);
  }

  async down(q: QueryRunner): Promise<void> {
    await q.query('DROP INDEX IF EXISTS audit_events_customer_ids');
  }
}
