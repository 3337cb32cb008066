import { Module } from '@nestjs/common';
import { CustomersModule } from '../customers/customers.module.js';
import { DisclosuresService } from './disclosures.service.js';
import { RetentionService } from './retention.service.js';
import { RightsController } from './rights.controller.js';
import { SubjectAccessService } from './subject-access.service.js';

/** The customer's rights: disclosures, subject access, restriction, closure and retention. */
@Module({
  imports: [CustomersModule],
  controllers: [RightsController],
  providers: [DisclosuresService, SubjectAccessService, RetentionService],
  exports: [RetentionService],
})
export class RightsModule {}
