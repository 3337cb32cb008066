import { Catch, type ArgumentsHost, type ExceptionFilter } from '@nestjs/common';
import type { Request, Response } from 'express';
import type { Logger } from 'pino';
import { sendError } from './error-response.js';

/** Every error leaving a route, Nest's own and unexpected ones included, in the DESIGN error shape. */
@Catch()
export class AllExceptionsFilter implements ExceptionFilter {
  constructor(private readonly log: Logger) {}

  catch(exception: unknown, host: ArgumentsHost): void {
    const http = host.switchToHttp();
    sendError(http.getRequest<Request>(), http.getResponse<Response>(), exception, this.log);
  }
}
