import { Catch, type ArgumentsHost, type ExceptionFilter } from '@nestjs/common';
import type { Request, Response } from 'express';

/** Every error leaving a route, Nest's own and unexpected ones included, in the DESIGN error shape. */
@Catch()
export class AllExceptionsFilter implements ExceptionFilter {
  /** `answer`: AuditedAnswers.send (records the unaudited answers of authenticated requests). */
  constructor(private readonly answer: (req: Request, res: Response, error: unknown) => void) {}

  catch(exception: unknown, host: ArgumentsHost): void {
    const http = host.switchToHttp();
    this.answer(http.getRequest<Request>(), http.getResponse<Response>(), exception);
  }
}
