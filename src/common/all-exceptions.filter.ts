import { Catch, type ArgumentsHost, type ExceptionFilter } from '@nestjs/common';
import type { FastifyReply, FastifyRequest } from 'fastify';

/**
 * Every error in the DESIGN error shape: those leaving a route (Nest's own and unexpected ones
 * included), and, as Nest installs its exception layer as Fastify's error handler and not-found
 * handler, those of the request hooks (body, authentication) and unknown routes.
 */
@Catch()
export class AllExceptionsFilter implements ExceptionFilter {
  /** `answer`: AuditedAnswers.send (records the unaudited answers of authenticated requests). */
  constructor(private readonly answer: (req: FastifyRequest, reply: FastifyReply, error: unknown) => void) {}

  catch(exception: unknown, host: ArgumentsHost): void {
    const http = host.switchToHttp();
    this.answer(http.getRequest<FastifyRequest>(), http.getResponse<FastifyReply>(), exception);
  }
}
