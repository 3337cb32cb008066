import { Body, Controller, Delete, Get, HttpCode, Inject, Param, Patch, Post, Put, Query } from '@nestjs/common';
import { ApiBadRequestResponse, ApiBearerAuth, ApiConflictResponse, ApiCreatedResponse, ApiForbiddenResponse, ApiGoneResponse, ApiHeader, ApiNoContentResponse, ApiNotFoundResponse, ApiOkResponse, ApiOperation, ApiResponse, ApiTags } from '@nestjs/swagger';
import { ConsentsAnswerDto, ContactHoldAnswerDto, CorrectedCustomerDto, CreatedCustomerDto, CustomerViewDto, RekeyAnswerDto, SearchResultsDto } from './dto/customer-answers.dto.js';
import { AccessPolicy } from '../access/access-policy.js';
import { DeclaredPurpose } from '../access/policies.guard.js';
import { Policy } from '../access/route-policy.js';
import type { Actor, Purpose } from '../access/vocabulary.js';
import type { AuditTrail } from '../audit/audit-trail.js';
import { Audited, Trail } from '../audit/audited.decorator.js';
import { UuidPipe } from '../common/uuid.pipe.js';
import { Idempotent } from '../idempotency/idempotent.decorator.js';
import { CurrentActor } from '../principals/current-actor.js';
import { ConsentsDto, ContactHoldDto, CreateCustomerDto, SearchCustomersDto, UpdateCustomerDto } from './customer.dto.js';
import { CustomerSearchService } from './customer-search.service.js';
import { CustomersService, type CustomerView } from './customers.service.js';

@ApiTags('customers')
@ApiBearerAuth()
@ApiHeader({ name: 'X-Access-Purpose', required: false, description: 'why the data is accessed; required for reads and searches' })
@ApiHeader({ name: 'X-Access-Reason', required: false, description: 'free text such as a ticket id, at most 200 characters; recorded in the audit log; required for customer_request, legal_obligation and fraud_investigation' })
@Controller('v1/customers')
export class CustomersController {
  constructor(
    @Inject(CustomersService) private readonly customers: CustomersService,
    @Inject(AccessPolicy) private readonly policy: AccessPolicy,
    @Inject(CustomerSearchService) private readonly searches: CustomerSearchService,
  ) {}

  @Post()
  @Policy('create', 'Customer')
  @Audited('customer.create', 'customer')
  @Idempotent()
  @ApiOperation({ summary: 'store a customer: every field encrypted; no value is echoed' })
  @ApiCreatedResponse({ type: CreatedCustomerDto })
  @ApiBadRequestResponse({ description: 'invalid body (details name the fields)' })
  @ApiForbiddenResponse({ description: 'the caller may not create customers' })
  @ApiConflictResponse({ description: 'externalRef is taken' })
  create(@CurrentActor() actor: Actor, @Body() body: CreateCustomerDto, @Trail() trail: AuditTrail): Promise<{ id: string; createdAt: string }> {
    return this.customers.create(actor, body, trail);
  }

  @Post('search')
  @HttpCode(200)
  @Policy('search', 'Customer', { purpose: 'required' })
  @Audited('customer.search', 'customer')
  @Idempotent('read')
  @ApiOperation({ summary: 'exact lookup by one indexed field; never returns values' })
  @ApiOkResponse({ type: SearchResultsDto })
  @ApiBadRequestResponse({ description: 'not exactly one search key, invalid term, or missing purpose' })
  @ApiForbiddenResponse({ description: 'the role may not search by this field for this purpose' })
  search(@CurrentActor() actor: Actor, @Body() body: SearchCustomersDto, @DeclaredPurpose('required') purpose: Purpose, @Trail() trail: AuditTrail): Promise<{ results: { id: string }[] }> {
    return this.searches.search(actor, purpose, body, trail);
  }

  @Get(':id')
  @Policy('read', 'Customer', { purpose: 'required' })
  @Audited('customer.read', 'customer')
  @ApiOperation({ summary: 'the customer as the policy shows it to this role for this purpose' })
  @ApiOkResponse({ type: CustomerViewDto })
  @ApiBadRequestResponse({ description: 'bad id, purpose or fields' })
  @ApiForbiddenResponse({ description: 'denied for this role and purpose, or a requested field is not returned' })
  @ApiNotFoundResponse({ description: 'no such customer' })
  @ApiGoneResponse({ description: 'the customer was erased' })
  @ApiResponse({ status: 423, description: 'outbound purpose under contact hold' })
  read(@CurrentActor() actor: Actor, @Param('id', UuidPipe) id: string, @Query('fields') fields: string | undefined, @DeclaredPurpose('required') purpose: Purpose, @Trail() trail: AuditTrail): Promise<CustomerView> {
    trail.resource.id = id;
    return this.customers.read(actor, id, purpose, this.policy.parseFields(fields), trail);
  }

  @Patch(':id')
  @Policy('correct', 'Customer')
  @Audited('customer.correct', 'customer')
  @Idempotent()
  @ApiOperation({ summary: 'correct or complete fields; no value is echoed' })
  @ApiOkResponse({ type: CorrectedCustomerDto })
  @ApiBadRequestResponse({ description: 'invalid body' })
  @ApiForbiddenResponse({ description: 'the caller may not correct (support needs purpose customer_request)' })
  @ApiNotFoundResponse({ description: 'no such customer' })
  @ApiGoneResponse({ description: 'the customer was erased' })
  @ApiResponse({ status: 423, description: 'contact data under contact hold' })
  correct(@CurrentActor() actor: Actor, @Param('id', UuidPipe) id: string, @Body() body: UpdateCustomerDto, @DeclaredPurpose() purpose: Purpose | undefined, @Trail() trail: AuditTrail): Promise<{ id: string; updatedAt: string }> {
    trail.resource.id = id;
    return this.customers.correct(actor, id, purpose, body, trail);
  }

  @Put(':id/consents')
  @Policy('consents', 'Customer')
  @Audited('customer.consents', 'customer')
  @Idempotent()
  @ApiOperation({ summary: 'set the marketing and third-party-sharing consents' })
  @ApiOkResponse({ type: ConsentsAnswerDto })
  @ApiBadRequestResponse({ description: 'invalid body, purpose or reason' })
  @ApiForbiddenResponse({ description: 'the caller may not change consents' })
  @ApiNotFoundResponse({ description: 'no such customer' })
  @ApiGoneResponse({ description: 'the customer was erased' })
  @ApiResponse({ status: 423, description: 'under contact hold' })
  consents(@CurrentActor() actor: Actor, @Param('id', UuidPipe) id: string, @Body() body: ConsentsDto, @DeclaredPurpose() purpose: Purpose | undefined, @Trail() trail: AuditTrail): Promise<{ id: string; consents: { marketing: boolean; thirdPartySharing: boolean } }> {
    trail.resource.id = id;
    return this.customers.setConsents(actor, id, purpose, body, trail);
  }

  @Put(':id/contact-hold')
  @Policy('contactHold', 'Customer')
  @Audited('customer.contact_hold.set', 'customer')
  @Idempotent({ omit: ['contactHold.reason'] })
  @ApiOperation({ summary: 'suspend outbound contact and contact-data changes (security)' })
  @ApiOkResponse({ type: ContactHoldAnswerDto })
  @ApiBadRequestResponse({ description: 'invalid reason' })
  @ApiForbiddenResponse({ description: 'the caller is not security staff' })
  @ApiNotFoundResponse({ description: 'no such customer' })
  @ApiGoneResponse({ description: 'the customer was erased' })
  setHold(@CurrentActor() actor: Actor, @Param('id', UuidPipe) id: string, @Body() body: ContactHoldDto, @Trail() trail: AuditTrail): Promise<{ id: string; contactHold: CustomerView['contactHold'] }> {
    trail.resource.id = id;
    return this.customers.setContactHold(actor, id, body.reason, trail);
  }

  @Delete(':id/contact-hold')
  @HttpCode(204)
  @Policy('contactHold', 'Customer')
  @Audited('customer.contact_hold.lift', 'customer')
  @ApiOperation({ summary: 'lift the contact hold (security)' })
  @ApiNoContentResponse({ description: 'lifted' })
  @ApiForbiddenResponse({ description: 'the caller is not security staff' })
  @ApiNotFoundResponse({ description: 'no such customer' })
  @ApiGoneResponse({ description: 'the customer was erased' })
  async liftHold(@CurrentActor() actor: Actor, @Param('id', UuidPipe) id: string, @Trail() trail: AuditTrail): Promise<void> {
    trail.resource.id = id;
    await this.customers.setContactHold(actor, id, null, trail);
  }

  @Delete(':id')
  @HttpCode(204)
  @Policy('erase', 'Customer')
  @Audited('customer.erase', 'customer')
  @ApiOperation({ summary: 'crypto-shred the customer (privacy); later reads answer 410' })
  @ApiNoContentResponse({ description: 'erased' })
  @ApiForbiddenResponse({ description: 'the caller is not privacy staff' })
  @ApiNotFoundResponse({ description: 'no such customer' })
  @ApiGoneResponse({ description: 'already erased' })
  async erase(@CurrentActor() actor: Actor, @Param('id', UuidPipe) id: string, @Trail() trail: AuditTrail): Promise<void> {
    trail.resource.id = id;
    await this.customers.erase(actor, id, trail);
  }

  @Post(':id/rekey')
  @HttpCode(200)
  @Policy('administer', 'Key')
  @Audited('customer.rekey', 'customer')
  @Idempotent()
  @ApiOperation({ summary: 'new DEK for the customer, every field re-encrypted (admin)' })
  @ApiOkResponse({ type: RekeyAnswerDto })
  @ApiForbiddenResponse({ description: 'the caller is not an admin' })
  @ApiNotFoundResponse({ description: 'no such customer' })
  @ApiGoneResponse({ description: 'the customer was erased' })
  rekey(@CurrentActor() actor: Actor, @Param('id', UuidPipe) id: string, @Trail() trail: AuditTrail): Promise<{ id: string; dekVersion: number }> {
    trail.resource.id = id;
    return this.customers.rekey(actor, id, trail);
  }
}
