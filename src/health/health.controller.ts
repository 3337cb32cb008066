import { Controller, Get, Header, Inject, Res } from '@nestjs/common';
import { ApiOkResponse, ApiProduces, ApiServiceUnavailableResponse, ApiTags } from '@nestjs/swagger';
import { LivenessDto, ReadinessDto } from './dto/health-answers.dto.js';
import type { FastifyReply } from 'fastify';
import { VaultError } from '../common/vault-error.js';
import { Public } from '../principals/public.decorator.js';
import { MetricsService } from './metrics.service.js';
import { ReadinessService } from './readiness.service.js';

@ApiTags('health')
@Public()
@Controller()
export class HealthController {
  constructor(
    @Inject(ReadinessService) private readonly readiness: ReadinessService,
    @Inject(MetricsService) private readonly metrics: MetricsService,
  ) {}

  /** Liveness: the process answers. */
  @Get('healthz')
  @ApiOkResponse({ type: LivenessDto })
  healthz(): { status: 'ok' } {
    return { status: 'ok' };
  }

  /**
   * Readiness: database reachable, migrations applied, keys loaded, root key current. 503 otherwise,
   * with one detail per failed check naming why (e.g. `{"field":"keys","problem":"stale_root_key"}`).
   */
  @Get('readyz')
  @ApiOkResponse({ type: ReadinessDto })
  @ApiServiceUnavailableResponse({ description: 'not ready: the failed checks are named' })
  async readyz(): Promise<{ status: 'ready'; checks: Record<string, string> }> {
    const { ready, checks } = await this.readiness.evaluate();
    if (!ready) {
      const failed = Object.entries(checks).filter(([, result]) => result !== 'ok');
      const named = failed.map(([name, result]) => (result === 'failed' ? name : `${name}: ${result}`));
      throw new VaultError(
        'service_unavailable',
        `not ready: ${named.length > 0 ? named.join(', ') : 'checks incomplete'}`,
        failed.map(([name, result]) => ({ field: name, problem: result })),
      );
    }
    return { status: 'ready', checks };
  }

  @Get('metrics')
  @ApiProduces('text/plain')
  @ApiOkResponse({ description: 'Prometheus text format', content: { 'text/plain': { schema: { type: 'string' } } } })
  @Header('Cache-Control', 'no-store')
  async prometheus(@Res() reply: FastifyReply): Promise<void> {
    const text = await this.metrics.registry.metrics();
    await reply.header('Content-Type', this.metrics.registry.contentType).send(text);
  }
}
