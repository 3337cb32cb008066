import { Body, Controller, Delete, Get, HttpCode, Inject, Param, ParseUUIDPipe, Post } from '@nestjs/common';
import {
  ApiBadRequestResponse,
  ApiBearerAuth,
  ApiConflictResponse,
  ApiCreatedResponse,
  ApiForbiddenResponse,
  ApiNoContentResponse,
  ApiNotFoundResponse,
  ApiOkResponse,
  ApiOperation,
  ApiTags,
  ApiUnauthorizedResponse,
} from '@nestjs/swagger';
import { Policy } from '../access/route-policy.js';
import type { Actor } from '../access/vocabulary.js';
import type { AuditTrail } from '../audit/audit-trail.js';
import { Audited, Trail } from '../audit/audited.decorator.js';
import { Idempotent } from '../idempotency/idempotent.decorator.js';
import { CurrentActor } from './current-actor.js';
import { CreatePrincipalDto } from './dto/create-principal.dto.js';
import { CreatedPrincipalDto, PrincipalListDto } from './dto/principal.dto.js';
import { invalidPrincipalId } from './principals.errors.js';
import { PrincipalsService } from './principals.service.js';

/** DESIGN §4: principals, admin only (the class-level @Policy; the service checks again, for the CLI's sake too). */
@ApiTags('principals')
@ApiBearerAuth()
@ApiUnauthorizedResponse({ description: 'missing, malformed, unknown or revoked token' })
@ApiForbiddenResponse({ description: 'the caller is not an admin' })
@Policy('administer', 'Principal')
@Controller('v1/principals')
export class PrincipalsController {
  constructor(@Inject(PrincipalsService) private readonly principals: PrincipalsService) {}

  @Post()
  @Audited('principal.create', 'principal')
  @Idempotent({ omit: ['token'] })
  @ApiOperation({ summary: 'create a principal; the answer carries its token, shown this once' })
  @ApiCreatedResponse({ type: CreatedPrincipalDto })
  @ApiBadRequestResponse({ description: 'invalid body' })
  @ApiConflictResponse({ description: 'an active principal already has this name' })
  create(@CurrentActor() actor: Actor, @Trail() trail: AuditTrail, @Body() body: CreatePrincipalDto): Promise<CreatedPrincipalDto> {
    return this.principals.create({ by: actor, trail, okStatus: 201 }, body);
  }

  @Get()
  @Audited('principal.list', 'principal')
  @ApiOperation({ summary: 'list every principal, revoked ones included (never a token)' })
  @ApiOkResponse({ type: PrincipalListDto })
  async list(@CurrentActor() actor: Actor, @Trail() trail: AuditTrail): Promise<PrincipalListDto> {
    return { principals: await this.principals.list({ by: actor, trail, okStatus: 200 }) };
  }

  @Delete(':id')
  @HttpCode(204)
  @Audited('principal.revoke', 'principal')
  @ApiOperation({ summary: 'revoke a principal (idempotent); its token is refused everywhere within 1 s' })
  @ApiNoContentResponse({ description: 'revoked (or already revoked)' })
  @ApiBadRequestResponse({ description: 'id is not a UUID' })
  @ApiNotFoundResponse({ description: 'no such principal' })
  @ApiConflictResponse({ description: 'the last active admin cannot be revoked' })
  async revoke(
    @CurrentActor() actor: Actor,
    @Trail() trail: AuditTrail,
    @Param('id', new ParseUUIDPipe({ exceptionFactory: invalidPrincipalId })) id: string,
  ): Promise<void> {
    await this.principals.revoke({ by: actor, trail, okStatus: 204 }, id);
  }
}
