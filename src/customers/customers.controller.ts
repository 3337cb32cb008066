import { Body, Controller, Delete, Get, Headers, HttpCode, Inject, Param, Patch, Post, Put, Query } from '@nestjs/common';
import { ApiBadRequestResponse, ApiBearerAuth, ApiConflictResponse, ApiCreatedResponse, ApiForbiddenResponse, ApiGoneResponse, ApiHeader, ApiNoContentResponse, ApiNotFoundResponse, ApiOkResponse, ApiOperation, ApiResponse, ApiTags } from '@nestjs/swagger';
import { ConsentsAnswerDto, ContactHoldAnswerDto, CorrectedCustomerDto, CreatedCustomerDto, CustomerViewDto, RekeyAnswerDto, SearchResultsDto } from './dto/customer-answers.dto.js';
import { AccessPolicy } from '../access/access-policy.js';
import type { Actor, Purpose } from '../access/vocabulary.js';
import type { AuditTrail } from '../audit/audit-trail.js';
import { Audited, Trail } from '../audit/audited.decorator.js';
import { UuidPipe } from '../common/uuid.pipe.js';
import { VaultError } from '../common/vault-error.js';
import { CurrentActor } from '../principals/current-actor.js';
import { ConsentsDto, ContactHoldDto, CreateCustomerDto, SearchCustomersDto, UpdateCustomerDto } from './customer.dto.js';
import { CustomersService, type CustomerView } from './customers.service.js';
import { isPlainText } from './validators.js';

const REASON_MAX = 200;

@ApiTags('customers')
@ApiBearerAuth()
@ApiHeader({ name: 'X-Access-Purpose', required: false, description: 'why the data is accessed; required for reads and searches' })
@ApiHeader({ name: 'X-Access-Reason', required: false, description: 'free text such as a ticket id, at most 200 characters; recorded in the audit log' })
@Controller('v1/customers')
export class CustomersController {
  constructor(
    @Inject(CustomersService) private readonly customers: CustomersService,
    @Inject(AccessPolicy) private readonly policy: AccessPolicy,
  ) {}

  @Post()
  @Audited('customer.create', 'customer')
  @ApiOperation({ summary: 'store a customer: every field encrypted; no value is echoed' })
  @ApiCreatedResponse({ type: CreatedCustomerDto })
  @ApiBadRequestResponse({ description: 'invalid body (details name the fields)' })
  @ApiForbiddenResponse({ description: 'the caller may not create customers' })
  @ApiConflictResponse({ description: 'externalRef is taken' })
  create(@CurrentActor() actor: Actor, @Body() body: CreateCustomerDto, @Headers() headers: Record<string, string | undefined>, @Trail() trail: AuditTrail): Promise<{ id: string; createdAt: string }> {
    this.optionalPurpose(headers, trail);
    return this.customers.create(actor, body, trail);
  }

  @Post('search')
  @HttpCode(200)
  @Audited('customer.search', 'customer')
  @ApiOperation({ summary: 'exact lookup by one indexed field; never returns values' })
  @ApiOkResponse({ type: SearchResultsDto })
  @ApiBadRequestResponse({ description: 'not exactly one search key, invalid term, or missing purpose' })
  @ApiForbiddenResponse({ description: 'the role may not search by this field for this purpose' })
  search(@CurrentActor() actor: Actor, @Body() body: SearchCustomersDto, @Headers() headers: Record<string, string | undefined>, @Trail() trail: AuditTrail): Promise<{ results: { id: string }[] }> {
    return this.customers.search(actor, this.purpose(headers, trail), body, trail);
  }

  @Get(':id')
  @Audited('customer.read', 'customer')
  @ApiOperation({ summary: 'the customer as the policy shows it to this role for this purpose' })
  @ApiOkResponse({ type: CustomerViewDto })
  @ApiBadRequestResponse({ description: 'bad id, purpose or fields' })
  @ApiForbiddenResponse({ description: 'denied for this role and purpose, or a requested field is not returned' })
  @ApiNotFoundResponse({ description: 'no such customer' })
  @ApiGoneResponse({ description: 'the customer was erased' })
  @ApiResponse({ status: 423, description: 'outbound purpose under contact hold' })
  read(@CurrentActor() actor: Actor, @Param('id', UuidPipe) id: string, @Query('fields') fields: string | undefined, @Headers() headers: Record<string, string | undefined>, @Trail() trail: AuditTrail): Promise<CustomerView> {
    trail.resource.id = id;
    const purpose = this.purpose(headers, trail);
    return this.customers.read(actor, id, purpose, this.policy.parseFields(fields), trail);
  }

  @Patch(':id')
  @Audited('customer.correct', 'customer')
  @ApiOperation({ summary: 'correct or complete fields; no value is echoed' })
  @ApiOkResponse({ type: CorrectedCustomerDto })
  @ApiBadRequestResponse({ description: 'invalid body' })
  @ApiForbiddenResponse({ description: 'the caller may not correct (support needs purpose customer_request)' })
  @ApiNotFoundResponse({ description: 'no such customer' })
  @ApiGoneResponse({ description: 'the customer was erased' })
  @ApiResponse({ status: 423, description: 'contact data under contact hold' })
  correct(@CurrentActor() actor: Actor, @Param('id', UuidPipe) id: string, @Body() body: UpdateCustomerDto, @Headers() headers: Record<string, string | undefined>, @Trail() trail: AuditTrail): Promise<{ id: string; updatedAt: string }> {
    trail.resource.id = id;
    return this.customers.correct(actor, id, this.optionalPurpose(headers, trail), body, trail);
  }

  @Put(':id/consents')
  @Audited('customer.consents', 'customer')
  @ApiOperation({ summary: 'set the marketing and third-party-sharing consents' })
  @ApiOkResponse({ type: ConsentsAnswerDto })
  @ApiBadRequestResponse({ description: 'invalid body, purpose or reason' })
  @ApiForbiddenResponse({ description: 'the caller may not change consents' })
  @ApiNotFoundResponse({ description: 'no such customer' })
  @ApiGoneResponse({ description: 'the customer was erased' })
  @ApiResponse({ status: 423, description: 'under contact hold' })
  consents(@CurrentActor() actor: Actor, @Param('id', UuidPipe) id: string, @Body() body: ConsentsDto, @Headers() headers: Record<string, string | undefined>, @Trail() trail: AuditTrail): Promise<{ id: string; consents: { marketing: boolean; thirdPartySharing: boolean } }> {
    trail.resource.id = id;
    return this.customers.setConsents(actor, id, this.optionalPurpose(headers, trail), body, trail);
  }

  @Put(':id/contact-hold')
  @Audited('customer.contact_hold.set', 'customer')
  @ApiOperation({ summary: 'suspend outbound contact and contact-data changes (security)' })
  @ApiOkResponse({ type: ContactHoldAnswerDto })
  @ApiBadRequestResponse({ description: 'invalid reason' })
  @ApiForbiddenResponse({ description: 'the caller is not security staff' })
  @ApiNotFoundResponse({ description: 'no such customer' })
  @ApiGoneResponse({ description: 'the customer was erased' })
  setHold(@CurrentActor() actor: Actor, @Param('id', UuidPipe) id: string, @Body() body: ContactHoldDto, @Headers() headers: Record<string, string | undefined>, @Trail() trail: AuditTrail): Promise<{ id: string; contactHold: CustomerView['contactHold'] }> {
    trail.resource.id = id;
    this.optionalPurpose(headers, trail);
    return this.customers.setContactHold(actor, id, body.reason, trail);
  }

  @Delete(':id/contact-hold')
  @HttpCode(204)
  @Audited('customer.contact_hold.lift', 'customer')
  @ApiOperation({ summary: 'lift the contact hold (security)' })
  @ApiNoContentResponse({ description: 'lifted' })
  @ApiForbiddenResponse({ description: 'the caller is not security staff' })
  @ApiNotFoundResponse({ description: 'no such customer' })
  @ApiGoneResponse({ description: 'the customer was erased' })
  async liftHold(@CurrentActor() actor: Actor, @Param('id', UuidPipe) id: string, @Headers() headers: Record<string, string | undefined>, @Trail() trail: AuditTrail): Promise<void> {
    trail.resource.id = id;
    this.optionalPurpose(headers, trail);
    await this.customers.setContactHold(actor, id, null, trail);
  }

  @Delete(':id')
  @HttpCode(204)
  @Audited('customer.erase', 'customer')
  @ApiOperation({ summary: 'crypto-shred the customer (privacy); later reads answer 410' })
  @ApiNoContentResponse({ description: 'erased' })
  @ApiForbiddenResponse({ description: 'the caller is not privacy staff' })
  @ApiNotFoundResponse({ description: 'no such customer' })
  @ApiGoneResponse({ description: 'already erased' })
  async erase(@CurrentActor() actor: Actor, @Param('id', UuidPipe) id: string, @Headers() headers: Record<string, string | undefined>, @Trail() trail: AuditTrail): Promise<void> {
    trail.resource.id = id;
    this.optionalPurpose(headers, trail);
    await this.customers.erase(actor, id, trail);
  }

  @Post(':id/rekey')
  @HttpCode(200)
  @Audited('customer.rekey', 'customer')
  @ApiOperation({ summary: 'new DEK for the customer, every field re-encrypted (admin)' })
  @ApiOkResponse({ type: RekeyAnswerDto })
  @ApiForbiddenResponse({ description: 'the caller is not an admin' })
  @ApiNotFoundResponse({ description: 'no such customer' })
  @ApiGoneResponse({ description: 'the customer was erased' })
  rekey(@CurrentActor() actor: Actor, @Param('id', UuidPipe) id: string, @Headers() headers: Record<string, string | undefined>, @Trail() trail: AuditTrail): Promise<{ id: string; dekVersion: number }> {
    trail.resource.id = id;
    this.optionalPurpose(headers, trail);
    return this.customers.rekey(actor, id, trail);
  }

  /** Reads and searches: X-Access-Purpose is required (400 when missing or unknown). */
  private purpose(headers: Record<string, string | undefined>, trail: AuditTrail): Purpose {
    this.reason(headers, trail);
    const purpose = this.policy.parsePurpose(headers['x-access-purpose']);
    trail.purpose = purpose;
    return purpose;
  }

  /** Writes: the purpose is optional, recorded when sent, and must be a known one when sent. */
  private optionalPurpose(headers: Record<string, string | undefined>, trail: AuditTrail): Purpose | undefined {
    this.reason(headers, trail);
    if (headers['x-access-purpose'] === undefined) return undefined;
    const purpose = this.policy.parsePurpose(headers['x-access-purpose']);
    trail.purpose = purpose;
    return purpose;
  }

  private reason(headers: Record<string, string | undefined>, trail: AuditTrail): void {
    const reason = headers['x-access-reason'];
    if (reason === undefined) return;
    // Same rule as stored text: the reason is shown to auditors, so no control or bidi characters.
    if (reason.length > REASON_MAX || !isPlainText(reason)) {
      throw new VaultError('invalid_input', 'X-Access-Reason is invalid', [{ field: 'X-Access-Reason', problem: `at most ${REASON_MAX} printable characters` }]);
    }
    trail.reason = reason;
  }
}
