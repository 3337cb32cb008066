import { VaultError } from '../common/vault-error.js';

/**
 * One message for every authentication failure (missing, malformed, unknown, revoked): the client
 * learns nothing about which it was; the audit event records the reason.
 */
export const UNAUTHENTICATED_MESSAGE = 'a valid bearer token is required';

export function unauthenticated(): VaultError {
  return new VaultError('unauthenticated', UNAUTHENTICATED_MESSAGE, undefined, { 'WWW-Authenticate': 'Bearer' });
}

export function authenticationUnavailable(): VaultError {
  return new VaultError('service_unavailable', 'authentication is temporarily unavailable');
}

export function principalNotFound(): VaultError {
  return new VaultError('not_found', 'principal not found');
}

export function principalNameTaken(): VaultError {
  return new VaultError('conflict', 'an active principal already has this name', [{ field: 'name', problem: 'already used by an active principal' }]);
}

export function lastActiveAdmin(): VaultError {
  return new VaultError('conflict', 'the last active admin cannot be revoked: create another admin first');
}

export function invalidPrincipalId(): VaultError {
  return new VaultError('invalid_input', 'the request is invalid', [{ field: 'id', problem: 'must be a UUID' }]);
}
