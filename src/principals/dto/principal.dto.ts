import { ApiProperty, ApiPropertyOptional, OmitType } from '@nestjs/swagger';
import { ROLES, type Role } from '../../access/vocabulary.js';
import { PRINCIPAL_KINDS, type PrincipalKind } from '../principal.entity.js';

/** A principal as the API shows it: never its token nor the token's hash. */
export class PrincipalDto {
  @ApiProperty({ format: 'uuid' })
  id!: string;

  @ApiProperty()
  name!: string;

  @ApiProperty({ enum: PRINCIPAL_KINDS })
  kind!: PrincipalKind;

  @ApiProperty({ enum: ROLES, isArray: true })
  roles!: Role[];

  @ApiProperty({ format: 'date-time' })
  createdAt!: string;

  @ApiProperty({ format: 'date-time', nullable: true, type: String })
  revokedAt!: string | null;
}

/** The answer to a creation: the only time the token is shown. */
export class CreatedPrincipalDto extends OmitType(PrincipalDto, ['revokedAt'] as const) {
  @ApiPropertyOptional({ description: 'bearer token, shown only once: `cv_` + 43 base64url characters; absent when the answer is replayed for an Idempotency-Key (Idempotent-Replayed: true)' })
  token?: string;
}

export class PrincipalListDto {
  @ApiProperty({ type: [PrincipalDto] })
  principals!: PrincipalDto[];
}

/** The caller itself (GET /v1/me). */
export class SelfDto extends OmitType(PrincipalDto, ['createdAt', 'revokedAt'] as const) {}
