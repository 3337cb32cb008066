import { Inject, Injectable } from '@nestjs/common';
import { randomUUID } from 'node:crypto';
import { DataSource, type EntityManager } from 'typeorm';
import { AccessPolicy, type RevealCustomer } from '../access/access-policy.js';
import { CUSTOMER_FIELDS, type Actor, type CustomerField, type Purpose } from '../access/vocabulary.js';
import { AuditLog } from '../audit/audit-log.js';
import type { AuditTrail } from '../audit/audit-trail.js';
import { AuditedWrites } from '../audit/audited-writes.js';
import { VaultError } from '../common/vault-error.js';
import { BLIND_INDEX_NORMALISATION, BLIND_INDEXED_FIELDS, decryptField, encryptField, normalizeForBlindIndex, UNBOUND_REVISION, zero } from '../crypto/index.js';
import { isDatabaseUnavailable } from '../common/error-response.js';
import { preparedQuery, preparedWrite, returningRows } from '../database/query.js';
import { CLAIMED, claimCte, claimParams, isClaimRefused, keyInUse } from '../idempotency/idempotency.js';
import { announceDekDestruction } from '../keys/dek-evictions.js';
import { KeyRing } from '../keys/key-ring.service.js';
import { RevisionBinding } from '../keys/revision-binding.js';
import { FIELD_COLUMNS, type CustomerRow } from './customer-columns.js';
import { FIRST_REVISION, resealRecord } from './record-cipher.js';
import type { ConsentsDto, CreateCustomerDto, UpdateCustomerDto } from './customer.dto.js';
import { cardDigits } from './validators.js';

export interface CustomerView {
  id: string;
  externalRef: string | null;
  data: Partial<Record<CustomerField, unknown>>;
  revealed: CustomerField[];
  masked: CustomerField[];
  consents: { marketing: boolean; thirdPartySharing: boolean };
  contactHold: Mark | null;
  restriction: Mark | null;
  createdAt: string;
  updatedAt: string;
}

/** A contact hold or a processing restriction: why, since when, set by which principal. */
export interface Mark {
  reason: string;
  since: string;
  by: string | null;
}

type FieldValues = Partial<Record<CustomerField, unknown>>;
export type Consents = { marketing: boolean; thirdPartySharing: boolean };

const CONSENTS = ['marketing', 'thirdPartySharing'] as const;

const SELECT_WITH_DEK = `
  SELECT c.*, d.kek_version AS dek_kek_version, d.wrapped_key AS dek_wrapped
  FROM customers c LEFT JOIN customer_deks d ON d.customer_id = c.id AND d.version = c.dek_version
  WHERE c.id = $1`;

/**
 * Columns and values of blind-index rows for customer `$id`, from three parallel array parameters,
 * marked with the normalisation they were computed with (see the re-index worker).
 */
const INDEX_ROWS_FROM = (id: number, first: number): string =>
  `(customer_id, field, key_version, digest, norm_version) SELECT $${id}, field, key_version, digest, ${BLIND_INDEX_NORMALISATION}
   FROM unnest($${first}::text[], $${first + 1}::int[], $${first + 2}::bytea[]) AS t(field, key_version, digest)`;

const FIRST_FIELD_PARAM = 6;

/** One consent-history row: customer, marketing, thirdPartySharing, actor id, kind, roles (at = now()). */
const CONSENT_HISTORY_INSERT = 'INSERT INTO customer_consent_history (customer_id, marketing, third_party_sharing, actor_id, actor_kind, actor_roles)';

/** The columns of a contact hold and of a processing restriction: `<prefix>_reason`, `_since`, `_by`. */
type MarkPrefix = 'hold' | 'restriction';
const AFTER_FIELDS = FIRST_FIELD_PARAM + CUSTOMER_FIELDS.length;

/**
 * A create's customer, DEK and blind indexes as data-modifying CTEs (the foreign keys are checked
 * at the end of the statement). One text whatever the fields present (absent ones are null, the
 * indexes come as arrays), so it is prepared once per connection. Parameters: $1 id, $2 externalRef,
 * $3 DEK version, $4-$5 consents, then one per field in CUSTOMER_FIELDS order, then the KEK version,
 * the wrapped DEK, the index fields, key versions and digests, and the actor's id, kind and roles
 * (the first entry of the consent history: the consents at creation, DESIGN §3). `c` yields the id
 * and `created_at` as the answer writes it (ISO 8601, milliseconds, UTC), so the answer and the copy
 * an Idempotency-Key stores with it come from one expression.
 */
const CREATE_WRITE = `WITH c AS (
    INSERT INTO customers (id, external_ref, dek_version, consent_marketing, consent_third_party, ${CUSTOMER_FIELDS.map((f) => FIELD_COLUMNS[f]).join(', ')})
    VALUES ($1, $2, $3, $4, $5, ${CUSTOMER_FIELDS.map((_, i) => `$${FIRST_FIELD_PARAM + i}`).join(', ')})
    RETURNING id, to_char(created_at AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.MS"Z"') AS created_at),
  d AS (INSERT INTO customer_deks (customer_id, version, kek_version, wrapped_key) VALUES ($1, $3, $${AFTER_FIELDS}, $${AFTER_FIELDS + 1})),
  b AS (INSERT INTO customer_blind_indexes ${INDEX_ROWS_FROM(1, AFTER_FIELDS + 2)}),
  h AS (${CONSENT_HISTORY_INSERT} VALUES ($1, $4, $5, $${AFTER_FIELDS + 5}, $${AFTER_FIELDS + 6}, $${AFTER_FIELDS + 7}))`;

/** The create's answer as the Idempotency-Key stores it, from `c` (the create route omits nothing). */
const CREATE_ANSWER = `(SELECT jsonb_build_object('id', id, 'createdAt', created_at) FROM c)`;

export interface CreatedCustomer {
  id: string;
  createdAt: string;
}

/**
 * Customer records: every field encrypted under the customer's DEK, searchable fields also as
 * blind-index digests. Reads decrypt only the fields the policy returns; writes commit with their
 * audit event in one transaction.
 */
@Injectable()
export class CustomersService {
  constructor(
    @Inject(DataSource) private readonly dataSource: DataSource,
    @Inject(KeyRing) private readonly keys: KeyRing,
    @Inject(AccessPolicy) private readonly policy: AccessPolicy,
    @Inject(AuditLog) private readonly audit: AuditLog,
    @Inject(RevisionBinding) private readonly revisions: RevisionBinding,
    @Inject(AuditedWrites) private readonly writes: AuditedWrites,
  ) {}

  async create(actor: Actor, body: CreateCustomerDto, trail: AuditTrail): Promise<CreatedCustomer> {
    this.policy.assertCan(actor, 'create');
    const values = fieldValues(body.personal, body.payment);
    const id = randomUUID();
    trail.resource.id = id;
    const { dek, wrapped } = this.keys.newDek(id);
    try {
      // Every field column, null when absent: one statement text for every create (see CREATE_WRITE).
      const consents = { marketing: body.consents?.marketing ?? false, thirdPartySharing: body.consents?.thirdPartySharing ?? false };
      // The consents given at creation, on the record (provenance): the event travels in the same statement.
      Object.assign(trail.details, consents);
      const params: unknown[] = [id, body.externalRef ?? null, wrapped.version, consents.marketing, consents.thirdPartySharing];
      for (const field of CUSTOMER_FIELDS) {
        const value = values[field];
        params.push(value === undefined ? null : encryptField(dek, wrapped.version, id, field, FIRST_REVISION, encodeValue(value)));
      }
      trail.fields.written.push(...(Object.keys(values) as CustomerField[]));
      const indexes = this.blindIndexRows(values);
      const kekAt = params.length;
      params.push(wrapped.kekVersion, wrapped.wrapped, indexes.fields, indexes.versions, indexes.digests, actor.id, actor.kind, actor.roles);
      // Refused under a KEK rotated away meanwhile: same DEK (the ciphertexts stand), wrapped again.
      const write = (attempt: number): Promise<CreatedCustomer> => {
        if (attempt > 0) {
          const again = this.keys.wrapNewDek(id, dek, wrapped.version);
          params[kekAt] = again.kekVersion;
          params[kekAt + 1] = again.wrapped;
        }
        return this.createOneStatement(params, trail);
      };
      return await this.keys.retryOnStaleKek(write).catch(async (error: unknown) => {
        // Nothing was written (one statement). Which part failed decides the answer (a 503 for the
        // audit log, a 500 for the rest): write again step by step in a transaction, where the audit
        // insert reports its own failure. Lost connections are not retried: before the statement was
        // sent nothing happened, after it the commit is unknown (`outcome_unknown`, from preparedWrite).
        if (error instanceof VaultError) throw error;
        if (isClaimRefused(error)) throw keyInUse();
        if ((error as { code?: string }).code === '23505') uniqueExternalRef(error);
        if (isDatabaseUnavailable(error)) throw error;
        return this.writes.run(trail, 201, async (manager) => {
          const [row] = (await manager.query(`${CREATE_WRITE} SELECT id, created_at FROM c`, params).catch(uniqueExternalRef)) as { id: string; created_at: string }[];
          return { id: row.id, createdAt: row.created_at };
        });
      });
    } finally {
      zero(dek);
    }
  }

  /**
   * The create's write and its audit event in one statement, one round trip, no explicit
   * transaction: a single statement commits or fails as a whole. With an Idempotency-Key the key and
   * the answer are claimed in the same statement, which fails when the key is held (CLAIMED).
   */
  private async createOneStatement(params: unknown[], trail: AuditTrail): Promise<CreatedCustomer> {
    const event = this.audit.insertFor(trail.toEvent('allowed', 201), params.length + 1);
    const values = [...params, event.value];
    let text = `${CREATE_WRITE}, a AS (${event.sql}) SELECT id, created_at FROM c`;
    const claim = trail.idempotency;
    if (claim !== undefined) {
      const first = values.length + 1;
      values.push(...claimParams(claim, trail.requestId, trail.resource.id, 201));
      text = `${CREATE_WRITE}, a AS (${event.sql}), ${claimCte(first, CREATE_ANSWER)} SELECT id, created_at, ${CLAIMED} FROM c`;
    }
    const [row] = await preparedWrite<{ id: string; created_at: string }>(this.dataSource, text, values);
    trail.recorded = true;
    return { id: row.id, createdAt: row.created_at };
  }

  async read(actor: Actor, id: string, purpose: Purpose, requested: CustomerField[] | undefined, trail: AuditTrail): Promise<CustomerView> {
    trail.resource.id = id;
    // Role x purpose was checked by the route's @Policy (and planReveal checks it again).
    const row = await this.load(id);
    const plan = this.policy.planReveal(actor, purpose, { consents: consentsOf(row), contactHold: row.hold_since, restriction: row.restriction_since }, requested);
    const wanted = [...plan.plaintext, ...plan.masked].filter((field) => row[FIELD_COLUMNS[field]] !== null);
    const values = await this.decrypt(row, wanted);
    const shown = this.policy.applyPlan(plan, values);
    trail.fields.revealed.push(...shown.revealed);
    trail.fields.masked.push(...shown.masked);
    return {
      id: row.id,
      externalRef: row.external_ref,
      data: shown.data,
      revealed: shown.revealed,
      masked: shown.masked,
      consents: consentsOf(row),
      contactHold: markOf(row, 'hold'),
      restriction: markOf(row, 'restriction'),
      createdAt: row.created_at.toISOString(),
      updatedAt: row.updated_at.toISOString(),
    };
  }

  async correct(actor: Actor, id: string, purpose: Purpose | undefined, body: UpdateCustomerDto, trail: AuditTrail): Promise<{ id: string; updatedAt: string }> {
    trail.resource.id = id;
    this.policy.assertCan(actor, 'correct', purpose);
    const values = fieldValues(body.personal, body.payment);
    if (Object.keys(values).length === 0) throw new VaultError('invalid_input', 'nothing to correct', [{ field: 'personal', problem: 'at least one field is required' }]);
    trail.fields.written.push(...(Object.keys(values) as CustomerField[]));
    return this.writes.run(trail, 200, async (manager) => {
      const row = await this.load(id, manager);
      this.policy.assertHoldAllows(actor, purpose, stateOf(row), Object.keys(values) as CustomerField[]);
      const dek = await this.keys.dek(id, dekOf(row));
      try {
        // A new revision: every stored field is re-encrypted for it, so an older ciphertext copied
        // back into the row no longer opens (anti-rollback).
        const revision = await this.nextRevision(row);
        const changes: Partial<Record<CustomerField, Buffer>> = {};
        for (const [field, value] of Object.entries(values) as [CustomerField, unknown][]) changes[field] = encodeValue(value);
        const resealed = resealRecord(row, dek, { dek, dekVersion: row.dek_version, revision }, changes, 3);
        const [updated] = await returningRows<{ updated_at: Date }>(
          manager,
          `UPDATE customers SET ${[...resealed.sets, 'revision = $2'].join(', ')}, updated_at = now() WHERE id = $1 RETURNING updated_at`,
          [id, revision, ...resealed.params],
        );
        trail.details.revision = revision;
        await this.writeBlindIndexes(manager, id, values);
        return { id, updatedAt: updated.updated_at.toISOString() };
      } finally {
        zero(dek);
      }
    });
  }

  async setConsents(actor: Actor, id: string, purpose: Purpose | undefined, body: ConsentsDto, trail: AuditTrail): Promise<{ id: string; consents: Consents }> {
    trail.resource.id = id;
    this.policy.assertCan(actor, 'consents', purpose);
    const written = CONSENTS.filter((consent) => body[consent] !== undefined);
    // Names only until the change is made: a refused attempt (no purpose, no reason, hold) records what it tried to change.
    if (written.length > 0) trail.details.consentsWritten = written.join(',');
    this.policy.assertConsentChangeDeclared(purpose, trail.reason);
    if (written.length === 0) {
      throw new VaultError('invalid_input', 'nothing to change', [{ field: 'body', problem: 'marketing or thirdPartySharing is required' }]);
    }
    return this.writes.run(trail, 200, async (manager) => {
      const before = await this.load(id, manager);
      this.policy.assertHoldAllows(actor, purpose, stateOf(before), 'consents');
      const [row] = await returningRows<CustomerRow>(
        manager,
        `UPDATE customers SET consent_marketing = COALESCE($2, consent_marketing), consent_third_party = COALESCE($3, consent_third_party), updated_at = now()
         WHERE id = $1 RETURNING consent_marketing, consent_third_party`,
        [id, body.marketing ?? null, body.thirdPartySharing ?? null],
      );
      const previous = consentsOf(before);
      const consents = consentsOf(row);
      // Old and new values with the change: the event is the consent's provenance.
      Object.assign(trail.details, consents, { previousMarketing: previous.marketing, previousThirdPartySharing: previous.thirdPartySharing });
      // Every change is kept (DESIGN §3), with the values it left, in the change's transaction.
      await manager.query(`${CONSENT_HISTORY_INSERT} VALUES ($1, $2, $3, $4, $5, $6)`, [id, row.consent_marketing, row.consent_third_party, actor.id, actor.kind, actor.roles]);
      return { id, consents };
    });
  }

  async setContactHold(actor: Actor, id: string, reason: string | null, trail: AuditTrail): Promise<{ id: string; contactHold: Mark | null }> {
    trail.resource.id = id;
    this.policy.assertCan(actor, 'contactHold');
    return this.setMark('hold', actor, id, reason, trail, (mark) => ({ id, contactHold: mark }));
  }

  /** Restriction of processing (DESIGN §3): privacy sets it at the customer's request and lifts it. */
  async setRestriction(actor: Actor, id: string, reason: string | null, trail: AuditTrail): Promise<{ id: string; restriction: Mark | null }> {
    trail.resource.id = id;
    this.policy.assertCan(actor, 'restrict');
    return this.setMark('restriction', actor, id, reason, trail, (mark) => ({ id, restriction: mark }));
  }

  /**
   * The account ended at `closedAt` (default now; the past is fine, the future is not): after
   * VAULT_RETENTION_DAYS the retention job erases the customer. Closing again moves the date.
   */
  async close(actor: Actor, id: string, closedAt: string | undefined, trail: AuditTrail): Promise<{ id: string; closedAt: string }> {
    trail.resource.id = id;
    this.policy.assertCan(actor, 'close');
    const at = closedAt === undefined ? new Date() : new Date(closedAt);
    if (at.getTime() > Date.now()) throw new VaultError('invalid_input', 'closedAt lies in the future', [{ field: 'closedAt', problem: 'must not be in the future' }]);
    return this.writes.run(trail, 200, async (manager) => {
      await this.load(id, manager);
      const [row] = await returningRows<{ closed_at: Date }>(manager, 'UPDATE customers SET closed_at = $2, updated_at = now() WHERE id = $1 RETURNING closed_at', [id, at]);
      trail.details.closedAt = row.closed_at.toISOString();
      return { id, closedAt: row.closed_at.toISOString() };
    });
  }

  /**
   * Sets (reason) or lifts (null) a hold or restriction; `since` keeps the first setting's time. The
   * answer (`answerOf` the mark) is built inside the transaction: an Idempotency-Key stores it there.
   */
  private async setMark<A>(prefix: MarkPrefix, actor: Actor, id: string, reason: string | null, trail: AuditTrail, answerOf: (mark: Mark | null) => A): Promise<A> {
    const columns = `${prefix}_reason, ${prefix}_since, ${prefix}_by`;
    return this.writes.run(trail, reason === null ? 204 : 200, async (manager) => {
      await this.load(id, manager);
      const [row] = await returningRows<CustomerRow>(
        manager,
        reason === null
          ? `UPDATE customers SET ${prefix}_reason = NULL, ${prefix}_since = NULL, ${prefix}_by = NULL, updated_at = now() WHERE id = $1 RETURNING ${columns}`
          : `UPDATE customers SET ${prefix}_reason = $2, ${prefix}_since = COALESCE(${prefix}_since, now()), ${prefix}_by = $3, updated_at = now() WHERE id = $1 RETURNING ${columns}`,
        reason === null ? [id] : [id, reason, actor.id],
      );
      return answerOf(markOf(row, prefix));
    });
  }

  /**
   * Erasure by crypto-shredding (DESIGN §2): the wrapped DEKs are destroyed, every ciphertext and
   * blind index deleted, and a tombstone keeps the id (reads answer 410), with its event, atomically.
   */
  async erase(actor: Actor, id: string, trail: AuditTrail): Promise<void> {
    trail.resource.id = id;
    this.policy.assertCan(actor, 'erase');
    await this.shred(id, trail);
  }

  /**
   * The erasure itself, for `erase` and the retention job. `stillDue`, checked on the locked row,
   * lets the job skip a customer whose state changed since it was listed (reopened, restricted):
   * then nothing is written and false is returned.
   */
  async shred(id: string, trail: AuditTrail, stillDue?: (row: CustomerRow) => boolean): Promise<boolean> {
    trail.resource.id = id;
    try {
      return await this.writes.run(trail, 204, async (manager) => {
        const row = await this.load(id, manager);
        if (stillDue !== undefined && !stillDue(row)) return false;
        const deks = await returningRows<{ version: number; kek_version: number }>(manager, 'DELETE FROM customer_deks WHERE customer_id = $1 RETURNING version, kek_version', [id]);
        const indexes = await returningRows<{ field: string }>(manager, 'DELETE FROM customer_blind_indexes WHERE customer_id = $1 RETURNING field', [id]);
        // The consent history is about the person too; the disclosure register stays (it holds no
        // value and is the company's record of what it handed to whom).
        await manager.query('DELETE FROM customer_consent_history WHERE customer_id = $1', [id]);
        const nulls = CUSTOMER_FIELDS.map((field) => `${FIELD_COLUMNS[field]} = NULL`).join(', ');
        // The KEK the destroyed DEK was under: copies of it in backups open while that KEK lives
        // (keys:erasure-window reports erasures no retirement covers yet).
        const erasedUnder = deks.length > 0 ? Math.max(...deks.map((dek) => dek.kek_version)) : null;
        // externalRef and the hold and restriction reasons link the tombstone to a person too: cleared as well.
        await manager.query(
          `UPDATE customers SET ${nulls}, external_ref = NULL, hold_reason = NULL, hold_since = NULL, hold_by = NULL,
             restriction_reason = NULL, restriction_since = NULL, restriction_by = NULL,
             consent_marketing = false, consent_third_party = false, erased_at = now(), erased_kek_version = $2, updated_at = now() WHERE id = $1`,
          [id, erasedUnder],
        );
        Object.assign(trail.details, { destroyedDeks: deks.length, deletedBlindIndexes: indexes.length });
        // Every process evicts the destroyed DEK when this commits.
        await announceDekDestruction(manager, { customerId: id, below: Number.POSITIVE_INFINITY });
        return true;
      });
    } catch (error) {
      this.keys.forgetDeks(id);
      throw error;
    }
    this.keys.evictLocally({ customerId: id, below: Number.POSITIVE_INFINITY });
  }

  /**
   * Re-key: a new DEK version, every field re-encrypted under it, the old DEK row destroyed, all in
   * one transaction (the row lock keeps concurrent writes out).
   */
  async rekey(actor: Actor, id: string, trail: AuditTrail): Promise<{ id: string; dekVersion: number }> {
    trail.resource.id = id;
    this.policy.assertCan(actor, 'manageKeys');
    let result: { id: string; dekVersion: number };
    try {
      // A new DEK refused under a KEK rotated away meanwhile: the whole re-key again on a fresh ring.
      result = await this.keys.retryOnStaleKek(() => this.writes.run(trail, 200, async (manager) => {
        const row = await this.load(id, manager);
        const oldDek = await this.keys.dek(id, dekOf(row));
        const toVersion = row.dek_version + 1;
        const { dek, wrapped } = this.keys.newDek(id, toVersion);
        try {
          const revision = await this.nextRevision(row);
          const resealed = resealRecord(row, oldDek, { dek, dekVersion: toVersion, revision }, {}, 4);
          await manager.query(`UPDATE customers SET ${[...resealed.sets, 'dek_version = $2', 'revision = $3'].join(', ')}, updated_at = now() WHERE id = $1`, [id, toVersion, revision, ...resealed.params]);
          const destroyed = await returningRows<{ version: number }>(manager, 'DELETE FROM customer_deks WHERE customer_id = $1 RETURNING version', [id]);
          await manager.query('INSERT INTO customer_deks (customer_id, version, kek_version, wrapped_key) VALUES ($1, $2, $3, $4)', [id, toVersion, wrapped.kekVersion, wrapped.wrapped]);
          Object.assign(trail.details, { fromDekVersion: row.dek_version, toDekVersion: toVersion, kekVersion: wrapped.kekVersion, fields: resealed.fields.length, destroyedDeks: destroyed.length, revision });
          // Every process evicts the old versions when this commits.
          await announceDekDestruction(manager, { customerId: id, below: toVersion });
          return { id, dekVersion: toVersion };
        } finally {
          zero(oldDek);
          zero(dek);
        }
      }));
    } catch (error) {
      // Rolled back: drops the new version cached by newDek (the old one stays valid).
      this.keys.forgetDeks(id);
      throw error;
    }
    this.keys.evictLocally({ customerId: id, below: result.dekVersion });
    return result;
  }

  /** The revision a write of the record's fields moves it to; an unbound record only while allowed. */
  private async nextRevision(row: CustomerRow): Promise<number> {
    if (row.revision === UNBOUND_REVISION) await this.revisions.assertUnboundReadable(row.id);
    return row.revision + 1;
  }

  /**
   * The customer row with its current wrapped DEK; 404 unknown, 410 erased. Inside a transaction
   * (`manager`) the row is locked for the update that follows. Also for the rights services.
   */
  async load(id: string, manager?: EntityManager): Promise<CustomerRow> {
    const [row] = manager ? ((await manager.query(`${SELECT_WITH_DEK} FOR UPDATE OF c`, [id])) as CustomerRow[]) : await preparedQuery<CustomerRow>(this.dataSource, SELECT_WITH_DEK, [id]);
    if (!row) throw new VaultError('not_found', 'no such customer');
    if (row.erased_at !== null) throw new VaultError('gone', 'this customer was erased');
    return row;
  }

  /** The plaintext values of `fields` (each must have a ciphertext in `row`). Also for the rights services. */
  async decrypt(row: CustomerRow, fields: readonly CustomerField[]): Promise<FieldValues> {
    const values: FieldValues = {};
    if (fields.length === 0) return values;
    if (row.revision === UNBOUND_REVISION) await this.revisions.assertUnboundReadable(row.id);
    const dek = await this.keys.dek(row.id, dekOf(row));
    try {
      for (const field of fields) {
        // Bound to the row's revision: an older ciphertext written back into the row fails here.
        const plaintext = decryptField(dek, row[FIELD_COLUMNS[field]] as Buffer, row.id, field, row.revision);
        values[field] = JSON.parse(plaintext.toString('utf8')) as unknown;
        zero(plaintext);
      }
    } finally {
      zero(dek);
    }
    return values;
  }

  /** Replaces the blind indexes of the given fields (a correction). */
  private async writeBlindIndexes(manager: EntityManager, id: string, values: FieldValues): Promise<void> {
    const fields = BLIND_INDEXED_FIELDS.filter((field) => values[field] !== undefined);
    if (fields.length === 0) return;
    await manager.query('DELETE FROM customer_blind_indexes WHERE customer_id = $1 AND field = ANY($2)', [id, fields]);
    const indexes = this.blindIndexRows(values);
    if (indexes.fields.length > 0) await manager.query(`INSERT INTO customer_blind_indexes ${INDEX_ROWS_FROM(1, 2)}`, [id, indexes.fields, indexes.versions, indexes.digests]);
  }

  /** The blind-index rows (as parallel arrays) of the indexed fields among `values`. */
  private blindIndexRows(values: FieldValues): { fields: string[]; versions: number[]; digests: Buffer[] } {
    const rows = { fields: [] as string[], versions: [] as number[], digests: [] as Buffer[] };
    for (const field of BLIND_INDEXED_FIELDS) {
      if (values[field] === undefined) continue;
      // fieldValues already put the phone in E.164: parsing it again would cost ~50 µs.
      const normalized = field === 'phone' ? (values.phone as string | null) : normalizeForBlindIndex(field, String(values[field]));
      if (normalized === null) continue;
      const { version, digest } = this.keys.indexDigest(field, normalized);
      rows.fields.push(field);
      rows.versions.push(version);
      rows.digests.push(digest);
    }
    return rows;
  }
}

/** The fields of a create or correction, phone in E.164 and card digits only. */
function fieldValues(personal?: object, payment?: object): FieldValues {
  const values: FieldValues = {};
  const source = { ...(personal ?? {}), ...(payment ?? {}) } as Record<string, unknown>;
  for (const field of CUSTOMER_FIELDS) {
    const value = source[field];
    if (value === undefined) continue;
    if (field === 'phone') values.phone = normalizeForBlindIndex('phone', String(value));
    else if (field === 'cardNumber') values.cardNumber = cardDigits(String(value));
    else if (field === 'address') values.address = { ...(value as object) };
    else values[field] = value;
  }
  return values;
}

function encodeValue(value: unknown): Buffer {
  return Buffer.from(JSON.stringify(value), 'utf8');
}

export function consentsOf(row: Pick<CustomerRow, 'consent_marketing' | 'consent_third_party'>): Consents {
  return { marketing: row.consent_marketing, thirdPartySharing: row.consent_third_party };
}

/** What the policy's hold rules on writes look at. */
function stateOf(row: CustomerRow): RevealCustomer {
  return { consents: consentsOf(row), contactHold: row.hold_since, restriction: row.restriction_since };
}

export function markOf(row: Partial<CustomerRow>, prefix: MarkPrefix): Mark | null {
  const reason = row[`${prefix}_reason`] as string | null | undefined;
  const since = row[`${prefix}_since`] as Date | null | undefined;
  if (since === null || since === undefined || reason === null || reason === undefined) return null;
  return { reason, since: since.toISOString(), by: (row[`${prefix}_by`] as string | null | undefined) ?? null };
}

function dekOf(row: CustomerRow): { version: number; kekVersion: number; wrapped: Buffer } {
  if (row.dek_wrapped === null || row.dek_kek_version === null) throw new VaultError('internal', 'customer key missing');
  return { version: row.dek_version, kekVersion: row.dek_kek_version, wrapped: row.dek_wrapped };
}

function uniqueExternalRef(error: unknown): never {
  if ((error as { code?: string }).code === '23505') throw new VaultError('conflict', 'a customer with this externalRef exists', [{ field: 'externalRef', problem: 'already in use' }]);
  throw error;
}
