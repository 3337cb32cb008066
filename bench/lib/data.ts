/**
 * Synthetic customers that pass the vault's validation (Luhn card numbers, valid E.164 phones,
 * future expiry, past birth date). Deterministic in (tag, i), so the seed and every load run
 * produce distinct, unique emails and externalRefs without coordination.
 */

const FIRST = ['Nguyen', 'Anna', 'Lucas', 'Maria', 'Oliver', 'Sofia', 'Tom', 'Chloe', 'Ivan', 'Amara', 'Kenji', 'Leila'];
const MIDDLE = ['Van', 'Marie', 'James', 'Rose', 'Lee', 'Ann', 'Paul', 'Grace'];
const LAST = ['Anh', 'Smith', 'Garcia', 'Okafor', 'Muller', 'Rossi', 'Kowalski', 'Tanaka', 'Dubois', 'Silva', 'Jensen'];
const STREETS = ['High Street', 'Station Road', 'Church Lane', 'Mill Road', 'Park Avenue', 'Victoria Road'];
const CITIES: [string, string][] = [
  ['London', 'SW1A 1AA'],
  ['Manchester', 'M1 1AE'],
  ['Bristol', 'BS1 4DJ'],
  ['Leeds', 'LS1 4AP'],
];

export interface CustomerBody {
  externalRef: string;
  personal: {
    fullName: string;
    email: string;
    phone: string;
    address: { line1: string; line2?: string; city: string; postalCode: string; country: string };
    nationalId: string;
    dateOfBirth: string;
  };
  payment: { cardNumber: string; cardExpiry: string; cardholderName: string; bankAccount: string };
  consents: { marketing: boolean; thirdPartySharing: boolean };
}

/** Luhn check digit for a string of digits. */
function luhnCheckDigit(payload: string): number {
  let sum = 0;
  for (let i = 0; i < payload.length; i++) {
    // The check digit will sit to the right, so the rightmost payload digit is doubled.
    let digit = payload.charCodeAt(payload.length - 1 - i) - 48;
    if (i % 2 === 0) {
      digit *= 2;
      if (digit > 9) digit -= 9;
    }
    sum += digit;
  }
  return (10 - (sum % 10)) % 10;
}

export function cardNumber(i: number): string {
  const payload = `4000${String(i % 1e11).padStart(11, '0')}`;
  return payload + String(luhnCheckDigit(payload));
}

/** London numbers +44 20 7946 0000 onwards; the whole +44 20 7/8 range is valid for libphonenumber. */
export function phone(i: number): string {
  return `+44${2079460000 + (i % 10_000_000)}`;
}

export function email(tag: string, i: number): string {
  return `customer.${tag}.${i}@example.com`;
}

const EXPIRY_YEAR = (new Date().getUTCFullYear() + 3) % 100;

export function customer(tag: string, i: number): CustomerBody {
  const fullName = `${FIRST[i % FIRST.length]} ${MIDDLE[(i >> 2) % MIDDLE.length]} ${LAST[(i >> 4) % LAST.length]}`;
  const [city, postalCode] = CITIES[i % CITIES.length];
  const month = String((i % 12) + 1).padStart(2, '0');
  return {
    externalRef: `acct-${tag}-${i}`,
    personal: {
      fullName,
      email: email(tag, i),
      phone: phone(i),
      address: { line1: `${(i % 250) + 1} ${STREETS[i % STREETS.length]}`, ...(i % 3 === 0 ? { line2: `Flat ${(i % 40) + 1}` } : {}), city, postalCode, country: 'GB' },
      nationalId: `QQ${String(i).padStart(6, '0')}C`,
      dateOfBirth: `${1950 + (i % 50)}-${month}-${String((i % 28) + 1).padStart(2, '0')}`,
    },
    payment: {
      cardNumber: cardNumber(i),
      cardExpiry: `${month}/${String(EXPIRY_YEAR).padStart(2, '0')}`,
      cardholderName: fullName.toUpperCase(),
      bankAccount: `GB82WEST1234${String(i % 1e8).padStart(8, '0')}`,
    },
    consents: { marketing: i % 2 === 0, thirdPartySharing: false },
  };
}
