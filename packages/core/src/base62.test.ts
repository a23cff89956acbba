import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { BASE62_ALPHABET, encodeBase62Fixed, isBase62, randomBase62 } from './base62.js';

/** A random source that plays back `bytes` in order, then throws. */
function playback(bytes: number[]): (n: number) => Buffer {
  let at = 0;
  return (n) => {
    if (at >= bytes.length) throw new Error('playback exhausted');
    const out = Buffer.from(bytes.slice(at, at + n));
    at += n;
    return out;
  };
}

describe('BASE62_ALPHABET', () => {
  it('is digits, upper case, lower case, in ASCII order', () => {
    expect(BASE62_ALPHABET).toHaveLength(62);
    expect(new Set(BASE62_ALPHABET).size).toBe(62);
    expect([...BASE62_ALPHABET].sort().join('')).toBe(BASE62_ALPHABET);
  });
});

describe('randomBase62', () => {
  it('maps bytes below 248 with % 62 and throws bytes 248-255 away', () => {
    const random = playback([248, 0, 249, 61, 255, 62, 247, 123, ...new Array(100).fill(0)]);
    expect(randomBase62(4, random)).toBe('0z0z');
  });

  it('returns exactly the length asked for, from the alphabet, for any random source', () => {
    fc.assert(
      fc.property(fc.nat(200), fc.uint8Array({ minLength: 1, maxLength: 64 }), (length, pool) => {
        // A source that cycles through `pool`, with at least one usable byte in it.
        const bytes = [...pool, 7];
        let at = 0;
        const random = (n: number) =>
          Buffer.from(Array.from({ length: n }, () => bytes[at++ % bytes.length]!));
        const out = randomBase62(length, random);
        expect(out).toHaveLength(length);
        expect(isBase62(out)).toBe(true);
      }),
    );
  });

  it('is uniform over the alphabet (chi-square, 62 × 2000 draws from crypto)', () => {
    const text = randomBase62(62 * 2000);
    const counts = new Map<string, number>();
    for (const c of text) counts.set(c, (counts.get(c) ?? 0) + 1);
    expect(counts.size).toBe(62);
    let chi2 = 0;
    for (const n of counts.values()) chi2 += (n - 2000) ** 2 / 2000;
    // 61 degrees of freedom: mean 61, sd 11. Above 150 has a chance of about 10^-12 if
    // uniform; `byte % 62` without rejection scores about 1100.
    expect(chi2).toBeLessThan(150);
  });

  it('refuses a source that never yields a usable byte instead of looping forever', () => {
    expect(() => randomBase62(10, (n) => Buffer.alloc(n, 0xff))).toThrow(RangeError);
  });

  it('refuses a negative or fractional length', () => {
    expect(() => randomBase62(-1)).toThrow(RangeError);
    expect(() => randomBase62(1.5)).toThrow(RangeError);
    expect(randomBase62(0)).toBe('');
  });
});

describe('encodeBase62Fixed', () => {
  it('pads to the width', () => {
    expect(encodeBase62Fixed(0, 6)).toBe('000000');
    expect(encodeBase62Fixed(61, 2)).toBe('0z');
    expect(encodeBase62Fixed(62, 2)).toBe('10');
    expect(encodeBase62Fixed(2 ** 32 - 1, 6)).toBe('4gfFC3');
  });

  it('refuses numbers that do not fit, negative or fractional numbers', () => {
    expect(() => encodeBase62Fixed(62, 1)).toThrow(RangeError);
    expect(() => encodeBase62Fixed(-1, 6)).toThrow(RangeError);
    expect(() => encodeBase62Fixed(0.5, 6)).toThrow(RangeError);
    expect(() => encodeBase62Fixed(1, 0)).toThrow(RangeError);
  });

  it('is injective and preserves order at a fixed width', () => {
    fc.assert(
      fc.property(fc.nat({ max: 2 ** 32 - 1 }), fc.nat({ max: 2 ** 32 - 1 }), (a, b) => {
        const ea = encodeBase62Fixed(a, 6);
        const eb = encodeBase62Fixed(b, 6);
        expect(ea).toHaveLength(6);
        expect(ea === eb).toBe(a === b);
        expect(ea < eb).toBe(a < b);
      }),
    );
  });

  it('decodes back to the number', () => {
    fc.assert(
      fc.property(fc.maxSafeNat(), (n) => {
        const text = encodeBase62Fixed(n, 9);
        let back = 0;
        for (const c of text) back = back * 62 + BASE62_ALPHABET.indexOf(c);
        expect(back).toBe(n);
      }),
    );
  });
});

describe('isBase62', () => {
  it('accepts only 0-9, A-Z and a-z', () => {
    expect(isBase62(BASE62_ALPHABET)).toBe(true);
    for (const c of ['_', '-', '+', '/', '=', ' ', 'é', '\u0000', '０'])
      expect(isBase62(`a${c}b`)).toBe(false);
    expect(isBase62('ab_cd', 3)).toBe(true);
    expect(isBase62('ab_cd', 0, 2)).toBe(true);
  });
});
