import { ApiProperty } from '@nestjs/swagger';
import { ArrayMaxSize, ArrayNotEmpty, ArrayUnique, IsArray, IsIn, IsString, Length, Matches, ValidateBy } from 'class-validator';
import { conflictingRoles, ROLES, type Role } from '../../access/vocabulary.js';
import { PRINCIPAL_KINDS, type PrincipalKind } from '../principal.entity.js';

/** Letters, marks, digits, punctuation, symbols and inner spaces: no control or invisible characters. */
export const PRINCIPAL_NAME_PATTERN = /^[\p{L}\p{M}\p{N}\p{P}\p{S}](?:[\p{L}\p{M}\p{N}\p{P}\p{S} ]*[\p{L}\p{M}\p{N}\p{P}\p{S}])?$/u;

/** DESIGN §3: `ingest` or `admin` may not be combined with a reading role in one principal. */
export const SEPARATE_DUTIES_MESSAGE = 'must not combine ingest or admin with a reading role (support, billing, marketing, security, privacy)';
const SeparateDuties = (): PropertyDecorator =>
  ValidateBy({ name: 'separateDuties', validator: { validate: (value: unknown) => !Array.isArray(value) || conflictingRoles(value.map(String)) === null, defaultMessage: () => SEPARATE_DUTIES_MESSAGE } });

// Messages name the rule, never the value sent.
export class CreatePrincipalDto {
  @ApiProperty({ description: 'unique among active principals; printable, no leading or trailing space', minLength: 1, maxLength: 100, example: 'billing-service' })
  @IsString({ message: 'must be a string' })
  @Length(1, 100, { message: 'must be 1 to 100 characters' })
  @Matches(PRINCIPAL_NAME_PATTERN, { message: 'must be printable characters without leading or trailing spaces' })
  name!: string;

  @ApiProperty({ enum: PRINCIPAL_KINDS, example: 'service' })
  @IsIn(PRINCIPAL_KINDS, { message: `must be one of ${PRINCIPAL_KINDS.join(', ')}` })
  kind!: PrincipalKind;

  @ApiProperty({ enum: ROLES, isArray: true, minItems: 1, uniqueItems: true, example: ['billing'] })
  @IsArray({ message: 'must be an array of roles' })
  @ArrayNotEmpty({ message: 'must name at least one role' })
  @ArrayMaxSize(ROLES.length, { message: `must name at most ${ROLES.length} roles` })
  @ArrayUnique({ message: 'must not repeat a role' })
  @IsIn(ROLES, { each: true, message: `must be roles among ${ROLES.join(', ')}` })
  @SeparateDuties()
  roles!: Role[];
}
