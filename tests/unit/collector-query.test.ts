import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { lazyQuery, parseQuerystring, trackerParams } from '../../collector/query';

// The collector reads its four tracker parameters with trackerParams and gives Fastify a lazy
// `request.query`: both must say exactly what Fastify's own parser (fast-querystring) says.

// Pieces a querystring is made of, the awkward ones included: separators, `+`, valid, truncated
// and invalid escapes, encoded keys that decode to ours, non-ASCII.
const piece = fc.constantFrom(
  '&', '=', '+', '%', '%2', '%41', '%75', '%E2%82%AC', '%ZZ', '%C3', 'n', 'u', 'i', 'd', 'c', 'x', 'e', '_', 'p',
  'nuid', 'cx', 'ue_px', 'u', 'n%75id', 'c%78', 'ue%5Fpx', 'u+', '+u', '%75', 'é', ' ', 'eyJhIjoxfQ', 'https%3A%2F%2Fa.example%2F',
);
const querystring = fc.oneof(fc.array(piece, { maxLength: 40 }).map((a) => a.join('')), fc.string({ maxLength: 60 }));
const KEYS = ['nuid', 'cx', 'ue_px', 'u'] as const;

describe('trackerParams', () => {
  it('reads nuid, cx, ue_px and u as fast-querystring does (property)', () => {
    fc.assert(
      fc.property(querystring, (qs) => {
        const full = parseQuerystring(qs) as Record<string, unknown>;
        const mine = trackerParams(qs);
        for (const key of KEYS) expect(mine[key]).toEqual(full[key]);
      }),
      { numRuns: 20_000 },
    );
  });

  it('on the tracker cases: repeated keys, encoded keys and values, plus signs, no value', () => {
    expect(trackerParams('e=pv&nuid=abc&cx=eyJ9&u=https%3A%2F%2Fa.example%2F%3Fq%3D1')).toEqual({ nuid: 'abc', cx: 'eyJ9', ue_px: undefined, u: 'https://a.example/?q=1' });
    expect(trackerParams('cx=a&cx=b&cx=c').cx).toEqual(['a', 'b', 'c']);
    expect(trackerParams('n%75id=x+y&u').nuid).toBe('x y');
    expect(trackerParams('u').u).toBe('');
    expect(trackerParams('u=%ZZ').u).toBe('%ZZ');
    expect(trackerParams('')).toEqual({ nuid: undefined, cx: undefined, ue_px: undefined, u: undefined });
  });
});

describe('lazyQuery', () => {
  it('is the parsed querystring, whatever looks at it (property)', () => {
    fc.assert(
      fc.property(querystring, (qs) => {
        const full = parseQuerystring(qs) as Record<string, unknown>;
        const lazy = lazyQuery(qs);
        expect(Object.keys(lazy)).toEqual(Object.keys(full));
        expect({ ...lazy }).toEqual({ ...full });
        for (const key of Object.keys(full)) {
          expect(key in lazy).toBe(true);
          expect(lazy[key]).toEqual(full[key]);
        }
        expect(JSON.stringify(lazy)).toBe(JSON.stringify(full));
      }),
      { numRuns: 5_000 },
    );
  });

  it('can be written to, as a parsed query can', () => {
    const q = lazyQuery('a=1&b=2');
    q.c = '3';
    delete q.a;
    expect({ ...q }).toEqual({ b: '2', c: '3' });
    expect(Object.getPrototypeOf(q)).toBe(Object.getPrototypeOf(parseQuerystring('a=1')));
  });
});
