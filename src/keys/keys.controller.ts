import { Controller, Get, HttpCode, Inject, Param, Post } from '@nestjs/common';
import { ApiAcceptedResponse, ApiBadRequestResponse, ApiBearerAuth, ApiConflictResponse, ApiForbiddenResponse, ApiNotFoundResponse, ApiOkResponse, ApiOperation, ApiTags } from '@nestjs/swagger';
import { KeyStatusDto, RetiredDto, RotationJobDto, RotationStartedDto } from './dto/key-answers.dto.js';
import { AccessPolicy } from '../access/access-policy.js';
import type { Actor } from '../access/vocabulary.js';
import type { AuditTrail } from '../audit/audit-trail.js';
import { Audited, Trail } from '../audit/audited.decorator.js';
import { UuidPipe } from '../common/uuid.pipe.js';
import { VaultError } from '../common/vault-error.js';
import { CurrentActor } from '../principals/current-actor.js';
import { KeysService, type KeyStatus, type RotationJobView } from './keys.service.js';

/** DESIGN §4 key rows: admin only. */
@ApiTags('keys')
@ApiBearerAuth()
@ApiForbiddenResponse({ description: 'the caller is not an admin' })
@Controller('v1/keys')
export class KeysController {
  constructor(
    @Inject(KeysService) private readonly keys: KeysService,
    @Inject(AccessPolicy) private readonly policy: AccessPolicy,
  ) {}

  @Get()
  @Audited('keys.status', 'key')
  @ApiOperation({ summary: 'root key id, KEK versions with their state and DEK count' })
  @ApiOkResponse({ type: KeyStatusDto })
  status(@CurrentActor() actor: Actor): Promise<KeyStatus> {
    this.policy.assertCan(actor, 'manageKeys');
    return this.keys.status();
  }

  @Post('rotate')
  @HttpCode(202)
  @Audited('keys.rotate', 'key')
  @ApiOperation({ summary: 'new active KEK version; a background job rewraps every DEK to it' })
  @ApiAcceptedResponse({ type: RotationStartedDto })
  @ApiConflictResponse({ description: 'a key operation is in progress, or this process holds a stale root key' })
  rotate(@CurrentActor() actor: Actor, @Trail() trail: AuditTrail): Promise<{ jobId: string; version: number }> {
    this.policy.assertCan(actor, 'manageKeys');
    return this.keys.rotate({ trail, okStatus: 202 });
  }

  @Get('jobs/:id')
  @Audited('keys.job', 'key')
  @ApiOperation({ summary: 'progress of a rotation job' })
  @ApiOkResponse({ type: RotationJobDto })
  @ApiBadRequestResponse({ description: 'id is not a UUID' })
  @ApiNotFoundResponse({ description: 'no such job' })
  job(@CurrentActor() actor: Actor, @Param('id', UuidPipe) id: string, @Trail() trail: AuditTrail): Promise<RotationJobView> {
    trail.details.jobId = id;
    this.policy.assertCan(actor, 'manageKeys');
    return this.keys.job(id);
  }

  @Post(':version/retire')
  @HttpCode(200)
  @Audited('keys.retire', 'key')
  @ApiOperation({ summary: 'destroy a KEK version; 409 while DEKs are wrapped under it or it is active' })
  @ApiOkResponse({ type: RetiredDto })
  @ApiBadRequestResponse({ description: 'version is not a positive integer' })
  @ApiNotFoundResponse({ description: 'no such version' })
  @ApiConflictResponse({ description: 'DEKs are still wrapped under it, or it is the active version' })
  retire(
    @CurrentActor() actor: Actor,
    @Param('version') raw: string,
    @Trail() trail: AuditTrail,
  ): Promise<{ version: number; state: 'retired' }> {
    this.policy.assertCan(actor, 'manageKeys');
    if (!/^[1-9]\d{0,8}$/.test(raw)) throw new VaultError('invalid_input', 'version must be a positive integer', [{ field: 'version', problem: 'must be a positive integer' }]);
    const version = Number(raw);
    trail.resource.id = raw;
    return this.keys.retire(version, { trail, okStatus: 200 });
  }
}
