import { describe, expect, it } from '@jest/globals';
import { isDatabaseUnavailable, shapeError } from './error-response.js';

/** Mirrors TypeORM's QueryFailedError: the driver error is kept and its `code` copied. */
function queryFailed(driverError: Error & { code?: string }): Error {
  return Object.assign(new Error(driverError.message), { name: 'QueryFailedError', code: driverError.code, driverError });
}

describe('database-unavailable errors answer 503, not 500', () => {
  it.each([
    ['connection refused', Object.assign(new Error('connect ECONNREFUSED 127.0.0.1:5432'), { code: 'ECONNREFUSED' })],
    ['admin shutdown 57P01', queryFailed(Object.assign(new Error('terminating connection due to administrator command'), { code: '57P01' }))],
    ['connection exception class 08', Object.assign(new Error('x'), { code: '08006' })],
    ['dropped socket (no code)', queryFailed(new Error('Connection terminated unexpectedly'))],
    ['database closed to connections', Object.assign(new Error('database "cv" is not currently accepting connections'), { code: '55000' })],
    ['pool timeout', new Error('timeout exceeded when trying to connect')],
  ])('%s', (_name, error) => {
    expect(isDatabaseUnavailable(error)).toBe(true);
    expect(shapeError(error)).toMatchObject({ status: 503, code: 'service_unavailable' });
  });

  it.each([
    ['unique violation', queryFailed(Object.assign(new Error('duplicate key'), { code: '23505' }))],
    ['syntax error', Object.assign(new Error('syntax error at or near'), { code: '42601' })],
    ['a plain bug', new TypeError('cannot read properties of undefined')],
  ])('%s stays a 500', (_name, error) => {
    expect(isDatabaseUnavailable(error)).toBe(false);
    expect(shapeError(error)).toMatchObject({ status: 500, code: 'internal' });
  });
});
