import { describe, expect, it } from '@jest/globals';
import { CUSTOMER_FIELDS, isCustomerField, isPurpose, isRole, PAYMENT_FIELDS, PERSONAL_FIELDS, PURPOSES, ROLES } from './vocabulary.js';

describe('vocabulary', () => {
  it('matches DESIGN §3', () => {
    expect(ROLES).toEqual(['admin', 'ingest', 'billing', 'support', 'marketing', 'security', 'privacy']);
    expect(PURPOSES).toEqual(['payment_confirmation', 'service_support', 'renewal_notice', 'marketing', 'fraud_investigation', 'customer_request', 'legal_obligation']);
    expect(PERSONAL_FIELDS).toEqual(['fullName', 'email', 'phone', 'address', 'nationalId', 'dateOfBirth']);
    expect(PAYMENT_FIELDS).toEqual(['cardNumber', 'cardExpiry', 'cardholderName', 'bankAccount']);
    expect(CUSTOMER_FIELDS).toHaveLength(10);
  });

  it.each([
    [isRole, 'privacy', true],
    [isRole, 'Privacy', false],
    [isPurpose, 'legal_obligation', true],
    [isPurpose, 'legal', false],
    [isCustomerField, 'cardExpiry', true],
    [isCustomerField, 'toString', false],
    [isCustomerField, '__proto__', false],
    [isRole, 42, false],
    [isPurpose, undefined, false],
  ] as const)('%p(%p) is %p', (guard, value, expected) => {
    expect(guard(value)).toBe(expected);
  });
});
