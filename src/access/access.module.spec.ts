import 'reflect-metadata';
import { describe, expect, it } from '@jest/globals';
import { Test } from '@nestjs/testing';
import { AccessModule, AccessPolicy } from './index.js';

describe('AccessModule', () => {
  it('provides and exports AccessPolicy', async () => {
    const moduleRef = await Test.createTestingModule({ imports: [AccessModule] }).compile();
    expect(moduleRef.get(AccessPolicy)).toBeInstanceOf(AccessPolicy);
    await moduleRef.close();
  });
});
