import { ValidationPipe, type ValidationError } from '@nestjs/common';
import { VaultError, type ErrorDetail } from './vault-error.js';

const SAFE_NAME = /^[A-Za-z][A-Za-z0-9_]{0,63}$/;

/**
 * Flattens class-validator errors into `{field, problem}` without values. Property names come from
 * the client for unknown properties, so only plain identifiers are echoed.
 */
export function validationDetails(errors: ValidationError[], parent = ''): ErrorDetail[] {
  const details: ErrorDetail[] = [];
  for (const error of errors) {
    const name = SAFE_NAME.test(error.property) ? error.property : '(unnamed property)';
    const field = parent ? `${parent}.${name}` : name;
    for (const [constraint, message] of Object.entries(error.constraints ?? {})) {
      details.push({ field, problem: constraint === 'whitelistValidation' ? 'unknown property' : message.replace(error.property, field) });
    }
    if (error.children && error.children.length > 0) details.push(...validationDetails(error.children, field));
  }
  return details;
}

export function createValidationPipe(): ValidationPipe {
  return new ValidationPipe({
    whitelist: true,
    forbidNonWhitelisted: true,
    forbidUnknownValues: true,
    transform: true,
    validationError: { target: false, value: false },
    exceptionFactory: (errors) => new VaultError('invalid_input', 'the request is invalid', validationDetails(errors)),
  });
}
