import { ApiProperty } from '@nestjs/swagger';

/** Answers of the key routes (DESIGN §4), for the OpenAPI document and the typed client. */

export class KekVersionDto {
  @ApiProperty() version!: number;
  @ApiProperty({ enum: ['active', 'decrypt_only', 'retired'] }) state!: 'active' | 'decrypt_only' | 'retired';
  @ApiProperty({ description: 'DEKs wrapped under this version now' }) dekCount!: number;
  @ApiProperty({ format: 'date-time' }) createdAt!: string;
}

export class KeyStatusDto {
  @ApiProperty({ description: 'first 8 bytes of a keyed BLAKE2b of a fixed label, hex' }) rootKeyId!: string;
  @ApiProperty() activeKekVersion!: number;
  @ApiProperty({ type: [KekVersionDto] }) kekVersions!: KekVersionDto[];
}

export class RotationStartedDto {
  @ApiProperty({ format: 'uuid' }) jobId!: string;
  @ApiProperty({ description: 'the new active KEK version' }) version!: number;
}

export class RotationJobDto {
  @ApiProperty({ format: 'uuid' }) id!: string;
  @ApiProperty() targetVersion!: number;
  @ApiProperty({ enum: ['queued', 'running', 'done', 'failed'] }) state!: 'queued' | 'running' | 'done' | 'failed';
  @ApiProperty({ description: 'DEKs to move when the job started' }) total!: number;
  @ApiProperty({ description: 'DEKs moved so far' }) done!: number;
  @ApiProperty({ format: 'date-time', nullable: true, type: String }) startedAt!: string | null;
  @ApiProperty({ format: 'date-time', nullable: true, type: String }) finishedAt!: string | null;
  @ApiProperty({ nullable: true, type: String }) error!: string | null;
}

export class RetiredDto {
  @ApiProperty() version!: number;
  @ApiProperty({ enum: ['retired'] }) state!: 'retired';
}
