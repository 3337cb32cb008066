import type { MigrationInterface, QueryRunner } from 'typeorm';

/**
 * Root key fencing (DESIGN section 2): one row naming the current root key. Every wrap under the root
 * (a new KEK, an index key, a root rotation) reads it under the key-admin lock in the transaction
 * that writes the wrapped key, and refuses when this process's root key is not the one recorded. A
 * process still running with an older root key after `root:rotate` is thereby fenced.
 *
 * The id starts NULL: a migration cannot see the root key. The first process to start afterwards
 * records its key id, after proving that its key opens the active KEK (existing installs), or when it
 * creates the first KEK (new installs).
 */
export class RootKeyFence1764200500000 implements MigrationInterface {
  name = 'RootKeyFence1764200500000';

  async up(q: QueryRunner): Promise<void> {
    await q.query(`
      CREATE TABLE root_key_state (
        singleton boolean PRIMARY KEY DEFAULT true CHECK (singleton),
        root_key_id text CHECK (root_key_id ~ '^[0-9a-f]{16}$'),
        provider text,
        updated_at timestamptz NOT NULL DEFAULT now()
      )`);
    await q.query('INSERT INTO root_key_state (singleton) VALUES (true)');
  }

  async down(q: QueryRunner): Promise<void> {
    await q.query('DROP TABLE root_key_state');
  }
}
