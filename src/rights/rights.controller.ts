import { Body, Controller, Delete, Get, HttpCode, Inject, Param, Post, Put, StreamableFile } from '@nestjs/common';
import { ApiBadRequestResponse, ApiBearerAuth, ApiCreatedResponse, ApiForbiddenResponse, ApiGoneResponse, ApiNoContentResponse, ApiNotFoundResponse, ApiOkResponse, ApiOperation, ApiResponse, ApiTags } from '@nestjs/swagger';
import { ClosureAnswerDto, DisclosedDto, DisclosureListDto, RestrictionAnswerDto, SubjectAccessDto } from './dto/rights-answers.dto.js';
import { DeclaredPurpose } from '../access/policies.guard.js';
import { Policy } from '../access/route-policy.js';
import type { Actor, CustomerField, Purpose } from '../access/vocabulary.js';
import type { AuditTrail } from '../audit/audit-trail.js';
import { Audited, Trail } from '../audit/audited.decorator.js';
import { UuidPipe } from '../common/uuid.pipe.js';
import { Idempotent } from '../idempotency/idempotent.decorator.js';
import { CurrentActor } from '../principals/current-actor.js';
import { CustomersService, type Mark } from '../customers/customers.service.js';
import { DisclosuresService, type DisclosureRecord } from './disclosures.service.js';
import { ClosureDto, DisclosureDto, RestrictionDto } from './rights.dto.js';
import { SubjectAccessService } from './subject-access.service.js';

/**
 * The customer's rights (DESIGN §4): disclosures to third parties, the signed subject-access report,
 * restriction of processing, account closure. Each route declares its policy (checked by the
 * PoliciesGuard, purpose and reason headers included); the customer-specific rules stay in the services.
 */
@ApiTags('customer rights')
@ApiBearerAuth()
@Controller('v1/customers')
export class RightsController {
  constructor(
    @Inject(CustomersService) private readonly customers: CustomersService,
    @Inject(DisclosuresService) private readonly disclosures: DisclosuresService,
    @Inject(SubjectAccessService) private readonly subjectAccess: SubjectAccessService,
  ) {}

  @Post(':id/disclosures')
  @Policy('disclose', 'Customer')
  @Audited('customer.disclose', 'customer')
  @Idempotent({ omit: ['data'] })
  @ApiOperation({ summary: 'hand fields to a third party (privacy): registered, audited; the values are in this answer only' })
  @ApiCreatedResponse({ type: DisclosedDto })
  @ApiBadRequestResponse({ description: 'invalid body, unknown field, reference or transfer assessment missing' })
  @ApiForbiddenResponse({ description: 'not privacy staff, or consent_required' })
  @ApiNotFoundResponse({ description: 'no such customer' })
  @ApiGoneResponse({ description: 'the customer was erased' })
  @ApiResponse({ status: 423, description: 'processing_restricted (consent-based disclosure)' })
  disclose(@Param('id', UuidPipe) id: string, @CurrentActor() actor: Actor, @Body() body: DisclosureDto, @Trail() trail: AuditTrail): Promise<DisclosureRecord & { data: Partial<Record<CustomerField, unknown>> }> {
    trail.resource.id = id;
    return this.disclosures.disclose(actor, id, body, trail);
  }

  @Get(':id/disclosures')
  @Policy('readDisclosures', 'Customer')
  @Audited('customer.disclosures', 'customer')
  @ApiOperation({ summary: 'the disclosure register of a customer, never values (security, privacy)' })
  @ApiOkResponse({ type: DisclosureListDto })
  @ApiBadRequestResponse({ description: 'id is not a UUID' })
  @ApiForbiddenResponse({ description: 'not allowed to this principal' })
  @ApiNotFoundResponse({ description: 'no such customer' })
  listDisclosures(@Param('id', UuidPipe) id: string, @CurrentActor() actor: Actor, @Trail() trail: AuditTrail): ReturnType<DisclosuresService['list']> {
    trail.resource.id = id;
    return this.disclosures.list(actor, id, trail);
  }

  @Get(':id/subject-access')
  @Policy('subjectAccess', 'Customer', { purpose: 'required' })
  @Audited('customer.subject_access', 'customer')
  @ApiOperation({ summary: 'the signed subject-access report (privacy, purpose customer_request, reason required)' })
  @ApiOkResponse({ type: SubjectAccessDto })
  @ApiBadRequestResponse({ description: 'purpose or reason missing' })
  @ApiForbiddenResponse({ description: 'not allowed to this principal' })
  @ApiNotFoundResponse({ description: 'no such customer' })
  @ApiGoneResponse({ description: 'the customer was erased' })
  async report(@Param('id', UuidPipe) id: string, @CurrentActor() actor: Actor, @DeclaredPurpose('required') purpose: Purpose, @Trail() trail: AuditTrail): Promise<StreamableFile> {
    trail.resource.id = id;
    const { body } = await this.subjectAccess.report(actor, id, purpose, trail);
    // Returned, not written: the interceptor commits this request's event before the body leaves.
    return new StreamableFile(body, { type: 'application/json; charset=utf-8', length: body.length });
  }

  @Put(':id/restriction')
  @Policy('restrict', 'Customer')
  @Audited('customer.restriction.set', 'customer')
  @Idempotent({ omit: ['restriction.reason'] })
  @ApiOperation({ summary: 'restrict processing at the customer request (privacy)' })
  @ApiOkResponse({ type: RestrictionAnswerDto })
  @ApiBadRequestResponse({ description: 'invalid reason' })
  @ApiForbiddenResponse({ description: 'not allowed to this principal' })
  @ApiNotFoundResponse({ description: 'no such customer' })
  @ApiGoneResponse({ description: 'the customer was erased' })
  restrict(@Param('id', UuidPipe) id: string, @CurrentActor() actor: Actor, @Body() body: RestrictionDto, @Trail() trail: AuditTrail): Promise<{ id: string; restriction: Mark | null }> {
    trail.resource.id = id;
    return this.customers.setRestriction(actor, id, body.reason, trail);
  }

  @Delete(':id/restriction')
  @Policy('restrict', 'Customer')
  @HttpCode(204)
  @Audited('customer.restriction.lift', 'customer')
  @ApiOperation({ summary: 'lift the restriction (privacy)' })
  @ApiNoContentResponse({ description: 'lifted' })
  @ApiForbiddenResponse({ description: 'not allowed to this principal' })
  @ApiNotFoundResponse({ description: 'no such customer' })
  @ApiGoneResponse({ description: 'the customer was erased' })
  async lift(@Param('id', UuidPipe) id: string, @CurrentActor() actor: Actor, @Trail() trail: AuditTrail): Promise<void> {
    trail.resource.id = id;
    await this.customers.setRestriction(actor, id, null, trail);
  }

  @Put(':id/closure')
  @Policy('close', 'Customer')
  @Audited('customer.close', 'customer')
  @Idempotent()
  @ApiOperation({ summary: 'the account ended (ingest, billing, privacy); erased after VAULT_RETENTION_DAYS' })
  @ApiOkResponse({ type: ClosureAnswerDto })
  @ApiBadRequestResponse({ description: 'closedAt invalid or in the future' })
  @ApiForbiddenResponse({ description: 'not allowed to this principal' })
  @ApiNotFoundResponse({ description: 'no such customer' })
  @ApiGoneResponse({ description: 'the customer was erased' })
  close(@Param('id', UuidPipe) id: string, @CurrentActor() actor: Actor, @Body() body: ClosureDto, @Trail() trail: AuditTrail): Promise<{ id: string; closedAt: string }> {
    trail.resource.id = id;
    return this.customers.close(actor, id, body.closedAt, trail);
  }
}
