import { ApiExtraModels, ApiProperty, ApiPropertyOptional, getSchemaPath } from '@nestjs/swagger';
import { CUSTOMER_FIELDS, type CustomerField } from '../../access/vocabulary.js';
import { AddressDto } from '../customer.dto.js';

/** Answers of the customer routes (DESIGN §4), for the OpenAPI document and the typed client. */

export class ConsentsViewDto {
  @ApiProperty() marketing!: boolean;
  @ApiProperty() thirdPartySharing!: boolean;
}

export class ContactHoldViewDto {
  @ApiProperty() reason!: string;
  @ApiProperty({ format: 'date-time' }) since!: string;
  @ApiProperty({ nullable: true, type: String, description: 'the principal that set it' }) by!: string | null;
}

@ApiExtraModels(AddressDto)
export class CustomerViewDto {
  @ApiProperty({ format: 'uuid' }) id!: string;
  @ApiProperty({ nullable: true, type: String }) externalRef!: string | null;
  @ApiProperty({
    description: 'the fields the policy returns for this role and purpose, plaintext or masked; a field not returned, or without a value, is absent',
    type: 'object',
    additionalProperties: { oneOf: [{ type: 'string' }, { $ref: getSchemaPath(AddressDto) }] },
  })
  data!: Partial<Record<CustomerField, unknown>>;
  @ApiProperty({ enum: CUSTOMER_FIELDS, isArray: true }) revealed!: CustomerField[];
  @ApiProperty({ enum: CUSTOMER_FIELDS, isArray: true }) masked!: CustomerField[];
  @ApiProperty({ type: ConsentsViewDto }) consents!: ConsentsViewDto;
  @ApiProperty({ type: ContactHoldViewDto, nullable: true }) contactHold!: ContactHoldViewDto | null;
  @ApiProperty({ format: 'date-time' }) createdAt!: string;
  @ApiProperty({ format: 'date-time' }) updatedAt!: string;
}

export class CreatedCustomerDto {
  @ApiProperty({ format: 'uuid' }) id!: string;
  @ApiProperty({ format: 'date-time' }) createdAt!: string;
}

export class CorrectedCustomerDto {
  @ApiProperty({ format: 'uuid' }) id!: string;
  @ApiProperty({ format: 'date-time' }) updatedAt!: string;
}

export class SearchResultDto {
  @ApiProperty({ format: 'uuid' }) id!: string;
}

export class SearchResultsDto {
  @ApiProperty({ type: [SearchResultDto] }) results!: SearchResultDto[];
}

export class ConsentsAnswerDto {
  @ApiProperty({ format: 'uuid' }) id!: string;
  @ApiProperty({ type: ConsentsViewDto }) consents!: ConsentsViewDto;
}

/** A hold or restriction as its PUT answers it. */
export class MarkAnswerDto {
  @ApiPropertyOptional({ description: 'absent when the answer is replayed for an Idempotency-Key (Idempotent-Replayed: true): the stored copy keeps no free text' })
  reason?: string;
  @ApiProperty({ format: 'date-time' }) since!: string;
  @ApiProperty({ nullable: true, type: String, description: 'the principal that set it' }) by!: string | null;
}

export class ContactHoldAnswerDto {
  @ApiProperty({ format: 'uuid' }) id!: string;
  @ApiProperty({ type: MarkAnswerDto, nullable: true }) contactHold!: MarkAnswerDto | null;
}

export class RekeyAnswerDto {
  @ApiProperty({ format: 'uuid' }) id!: string;
  @ApiProperty({ description: 'the new DEK version' }) dekVersion!: number;
}

