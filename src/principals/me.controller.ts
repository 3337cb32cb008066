import { Controller, Get } from '@nestjs/common';
import { ApiBearerAuth, ApiOkResponse, ApiOperation, ApiTags, ApiUnauthorizedResponse } from '@nestjs/swagger';
import { Policy } from '../access/route-policy.js';
import type { Actor } from '../access/vocabulary.js';
import { Audited } from '../audit/audited.decorator.js';
import { CurrentActor } from './current-actor.js';
import { SelfDto } from './dto/principal.dto.js';

/**
 * Who the token belongs to. The console asks once after sign-in to show only what the roles allow;
 * the API stays the authority (every other route checks the roles itself).
 */
@ApiTags('principals')
@ApiBearerAuth()
@ApiUnauthorizedResponse({ description: 'missing, malformed, unknown or revoked token' })
@Policy('read', 'Self')
@Controller('v1/me')
export class MeController {
  @Get()
  @Audited('principal.self', 'principal')
  @ApiOperation({ summary: 'the calling principal: id, name, kind and roles (never its token)' })
  @ApiOkResponse({ type: SelfDto })
  self(@CurrentActor() actor: Actor): SelfDto {
    return { id: actor.id, name: actor.name, kind: actor.kind, roles: [...actor.roles] };
  }
}
