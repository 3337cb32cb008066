import { Inject, Injectable } from '@nestjs/common';
import { DataSource } from 'typeorm';
import { AccessPolicy } from '../access/access-policy.js';
import { CUSTOMER_FIELDS, type Actor, type CustomerField, type Purpose } from '../access/vocabulary.js';
import { AuditDb } from '../audit/audit-db.js';
import { AuditSealer } from '../audit/audit-sealer.js';
import { AuditSigning } from '../audit/audit-signing.js';
import type { AuditTrail } from '../audit/audit-trail.js';
import { jcs } from '../common/jcs.js';
import { VaultError } from '../common/vault-error.js';
import { signDetached } from '../crypto/index.js';
import { FIELD_COLUMNS, type CustomerRow } from '../customers/customer-columns.js';
import { consentsOf, CustomersService } from '../customers/customers.service.js';
import { DISCLOSURES_OF, disclosureOf, type DisclosureRow } from './disclosures.service.js';

/** Audit events read per query: memory stays bounded whatever the number of accesses. */
export const ACCESS_PAGE = 5_000;

/** Who acted, without the name: the report leaves staff names out (the privacy officer may add them). */
interface By {
  kind: string;
  roles: string[];
}

interface MarkRow {
  hold_kind: string | null;
  hold_roles: string[] | null;
  restriction_kind: string | null;
  restriction_roles: string[] | null;
}

/** The signed document: `report` is exactly the bytes that were signed (RFC 8785). */
export interface SignedReport {
  /** `{"report":<canonical report>,"signature":{...}}`, ready to send. */
  body: Buffer;
  accesses: number;
  fields: CustomerField[];
}

/**
 * One keyset page of the customer's sealed events, already as canonical JSON array members joined by
 * commas: PostgreSQL writes each entry (keys in their RFC 8785 order) in C, so Node handles one
 * string per page instead of parsing and re-serialising thousands of rows. to_json / array_to_json
 * escape strings exactly as RFC 8785 does (\b \f \n \r \t \" \\, other controls as lower-case
 * \u00xx, the rest literal), and `at` is timestamptz(3), written like Date.toISOString.
 * test/rights.e2e-spec.ts checks the result against src/common/jcs.ts with hostile strings.
 */
const ACCESS_PAGE_SQL = `SELECT max(seq)::text AS last, count(*)::int AS n, string_agg(entry, ',' ORDER BY seq) AS text FROM (
  SELECT seq, '{"action":' || to_json(action)::text
    || ',"at":"' || to_char(at AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.MS"Z"')
    || '","by":{"kind":' || to_json(actor_kind)::text || ',"roles":' || array_to_json(actor_roles)::text
    || '},"fields":{"masked":' || array_to_json(fields_masked)::text || ',"revealed":' || array_to_json(fields_revealed)::text
    || '},"outcome":' || to_json(outcome)::text || ',"purpose":' || COALESCE(to_json(purpose)::text, 'null') || '}' AS entry
  FROM audit_events WHERE resource_type = 'customer' AND resource_id = $1 AND seq > $2 ORDER BY seq LIMIT ${ACCESS_PAGE}) page`;

const MARK_ACTORS = `SELECT hp.kind AS hold_kind, hp.roles AS hold_roles, rp.kind AS restriction_kind, rp.roles AS restriction_roles
  FROM customers c LEFT JOIN principals hp ON hp.id = c.hold_by LEFT JOIN principals rp ON rp.id = c.restriction_by WHERE c.id = $1`;

/**
 * The subject-access report (right to access, DESIGN §4): every field in plaintext, consents and
 * their history, contact hold, restriction, disclosures and every access to the customer from the
 * sealed audit log, signed with the audit signing key (Ed25519 over the RFC 8785 canonical JSON of
 * `report`). The accesses are read in keyset pages of ACCESS_PAGE and written straight into the
 * canonical text, so no array of 100k event objects is ever built; the text itself has to be whole
 * to be signed (Ed25519 is not incremental), and is sent as signed, without a second serialisation.
 */
@Injectable()
export class SubjectAccessService {
  constructor(
    @Inject(DataSource) private readonly dataSource: DataSource,
    @Inject(AccessPolicy) private readonly policy: AccessPolicy,
    @Inject(CustomersService) private readonly customers: CustomersService,
    @Inject(AuditDb) private readonly auditDb: AuditDb,
    @Inject(AuditSealer) private readonly sealer: AuditSealer,
    @Inject(AuditSigning) private readonly signing: AuditSigning,
  ) {}

  async report(actor: Actor, id: string, purpose: Purpose, trail: AuditTrail): Promise<SignedReport> {
    trail.resource.id = id;
    this.policy.assertCan(actor, 'subjectAccess', purpose);
    // The route's policy already requires it for customer_request; the report stays refused without one
    // even if called another way.
    if (trail.reason === null) throw new VaultError('reason_required', 'X-Access-Reason is required for this request', [{ field: 'X-Access-Reason', problem: 'missing' }]);
    const row = await this.customers.load(id);
    const present = CUSTOMER_FIELDS.filter((field) => row[FIELD_COLUMNS[field]] !== null);
    // Events recorded before this request are sealed first, so the report misses none of them.
    await this.sealer.sealNow();
    const accesses = await this.accessesCanonical(id);
    const rest = await this.restOfReport(row, present);
    // "accesses" sorts before every other key of the report: it opens the canonical object. The
    // body is assembled once; the signed message is a view of it, not a copy.
    const head = Buffer.from('{"report":{"accesses":[');
    const tail = Buffer.from(`],${rest.slice(1)}`);
    const pair = await this.signing.init();
    const body = Buffer.concat([head, ...accesses.pages, tail]);
    const message = body.subarray('{"report":'.length);
    const signature = { alg: 'Ed25519', keyId: pair.keyId, value: signDetached(message, pair.privateKey).toString('base64') };
    trail.fields.revealed.push(...present);
    trail.details.accesses = accesses.count;
    return {
      body: Buffer.concat([body, Buffer.from(`,"signature":${jcs(signature)}}`)]),
      accesses: accesses.count,
      fields: present,
    };
  }

  /** The report without `accesses`, canonical. */
  private async restOfReport(row: CustomerRow, present: CustomerField[]): Promise<string> {
    const [history, disclosures, [marks]] = await Promise.all([
      this.dataSource.query<{ at: Date; marketing: boolean; third_party_sharing: boolean; actor_kind: string; actor_roles: string[] }[]>(
        'SELECT at, marketing, third_party_sharing, actor_kind, actor_roles FROM customer_consent_history WHERE customer_id = $1 ORDER BY id',
        [row.id],
      ),
      this.dataSource.query<DisclosureRow[]>(DISCLOSURES_OF, [row.id]),
      this.dataSource.query<MarkRow[]>(MARK_ACTORS, [row.id]),
    ]);
    const data = await this.customers.decrypt(row, present);
    const mark = (reason: string | null, since: Date | null, kind: string | null, roles: string[] | null) =>
      reason === null || since === null ? null : { reason, since: since.toISOString(), by: byOf(kind, roles) };
    return jcs({
      customerId: row.id,
      generatedAt: new Date().toISOString(),
      externalRef: row.external_ref,
      data,
      consents: consentsOf(row),
      consentHistory: history.map((h) => ({ at: h.at.toISOString(), marketing: h.marketing, thirdPartySharing: h.third_party_sharing, by: byOf(h.actor_kind, h.actor_roles) })),
      contactHold: mark(row.hold_reason, row.hold_since, marks?.hold_kind ?? null, marks?.hold_roles ?? null),
      restriction: mark(row.restriction_reason, row.restriction_since, marks?.restriction_kind ?? null, marks?.restriction_roles ?? null),
      disclosures: disclosures.map((d) => {
        const { customerId: _customerId, ...entry } = disclosureOf(d);
        return { ...entry, by: byOf(d.by_kind, d.by_roles) };
      }),
    });
  }

  /** Every sealed event about the customer, oldest first, as canonical JSON array members in UTF-8, one buffer per page. */
  private async accessesCanonical(id: string): Promise<{ pages: Buffer[]; count: number }> {
    const pages: Buffer[] = [];
    let count = 0;
    let after = '0';
    for (;;) {
      const { rows: [page] } = await this.auditDb.pool.query<{ last: string | null; n: number; text: string | null }>(ACCESS_PAGE_SQL, [id, after]);
      if (page.n === 0 || page.text === null || page.last === null) break;
      pages.push(Buffer.from(`${count === 0 ? '' : ','}${page.text}`, 'utf8'));
      count += page.n;
      if (page.n < ACCESS_PAGE) break;
      after = page.last;
    }
    return { pages, count };
  }
}

function byOf(kind: string | null, roles: string[] | null): By | null {
  return kind === null ? null : { kind, roles: roles ?? [] };
}
