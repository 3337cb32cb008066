import { Body, Controller, Delete, Get, HttpCode, Inject, Param, Patch, Post, Put, Query } from '@nestjs/common';
import { ApiBearerAuth, ApiHeader, ApiTags } from '@nestjs/swagger';
import { AccessPolicy } from '../access/access-policy.js';
import { DeclaredPurpose } from '../access/policies.guard.js';
import { Policy } from '../access/route-policy.js';
import type { Actor, Purpose } from '../access/vocabulary.js';
import type { AuditTrail } from '../audit/audit-trail.js';
import { Audited, Trail } from '../audit/audited.decorator.js';
import { UuidPipe } from '../common/uuid.pipe.js';
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
  create(@CurrentActor() actor: Actor, @Body() body: CreateCustomerDto, @Trail() trail: AuditTrail): Promise<{ id: string; createdAt: string }> {
    return this.customers.create(actor, body, trail);
  }

  @Post('search')
  @HttpCode(200)
  @Policy('search', 'Customer', { purpose: 'required' })
  @Audited('customer.search', 'customer')
  search(@CurrentActor() actor: Actor, @Body() body: SearchCustomersDto, @DeclaredPurpose('required') purpose: Purpose, @Trail() trail: AuditTrail): Promise<{ results: { id: string }[] }> {
    return this.searches.search(actor, purpose, body, trail);
  }

  @Get(':id')
  @Policy('read', 'Customer', { purpose: 'required' })
  @Audited('customer.read', 'customer')
  read(@CurrentActor() actor: Actor, @Param('id', UuidPipe) id: string, @Query('fields') fields: string | undefined, @DeclaredPurpose('required') purpose: Purpose, @Trail() trail: AuditTrail): Promise<CustomerView> {
    trail.resource.id = id;
    return this.customers.read(actor, id, purpose, this.policy.parseFields(fields), trail);
  }

  @Patch(':id')
  @Policy('correct', 'Customer')
  @Audited('customer.correct', 'customer')
  correct(@CurrentActor() actor: Actor, @Param('id', UuidPipe) id: string, @Body() body: UpdateCustomerDto, @DeclaredPurpose() purpose: Purpose | undefined, @Trail() trail: AuditTrail): Promise<{ id: string; updatedAt: string }> {
    trail.resource.id = id;
    return this.customers.correct(actor, id, purpose, body, trail);
  }

  @Put(':id/consents')
  @Policy('consents', 'Customer')
  @Audited('customer.consents', 'customer')
  consents(@CurrentActor() actor: Actor, @Param('id', UuidPipe) id: string, @Body() body: ConsentsDto, @DeclaredPurpose() purpose: Purpose | undefined, @Trail() trail: AuditTrail): Promise<{ id: string; consents: { marketing: boolean; thirdPartySharing: boolean } }> {
    trail.resource.id = id;
    return this.customers.setConsents(actor, id, purpose, body, trail);
  }

  @Put(':id/contact-hold')
  @Policy('contactHold', 'Customer')
  @Audited('customer.contact_hold.set', 'customer')
  setHold(@CurrentActor() actor: Actor, @Param('id', UuidPipe) id: string, @Body() body: ContactHoldDto, @Trail() trail: AuditTrail): Promise<{ id: string; contactHold: CustomerView['contactHold'] }> {
    trail.resource.id = id;
    return this.customers.setContactHold(actor, id, body.reason, trail);
  }

  @Delete(':id/contact-hold')
  @HttpCode(204)
  @Policy('contactHold', 'Customer')
  @Audited('customer.contact_hold.lift', 'customer')
  async liftHold(@CurrentActor() actor: Actor, @Param('id', UuidPipe) id: string, @Trail() trail: AuditTrail): Promise<void> {
    trail.resource.id = id;
    await this.customers.setContactHold(actor, id, null, trail);
  }

  @Delete(':id')
  @HttpCode(204)
  @Policy('erase', 'Customer')
  @Audited('customer.erase', 'customer')
  async erase(@CurrentActor() actor: Actor, @Param('id', UuidPipe) id: string, @Trail() trail: AuditTrail): Promise<void> {
    trail.resource.id = id;
    await this.customers.erase(actor, id, trail);
  }

  @Post(':id/rekey')
  @HttpCode(200)
  @Policy('administer', 'Key')
  @Audited('customer.rekey', 'customer')
  rekey(@CurrentActor() actor: Actor, @Param('id', UuidPipe) id: string, @Trail() trail: AuditTrail): Promise<{ id: string; dekVersion: number }> {
    trail.resource.id = id;
    return this.customers.rekey(actor, id, trail);
  }
}
