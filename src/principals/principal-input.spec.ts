import { describe, expect, it } from '@jest/globals';
import { parsePrincipalInput } from './principal-input.js';

describe('parsePrincipalInput (CLI input, same rules as the HTTP DTO)', () => {
  it('splits and trims the role list', async () => {
    expect(await parsePrincipalInput({ name: 'ops team', kind: 'staff', roles: ' admin, security ,' })).toEqual({
      input: { name: 'ops team', kind: 'staff', roles: ['admin', 'security'] },
    });
  });

  it.each([
    ['an unknown role', { name: 'svc', kind: 'service', roles: 'admin,root-x' }, 'roles', 'root-x'],
    ['no role', { name: 'svc', kind: 'service', roles: ' , ' }, 'roles', undefined],
    ['a repeated role', { name: 'svc', kind: 'service', roles: 'ingest,ingest' }, 'roles', undefined],
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
