import { ApiProperty, ApiPropertyOptional } from '@nestjs/swagger';
import { Type } from 'class-transformer';
import { ArrayMaxSize, ArrayNotEmpty, IsArray, IsDefined, IsIn, IsISO31661Alpha2, IsISO8601, IsNotEmpty, IsObject, IsString, MaxLength, ValidateNested } from 'class-validator';
import { CUSTOMER_FIELDS } from '../access/vocabulary.js';
import { IsOptionalNotNull, IsPlainText } from '../customers/validators.js';

const REF_MAX = 200;

export const LEGAL_BASES = ['consent', 'legal_obligation'] as const;
export type LegalBasis = (typeof LEGAL_BASES)[number];

export class RecipientDto {
  @ApiProperty({ description: 'the third party receiving the data' }) @IsString() @IsNotEmpty() @MaxLength(REF_MAX) @IsPlainText() name!: string;
  @ApiProperty({ description: 'ISO 3166-1 alpha-2' }) @IsISO31661Alpha2() country!: string;
}

/** POST /v1/customers/:id/disclosures (DESIGN §4). Field names are checked by the service (400 unknown field). */
export class DisclosureDto {
  @ApiProperty({ type: RecipientDto }) @IsDefined() @IsObject() @ValidateNested() @Type(() => RecipientDto) recipient!: RecipientDto;
  @ApiProperty({ enum: LEGAL_BASES }) @IsIn(LEGAL_BASES) legalBasis!: LegalBasis;
  @ApiPropertyOptional({ description: 'the document that obliges (required for legal_obligation)' })
  @IsOptionalNotNull() @IsString() @IsNotEmpty() @MaxLength(REF_MAX) @IsPlainText() reference?: string;
  @ApiPropertyOptional({ description: 'the cross-border transfer impact assessment (required for a recipient abroad)' })
  @IsOptionalNotNull() @IsString() @IsNotEmpty() @MaxLength(REF_MAX) @IsPlainText() transferAssessmentRef?: string;
  @ApiProperty({ type: [String], description: 'customer fields to hand over' })
  @IsArray() @ArrayNotEmpty() @ArrayMaxSize(CUSTOMER_FIELDS.length * 2) @IsString({ each: true }) fields!: string[];
}

export class RestrictionDto {
  @ApiProperty({ description: "why processing is restricted (the customer's request; no personal data)" })
  @IsString() @IsNotEmpty() @MaxLength(500) @IsPlainText() reason!: string;
}

export class ClosureDto {
  @ApiPropertyOptional({ description: 'when the account ended (ISO 8601; default now; not in the future)' })
  @IsOptionalNotNull() @IsISO8601({ strict: true, strictSeparator: true }) closedAt?: string;
}
