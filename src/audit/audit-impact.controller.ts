import { Get, Inject, Query, Req, Res, StreamableFile } from '@nestjs/common';
import { ApiBadRequestResponse, ApiNotFoundResponse, ApiOkResponse, ApiOperation, ApiProduces } from '@nestjs/swagger';
import type { FastifyReply, FastifyRequest } from 'fastify';
import { Readable } from 'node:stream';
import type { Actor } from '../access/vocabulary.js';
import { VaultError } from '../common/vault-error.js';
import { CurrentActor } from '../principals/current-actor.js';
import { AuditImpactService } from './audit-impact.service.js';
import { AuditStreamService } from './audit-stream.service.js';
import type { AuditTrail } from './audit-trail.js';
import { Audited, Trail } from './audited.decorator.js';
import { AuditImpactQueryDto } from './dto/audit-impact.dto.js';
import { AuditLogController } from './audit-log-controller.decorator.js';
import { AuditStreamQueryDto, SEQ_PATTERN } from './dto/audit-stream.dto.js';

const CONTENT_TYPES = { json: 'application/json; charset=utf-8', csv: 'text/csv; charset=utf-8' } as const;

/** DESIGN §4: breach impact and the live stream, for security staff. Both are audited. */
@AuditLogController()
export class AuditImpactController {
  constructor(
    @Inject(AuditImpactService) private readonly impact: AuditImpactService,
    @Inject(AuditStreamService) private readonly stream: AuditStreamService,
  ) {}

  @Get('impact')
  @Audited('audit.impact', 'principal')
  @ApiOperation({ summary: 'what one principal could have seen in [from, to): distinct customers, per field in plaintext or masked only (allowed events only)' })
  @ApiOkResponse({
    description: 'json: {actor, from, to, customerIds, customers, byField:{field:{plaintext, masked}}}; csv: customerId, firstAt, lastAt and one column per field (plaintext, masked or empty)',
    content: {
      [CONTENT_TYPES.json]: {
        schema: {
          type: 'object',
          required: ['actor', 'from', 'to', 'customerIds', 'customers', 'byField'],
          properties: {
            actor: { type: 'object', additionalProperties: true },
            from: { type: 'string', format: 'date-time' },
            to: { type: 'string', format: 'date-time' },
            customerIds: { type: 'array', items: { type: 'string', format: 'uuid' } },
            customers: { type: 'integer' },
            byField: { type: 'object', additionalProperties: { type: 'object', properties: { plaintext: { type: 'integer' }, masked: { type: 'integer' } } } },
          },
        },
      },
      [CONTENT_TYPES.csv]: { schema: { type: 'string' } },
    },
  })
  @ApiProduces(CONTENT_TYPES.json, CONTENT_TYPES.csv)
  @ApiBadRequestResponse({ description: 'actorId, from or to missing or invalid; from not before to; unknown format' })
  @ApiNotFoundResponse({ description: 'the audit log names no such principal' })
  async report(@CurrentActor() actor: Actor, @Trail() trail: AuditTrail, @Query() query: AuditImpactQueryDto): Promise<StreamableFile> {
    const { format, chunks } = await this.impact.open(actor, trail, query);
    // Returned, not written: the interceptor commits this request's event before the stream starts.
    return new StreamableFile(Readable.from(chunks), {
      type: CONTENT_TYPES[format],
      disposition: format === 'csv' ? 'attachment; filename="breach-impact.csv"' : undefined,
    });
  }

  @Get('stream')
  @Audited('audit.stream', 'audit')
  @ApiOperation({ summary: 'Server-Sent Events: each sealed event as it is chained (id = seq); Last-Event-ID or ?from= resumes after that seq' })
  @ApiProduces('text/event-stream')
  @ApiOkResponse({ description: 'events `id: <seq>` / `data: <event JSON>`; heartbeat comments; `event: resume` with {seq, reason} before the vault closes a stream', content: { 'text/event-stream': { schema: { type: 'string' } } } })
  @ApiBadRequestResponse({ description: 'Last-Event-ID or from is not a seq, or is beyond the head of the log' })
  async open(
    @CurrentActor() actor: Actor,
    @Trail() trail: AuditTrail,
    @Query() query: AuditStreamQueryDto,
    @Req() req: FastifyRequest,
    @Res() reply: FastifyReply,
  ): Promise<void> {
    const header = req.headers['last-event-id'];
    const lastEventId = typeof header === 'string' ? header : undefined;
    if (lastEventId !== undefined && !SEQ_PATTERN.test(lastEventId.trim())) {
      throw new VaultError('invalid_input', 'the request is invalid', [{ field: 'Last-Event-ID', problem: 'must be a seq (a non-negative integer)' }]);
    }
    const after = lastEventId !== undefined ? Number(lastEventId.trim()) : query.from !== undefined ? Number(query.from) : undefined;
    await this.stream.open(actor, trail, after, reply);
  }
}
