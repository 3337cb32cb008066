import { ApiPropertyOptional, PickType } from '@nestjs/swagger';
import { Type } from 'class-transformer';
import { IsIn, IsInt, IsISO8601, IsOptional, IsUUID, Matches, Max, Min } from 'class-validator';
import { PURPOSES } from '../../access/vocabulary.js';

export const OUTCOMES = ['allowed', 'denied', 'error'] as const;
export const EXPORT_FORMATS = ['ndjson', 'csv'] as const;
export const MAX_PAGE = 1000;

// Messages name the rule, never the value sent.
const ISO = { strict: true, strictSeparator: true } as const;

/** Filters shared by the events list and the export; unknown query parameters are refused (400). */
export class AuditFiltersDto {
  @ApiPropertyOptional({ description: 'events about this customer (resource type customer)', format: 'uuid' })
  @IsOptional()
  @IsUUID('all', { message: 'must be a UUID' })
  customerId?: string;

  @ApiPropertyOptional({ description: 'events by this principal', format: 'uuid' })
  @IsOptional()
  @IsUUID('all', { message: 'must be a UUID' })
  actorId?: string;

  @ApiPropertyOptional({ description: 'dotted action, e.g. customer.read', example: 'customer.read' })
  @IsOptional()
  @Matches(/^[a-z][a-z0-9_]*(\.[a-z][a-z0-9_]*)*$/, { message: 'must be a dotted action name such as customer.read' })
  action?: string;

  @ApiPropertyOptional({ enum: PURPOSES })
  @IsOptional()
  @IsIn(PURPOSES, { message: `must be one of ${PURPOSES.join(', ')}` })
  purpose?: string;

  @ApiPropertyOptional({ enum: OUTCOMES })
  @IsOptional()
  @IsIn(OUTCOMES, { message: `must be one of ${OUTCOMES.join(', ')}` })
  outcome?: (typeof OUTCOMES)[number];

  @ApiPropertyOptional({ description: 'ISO 8601 date or date-time, inclusive', example: '2025-01-01T00:00:00Z' })
  @IsOptional()
  @IsISO8601(ISO, { message: 'must be an ISO 8601 date or date-time' })
  from?: string;

  @ApiPropertyOptional({ description: 'ISO 8601 date or date-time, exclusive', example: '2025-02-01T00:00:00Z' })
  @IsOptional()
  @IsISO8601(ISO, { message: 'must be an ISO 8601 date or date-time' })
  to?: string;
}

export class AuditEventsQueryDto extends AuditFiltersDto {
  @ApiPropertyOptional({ description: 'nextCursor of the previous page' })
  @IsOptional()
  @Matches(/^\d{1,15}$/, { message: 'must be a cursor returned by a previous page' })
  cursor?: string;

  @ApiPropertyOptional({ minimum: 1, maximum: MAX_PAGE, default: 100 })
  @IsOptional()
  @Type(() => Number)
  @IsInt({ message: 'must be an integer' })
  @Min(1, { message: `must be from 1 to ${MAX_PAGE}` })
  @Max(MAX_PAGE, { message: `must be from 1 to ${MAX_PAGE}` })
  limit?: number;
}

export class AuditExportQueryDto extends AuditFiltersDto {
  @ApiPropertyOptional({ enum: EXPORT_FORMATS, default: 'ndjson' })
  @IsOptional()
  @IsIn(EXPORT_FORMATS, { message: `must be one of ${EXPORT_FORMATS.join(', ')}` })
  format?: (typeof EXPORT_FORMATS)[number];
}

/** The access report pages like the events list. */
export class AccessReportQueryDto {
  @ApiPropertyOptional({ description: 'nextCursor of the previous page' })
  @IsOptional()
  @Matches(/^\d{1,15}$/, { message: 'must be a cursor returned by a previous page' })
  cursor?: string;

  @ApiPropertyOptional({ minimum: 1, maximum: MAX_PAGE, default: MAX_PAGE })
  @IsOptional()
  @Type(() => Number)
  @IsInt({ message: 'must be an integer' })
  @Min(1, { message: `must be from 1 to ${MAX_PAGE}` })
  @Max(MAX_PAGE, { message: `must be from 1 to ${MAX_PAGE}` })
  limit?: number;
}

/** The window of GET /v1/audit/flags: the last 24 hours unless given (at most 31 days). */
export class AuditFlagsQueryDto extends PickType(AuditFiltersDto, ['from', 'to'] as const) {}
