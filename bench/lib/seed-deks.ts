import { randomUUID } from 'node:crypto';
import type { DataSource } from 'typeorm';
import { zero } from '../../src/crypto/index.js';
import type { KeyRing } from '../../src/keys/key-ring.service.js';

/**
 * Seeds `count` customers with real per-customer DEKs wrapped under the active KEK (no field
 * ciphertexts: a rewrap never touches them), 10,000 per transaction.
 */
export async function seedDeks(ring: KeyRing, dataSource: DataSource, count: number): Promise<void> {
  for (let done = 0; done < count; done += 10_000) {
    const ids: string[] = [];
    const wrapped: Buffer[] = [];
    const kekVersions: number[] = [];
    for (let i = 0; i < Math.min(10_000, count - done); i++) {
      const id = randomUUID();
      const dek = ring.newDek(id);
      zero(dek.dek);
      ring.forgetDeks(id);
      ids.push(id);
      wrapped.push(dek.wrapped.wrapped);
      kekVersions.push(dek.wrapped.kekVersion);
    }
    await dataSource.transaction(async (m) => {
      await m.query('INSERT INTO customers (id, dek_version) SELECT unnest($1::uuid[]), 1', [ids]);
      await m.query('INSERT INTO customer_deks (customer_id, version, kek_version, wrapped_key) SELECT id, 1, k, w FROM unnest($1::uuid[], $2::int[], $3::bytea[]) AS t(id, k, w)', [ids, kekVersions, wrapped]);
    });
  }
}
