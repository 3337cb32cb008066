import { describe, expect, it } from '@jest/globals';
import { jcs } from './jcs.js';

/** RFC 8785 examples and Appendix B number vectors. */
describe('jcs (RFC 8785)', () => {
  it('§3.2.2 sample: literals, numbers and strings', () => {
    const input = JSON.parse(
      '{"numbers": [333333333.33333329, 1E30, 4.50, 2e-3, 0.000000000000000000000000001],' +
        ' "string": "\\u20ac$\\u000F\\u000aA\'\\u0042\\u0022\\u005c\\\\\\"\\/", "literals": [null, true, false]}',
    ) as unknown;
    expect(jcs(input)).toBe('{"literals":[null,true,false],"numbers":[333333333.3333333,1e+30,4.5,0.002,1e-27],"string":"€$\\u000f\\nA\'B\\"\\\\\\\\\\"/"}');
  });

  it('§3.2.3 property sorting by UTF-16 code units', () => {
    const input = JSON.parse(
      '{"\\u20ac": "Euro Sign", "\\r": "Carriage Return", "\\ufb33": "Hebrew Letter Dalet With Dagesh", "1": "One",' +
        ' "\\ud83d\\ude00": "Emoji: Grinning Face", "\\u0080": "Control", "\\u00f6": "Latin Small Letter O With Diaeresis"}',
    ) as Record<string, string>;
    // \r (U+000D) < 1 < U+0080 < ö < € < 😀 (U+D83D...) < U+FB33: code units, not code points
    expect(jcs(input)).toBe(
      '{"\\r":"Carriage Return","1":"One","\u0080":"Control","ö":"Latin Small Letter O With Diaeresis","€":"Euro Sign","😀":"Emoji: Grinning Face","\ufb33":"Hebrew Letter Dalet With Dagesh"}',
    );
  });

  const bits = (hex: string): number => Buffer.from(hex, 'hex').readDoubleBE(0);
  it.each([
    ['0000000000000000', '0'],
    ['8000000000000000', '0'],
    ['0000000000000001', '5e-324'],
    ['8000000000000001', '-5e-324'],
    ['7fefffffffffffff', '1.7976931348623157e+308'],
    ['ffefffffffffffff', '-1.7976931348623157e+308'],
    ['4340000000000000', '9007199254740992'],
    ['c340000000000000', '-9007199254740992'],
    ['4430000000000000', '295147905179352830000'],
    ['44b52d02c7e14af5', '9.999999999999997e+22'],
    ['44b52d02c7e14af6', '1e+23'],
    ['44b52d02c7e14af7', '1.0000000000000001e+23'],
    ['444b1ae4d6e2ef4e', '999999999999999700000'],
    ['444b1ae4d6e2ef4f', '999999999999999900000'],
    ['444b1ae4d6e2ef50', '1e+21'],
    ['3eb0c6f7a0b5ed8c', '9.999999999999997e-7'],
    ['3eb0c6f7a0b5ed8d', '0.000001'],
    ['41b3de4355555553', '333333333.3333332'],
    ['41b3de4355555554', '333333333.33333325'],
    ['41b3de4355555555', '333333333.3333333'],
    ['41b3de4355555556', '333333333.3333334'],
    ['41b3de4355555557', '333333333.33333343'],
    ['becbf647612f3696', '-0.0000033333333333333333'],
    ['43143ff3c1cb0959', '1424953923781206.2'],
  ])('Appendix B: %s -> %s', (hex, expected) => {
    expect(jcs(bits(hex))).toBe(expected);
  });

  it.each([['7fffffffffffffff'], ['7ff0000000000000'], ['fff0000000000000']])('Appendix B: %s (NaN, Infinity) is refused', (hex) => {
    expect(() => jcs(bits(hex))).toThrow('not JSON');
  });

  it('nested objects and arrays, no whitespace, undefined members left out', () => {
    expect(jcs({ b: [1, { d: true, c: null }], a: 'x', u: undefined })).toBe('{"a":"x","b":[1,{"c":null,"d":true}]}');
  });

  it('refuses lone surrogates, non-plain objects and non-JSON types', () => {
    expect(() => jcs('\ud800')).toThrow('lone surrogate');
    expect(() => jcs({ ['\udc00']: 1 })).toThrow('lone surrogate');
    expect(jcs('\ud83d\ude00')).toBe('"😀"');
    expect(() => jcs(new Date(0))).toThrow('plain objects');
    expect(() => jcs(1n)).toThrow('not JSON');
    expect(() => jcs(() => 1)).toThrow('not JSON');
  });
});
