import { Body, Controller, Delete, Get, Headers, HttpCode, Inject, Param, Patch, Post, Put, Query } from '@nestjs/common';
import { ApiBearerAuth, ApiHeader, ApiTags } from '@nestjs/swagger';
import { AccessPolicy } from '../access/access-policy.js';
import type { Actor, Purpose } from '../access/vocabulary.js';
import type { AuditTrail } from '../audit/audit-trail.js';
import { Audited, Trail } from '../audit/audited.decorator.js';
import { UuidPipe } from '../common/uuid.pipe.js';
import { CurrentActor } from '../principals/current-actor.js';
import { ConsentsDto, ContactHoldDto, CreateCustomerDto, SearchCustomersDto, UpdateCustomerDto } from './customer.dto.js';
import { CustomersService, type CustomerView } from './customers.service.js';
import { accessHeaders } from './access-headers.js';

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
  create(@CurrentActor() actor: Actor, @Body() body: CreateCustomerDto, @Headers() headers: Record<string, string | undefined>, @Trail() trail: AuditTrail): Promise<{ id: string; createdAt: string }> {
    this.optionalPurpose(headers, trail);
    return this.customers.create(actor, body, trail);
  }

  @Post('search')
  @HttpCode(200)
  @Audited('customer.search', 'customer')
  search(@CurrentActor() actor: Actor, @Body() body: SearchCustomersDto, @Headers() headers: Record<string, string | undefined>, @Trail() trail: AuditTrail): Promise<{ results: { id: string }[] }> {
    return this.customers.search(actor, this.purpose(headers, trail), body, trail);
  }

  @Get(':id')
  @Audited('customer.read', 'customer')
  read(@CurrentActor() actor: Actor, @Param('id', UuidPipe) id: string, @Query('fields') fields: string | undefined, @Headers() headers: Record<string, string | undefined>, @Trail() trail: AuditTrail): Promise<CustomerView> {
    trail.resource.id = id;
    const purpose = this.purpose(headers, trail);
    return this.customers.read(actor, id, purpose, this.policy.parseFields(fields), trail);
  }

  @Patch(':id')
  @Audited('customer.correct', 'customer')
  correct(@CurrentActor() actor: Actor, @Param('id', UuidPipe) id: string, @Body() body: UpdateCustomerDto, @Headers() headers: Record<string, string | undefined>, @Trail() trail: AuditTrail): Promise<{ id: string; updatedAt: string }> {
    trail.resource.id = id;
    return this.customers.correct(actor, id, this.optionalPurpose(headers, trail), body, trail);
  }

  @Put(':id/consents')
  @Audited('customer.consents', 'customer')
  consents(@CurrentActor() actor: Actor, @Param('id', UuidPipe) id: string, @Body() body: ConsentsDto, @Headers() headers: Record<string, string | undefined>, @Trail() trail: AuditTrail): Promise<{ id: string; consents: { marketing: boolean; thirdPartySharing: boolean } }> {
    trail.resource.id = id;
    return this.customers.setConsents(actor, id, this.optionalPurpose(headers, trail), body, trail);
  }

  @Put(':id/contact-hold')
  @Audited('customer.contact_hold.set', 'customer')
  setHold(@CurrentActor() actor: Actor, @Param('id', UuidPipe) id: string, @Body() body: ContactHoldDto, @Headers() headers: Record<string, string | undefined>, @Trail() trail: AuditTrail): Promise<{ id: string; contactHold: CustomerView['contactHold'] }> {
    trail.resource.id = id;
    this.optionalPurpose(headers, trail);
    return this.customers.setContactHold(actor, id, body.reason, trail);
  }

  @Delete(':id/contact-hold')
  @HttpCode(204)
  @Audited('customer.contact_hold.lift', 'customer')
  async liftHold(@CurrentActor() actor: Actor, @Param('id', UuidPipe) id: string, @Headers() headers: Record<string, string | undefined>, @Trail() trail: AuditTrail): Promise<void> {
    trail.resource.id = id;
    this.optionalPurpose(headers, trail);
    await this.customers.setContactHold(actor, id, null, trail);
  }

  @Delete(':id')
  @HttpCode(204)
  @Audited('customer.erase', 'customer')
  async erase(@CurrentActor() actor: Actor, @Param('id', UuidPipe) id: string, @Headers() headers: Record<string, string | undefined>, @Trail() trail: AuditTrail): Promise<void> {
    trail.resource.id = id;
    this.optionalPurpose(headers, trail);
    await this.customers.erase(actor, id, trail);
  }

  @Post(':id/rekey')
  @HttpCode(200)
  @Audited('customer.rekey', 'customer')
  rekey(@CurrentActor() actor: Actor, @Param('id', UuidPipe) id: string, @Headers() headers: Record<string, string | undefined>, @Trail() trail: AuditTrail): Promise<{ id: string; dekVersion: number }> {
    trail.resource.id = id;
    this.optionalPurpose(headers, trail);
    return this.customers.rekey(actor, id, trail);
  }

  private purpose(headers: Record<string, string | undefined>, trail: AuditTrail): Purpose {
    return accessHeaders.purpose(this.policy, headers, trail);
  }

  private optionalPurpose(headers: Record<string, string | undefined>, trail: AuditTrail): Purpose | undefined {
    return accessHeaders.optionalPurpose(this.policy, headers, trail);
  }
}
