import { ApiPropertyOptional } from '@nestjs/swagger';
import { IsOptional, Matches } from 'class-validator';

export const SEQ_PATTERN = /^\d{1,15}$/;

/** GET /v1/audit/stream: where to resume when the client cannot send `Last-Event-ID`. */
export class AuditStreamQueryDto {
  @ApiPropertyOptional({ description: 'resume after this seq (as Last-Event-ID, which wins when both are sent); 0 = the whole log' })
  @IsOptional()
  @Matches(SEQ_PATTERN, { message: 'must be a seq (a non-negative integer)' })
  from?: string;
}
