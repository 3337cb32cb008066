import { describe, expect, it } from '@jest/globals';
import { decodeDekDestruction } from './dek-evictions.js';

const ID = '0f8fad5b-d9cb-469f-a165-70867728950e';

describe('DEK destruction payloads (NOTIFY cv_dek_destroyed)', () => {
  it('an erasure destroys every version; a re-key the versions below the new one', () => {
    expect(decodeDekDestruction(ID)).toEqual({ customerId: ID, below: Number.POSITIVE_INFINITY });
    expect(decodeDekDestruction(`${ID}:3`)).toEqual({ customerId: ID, below: 3 });
    expect(decodeDekDestruction(ID.toUpperCase())).toEqual({ customerId: ID, below: Number.POSITIVE_INFINITY });
  });

  it.each(['', 'not-a-uuid', `${ID}:`, `${ID}:x`, `${ID}:-1`, `${ID}:1:2`, ` ${ID}`, `${ID}:12345678901`])('ignores a malformed payload %j', (payload) => {
    expect(decodeDekDestruction(payload)).toBeUndefined();
  });
});
