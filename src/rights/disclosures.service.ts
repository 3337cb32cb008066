import { Inject, Injectable } from '@nestjs/common';
import { randomUUID } from 'node:crypto';
import { DataSource } from 'typeorm';
import { AccessPolicy } from '../access/access-policy.js';
import { isCustomerField, type Actor, type CustomerField } from '../access/vocabulary.js';
import type { AuditTrail } from '../audit/audit-trail.js';
import { AuditedWrites } from '../audit/audited-writes.js';
import { VaultError } from '../common/vault-error.js';
import type { VaultConfig } from '../config/config.js';
import { VAULT_CONFIG } from '../config/runtime.js';
import { FIELD_COLUMNS } from '../customers/customer-columns.js';
import { consentsOf, CustomersService } from '../customers/customers.service.js';
import type { DisclosureDto, LegalBasis } from './rights.dto.js';

/** A register entry: everything about a hand-over but the values. */
export interface DisclosureRecord {
  id: string;
  customerId: string;
  recipient: { name: string; country: string };
  legalBasis: LegalBasis;
  reference: string | null;
  transferAssessmentRef: string | null;
  crossBorder: boolean;
  fields: CustomerField[];
  disclosedAt: string;
}

export interface DisclosureRow {
  id: string;
  customer_id: string;
  disclosed_at: Date;
  recipient_name: string;
  recipient_country: string;
  legal_basis: LegalBasis;
  reference: string | null;
  transfer_assessment_ref: string | null;
  cross_border: boolean;
  fields: CustomerField[];
  by_id: string;
  by_name: string | null;
  by_kind: string | null;
  by_roles: string[] | null;
}

/** The register of one customer, oldest first, with the principal who disclosed (joined, never stored twice). */
export const DISCLOSURES_OF = `SELECT d.*, p.name AS by_name, p.kind AS by_kind, p.roles AS by_roles
  FROM customer_disclosures d LEFT JOIN principals p ON p.id = d.by_id
  WHERE d.customer_id = $1 ORDER BY d.disclosed_at, d.id`;

export function disclosureOf(row: DisclosureRow): DisclosureRecord {
  return {
    id: row.id,
    customerId: row.customer_id,
    recipient: { name: row.recipient_name, country: row.recipient_country },
    legalBasis: row.legal_basis,
    reference: row.reference,
    transferAssessmentRef: row.transfer_assessment_ref,
    crossBorder: row.cross_border,
    fields: row.fields,
    disclosedAt: row.disclosed_at.toISOString(),
  };
}

/**
 * The disclosure register (policy s.1): every hand-over of customer data to a third party names its
 * recipient and legal basis and is refused without one. The values go out once, in the answer; the
 * register and the audit event (action `customer.disclose`, fields as revealed) commit together in
 * the same transaction, before any value leaves.
 */
@Injectable()
export class DisclosuresService {
  constructor(
    @Inject(DataSource) private readonly dataSource: DataSource,
    @Inject(AccessPolicy) private readonly policy: AccessPolicy,
    @Inject(CustomersService) private readonly customers: CustomersService,
    @Inject(VAULT_CONFIG) private readonly config: VaultConfig,
    @Inject(AuditedWrites) private readonly writes: AuditedWrites,
  ) {}

  async disclose(actor: Actor, id: string, body: DisclosureDto, trail: AuditTrail): Promise<DisclosureRecord & { data: Partial<Record<CustomerField, unknown>> }> {
    trail.resource.id = id;
    this.policy.assertCan(actor, 'disclose');
    const fields = fieldNames(body.fields);
    const country = body.recipient.country.toUpperCase();
    const crossBorder = country !== this.config.homeCountry;
    Object.assign(trail.details, { legalBasis: body.legalBasis, recipientCountry: country, crossBorder });
    if (body.legalBasis === 'legal_obligation' && body.reference === undefined) {
      throw new VaultError('invalid_input', 'a disclosure under a legal obligation needs the reference of the document that obliges', [{ field: 'reference', problem: 'required for legal_obligation' }]);
    }
    if (crossBorder && body.transferAssessmentRef === undefined) {
      throw new VaultError('invalid_input', `a recipient outside ${this.config.homeCountry} needs a cross-border transfer impact assessment`, [{ field: 'transferAssessmentRef', problem: 'required for a recipient abroad' }]);
    }
    // The register row and its event commit together, or neither does (an Idempotency-Key stores the
    // answer without `data`: the route omits it).
    return this.writes.run(trail, 201, async (manager) => {
      const row = await this.customers.load(id, manager);
      this.policy.assertCanDisclose(actor, body.legalBasis, { consents: consentsOf(row), restriction: row.restriction_since });
      const data = await this.customers.decrypt(row, fields.filter((field) => row[FIELD_COLUMNS[field]] !== null));
      const [record] = (await manager.query(
        `INSERT INTO customer_disclosures (id, customer_id, recipient_name, recipient_country, legal_basis, reference, transfer_assessment_ref, cross_border, fields, by_id)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10) RETURNING *`,
        [randomUUID(), id, body.recipient.name, country, body.legalBasis, body.reference ?? null, body.transferAssessmentRef ?? null, crossBorder, fields, actor.id],
      )) as DisclosureRow[];
      trail.details.disclosureId = record.id;
      trail.fields.revealed.push(...(Object.keys(data) as CustomerField[]));
      return { ...disclosureOf(record), data };
    });
  }

  /** The register of one customer, never values (security, privacy); kept after erasure. */
  async list(actor: Actor, id: string, trail: AuditTrail): Promise<{ disclosures: (DisclosureRecord & { by: { id: string; name: string | null } })[] }> {
    trail.resource.id = id;
    this.policy.assertCan(actor, 'readDisclosures');
    const exists = await this.dataSource.query<unknown[]>('SELECT 1 FROM customers WHERE id = $1', [id]);
    if (exists.length === 0) throw new VaultError('not_found', 'no such customer');
    const rows = await this.dataSource.query<DisclosureRow[]>(DISCLOSURES_OF, [id]);
    trail.details.count = rows.length;
    return { disclosures: rows.map((row) => ({ ...disclosureOf(row), by: { id: row.by_id, name: row.by_name } })) };
  }
}

/** The requested field names, each once, in the order given; an unknown name is 400 (not echoed). */
function fieldNames(names: readonly string[]): CustomerField[] {
  const fields: CustomerField[] = [];
  for (const name of names) {
    if (!isCustomerField(name)) throw new VaultError('invalid_input', 'fields names an unknown field', [{ field: 'fields', problem: 'unknown field' }]);
    if (!fields.includes(name)) fields.push(name);
  }
  return fields;
}
