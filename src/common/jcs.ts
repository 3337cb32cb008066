/**
 * RFC 8785 JSON Canonicalization Scheme (JCS): the one serialisation of a JSON value that a signer
 * and a verifier agree on byte for byte.
 * - object keys sorted by their UTF-16 code units (what `Array.prototype.sort` compares), no
 *   whitespace; members whose value is `undefined` are left out, as JSON.stringify does;
 * - numbers in ECMAScript's Number.prototype.toString form (JSON.stringify's), -0 as 0; NaN and
 *   infinities are not JSON: refused;
 * - strings as JSON.stringify writes them (the short escapes \b \t \n \f \r \" \\, other controls
 *   as lower-case \u00xx, everything else literal); a lone surrogate cannot be encoded as UTF-8: refused.
 * Only plain data is accepted (objects, arrays, strings, finite numbers, booleans, null).
 */
export class JcsError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'JcsError';
  }
}

const LONE_SURROGATE = /[\uD800-\uDBFF](?![\uDC00-\uDFFF])|(?<![\uD800-\uDBFF])[\uDC00-\uDFFF]/;

export function jcs(value: unknown): string {
  switch (typeof value) {
    case 'string':
      if (LONE_SURROGATE.test(value)) throw new JcsError('a string holds a lone surrogate');
      return JSON.stringify(value);
    case 'number':
      if (!Number.isFinite(value)) throw new JcsError('NaN and infinities are not JSON');
      return JSON.stringify(value);
    case 'boolean':
      return value ? 'true' : 'false';
    case 'object': {
      if (value === null) return 'null';
      if (Array.isArray(value)) return `[${value.map((item: unknown) => (item === undefined ? 'null' : jcs(item))).join(',')}]`;
      const proto: unknown = Object.getPrototypeOf(value);
      if (proto !== Object.prototype && proto !== null) throw new JcsError('only plain objects are canonicalised');
      const record = value as Record<string, unknown>;
      const members: string[] = [];
      for (const key of Object.keys(record).sort()) {
        if (record[key] === undefined) continue;
        members.push(`${jcs(key)}:${jcs(record[key])}`);
      }
      return `{${members.join(',')}}`;
    }
    default:
      throw new JcsError(`a ${typeof value} is not JSON`);
  }
}
