import { Module } from '@nestjs/common';
import { CustomersController } from './customers.controller.js';
import { BlindIndexReindexWorker } from './blind-reindex.worker.js';
import { CustomerSearchService } from './customer-search.service.js';
import { CustomersService } from './customers.service.js';

@Module({ controllers: [CustomersController], providers: [CustomersService, CustomerSearchService, BlindIndexReindexWorker], exports: [CustomersService, BlindIndexReindexWorker] })
export class CustomersModule {}
