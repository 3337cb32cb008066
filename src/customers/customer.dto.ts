import { ApiProperty, ApiPropertyOptional } from '@nestjs/swagger';
import { Type } from 'class-transformer';
import { IsBoolean, IsDefined, IsEmail, IsISO31661Alpha2, IsNotEmpty, IsNotEmptyObject, IsObject, IsString, MaxLength, ValidateNested } from 'class-validator';
import { IsCardNumber, IsOptionalNotNull, IsFutureExpiry, IsNationalId, IsPastBirthDate, IsPhone, IsPlainText } from './validators.js';

const TEXT_MAX = 500;

export class AddressDto {
  @ApiProperty() @IsString() @IsNotEmpty() @MaxLength(TEXT_MAX) @IsPlainText() line1!: string;
  @ApiPropertyOptional() @IsOptionalNotNull() @IsString() @MaxLength(TEXT_MAX) @IsPlainText() line2?: string;
  @ApiProperty() @IsString() @IsNotEmpty() @MaxLength(TEXT_MAX) @IsPlainText() city!: string;
  @ApiPropertyOptional() @IsOptionalNotNull() @IsString() @MaxLength(TEXT_MAX) @IsPlainText() postalCode?: string;
  @ApiProperty({ description: 'ISO 3166-1 alpha-2' }) @IsISO31661Alpha2() country!: string;
}

export class PersonalDto {
  @ApiPropertyOptional() @IsOptionalNotNull() @IsString() @IsNotEmpty() @MaxLength(TEXT_MAX) @IsPlainText() fullName?: string;
  @ApiPropertyOptional() @IsOptionalNotNull() @IsString() @MaxLength(254) @IsEmail({ allow_utf8_local_part: false }) email?: string;
  @ApiPropertyOptional({ description: 'stored as E.164' }) @IsOptionalNotNull() @IsPhone() phone?: string;
  @ApiPropertyOptional({ type: AddressDto }) @IsOptionalNotNull() @IsObject() @ValidateNested() @Type(() => AddressDto) address?: AddressDto;
  @ApiPropertyOptional() @IsOptionalNotNull() @IsNationalId() nationalId?: string;
  @ApiPropertyOptional({ example: '1990-04-01' }) @IsOptionalNotNull() @IsPastBirthDate() dateOfBirth?: string;
}

export class PaymentDto {
  @ApiPropertyOptional() @IsOptionalNotNull() @IsCardNumber() cardNumber?: string;
  @ApiPropertyOptional({ example: '12/29' }) @IsOptionalNotNull() @IsFutureExpiry() cardExpiry?: string;
  @ApiPropertyOptional() @IsOptionalNotNull() @IsString() @IsNotEmpty() @MaxLength(TEXT_MAX) @IsPlainText() cardholderName?: string;
  @ApiPropertyOptional() @IsOptionalNotNull() @IsString() @IsNotEmpty() @MaxLength(TEXT_MAX) @IsPlainText() bankAccount?: string;
}

export class ConsentsDto {
  @ApiPropertyOptional() @IsOptionalNotNull() @IsBoolean() marketing?: boolean;
  @ApiPropertyOptional() @IsOptionalNotNull() @IsBoolean() thirdPartySharing?: boolean;
}

export class CreateCustomerDto {
  @ApiPropertyOptional({ description: "the calling system's own id (account number); not personal data" })
  @IsOptionalNotNull() @IsString() @IsNotEmpty() @MaxLength(128) @IsPlainText() externalRef?: string;
  @ApiProperty({ type: PersonalDto }) @IsDefined() @IsObject() @IsNotEmptyObject() @ValidateNested() @Type(() => PersonalDto) personal!: PersonalDto;
  @ApiPropertyOptional({ type: PaymentDto }) @IsOptionalNotNull() @IsObject() @ValidateNested() @Type(() => PaymentDto) payment?: PaymentDto;
  @ApiPropertyOptional({ type: ConsentsDto }) @IsOptionalNotNull() @IsObject() @ValidateNested() @Type(() => ConsentsDto) consents?: ConsentsDto;
}

export class UpdateCustomerDto {
  @ApiPropertyOptional({ type: PersonalDto }) @IsOptionalNotNull() @IsObject() @ValidateNested() @Type(() => PersonalDto) personal?: PersonalDto;
  @ApiPropertyOptional({ type: PaymentDto }) @IsOptionalNotNull() @IsObject() @ValidateNested() @Type(() => PaymentDto) payment?: PaymentDto;
}

/** Exactly one of the four keys; checked in the service (class-validator has no "one of"). */
export class SearchCustomersDto {
  // Search terms are normalised before lookup (trimmed, lower-cased, separators dropped), so they are
  // only bounded here; the service refuses what does not normalise.
  @ApiPropertyOptional() @IsOptionalNotNull() @IsString() @IsNotEmpty() @MaxLength(320) email?: string;
  @ApiPropertyOptional() @IsOptionalNotNull() @IsString() @IsNotEmpty() @MaxLength(40) phone?: string;
  @ApiPropertyOptional() @IsOptionalNotNull() @IsString() @IsNotEmpty() @MaxLength(64) nationalId?: string;
  @ApiPropertyOptional() @IsOptionalNotNull() @IsString() @IsNotEmpty() @MaxLength(128) externalRef?: string;
}

export class ContactHoldDto {
  @ApiProperty({ description: 'why e-mail contact is suspended (no personal data)' })
  @IsString() @IsNotEmpty() @MaxLength(TEXT_MAX) @IsPlainText() reason!: string;
}
