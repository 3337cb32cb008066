import { BadRequestException, Body, ConflictException, Controller, Get, HttpCode, Inject, NotFoundException, Param, Post } from '@nestjs/common';
import { randomUUID } from 'node:crypto';
import { DataSource } from 'typeorm';
import { COLUMNS, FIELDS, PAYMENT, PERSONAL, type Field } from './schema.js';

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;
const SEARCH_COLUMNS = { email: 'email', phone: 'phone', nationalId: 'national_id', externalRef: 'external_ref' } as const;

type Row = Record<string, unknown> & {
  id: string;
  external_ref: string | null;
  consent_marketing: boolean;
  consent_third_party: boolean;
  hold_reason: string | null;
  hold_since: Date | null;
  hold_by: string | null;
  created_at: Date;
  updated_at: Date;
  erased_at: Date | null;
};

function isObject(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

/** Shape checks only (what a plain CRUD service would do); none of the vault's field rules. */
function fieldsOf(body: Record<string, unknown>): Partial<Record<Field, unknown>> {
  if (!isObject(body.personal)) throw new BadRequestException('personal must be an object');
  if (body.payment !== undefined && !isObject(body.payment)) throw new BadRequestException('payment must be an object');
  const values: Partial<Record<Field, unknown>> = {};
  const groups: [Record<string, unknown>, readonly Field[]][] = [[body.personal, PERSONAL], [isObject(body.payment) ? body.payment : {}, PAYMENT]];
  for (const [group, fields] of groups) {
    for (const field of fields) {
      const value = group[field];
      if (value === undefined) continue;
      if (field === 'address' ? !isObject(value) : typeof value !== 'string') throw new BadRequestException(`${field} has the wrong type`);
      values[field] = field === 'cardNumber' ? (value as string).replace(/[\s-]/g, '') : value;
    }
  }
  return values;
}

/**
 * The vault's customer routes on plaintext columns: no auth, no purpose, no policy, no crypto, no
 * audit. Raw SQL through the TypeORM DataSource, as the vault's CustomersService does.
 */
@Controller('v1/customers')
export class BaselineCustomersController {
  constructor(@Inject(DataSource) private readonly dataSource: DataSource) {}

  @Post()
  async create(@Body() body: unknown): Promise<{ id: string; createdAt: string }> {
    if (!isObject(body)) throw new BadRequestException('body must be an object');
    const values = fieldsOf(body);
    const consents = isObject(body.consents) ? body.consents : {};
    const id = randomUUID();
    const columns = ['id', 'external_ref', 'consent_marketing', 'consent_third_party'];
    const params: unknown[] = [id, typeof body.externalRef === 'string' ? body.externalRef : null, consents.marketing === true, consents.thirdPartySharing === true];
    for (const [field, value] of Object.entries(values) as [Field, unknown][]) {
      columns.push(COLUMNS[field]);
      params.push(field === 'address' ? JSON.stringify(value) : value);
    }
    const placeholders = params.map((_, i) => `$${i + 1}`).join(', ');
    try {
      const [row] = (await this.dataSource.query(`INSERT INTO customers (${columns.join(', ')}) VALUES (${placeholders}) RETURNING created_at`, params)) as { created_at: Date }[];
      return { id, createdAt: row.created_at.toISOString() };
    } catch (error) {
      if ((error as { code?: string }).code === '23505') throw new ConflictException('a customer with this externalRef exists');
      throw error;
    }
  }

  @Post('search')
  @HttpCode(200)
  async search(@Body() body: unknown): Promise<{ results: { id: string }[] }> {
    if (!isObject(body)) throw new BadRequestException('body must be an object');
    const keys = (Object.keys(SEARCH_COLUMNS) as (keyof typeof SEARCH_COLUMNS)[]).filter((key) => body[key] !== undefined);
    if (keys.length !== 1 || typeof body[keys[0]] !== 'string') throw new BadRequestException('search by exactly one of email, phone, nationalId, externalRef');
    const key = keys[0];
    const raw = body[key] as string;
    // The same normalisation the vault applies before hashing (email lower-cased, id upper-cased).
    const value = key === 'email' ? raw.trim().toLowerCase() : key === 'nationalId' ? raw.toUpperCase().replace(/[\s.\-/]/g, '') : raw.trim();
    const rows = (await this.dataSource.query(
      `SELECT id FROM customers WHERE ${SEARCH_COLUMNS[key]} = $1 AND erased_at IS NULL ORDER BY 1 LIMIT 100`,
      [value],
    )) as { id: string }[];
    return { results: rows.map((row) => ({ id: row.id })) };
  }

  @Get(':id')
  async read(@Param('id') id: string): Promise<Record<string, unknown>> {
    if (!UUID.test(id)) throw new BadRequestException('the customer id must be a UUID');
    const [row] = (await this.dataSource.query('SELECT * FROM customers WHERE id = $1', [id])) as Row[];
    if (!row || row.erased_at !== null) throw new NotFoundException('no such customer');
    const data: Partial<Record<Field, unknown>> = {};
    const revealed: Field[] = [];
    for (const field of FIELDS) {
      const value = row[COLUMNS[field]];
      if (value === null) continue;
      data[field] = value;
      revealed.push(field);
    }
    // Same response shape as the vault's GET (everything in plaintext, nothing masked).
    return {
      id: row.id,
      externalRef: row.external_ref,
      data,
      revealed,
      masked: [],
      consents: { marketing: row.consent_marketing, thirdPartySharing: row.consent_third_party },
      contactHold: row.hold_since === null ? null : { reason: row.hold_reason, since: row.hold_since.toISOString(), by: row.hold_by },
      createdAt: row.created_at.toISOString(),
      updatedAt: row.updated_at.toISOString(),
    };
  }
}

@Controller()
export class BaselineHealthController {
  constructor(@Inject(DataSource) private readonly dataSource: DataSource) {}

  @Get('healthz')
  healthz(): { status: 'ok' } {
    return { status: 'ok' };
  }

  @Get('readyz')
  async readyz(): Promise<{ status: 'ready' }> {
    await this.dataSource.query('SELECT 1');
    return { status: 'ready' };
  }
}
