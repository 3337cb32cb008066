import { describe, expect, it } from '@jest/globals';
import { parsePrincipalInput } from './principal-input.js';

describe('parsePrincipalInput (CLI input, same rules as the HTTP DTO)', () => {
  it('splits and trims the role list', async () => {
    expect(await parsePrincipalInput({ name: 'ops team', kind: 'staff', roles: ' security, privacy ,' })).toEqual({
      input: { name: 'ops team', kind: 'staff', roles: ['security', 'privacy'] },
    });
  });

  it.each([
    ['an unknown role', { name: 'svc', kind: 'service', roles: 'admin,root-x' }, 'roles', 'root-x'],
    ['no role', { name: 'svc', kind: 'service', roles: ' , ' }, 'roles', undefined],
    ['a repeated role', { name: 'svc', kind: 'service', roles: 'ingest,ingest' }, 'roles', undefined],
    ['ingest with a reading role', { name: 'svc', kind: 'service', roles: 'ingest,support' }, 'roles', undefined],
    ['admin with a reading role', { name: 'ops', kind: 'staff', roles: 'security,admin' }, 'roles', undefined],
    ['an unknown kind', { name: 'svc', kind: 'robot-x', roles: 'ingest' }, 'kind', 'robot-x'],
    ['a long name', { name: 'Q'.repeat(101), kind: 'service', roles: 'ingest' }, 'name', 'Q'.repeat(101)],
    ['a control character', { name: 'a\tb', kind: 'service', roles: 'ingest' }, 'name', undefined],
  ])('%s: refused, naming the field and not the value', async (_label, raw, field, value) => {
    const result = await parsePrincipalInput(raw);
    expect('details' in result).toBe(true);
    if (!('details' in result)) return;
    expect(result.details.map((d) => d.field)).toContain(field);
    if (value !== undefined) expect(JSON.stringify(result.details)).not.toContain(value);
  });
});
