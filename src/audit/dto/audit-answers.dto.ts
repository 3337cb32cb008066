import { ApiProperty, ApiPropertyOptional } from '@nestjs/swagger';

/** Answers of the audit routes (DESIGN §4, docs/AUDIT-FORMAT.md), for the OpenAPI document and the typed client. */

export class AuditActorDto {
  @ApiProperty({ nullable: true, type: String, description: 'null for anonymous callers and the CLI' }) id!: string | null;
  @ApiProperty() name!: string;
  @ApiProperty({ description: 'service, staff, anonymous, operator or system' }) kind!: string;
  @ApiProperty({ type: [String] }) roles!: string[];
}

export class AuditResourceDto {
  @ApiProperty() type!: string;
  @ApiProperty({ nullable: true, type: String }) id!: string | null;
}

export class AuditFieldsDto {
  @ApiProperty({ type: [String] }) revealed!: string[];
  @ApiProperty({ type: [String] }) masked!: string[];
  @ApiProperty({ type: [String] }) written!: string[];
}

export class AuditEventDto {
  @ApiProperty() seq!: number;
  @ApiProperty({ format: 'uuid' }) id!: string;
  @ApiProperty({ format: 'date-time' }) at!: string;
  @ApiProperty() requestId!: string;
  @ApiProperty({ type: AuditActorDto }) actor!: AuditActorDto;
  @ApiProperty() action!: string;
  @ApiProperty({ type: AuditResourceDto }) resource!: AuditResourceDto;
  @ApiProperty({ nullable: true, type: String }) purpose!: string | null;
  @ApiProperty({ nullable: true, type: String }) reason!: string | null;
  @ApiProperty({ type: AuditFieldsDto }) fields!: AuditFieldsDto;
  @ApiProperty({ enum: ['allowed', 'denied', 'error'] }) outcome!: 'allowed' | 'denied' | 'error';
  @ApiProperty() status!: number;
  @ApiProperty({ nullable: true, type: String }) clientIp!: string | null;
  @ApiProperty({ nullable: true, type: 'object', additionalProperties: true, description: 'action-specific, never a value, term, token or key' })
  details!: Record<string, unknown> | null;
  @ApiProperty({ description: 'hex' }) prevHash!: string;
  @ApiProperty({ description: 'hex' }) hash!: string;
}

export class AuditEventPageDto {
  @ApiProperty({ type: [AuditEventDto] }) events!: AuditEventDto[];
  @ApiProperty({ nullable: true, type: String, description: 'pass as `cursor` for the next page; null at the end' }) nextCursor!: string | null;
}

export class AccessReportDto extends AuditEventPageDto {
  @ApiProperty({ format: 'uuid' }) customerId!: string;
}

export class CheckpointDto {
  @ApiProperty() seq!: number;
  @ApiProperty() hash!: string;
  @ApiProperty({ format: 'date-time' }) at!: string;
  @ApiProperty() keyId!: string;
  @ApiProperty() signature!: string;
  @ApiProperty({ nullable: true, type: String }) prevSignature!: string | null;
}

export class ChainHeadDto {
  @ApiProperty() seq!: number;
  @ApiProperty({ nullable: true, type: String }) hash!: string | null;
}

export class CheckpointCountsDto {
  @ApiProperty() database!: number;
  @ApiProperty() file!: number;
}

export class VerifyReportDto {
  @ApiProperty() valid!: boolean;
  @ApiProperty({ description: 'events whose seq, link and hash were verified' }) checked!: number;
  @ApiProperty({ type: ChainHeadDto }) head!: ChainHeadDto;
  @ApiPropertyOptional({ description: 'the first seq that cannot be trusted' }) firstInvalidSeq?: number;
  @ApiPropertyOptional({ type: CheckpointDto, description: 'the last checkpoint whose signature and (seq, hash) both verified' }) lastCheckpoint?: CheckpointDto;
  @ApiPropertyOptional({ description: 'what is wrong, when not valid (see docs/AUDIT-FORMAT.md)' }) problem?: string;
  @ApiProperty({ type: CheckpointCountsDto }) checkpoints!: CheckpointCountsDto;
}

export class PreviousKeyDto {
  @ApiProperty() keyId!: string;
  @ApiProperty({ description: 'base64' }) publicKey!: string;
  @ApiProperty({ format: 'date-time' }) createdAt!: string;
}

export class PublicKeyDto {
  @ApiProperty() keyId!: string;
  @ApiProperty({ description: 'base64 Ed25519 public key' }) publicKey!: string;
  @ApiProperty({ enum: ['Ed25519'] }) algorithm!: 'Ed25519';
  @ApiProperty({ type: [PreviousKeyDto] }) previousKeys!: PreviousKeyDto[];
}

export class FlaggedActorDto {
  @ApiProperty({ nullable: true, type: String }) id!: string | null;
  @ApiProperty() name!: string;
  @ApiProperty() kind!: string;
}

export class DeniedBurstDto {
  @ApiProperty({ type: FlaggedActorDto }) actor!: FlaggedActorDto;
  @ApiProperty({ format: 'date-time', description: 'start of the 5-minute window' }) windowStart!: string;
  @ApiProperty() denied!: number;
}

export class EmptySearchDto {
  @ApiProperty() seq!: number;
  @ApiProperty({ format: 'date-time' }) at!: string;
  @ApiProperty({ type: FlaggedActorDto }) actor!: FlaggedActorDto;
  @ApiProperty({ nullable: true, type: String, description: 'the field searched by (never the term)' }) searchBy!: string | null;
}

export class AfterHoursReadDto {
  @ApiProperty() seq!: number;
  @ApiProperty({ format: 'date-time' }) at!: string;
  @ApiProperty({ type: FlaggedActorDto }) actor!: FlaggedActorDto;
  @ApiProperty() action!: string;
  @ApiProperty({ nullable: true, type: String }) customerId!: string | null;
  @ApiProperty({ type: [String] }) revealed!: string[];
}

export class DeniedBurstsDto {
  @ApiProperty() total!: number;
  @ApiProperty({ type: [DeniedBurstDto] }) items!: DeniedBurstDto[];
}

export class EmptySearchesDto {
  @ApiProperty() total!: number;
  @ApiProperty({ type: [EmptySearchDto] }) items!: EmptySearchDto[];
}

export class AfterHoursReadsDto {
  @ApiProperty() total!: number;
  @ApiProperty({ type: [AfterHoursReadDto] }) items!: AfterHoursReadDto[];
}

export class OfficeHoursDto {
  @ApiProperty({ example: '08:00' }) start!: string;
  @ApiProperty({ example: '18:00' }) end!: string;
  @ApiProperty({ example: 'Asia/Ho_Chi_Minh' }) timeZone!: string;
}

export class AuditFlagsDto {
  @ApiProperty({ format: 'date-time' }) from!: string;
  @ApiProperty({ format: 'date-time' }) to!: string;
  @ApiProperty({ type: OfficeHoursDto }) officeHours!: OfficeHoursDto;
  @ApiProperty({ type: DeniedBurstsDto, description: 'actors with 10 or more denied requests within 5 minutes' }) deniedBursts!: DeniedBurstsDto;
  @ApiProperty({ type: EmptySearchesDto, description: 'searches that found nothing' }) emptySearches!: EmptySearchesDto;
  @ApiProperty({ type: AfterHoursReadsDto, description: 'allowed plaintext reveals outside office hours' }) afterHoursReads!: AfterHoursReadsDto;
}
