import { ApiProperty, ApiPropertyOptional } from '@nestjs/swagger';
import { IsIn, IsISO8601, IsOptional, IsUUID } from 'class-validator';

export const IMPACT_FORMATS = ['json', 'csv'] as const;
export type ImpactFormat = (typeof IMPACT_FORMATS)[number];

// Messages name the rule, never the value sent.
const ISO = { strict: true, strictSeparator: true } as const;

/** GET /v1/audit/impact: one principal, one window; every part required except the format. */
export class AuditImpactQueryDto {
  @ApiProperty({ description: 'the principal whose access is assessed (revoked ones included)', format: 'uuid' })
  @IsUUID('all', { message: 'must be a UUID' })
  actorId!: string;

  @ApiProperty({ description: 'ISO 8601 date or date-time, inclusive (UTC when no offset is given)', example: '2026-11-01T00:00:00Z' })
  @IsISO8601(ISO, { message: 'must be an ISO 8601 date or date-time' })
  from!: string;

  @ApiProperty({ description: 'ISO 8601 date or date-time, exclusive, after `from`', example: '2026-11-04T00:00:00Z' })
  @IsISO8601(ISO, { message: 'must be an ISO 8601 date or date-time' })
  to!: string;

  @ApiPropertyOptional({ enum: IMPACT_FORMATS, default: 'json', description: 'json: the summary; csv: one row per customer' })
  @IsOptional()
  @IsIn(IMPACT_FORMATS, { message: `must be one of ${IMPACT_FORMATS.join(', ')}` })
  format?: ImpactFormat;
}
