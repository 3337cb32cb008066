import { plainToInstance } from 'class-transformer';
import { validate } from 'class-validator';
import { validationDetails } from '../common/validation.js';
import type { ErrorDetail } from '../common/vault-error.js';
import { CreatePrincipalDto } from './dto/create-principal.dto.js';
import type { NewPrincipal } from './principals.service.js';

/**
 * The HTTP API's DTO rules for input that does not come through the ValidationPipe (the CLI):
 * `roles` as a comma-separated list. Details name fields and rules, never values.
 */
export async function parsePrincipalInput(raw: { name: string; kind: string; roles: string }): Promise<{ input: NewPrincipal } | { details: ErrorDetail[] }> {
  const roles = raw.roles.split(',').map((role) => role.trim()).filter((role) => role.length > 0);
  const dto = plainToInstance(CreatePrincipalDto, { name: raw.name, kind: raw.kind, roles });
  const errors = await validate(dto, { whitelist: true, forbidNonWhitelisted: true, validationError: { target: false, value: false } });
  if (errors.length > 0) return { details: validationDetails(errors) };
  return { input: { name: dto.name, kind: dto.kind, roles: dto.roles } };
}
