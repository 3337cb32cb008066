import type { Type } from '@nestjs/common';
import { NestFactory } from '@nestjs/core';
import type { NestExpressApplication } from '@nestjs/platform-express';
import { DocumentBuilder, SwaggerModule } from '@nestjs/swagger';
import helmet from 'helmet';
import { AppModule } from './app.module.js';
import { AllExceptionsFilter } from './common/all-exceptions.filter.js';
import { answerClientErrors } from './common/client-errors.js';
import { jsonBody } from './common/json-body.js';
import { PinoNestLogger } from './common/logger.js';
import { requestContext, routeOf } from './common/request-context.js';
import { createValidationPipe } from './common/validation.js';
import type { VaultRuntime } from './config/runtime.js';
import { MetricsService } from './health/metrics.service.js';

/**
 * Builds the HTTP application on a prepared runtime (database open, root key loaded). The same
 * function serves `main.ts` and the e2e tests, so tests exercise the real pipeline.
 */
export async function createApp(runtime: VaultRuntime, options: { extraModules?: Type[] } = {}): Promise<NestExpressApplication> {
  const metrics = new MetricsService();
  const app = await NestFactory.create<NestExpressApplication>(AppModule.forRoot(runtime, metrics, options.extraModules), {
    bodyParser: false,
    abortOnError: false,
    logger: new PinoNestLogger(runtime.log.child({ component: 'nest' })),
  });
  answerClientErrors(app.getHttpServer(), runtime.log);
  app.disable('x-powered-by');
  app.set('trust proxy', false);
  app.set('query parser', 'simple');
  app.use(requestContext(runtime.log, (req, res, seconds) => metrics.observe(req.method, routeOf(req), res.statusCode, seconds)));
  app.use(helmet());
  app.use(...jsonBody(runtime.config.bodyLimitBytes, runtime.log));
  app.useGlobalFilters(new AllExceptionsFilter(runtime.log));
  app.useGlobalPipes(createValidationPipe());

  const openApi = new DocumentBuilder()
    .setTitle('Customer Vault')
    .setDescription('Encrypted, purpose-bound, audited storage of customers\' personal and payment data.')
    .setVersion('1')
    .addBearerAuth()
    .build();
  SwaggerModule.setup('docs', app, () => SwaggerModule.createDocument(app, openApi));
  await app.init();
  return app;
}
