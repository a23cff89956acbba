import { idPattern } from '@gatehouse/contract';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { CROCKFORD_BASE32_ALPHABET, idTime, newId } from './ulid.js';

const MAX_TIME = 2 ** 48 - 1;
const bytes = (b: Uint8Array) => () => Buffer.from(b);

describe('newId', () => {
  it('is <prefix>_<26 Crockford base32 characters>, as the contract expects', () => {
    for (const prefix of ['acct', 'key', 'we', 'evt', 'del', 'req', 'aud', 'sub', 'usr'] as const) {
      expect(newId(prefix)).toMatch(idPattern(prefix));
    }
  });

  it('encodes the time as in the ULID specification', () => {
    // The example of the ULID spec: 1469918176385 ms is `01ARYZ6S41`.
    const id = newId('evt', 1469918176385, (n) => Buffer.alloc(n, 0));
    expect(id).toBe('evt_01ARYZ6S410000000000000000');
    expect(newId('evt', MAX_TIME, (n) => Buffer.alloc(n, 0xff))).toBe(`evt_7ZZZZZZZZZ${'Z'.repeat(16)}`);
    expect(newId('evt', 0, (n) => Buffer.alloc(n, 0))).toBe(`evt_${'0'.repeat(26)}`);
  });

  it('spends all 80 random bits, most significant first', () => {
    const random = Buffer.from([0x80, 0, 0, 0, 0, 0, 0, 0, 0, 0x01]);
    // 10000 00000 … 00001 in groups of five bits.
    expect(newId('x', 0, () => random).slice(-16)).toBe(`G${'0'.repeat(14)}1`);
  });

  it('sorts by time as a plain string, whatever the random part', () => {
    fc.assert(
      fc.property(
        fc.nat({ max: MAX_TIME }),
        fc.nat({ max: MAX_TIME }),
        fc.uint8Array({ minLength: 10, maxLength: 10 }),
        fc.uint8Array({ minLength: 10, maxLength: 10 }),
        (t1, t2, r1, r2) => {
          fc.pre(t1 !== t2);
          const a = newId('req', t1, bytes(r1));
          const b = newId('req', t2, bytes(r2));
          expect(a < b).toBe(t1 < t2);
        },
      ),
    );
  });

  it('gives back its time through idTime', () => {
    fc.assert(
      fc.property(fc.nat({ max: MAX_TIME }), (t) => {
        expect(idTime(newId('aud', t))).toBe(t);
      }),
    );
  });

  it('makes distinct ids from the system random source', () => {
    const ids = new Set(Array.from({ length: 10_000 }, () => newId('key', 1_700_000_000_000)));
    expect(ids.size).toBe(10_000);
  });

  it('refuses a bad prefix or time', () => {
    for (const prefix of ['', 'Key', 'a_b', 'k-y', '1abc', 'x'.repeat(17)]) {
      expect(() => newId(prefix)).toThrow(TypeError);
    }
    for (const t of [-1, 1.5, MAX_TIME + 1, Number.NaN]) expect(() => newId('key', t)).toThrow(RangeError);
  });
});

describe('idTime', () => {
  it('is null for text that is not an id', () => {
    for (const text of [
      '',
      'key',
      'key_',
      `key_${'0'.repeat(25)}`,
      `key_${'I'.repeat(26)}`,
      `key_8${'0'.repeat(25)}`,
    ]) {
      expect(idTime(text)).toBeNull();
    }
  });

  it('uses the Crockford alphabet (no I, L, O, U)', () => {
    expect(CROCKFORD_BASE32_ALPHABET).toHaveLength(32);
    expect(CROCKFORD_BASE32_ALPHABET).not.toMatch(/[ILOU]/);
  });
});
