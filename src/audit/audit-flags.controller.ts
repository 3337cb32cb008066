import { Controller, Get, Inject, Query } from '@nestjs/common';
import { ApiBadRequestResponse, ApiBearerAuth, ApiForbiddenResponse, ApiOkResponse, ApiOperation, ApiTags } from '@nestjs/swagger';
import { Policy } from '../access/route-policy.js';
import type { Actor } from '../access/vocabulary.js';
import { CurrentActor } from '../principals/current-actor.js';
import { AuditFlagsService, type AuditFlags } from './audit-flags.service.js';
import type { AuditTrail } from './audit-trail.js';
import { Audited, Trail } from './audited.decorator.js';
import { AuditFlagsDto } from './dto/audit-answers.dto.js';
import { AuditFlagsQueryDto } from './dto/audit-query.dto.js';

/** DESIGN §7: signals for security staff, computed from the audit log. */
@ApiTags('audit')
@ApiBearerAuth()
@Policy('read', 'AuditLog')
@Controller('v1/audit')
export class AuditFlagsController {
  constructor(@Inject(AuditFlagsService) private readonly flags: AuditFlagsService) {}

  @Get('flags')
  @Audited('audit.flags', 'audit')
  @ApiOperation({ summary: 'denied bursts, searches that found nothing, plaintext reads outside office hours, over a window' })
  @ApiOkResponse({ type: AuditFlagsDto })
  @ApiBadRequestResponse({ description: 'bad dates, from not before to, or a window over 31 days' })
  @ApiForbiddenResponse({ description: 'the caller is not security staff' })
  list(@CurrentActor() actor: Actor, @Trail() trail: AuditTrail, @Query() query: AuditFlagsQueryDto): Promise<AuditFlags> {
    return this.flags.flags(actor, trail, query);
  }
}
