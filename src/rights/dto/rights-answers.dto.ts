import { ApiProperty, ApiPropertyOptional } from '@nestjs/swagger';
import { CUSTOMER_FIELDS, type CustomerField } from '../../access/vocabulary.js';
import { MarkAnswerDto } from '../../customers/dto/customer-answers.dto.js';

/** Answers of the customer-rights routes (DESIGN §4), for the OpenAPI document and the typed client. */

export class RecipientViewDto {
  @ApiProperty() name!: string;
  @ApiProperty({ description: 'ISO 3166-1 alpha-2' }) country!: string;
}

export class DisclosureRecordDto {
  @ApiProperty({ format: 'uuid' }) id!: string;
  @ApiProperty({ format: 'uuid' }) customerId!: string;
  @ApiProperty({ type: RecipientViewDto }) recipient!: RecipientViewDto;
  @ApiProperty({ enum: ['consent', 'legal_obligation'] }) legalBasis!: 'consent' | 'legal_obligation';
  @ApiProperty({ nullable: true, type: String }) reference!: string | null;
  @ApiProperty({ nullable: true, type: String }) transferAssessmentRef!: string | null;
  @ApiProperty() crossBorder!: boolean;
  @ApiProperty({ enum: CUSTOMER_FIELDS, isArray: true }) fields!: CustomerField[];
  @ApiProperty({ format: 'date-time' }) disclosedAt!: string;
}

export class DisclosedDto extends DisclosureRecordDto {
  @ApiPropertyOptional({
    type: 'object',
    additionalProperties: true,
    description: 'the plaintext of the listed fields the customer has, handed out this once: absent when the answer is replayed for an Idempotency-Key (Idempotent-Replayed: true)',
  })
  data?: Record<string, unknown>;
}

export class DisclosedByDto {
  @ApiProperty({ format: 'uuid' }) id!: string;
  @ApiProperty({ nullable: true, type: String }) name!: string | null;
}

export class DisclosureEntryDto extends DisclosureRecordDto {
  @ApiProperty({ type: DisclosedByDto }) by!: DisclosedByDto;
}

export class DisclosureListDto {
  @ApiProperty({ type: [DisclosureEntryDto] }) disclosures!: DisclosureEntryDto[];
}

export class ReportSignatureDto {
  @ApiProperty({ enum: ['Ed25519'] }) alg!: 'Ed25519';
  @ApiProperty() keyId!: string;
  @ApiProperty({ description: 'base64 Ed25519 signature over the RFC 8785 canonical JSON of `report`' }) value!: string;
}

export class SubjectAccessDto {
  @ApiProperty({ type: 'object', additionalProperties: true, description: 'customerId, generatedAt, externalRef, data, consents, consentHistory, contactHold, restriction, disclosures, accesses (docs/SUBJECT-ACCESS.md)' })
  report!: Record<string, unknown>;
  @ApiProperty({ type: ReportSignatureDto }) signature!: ReportSignatureDto;
}

export class RestrictionAnswerDto {
  @ApiProperty({ format: 'uuid' }) id!: string;
  @ApiPropertyOptional({ type: MarkAnswerDto, nullable: true }) restriction!: MarkAnswerDto | null;
}

export class ClosureAnswerDto {
  @ApiProperty({ format: 'uuid' }) id!: string;
  @ApiProperty({ format: 'date-time' }) closedAt!: string;
}
