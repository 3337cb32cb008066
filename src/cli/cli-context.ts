import { NestFactory } from '@nestjs/core';
import type { INestApplicationContext } from '@nestjs/common';
import { AppModule } from '../app.module.js';
import { openRuntime } from '../bootstrap.js';
import { createRootLogger, PinoNestLogger } from '../common/logger.js';
import { loadConfig, type VaultConfig } from '../config/config.js';
import type { VaultRuntime } from '../config/runtime.js';
import { MetricsService } from '../health/metrics.service.js';

/** Output of a command: progress and logs go to stderr; the result is the last line on stdout. */
export interface CliOutput {
  result(line: string): void;
  info(line: string): void;
}

export const stdoutOutput: CliOutput = {
  result: (line) => process.stdout.write(`${line}\n`),
  info: (line) => process.stderr.write(`${line}\n`),
};

/**
 * Runs `fn` with the vault's Nest application context (same modules and services as the server, no
 * HTTP listener), then closes it and the database. Logs go to stderr so stdout stays the result.
 */
export async function withVaultContext<T>(fn: (context: INestApplicationContext, runtime: VaultRuntime) => Promise<T>, config: VaultConfig = loadConfig()): Promise<T> {
  const log = createRootLogger(config.logLevel === 'info' ? 'warn' : config.logLevel, process.stderr);
  const runtime = await openRuntime({ config, log });
  let context: INestApplicationContext | undefined;
  try {
    context = await NestFactory.createApplicationContext(AppModule.forRoot(runtime, new MetricsService()), {
      logger: new PinoNestLogger(log.child({ component: 'nest' })),
      abortOnError: false,
    });
    return await fn(context, runtime);
  } finally {
    await context?.close();
    await runtime.database.close();
  }
}
