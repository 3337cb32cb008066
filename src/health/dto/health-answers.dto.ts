import { ApiProperty } from '@nestjs/swagger';

export class LivenessDto {
  @ApiProperty({ enum: ['ok'] }) status!: 'ok';
}

export class ReadinessDto {
  @ApiProperty({ enum: ['ready'] }) status!: 'ready';
  @ApiProperty({ type: 'object', additionalProperties: { type: 'string' }, description: 'each check and its result ("ok" when ready)' })
  checks!: Record<string, string>;
}
