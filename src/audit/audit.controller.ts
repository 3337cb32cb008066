import { Controller, Get, Inject, Param, ParseUUIDPipe, Query, StreamableFile } from '@nestjs/common';
import { ApiBadRequestResponse, ApiBearerAuth, ApiForbiddenResponse, ApiNotFoundResponse, ApiOkResponse, ApiOperation, ApiProduces, ApiTags } from '@nestjs/swagger';
import { Readable } from 'node:stream';
import { Policy } from '../access/route-policy.js';
import type { Actor } from '../access/vocabulary.js';
import { VaultError } from '../common/vault-error.js';
import { CurrentActor } from '../principals/current-actor.js';
import type { AuditEventView } from './audit-event.js';
import type { AuditTrail } from './audit-trail.js';
import type { VerifyReport } from './audit-verifier.js';
import { Audited, Trail } from './audited.decorator.js';
import { AuditService, type PublicKeyView } from './audit.service.js';
import { AccessReportDto, AuditEventPageDto, PublicKeyDto, VerifyReportDto } from './dto/audit-answers.dto.js';
import { AuditLogController } from './audit-log-controller.decorator.js';
import { AccessReportQueryDto, AuditEventsQueryDto, AuditExportQueryDto } from './dto/audit-query.dto.js';

const CONTENT_TYPES = { ndjson: 'application/x-ndjson; charset=utf-8', csv: 'text/csv; charset=utf-8' } as const;

/** DESIGN §4, audit rows: security staff review, export and verify the log. Reading the log is audited too. */
@AuditLogController()
export class AuditController {
  constructor(@Inject(AuditService) private readonly audit: AuditService) {}

  @Get('events')
  @Audited('audit.list', 'audit')
  @ApiOperation({ summary: 'events in seq order, filtered; cursor pagination (limit at most 1000)' })
  @ApiOkResponse({ type: AuditEventPageDto })
  @ApiBadRequestResponse({ description: 'unknown filter, bad date, cursor or limit' })
  list(@CurrentActor() actor: Actor, @Trail() trail: AuditTrail, @Query() query: AuditEventsQueryDto): Promise<{ events: AuditEventView[]; nextCursor: string | null }> {
    return this.audit.list(actor, trail, query);
  }

  @Get('export')
  @Audited('audit.export', 'audit')
  @ApiOperation({ summary: 'the filtered log, streamed as NDJSON (one event per line) or CSV' })
  @ApiProduces(CONTENT_TYPES.ndjson, CONTENT_TYPES.csv)
  @ApiOkResponse({ description: 'one event per line (NDJSON, the shape of an event of GET /v1/audit/events) or CSV with a header row', content: { [CONTENT_TYPES.ndjson]: { schema: { type: 'string' } }, [CONTENT_TYPES.csv]: { schema: { type: 'string' } } } })
  @ApiBadRequestResponse({ description: 'unknown filter, bad date or format' })
  async export(@CurrentActor() actor: Actor, @Trail() trail: AuditTrail, @Query() query: AuditExportQueryDto): Promise<StreamableFile> {
    const { format = 'ndjson', ...filters } = query;
    const chunks = await this.audit.export(actor, trail, filters, format);
    // Returned, not written: the interceptor commits this request's event before the stream starts.
    return new StreamableFile(Readable.from(chunks), {
      type: CONTENT_TYPES[format],
      disposition: `attachment; filename="audit-events.${format}"`,
    });
  }

  @Get('verify')
  @Audited('audit.verify', 'audit')
  @ApiOperation({ summary: 'recompute the chain, check checkpoints and the checkpoint file; report the first bad seq' })
  @ApiOkResponse({ type: VerifyReportDto })
  verify(@CurrentActor() actor: Actor, @Trail() trail: AuditTrail): Promise<VerifyReport> {
    return this.audit.verify(actor, trail);
  }

  @Get('public-key')
  @Audited('audit.public_key', 'audit')
  @ApiOperation({ summary: 'the Ed25519 key that verifies checkpoints, and the earlier ones' })
  @ApiOkResponse({ type: PublicKeyDto })
  publicKey(@CurrentActor() actor: Actor): Promise<PublicKeyView> {
    return this.audit.publicKey(actor);
  }
}

/** DESIGN §4: who accessed one customer's data, for security and privacy staff. */
@ApiTags('audit')
@ApiBearerAuth()
@Controller('v1/customers')
export class AccessReportController {
  constructor(@Inject(AuditService) private readonly audit: AuditService) {}

  @Get(':id/access-report')
  @Policy('readAudit', 'Customer')
  @Audited('audit.access_report', 'customer')
  @ApiOperation({ summary: 'every event about this customer, denied ones included (pages of at most 1000)' })
  @ApiOkResponse({ type: AccessReportDto })
  @ApiBadRequestResponse({ description: 'id is not a UUID' })
  @ApiForbiddenResponse({ description: 'the caller is neither security nor privacy staff' })
  @ApiNotFoundResponse({ description: 'no such customer and no event about it' })
  accessReport(
    @CurrentActor() actor: Actor,
    @Trail() trail: AuditTrail,
    @Param('id', new ParseUUIDPipe({ exceptionFactory: () => new VaultError('invalid_input', 'the customer id must be a UUID', [{ field: 'id', problem: 'must be a UUID' }]) })) id: string,
    @Query() query: AccessReportQueryDto,
  ): Promise<{ customerId: string; events: AuditEventView[]; nextCursor: string | null }> {
    return this.audit.accessReport(actor, trail, id, query.cursor, query.limit);
  }
}
