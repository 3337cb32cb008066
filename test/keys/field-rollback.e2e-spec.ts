import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import pg from 'pg';
import { decryptField, envelopeVersion, fieldContext, seal, UNBOUND_REVISION, zero } from '../../src/crypto/index.js';
import { FIELD_COLUMNS } from '../../src/customers/customer-columns.js';
import { KeyRing } from '../../src/keys/key-ring.service.js';
import { REVISION_BINDING_LOCK, RevisionBinding } from '../../src/keys/revision-binding.js';
import { createPrincipal } from '../helpers/principals.js';
import { startTestApp, type TestApp } from '../helpers/test-app.js';
import { lastLine, runCliAsync } from '../helpers/vault-process.js';

const OLD_ACCOUNT = 'GB29NWBK60161331926819';
const NEW_ACCOUNT = 'DE89370400440532013000';

function person(tag: string) {
  return { personal: { fullName: `Quenby ${tag} Ashdown`, email: `qa.${tag}@example.com`, phone: '+44 20 7946 0958' }, payment: { bankAccount: OLD_ACCOUNT } };
}

type Row = Record<string, unknown> & { revision: number };

/** Audit events of reads of one customer with outcome error, sealed or pending. */
async function readErrors(vault: TestApp, id: string) {
  return vault.sql<{ outcome: string; status: number; resource_id: string; details: unknown }>(
    `SELECT outcome, status, resource_id, details FROM audit_events WHERE action = 'customer.read' AND resource_id = $1 AND outcome = 'error'
     UNION ALL SELECT outcome, status, resource_id, details FROM audit_pending WHERE action = 'customer.read' AND resource_id = $1 AND outcome = 'error'`,
    [id],
  );
}

/**
 * Issue 13 §4: someone with write access to the database copied an older ciphertext of the same
 * customer and field back into the row (reverting a corrected bank account) and it decrypted. The
 * field AD now binds the record's revision.
 */
describe('a field rolled back in the database is refused (revision bound into the field AD)', () => {
  let vault: TestApp;
  let ingest: string;
  let privacy: string;
  let support: string;

  const read = (id: string) => vault.http().get(`/v1/customers/${id}`).set('Authorization', privacy).set('X-Access-Purpose', 'customer_request').set('X-Access-Reason', 'TICKET-4711');

  beforeAll(async () => {
    vault = await startTestApp();
    ingest = (await createPrincipal(vault, { roles: ['ingest'] })).authHeader;
    privacy = (await createPrincipal(vault, { roles: ['privacy'] })).authHeader;
    support = (await createPrincipal(vault, { roles: ['support'] })).authHeader;
  });
  afterAll(async () => {
    await vault?.close();
  });

  it('an older ciphertext of the same field written back (as a superuser, through SQL) answers an error, with an audit event naming the customer', async () => {
    const id = (await vault.http().post('/v1/customers').set('Authorization', ingest).send(person('a')).expect(201)).body.id as string;
    const [before] = await vault.sql<Row>('SELECT * FROM customers WHERE id = $1', [id]);
    await vault.http().patch(`/v1/customers/${id}`).set('Authorization', support).set('X-Access-Purpose', 'customer_request').set('X-Access-Reason', 'TICKET-4711').send({ payment: { bankAccount: NEW_ACCOUNT } }).expect(200);
    const [after] = await vault.sql<Row>('SELECT * FROM customers WHERE id = $1', [id]);
    expect((await read(id).expect(200)).body.data.bankAccount).toBe(NEW_ACCOUNT);

    // The attack: the corrected bank account reverted to its old ciphertext, the rest of the row current.
    await vault.sql('UPDATE customers SET bank_account = $2 WHERE id = $1', [id, before.bank_account]);
    const refused = await read(id);
    expect(JSON.stringify(refused.body)).not.toContain(OLD_ACCOUNT);
    expect(refused.status).toBe(500);
    expect(refused.body.error).toMatchObject({ code: 'internal', requestId: expect.any(String) });
    expect(JSON.stringify(refused.body)).not.toContain(NEW_ACCOUNT);
    expect([before.revision, after.revision]).toEqual([1, 2]);
    // every field was re-encrypted for the new revision, not only the corrected one
    for (const column of ['full_name', 'email', 'phone', 'bank_account']) expect((after[column] as Buffer).equals(before[column] as Buffer)).toBe(false);
    // The same with the revision column rolled back too: the other fields no longer open.
    await vault.sql('UPDATE customers SET revision = 1 WHERE id = $1', [id]);
    const refusedToo = await read(id);
    expect(refusedToo.status).toBe(500);
    expect(JSON.stringify(refusedToo.body)).not.toContain(OLD_ACCOUNT);
    // Only the bank account asked for: still refused (the old ciphertext itself does not open).
    await vault.sql('UPDATE customers SET revision = 2 WHERE id = $1', [id]);
    const fieldOnly = await vault.http().get(`/v1/customers/${id}?fields=bankAccount`).set('Authorization', privacy).set('X-Access-Purpose', 'customer_request').set('X-Access-Reason', 'TICKET-4711');
    expect(fieldOnly.status).toBe(500);
    expect(JSON.stringify(fieldOnly.body)).not.toContain(OLD_ACCOUNT);

    await new Promise((resolve) => setTimeout(resolve, 100));
    const errors = await readErrors(vault, id);
    expect(errors.length).toBe(3);
    expect(errors[0]).toMatchObject({ outcome: 'error', status: 500, resource_id: id });
    expect(JSON.stringify(errors)).not.toContain(OLD_ACCOUNT);

    // The row as it was written answers again; the correction's event records the revision.
    await vault.sql('UPDATE customers SET bank_account = $2 WHERE id = $1', [id, after.bank_account]);
    expect((await read(id).expect(200)).body.data.bankAccount).toBe(NEW_ACCOUNT);
    const [corrected] = await vault.sql<{ details: Record<string, unknown> }>(
      `SELECT details FROM audit_events WHERE action = 'customer.correct' AND resource_id = $1 UNION ALL SELECT details FROM audit_pending WHERE action = 'customer.correct' AND resource_id = $1`,
      [id],
    );
    expect(corrected.details).toMatchObject({ revision: 2 });
  });

  it('the limit, as SECURITY.md states it: a whole row set back to an older consistent state (a replay) opens', async () => {
    const id = (await vault.http().post('/v1/customers').set('Authorization', ingest).send(person('b')).expect(201)).body.id as string;
    const columns = [...Object.values(FIELD_COLUMNS), 'revision'];
    const [before] = await vault.sql<Row>(`SELECT ${columns.join(', ')} FROM customers WHERE id = $1`, [id]);
    await vault.http().patch(`/v1/customers/${id}`).set('Authorization', support).set('X-Access-Purpose', 'customer_request').set('X-Access-Reason', 'TICKET-4711').send({ payment: { bankAccount: NEW_ACCOUNT } }).expect(200);
    await vault.sql(`UPDATE customers SET ${columns.map((c, i) => `${c} = $${i + 2}`).join(', ')} WHERE id = $1`, [id, ...columns.map((c) => before[c])]);
    expect((await read(id).expect(200)).body.data.bankAccount).toBe(OLD_ACCOUNT);
    // ...which the audit log shows: the row's revision is below the last audited write's.
    const [row] = await vault.sql<{ revision: number }>('SELECT revision FROM customers WHERE id = $1', [id]);
    const [audited] = await vault.sql<{ revision: number }>(
      `SELECT max((details->>'revision')::int) AS revision FROM (SELECT details FROM audit_events WHERE resource_id = $1 UNION ALL SELECT details FROM audit_pending WHERE resource_id = $1) e`,
      [id],
    );
    expect(row.revision).toBeLessThan(audited.revision);
  });
});

/**
 * Records written before the revision was bound (revision 0, AD without `|rev:`) are bound by a
 * resumable job: interruptible, idempotent, one process at a time. After it, revision 0 is refused.
 */
describe('the revision job binds records written before revisions (resumable, one process at a time)', () => {
  let vault: TestApp;
  let privacy: string;
  const ids: string[] = [];
  let holder: pg.Client; // another session holding the job's lock while the vault boots

  const read = (id: string) => vault.http().get(`/v1/customers/${id}`).set('Authorization', privacy).set('X-Access-Purpose', 'customer_request').set('X-Access-Reason', 'TICKET-4711');

  beforeAll(async () => {
    // A database as the previous release left it: records at revision 0, job not finished.
    const first = await startTestApp();
    const ingest = (await createPrincipal(first, { roles: ['ingest'] })).authHeader;
    privacy = (await createPrincipal(first, { roles: ['privacy'] })).authHeader;
    for (let i = 0; i < 5; i++) ids.push((await first.http().post('/v1/customers').set('Authorization', ingest).send(person(`u${i}`)).expect(201)).body.id);
    const ring = first.app.get(KeyRing);
    for (const id of ids) {
      const [row] = await first.sql<Row & { dek_version: number; kek_version: number; wrapped_key: Buffer }>(
        'SELECT c.*, d.kek_version, d.wrapped_key FROM customers c JOIN customer_deks d ON d.customer_id = c.id WHERE c.id = $1',
        [id],
      );
      const dek = await ring.dek(id, { version: row.dek_version, kekVersion: row.kek_version, wrapped: row.wrapped_key });
      const sets: string[] = [];
      const params: unknown[] = [id];
      for (const [field, column] of Object.entries(FIELD_COLUMNS)) {
        const ct = row[column] as Buffer | null;
        if (ct === null) continue;
        const plaintext = decryptField(dek, ct, id, field, row.revision);
        params.push(seal(dek, envelopeVersion(ct), plaintext, fieldContext(id, field, UNBOUND_REVISION)));
        sets.push(`${column} = $${params.length}`);
      }
      zero(dek);
      await first.sql(`UPDATE customers SET ${sets.join(', ')}, revision = 0 WHERE id = $1`, params);
    }
    await first.sql('UPDATE field_revision_binding SET finished_at = NULL, bound = 0');
    await first.close();
    holder = new pg.Client({ connectionString: first.databaseUrl });
    await holder.connect();
    await holder.query('SELECT pg_advisory_lock($1)', [REVISION_BINDING_LOCK]);
    vault = await startTestApp({ databaseUrl: first.databaseUrl, rootKey: first.rootKey });
  }, 60_000);
  afterAll(async () => {
    await holder?.end().catch(() => undefined);
    await vault?.close();
  });

  it('reads unbound records while the job has not finished, binds them in resumable slices, then refuses a record set back to revision 0', async () => {
    for (const [i, id] of ids.entries()) expect((await read(id).expect(200)).body.data.fullName).toBe(`Quenby u${i} Ashdown`);
    const [legacy] = await vault.sql<Row>('SELECT * FROM customers WHERE id = $1', [ids[0]]);
    const binding = vault.app.get(RevisionBinding);
    await binding.pause(); // the run this process started after boot found the job busy
    // One process at a time: another session holds the job's lock.
    expect(await binding.run()).toBe('busy');
    expect(await vault.sql('SELECT count(*)::int AS n FROM customers WHERE revision = 0')).toEqual([{ n: 5 }]);
    await holder.end();

    // An interrupted run: one batch of two, then it stops; the rest is still to do.
    expect(await binding.run({ batchSize: 2, maxBatches: 1 })).toEqual({ bound: 2, finished: false });
    expect(await vault.sql('SELECT count(*)::int AS n FROM customers WHERE revision = 0')).toEqual([{ n: 3 }]);
    for (const id of ids) expect((await read(id)).status).toBe(200);

    // The CLI resumes it and finishes; a second run has nothing to do.
    const env = { DATABASE_URL: vault.databaseUrl, VAULT_ROOT_KEY: vault.rootKey.toString('base64'), VAULT_DATA_DIR: vault.dataDir, LOG_LEVEL: 'warn' };
    const cli = await runCliAsync(['keys:bind-revisions', '--batch-size', '2'], env);
    expect(cli.status).toBe(0);
    expect(JSON.parse(lastLine(cli.stdout))).toEqual({ bound: 3, finished: true });
    expect(await binding.run()).toEqual({ bound: 0, finished: true });
    expect(await vault.sql('SELECT revision, count(*)::int AS n FROM customers GROUP BY 1')).toEqual([{ revision: 1, n: 5 }]);
    for (const [i, id] of ids.entries()) expect((await read(id).expect(200)).body.data.fullName).toBe(`Quenby u${i} Ashdown`);
    const bad = await runCliAsync(['keys:bind-revisions', '--batch-size', 'x'], env);
    expect(bad.status).toBe(1);
    expect(bad.stderr).toMatch(/--batch-size must be a positive integer/);

    // A downgrade: the whole row set back to its pre-migration state (revision 0) is refused now.
    const columns = [...Object.values(FIELD_COLUMNS), 'revision'];
    await vault.sql(`UPDATE customers SET ${columns.map((c, i) => `${c} = $${i + 2}`).join(', ')} WHERE id = $1`, [ids[0], ...columns.map((c) => legacy[c])]);
    const refused = await read(ids[0]);
    expect(refused.status).toBe(500);
    expect(JSON.stringify(refused.body)).not.toContain('Quenby u0');
    await new Promise((resolve) => setTimeout(resolve, 100));
    expect((await readErrors(vault, ids[0]))[0]).toMatchObject({ outcome: 'error', resource_id: ids[0] });
    const events = await vault.sql<{ details: Record<string, unknown> }>(
      `SELECT details FROM audit_events WHERE action = 'keys.revisions.bound' UNION ALL SELECT details FROM audit_pending WHERE action = 'keys.revisions.bound'`,
    );
    expect(events).toEqual([{ details: { bound: 5, boundByThisRun: 3 } }]);
  }, 240_000); // two CLI runs, each booting the vault's services
});
