import { applyDecorators, Controller } from '@nestjs/common';
import { ApiBearerAuth, ApiForbiddenResponse, ApiTags, ApiUnauthorizedResponse } from '@nestjs/swagger';
import { Policy } from '../access/route-policy.js';

/**
 * A controller of the audit log's API under /v1/audit for security staff (DESIGN §4): the class-wide
 * policy `read AuditLog` and the OpenAPI tag, auth scheme and 401/403 answers every such route has.
 */
export function AuditLogController(): ClassDecorator {
  return applyDecorators(
    ApiTags('audit'),
    ApiBearerAuth(),
    ApiUnauthorizedResponse({ description: 'missing, unknown or revoked token' }),
    ApiForbiddenResponse({ description: 'the caller is not security staff' }),
    Policy('read', 'AuditLog'),
    Controller('v1/audit'),
  );
}
