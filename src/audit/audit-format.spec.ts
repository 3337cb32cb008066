import { beforeAll, describe, expect, it } from '@jest/globals';
import { deriveAuditSigningSeed, initSodium, signDetached, signingKeyPairFromSeed, verifyDetached } from '../crypto/index.js';
import { canonicalEvent, canonicalJson, chainHash, GENESIS_HASH, inputToRow, type AuditEventBody } from './audit-event.js';
import { csvLine } from './audit-query.service.js';
import { checkpointFromJson, checkpointMessage, checkpointToJson } from './audit-signing.js';

/** The worked example of docs/AUDIT-FORMAT.md: if this fails, the document (or the format) changed. */
const EVENT_1: AuditEventBody = {
  id: '0b6f7c1e-4a2d-4f3b-8c9e-1d2a3b4c5d6e',
  at: new Date('2025-11-25T10:15:30.123Z'),
  requestId: 'req-8c1f',
  actor: { id: '5c2e1f3a-7b9d-4e8f-a1b2-c3d4e5f60718', name: 'support-desk', kind: 'service', roles: ['support'] },
  action: 'customer.read',
  resource: { type: 'customer', id: '9a8b7c6d-5e4f-4a3b-8c2d-1e0f9a8b7c6d' },
  purpose: 'service_support',
  reason: 'TICKET-42',
  fields: { revealed: ['fullName', 'email'], masked: ['address'], written: [] },
  outcome: 'allowed',
  status: 200,
  clientIp: '10.0.0.7',
  details: null,
};
const EVENT_2: AuditEventBody = {
  id: 'e3d2c1b0-a9f8-4e7d-9c6b-5a4f3e2d1c0b',
  at: new Date('2025-11-25T10:15:30.456Z'),
  requestId: 'req-8c20',
  actor: { id: null, name: 'anonymous', kind: 'anonymous', roles: [] },
  action: 'auth.failed',
  resource: { type: 'request', id: null },
  purpose: null,
  reason: 'Zoë "urgent"',
  fields: { revealed: [], masked: [], written: [] },
  outcome: 'denied',
  status: 401,
  clientIp: '10.0.0.9',
  details: { tokenHashPrefix: 'a1b2c3d4', attempts: 3 },
};

describe('audit format (docs/AUDIT-FORMAT.md worked example)', () => {
  beforeAll(async () => {
    await initSodium();
  });

  it('canonical bytes and chain hashes', () => {
    const c1 = canonicalEvent(1, EVENT_1);
    expect(c1).toBe(
      '{"action":"customer.read","actor":{"id":"5c2e1f3a-7b9d-4e8f-a1b2-c3d4e5f60718","kind":"service","name":"support-desk","roles":["support"]},"at":"2025-11-25T10:15:30.123Z","clientIp":"10.0.0.7","details":null,"fields":{"masked":["address"],"revealed":["fullName","email"],"written":[]},"id":"0b6f7c1e-4a2d-4f3b-8c9e-1d2a3b4c5d6e","outcome":"allowed","purpose":"service_support","reason":"TICKET-42","requestId":"req-8c1f","resource":{"id":"9a8b7c6d-5e4f-4a3b-8c2d-1e0f9a8b7c6d","type":"customer"},"seq":1,"status":200,"v":1}',
    );
    expect(Buffer.byteLength(c1)).toBe(523);
    const h1 = chainHash(GENESIS_HASH, c1);
    expect(h1.toString('hex')).toBe('f33b1db718c83af023957d7acbecd969adf4d8cf35dc67d66c71be71c3fe8c43');
    const c2 = canonicalEvent(2, EVENT_2);
    expect(Buffer.byteLength(c2)).toBe(446);
    expect(c2).toContain('"details":{"attempts":3,"tokenHashPrefix":"a1b2c3d4"}');
    expect(c2).toContain('"reason":"Zoë \\"urgent\\""');
    expect(chainHash(h1, c2).toString('hex')).toBe('ca128ac6d331e7ac8a1639c4ab56729b136ece6c75213ed526b27906663d8141');
    // JCS of the plain object is the same string
    expect(canonicalJson({ ...EVENT_2, at: EVENT_2.at.toISOString(), seq: 2, v: 1 })).toBe(c2);
  });

  it('checkpoint signature with the key derived from the example root key', () => {
    const root = Buffer.from(Array.from({ length: 32 }, (_, i) => i));
    const seed = deriveAuditSigningSeed(root);
    expect(seed.toString('hex')).toBe('62cfcd43d3a6457d9df4ed2bedf45e418d3f765c7953e21232494773a29b207e');
    const pair = signingKeyPairFromSeed(seed);
    expect(pair.publicKey.toString('base64')).toBe('fjV6KBePkHXKS0eCV5kVHj28ftroXbupIv8g7k0Cei0=');
    expect(pair.keyId).toBe('6a3aee149f54aa6c');
    const body = {
      seq: 2,
      hash: Buffer.from('ca128ac6d331e7ac8a1639c4ab56729b136ece6c75213ed526b27906663d8141', 'hex'),
      at: new Date('2025-11-25T10:15:31.000Z'),
      keyId: pair.keyId,
      prevSignature: null,
    };
    expect(checkpointMessage(body).toString()).toBe(
      '{"at":"2025-11-25T10:15:31.000Z","hash":"ca128ac6d331e7ac8a1639c4ab56729b136ece6c75213ed526b27906663d8141","keyId":"6a3aee149f54aa6c","prevSignature":null,"seq":2,"type":"customer-vault.audit.checkpoint.v1"}',
    );
    const signature = signDetached(checkpointMessage(body), pair.privateKey);
    expect(signature.toString('base64')).toBe('wvxzuyLlOcGEihYwJ9gnI3okpdTTWaePgYea2no1waNGxuKOr+fEZQbeRjS+esgogFldSZaZxOtPyZeaQgUGDg==');
    // the file line round-trips
    const parsed = checkpointFromJson(JSON.stringify(checkpointToJson({ ...body, signature })));
    expect(parsed && verifyDetached(parsed.signature, checkpointMessage(parsed), pair.publicKey)).toBe(true);
    expect(checkpointFromJson('{"seq":2,"hash":"zz"}')).toBeUndefined();
    expect(checkpointFromJson('not json')).toBeUndefined();
  });

  it('recorded rows: NUL replaced, empty details dropped, non-finite numbers null', () => {
    const row = inputToRow(
      {
        requestId: 'r\u0000', actor: { id: null, name: 'n', kind: 'anonymous', roles: [] }, action: 'a', resource: { type: 't', id: null },
        purpose: null, reason: 'x\u0000y', fields: { revealed: [], masked: [], written: [] }, outcome: 'denied', status: 401, clientIp: null,
        details: { n: Number.NaN },
      },
      new Date('2025-01-01T00:00:00.000Z'),
    );
    expect(row).toMatchObject({ request_id: 'r\uFFFD', reason: 'x\uFFFDy', details: { n: null }, at: '2025-01-01T00:00:00.000Z' });
    expect(inputToRow({ ...EVENT_1, requestId: 'r', purpose: null, reason: null, clientIp: null, details: {} }).details).toBeNull();
  });

  it('CSV cells are quoted as RFC 4180 wants and never start a spreadsheet formula', () => {
    const line = csvLine({
      ...EVENT_1,
      seq: 1,
      at: EVENT_1.at.toISOString(),
      reason: '=HYPERLINK("http://x")',
      actor: { ...EVENT_1.actor, name: 'a,b' },
      prevHash: '00',
      hash: '11',
    });
    expect(line).toContain(`,"'=HYPERLINK(""http://x"")",`);
    expect(line).toContain(',"a,b",');
    expect(line.endsWith('\r\n')).toBe(true);
  });
});
