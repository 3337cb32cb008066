import { Controller, Get, HttpCode, Inject, Param, Post } from '@nestjs/common';
import { ApiBearerAuth, ApiOperation, ApiTags } from '@nestjs/swagger';
import { Policy } from '../access/route-policy.js';
import { ApiAcceptedResponse, ApiBadRequestResponse, ApiConflictResponse, ApiForbiddenResponse, ApiNotFoundResponse, ApiOkResponse } from '@nestjs/swagger';
import { KeyStatusDto, RetiredDto, RotationJobDto, RotationStartedDto } from './dto/key-answers.dto.js';
import type { AuditTrail } from '../audit/audit-trail.js';
import { Audited, Trail } from '../audit/audited.decorator.js';
import { UuidPipe } from '../common/uuid.pipe.js';
import { VaultError } from '../common/vault-error.js';
import { Idempotent } from '../idempotency/idempotent.decorator.js';
import { KeysService, type KeyStatus, type RotationJobView } from './keys.service.js';

/** DESIGN §4 key rows: admin only (the class-level @Policy, enforced by the PoliciesGuard). */
@ApiTags('keys')
@ApiBearerAuth()
@Policy('administer', 'Key')
@ApiForbiddenResponse({ description: 'the caller is not an admin' })
@Controller('v1/keys')
export class KeysController {
  constructor(@Inject(KeysService) private readonly keys: KeysService) {}

  @Get()
  @Audited('keys.status', 'key')
  @ApiOperation({ summary: 'root key id, KEK versions with their state and DEK count' })
  @ApiOkResponse({ type: KeyStatusDto })
  status(): Promise<KeyStatus> {
    return this.keys.status();
  }

  @Post('rotate')
  @HttpCode(202)
  @Audited('keys.rotate', 'key')
  @Idempotent()
  @ApiOperation({ summary: 'new active KEK version; a background job rewraps every DEK to it' })
  @ApiAcceptedResponse({ type: RotationStartedDto })
  @ApiConflictResponse({ description: 'a key operation is in progress, or this process holds a stale root key' })
  rotate(@Trail() trail: AuditTrail): Promise<{ jobId: string; version: number }> {
    return this.keys.rotate({ trail, okStatus: 202 });
  }

  @Get('jobs/:id')
  @Audited('keys.job', 'key')
  @ApiOperation({ summary: 'progress of a rotation job' })
  @ApiOkResponse({ type: RotationJobDto })
  @ApiBadRequestResponse({ description: 'id is not a UUID' })
  @ApiNotFoundResponse({ description: 'no such job' })
  job(@Param('id', UuidPipe) id: string, @Trail() trail: AuditTrail): Promise<RotationJobView> {
    trail.details.jobId = id;
    return this.keys.job(id);
  }

  @Post(':version/retire')
  @HttpCode(200)
  @Audited('keys.retire', 'key')
  @Idempotent()
  @ApiOperation({ summary: 'destroy a KEK version; 409 while DEKs are wrapped under it or it is active' })
  @ApiOkResponse({ type: RetiredDto })
  @ApiBadRequestResponse({ description: 'version is not a positive integer' })
  @ApiNotFoundResponse({ description: 'no such version' })
  @ApiConflictResponse({ description: 'DEKs are still wrapped under it, or it is the active version' })
  retire(
    @Param('version') raw: string,
    @Trail() trail: AuditTrail,
  ): Promise<{ version: number; state: 'retired' }> {
    if (!/^[1-9]\d{0,8}$/.test(raw)) throw new VaultError('invalid_input', 'version must be a positive integer', [{ field: 'version', problem: 'must be a positive integer' }]);
    const version = Number(raw);
    trail.resource.id = raw;
    return this.keys.retire(version, { trail, okStatus: 200 });
  }
}
