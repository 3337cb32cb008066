import { describe, expect, it } from '@jest/globals';
import { QueryFailedError, QueryRunnerAlreadyReleasedError } from 'typeorm';
import { commitOutcomeUnknown } from '../database/commit.js';
import { isClaimRefused, parseIdempotencyKey, requestMessage, storedAnswer } from './idempotency.js';

describe('Idempotency-Key syntax', () => {
  it('accepts 1 to 255 visible ASCII characters', () => {
    for (const key of ['a', 'x'.repeat(255), '0b6f7c1e-4a2d-4f3b-8c9e-1d2a3b4c5d6e', '!~"#$%&()*+,-./:;<=>?@[\\]^_`{|}']) expect(parseIdempotencyKey(key)).toBe(key);
  });

  it('refuses empty, long, spaced, non-ASCII, control and repeated keys, never echoing them', () => {
    for (const key of ['', 'x'.repeat(256), 'a b', 'caf\u00e9', 'tab\there', 'nl\n', 'one, two', ['one', 'two']]) {
      let message = '';
      try {
        parseIdempotencyKey(key);
      } catch (error) {
        message = JSON.stringify(error, Object.getOwnPropertyNames(error));
      }
      expect(message).toContain('invalid_input');
      if (typeof key === 'string' && key.length > 3) expect(message).not.toContain(key);
    }
  });
});

describe('what is the same request', () => {
  const base = { method: 'PUT', route: '/v1/customers/:id/consents', params: { id: 'c1' }, purpose: 'customer_request', reason: 'DSAR 1', body: { marketing: true, thirdPartySharing: false } };

  it('ignores member order and whitespace of the body', () => {
    expect(requestMessage({ ...base, body: JSON.parse('{ "thirdPartySharing": false,\n "marketing": true }') as unknown })).toEqual(requestMessage(base));
  });

  it('changes with the method, route, resource, purpose, reason and every body value', () => {
    const variants = [
      { ...base, method: 'POST' },
      { ...base, route: '/v1/customers/:id/restriction' },
      { ...base, params: { id: 'c2' } },
      { ...base, purpose: undefined },
      { ...base, reason: 'DSAR 2' },
      { ...base, reason: undefined },
      { ...base, body: { marketing: false, thirdPartySharing: false } },
      { ...base, body: { marketing: true } },
      { ...base, body: undefined },
    ];
    const messages = new Set([requestMessage(base), ...variants.map((variant) => requestMessage(variant))].map((message) => message.toString('hex')));
    expect(messages.size).toBe(variants.length + 1);
  });
  it('refuses a body it cannot canonicalise (a number beyond double range) as the client\'s error', () => {
    expect(() => requestMessage({ ...base, body: JSON.parse('{"marketing":1e400}') as unknown })).toThrow(expect.objectContaining({ code: 'invalid_input' }));
  });
});

describe('the stored answer', () => {
  it('leaves out the omitted members, nested ones too, and keeps the rest as JSON', () => {
    const answer = { id: 'd1', recipient: { name: 'Tax', country: 'VN' }, data: { fullName: 'Secret Person' }, mark: { reason: 'free text', since: '2026-01-01T00:00:00.000Z' } };
    expect(JSON.parse(storedAnswer(answer, ['data', 'mark.reason', 'absent.member']))).toEqual({ id: 'd1', recipient: { name: 'Tax', country: 'VN' }, mark: { since: '2026-01-01T00:00:00.000Z' } });
    expect(JSON.parse(storedAnswer({ id: 'h1', contactHold: null }, ['contactHold.reason']))).toEqual({ id: 'h1', contactHold: null });
    expect(answer.data.fullName).toBe('Secret Person');
  });
});

describe('commit outcomes', () => {
  const wrapped = (driverError: Error & { code?: string; constraint?: string }) => new QueryFailedError('COMMIT', [], driverError);

  it('is unknown when the connection broke while the commit was in flight', () => {
    expect(commitOutcomeUnknown(wrapped(new Error('Connection terminated unexpectedly')))).toBe(true);
    expect(commitOutcomeUnknown(Object.assign(new Error('read ECONNRESET'), { code: 'ECONNRESET' }))).toBe(true);
    expect(commitOutcomeUnknown(wrapped(Object.assign(new Error('terminating connection due to administrator command'), { code: '57P01' })))).toBe(true);
  });

  it('is known (not committed) when the statement never left, or the server refused it', () => {
    expect(commitOutcomeUnknown(wrapped(new Error('Client has encountered a connection error and is not queryable')))).toBe(false);
    expect(commitOutcomeUnknown(new QueryRunnerAlreadyReleasedError())).toBe(false);
    expect(commitOutcomeUnknown(wrapped(Object.assign(new Error('duplicate key'), { code: '23505' })))).toBe(false);
    expect(commitOutcomeUnknown(new Error('boom'))).toBe(false);
  });

  it('tells the claim refused from another unique violation', () => {
    expect(isClaimRefused(Object.assign(new Error('held'), { code: '23505', constraint: 'idempotency_keys_pkey' }))).toBe(true);
    expect(isClaimRefused(wrapped(Object.assign(new Error('held'), { code: '23505', constraint: 'idempotency_keys_pkey' })))).toBe(true);
    expect(isClaimRefused(Object.assign(new Error('taken'), { code: '23505', constraint: 'customers_external_ref_key' }))).toBe(false);
  });
});
