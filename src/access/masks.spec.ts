import { describe, expect, it } from '@jest/globals';
import { maskField } from './masks.js';
import { CUSTOMER_FIELDS } from './vocabulary.js';

describe('masks of DESIGN §3', () => {
  it.each([
    ['email', 'alice@example.com', 'a***@example.com'],
    ['email', 'Étienne.dupont@mail.example.fr', 'É***@mail.example.fr'],
    ['phone', '+84912345958', '+********958'],
    ['phone', '+849123459580', '+*********580'],
    ['nationalId', '079090012345', '****2345'],
    ['nationalId', 'AB-123-456-C', '****456C'],
    ['bankAccount', 'DE89 3704 0044 0532 0130 00', '****3000'],
    ['cardNumber', '4111111111111111', '**** **** **** 1111'],
    ['cardNumber', '3782 822463 10005', '**** **** **** 0005'],
    ['dateOfBirth', '1990-04-17', '1990-**-**'],
    ['fullName', 'Nguyen Van A', 'N. V. A.'],
    ['fullName', 'nguyễn  văn   an', 'N. V. A.'],
    ['fullName', 'Jean-Luc Picard', 'J.-L. P.'],
    ['fullName', 'Øystein Åsmund Ærø', 'Ø. Å. Æ.'],
    ['fullName', 'Мария Иванова', 'М. И.'],
    ['fullName', "Seán O'Brien", 'S. O.'],
    ['fullName', 'Ann & Bob', 'A. B.'],
    ['cardholderName', 'NGUYEN VAN A', 'N. V. A.'],
    ['address', { line1: '1 Le Loi', city: 'Ho Chi Minh City', country: 'VN' }, '***, VN'],
    ['address', { line1: '1 Main St', line2: 'Apt 2', city: 'Springfield', postalCode: '12345', country: 'us' }, '***, US'],
  ] as const)('%s %p -> %p', (field, value, expected) => {
    expect(maskField(field, value)).toBe(expected);
  });
});

describe('short values are never shown whole', () => {
  it.each([
    ['email', 'a@example.com', '***@example.com'],
    ['email', 'ab@example.com', 'a***@example.com'],
    ['email', 'no-at-sign', '***'],
    ['email', '@example.com', '***@example.com'],
    ['phone', '+958', '+***'],
    ['phone', '+12958', '+*****'],
    ['phone', '+123958', '+***958'],
    ['nationalId', '123', '****'],
    ['nationalId', '1234', '****'],
    ['nationalId', '1234567', '****'],
    ['nationalId', '12345678', '****5678'],
    ['nationalId', '', '****'],
    ['bankAccount', '12-34', '****'],
    ['cardNumber', '1111', '**** **** **** ****'],
    ['cardNumber', '1234567', '**** **** **** ****'],
    ['dateOfBirth', '17/04/1990', '****-**-**'],
    ['fullName', 'A', '***'],
    ['fullName', 'N. V. A.', '***'],
    ['fullName', '   ', '***'],
    ['fullName', '-- 42', '***'],
    ['cardholderName', 'J', '***'],
    ['address', { line1: 'x', city: 'y', country: 'Vietnam' }, '***'],
    ['address', { line1: 'x', city: 'y' }, '***'],
  ] as const)('%s %p -> %p', (field, value, expected) => {
    const masked = maskField(field, value);
    expect(masked).toBe(expected);
    if (typeof value === 'string' && value.trim().length > 0) expect(masked).not.toBe(value);
  });

  it('a mask never contains a whole short string value', () => {
    for (const field of CUSTOMER_FIELDS) {
      if (field === 'cardExpiry' || field === 'address') continue;
      for (const value of ['7', 'x9', 'Q12', 'Z123', '98765']) {
        const masked = maskField(field, value);
        expect(masked.includes(value) && field !== 'email').toBe(false);
      }
    }
  });
});

describe('programming errors', () => {
  it('cardExpiry is never masked', () => {
    expect(() => maskField('cardExpiry', '12/29')).toThrow(/never masked/);
  });

  it.each([
    ['email', 42],
    ['fullName', null],
    ['nationalId', { id: '123456789' }],
    ['address', 'VN'],
    ['address', null],
    ['address', ['VN']],
  ] as const)('%s of the wrong type (%p): TypeError without the value', (field, value) => {
    let error: unknown;
    try {
      maskField(field, value);
    } catch (caught) {
      error = caught;
    }
    expect(error).toBeInstanceOf(TypeError);
    expect((error as Error).message).not.toContain('123456789');
  });
});
