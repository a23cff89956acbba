import { KEY_MODES, KEY_TYPES } from '@gatehouse/contract';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import {
  findApiKeysInText,
  generateAdminKey,
  generateApiKey,
  KEY_MAX_LENGTH,
  keyChecksum,
  keyHint,
  parseApiKey,
} from './api-key-format.js';
import { BASE62_ALPHABET, randomBase62 } from './base62.js';

const keyType = fc.constantFrom(...KEY_TYPES);
const keyMode = fc.constantFrom(...KEY_MODES);
/** A fast-check random source, so failing cases shrink and replay. */
const randomSource = fc
  .uint8Array({ minLength: 64, maxLength: 64 })
  .map((pool) => (n: number) => Buffer.from(Array.from({ length: n }, (_, i) => pool[i % 64]! % 248)));
/** Any key this module can make: account keys of every type and mode, and operator keys. */
const anyKey = fc.oneof(
  fc.tuple(keyType, keyMode, randomSource).map(([type, mode, random]) => generateApiKey(type, mode, random)),
  randomSource.map((random) => generateAdminKey(random)),
);
/** Characters to substitute: the whole alphabet, the separator and a few that are not allowed. */
const SUBSTITUTES = [...BASE62_ALPHABET, '_', '-', '.', ' ', 'é', '\u0000', '😀'];

function withChecksum(body: string): string {
  return body + keyChecksum(body);
}

describe('keyChecksum', () => {
  it('is CRC32 of the body in 6 base62 characters (vectors from an independent implementation)', () => {
    // Computed with Python's zlib.crc32 and a separate base62 encoder.
    expect(keyChecksum(`sk_test_${'0'.repeat(32)}`)).toBe('127lYz');
    expect(keyChecksum(`adm_${'z'.repeat(32)}`)).toBe('3P8znM');
    expect(keyChecksum(`pk_live_${BASE62_ALPHABET.slice(0, 32)}`)).toBe('1j90KZ');
    expect(keyChecksum('')).toBe('000000');
  });
});

describe('generateApiKey', () => {
  it('makes <kind>_<mode>_<32 random><6 checksum> from crypto', () => {
    expect(generateApiKey('secret', 'live')).toMatch(/^sk_live_[0-9A-Za-z]{38}$/);
    expect(generateApiKey('restricted', 'test')).toMatch(/^rk_test_[0-9A-Za-z]{38}$/);
    expect(generateApiKey('publishable', 'live')).toMatch(/^pk_live_[0-9A-Za-z]{38}$/);
    expect(generateApiKey('secret', 'test')).not.toBe(generateApiKey('secret', 'test'));
  });

  it('refuses an unknown type or mode at run time', () => {
    expect(() => generateApiKey('admin' as 'secret', 'test')).toThrow(TypeError);
    expect(() => generateApiKey('constructor' as 'secret', 'test')).toThrow(TypeError);
    expect(() => generateApiKey('secret', 'prod' as 'live')).toThrow(TypeError);
  });

  it('parses back with the same type and mode', () => {
    fc.assert(
      fc.property(keyType, keyMode, randomSource, (type, mode, random) => {
        const key = generateApiKey(type, mode, random);
        expect(parseApiKey(key)).toEqual({ type, mode, value: key });
      }),
    );
  });
});

describe('generateAdminKey', () => {
  it('makes adm_<32 random><6 checksum> that parses as an operator key with no mode', () => {
    const key = generateAdminKey();
    expect(key).toMatch(/^adm_[0-9A-Za-z]{38}$/);
    expect(parseApiKey(key)).toEqual({ type: 'admin', mode: null, value: key });
  });
});

describe('parseApiKey', () => {
  it('returns null for any single-character substitution of a valid key', () => {
    fc.assert(
      fc.property(anyKey, (key) => {
        for (let i = 0; i < key.length; i++) {
          for (const c of SUBSTITUTES) {
            if (c === key[i]) continue;
            const changed = key.slice(0, i) + c + key.slice(i + 1);
            if (parseApiKey(changed) !== null) throw new Error(`accepted ${changed}`);
          }
        }
      }),
      { numRuns: 40 },
    );
  });

  it('returns null when two different adjacent characters are swapped', () => {
    fc.assert(
      fc.property(anyKey, fc.nat(), (key, at) => {
        const i = at % (key.length - 1);
        fc.pre(key[i] !== key[i + 1]);
        const swapped = key.slice(0, i) + key[i + 1] + key[i] + key.slice(i + 2);
        expect(parseApiKey(swapped)).toBeNull();
      }),
    );
  });

  it('returns null for a key with a character added or removed', () => {
    fc.assert(
      fc.property(anyKey, fc.nat(), fc.constantFrom(...BASE62_ALPHABET), (key, at, c) => {
        const i = at % key.length;
        expect(parseApiKey(key.slice(0, i) + key.slice(i + 1))).toBeNull();
        expect(parseApiKey(key.slice(0, i) + c + key.slice(i))).toBeNull();
      }),
    );
  });

  it('accepts random parts of 32 to 64 characters and nothing outside that', () => {
    for (let n = 28; n <= 70; n++) {
      const key = withChecksum(`sk_live_${randomBase62(n)}`);
      expect(parseApiKey(key) !== null).toBe(n >= 32 && n <= 64);
      const admin = withChecksum(`adm_${randomBase62(n)}`);
      expect(parseApiKey(admin) !== null).toBe(n >= 32 && n <= 64);
    }
  });

  it('refuses lookalikes with a correct checksum but the wrong shape', () => {
    const random = randomBase62(32);
    for (const body of [
      `sk_prod_${random}`,
      `SK_live_${random}`,
      `sk_Live_${random}`,
      `ak_live_${random}`,
      `sk-live-${random}`,
      `sk_live${random}`,
      `whsec_${random}`,
      `adm_live_${random}`,
      `Adm_${random}`,
      `sk_live_${random.slice(0, 31)}_`,
      ` sk_live_${random}`,
    ]) {
      expect(parseApiKey(withChecksum(body))).toBeNull();
    }
    expect(parseApiKey(`${withChecksum(`sk_live_${random}`)}\n`)).toBeNull();
  });

  it('never throws, whatever it is given', () => {
    fc.assert(
      fc.property(
        fc.oneof(fc.string(), fc.string({ unit: 'grapheme' }), fc.string({ unit: 'binary' })),
        (text) => {
          expect(parseApiKey(text)).toBeNull();
        },
      ),
    );
    for (const value of [undefined, null, 42, {}, [], Symbol('x')]) {
      expect(parseApiKey(value as unknown as string)).toBeNull();
    }
  });

  it('never throws on strings that start like a key', () => {
    const prefix = fc.constantFrom('sk_test_', 'rk_live_', 'pk_live_', 'adm_', 'sk_', 'sk_te', '');
    fc.assert(
      fc.property(prefix, fc.string({ maxLength: 80 }), (p, rest) => {
        expect(() => parseApiKey(p + rest)).not.toThrow();
      }),
    );
  });

  it('refuses huge input at once', () => {
    const key = generateApiKey('secret', 'test');
    expect(parseApiKey(key + 'a'.repeat(KEY_MAX_LENGTH))).toBeNull();
    const started = performance.now();
    for (let i = 0; i < 100; i++) parseApiKey(`sk_live_${'a'.repeat(1_000_000)}`);
    expect(performance.now() - started).toBeLessThan(200);
  });
});

describe('keyHint', () => {
  it('shows the prefix with the mode and the last four characters', () => {
    const key = generateApiKey('secret', 'live');
    expect(keyHint(key)).toBe(`sk_live_…${key.slice(-4)}`);
    const restricted = generateApiKey('restricted', 'test');
    expect(keyHint(restricted)).toBe(`rk_test_…${restricted.slice(-4)}`);
    const admin = generateAdminKey();
    expect(keyHint(admin)).toBe(`adm_…${admin.slice(-4)}`);
  });

  it('never shows any of the random part (the last four are checksum)', () => {
    fc.assert(
      fc.property(anyKey, (key) => {
        const random = key.slice(key.startsWith('adm_') ? 4 : 8, -6);
        const hint = keyHint(key);
        for (let i = 0; i + 4 <= random.length; i++) expect(hint).not.toContain(random.slice(i, i + 4));
      }),
    );
  });

  it('shows little of text that is not a key', () => {
    expect(keyHint('short')).toBe('…');
    expect(keyHint('sk_live_abc')).toBe('sk_live_…');
    expect(keyHint('0123456789abcdefWXYZ')).toBe('…WXYZ');
  });
});

describe('findApiKeysInText', () => {
  it('finds keys with valid checksums in surrounding text, with their offsets', () => {
    const sk = generateApiKey('secret', 'live');
    const pk = generateApiKey('publishable', 'test');
    const adm = generateAdminKey();
    const text = `STRIPE_KEY="${sk}"\n// ${pk}, then\tadm=${adm}.`;
    expect(findApiKeysInText(text)).toEqual([
      { value: sk, index: text.indexOf(sk), type: 'secret', mode: 'live' },
      { value: pk, index: text.indexOf(pk), type: 'publishable', mode: 'test' },
      { value: adm, index: text.indexOf(adm), type: 'admin', mode: null },
    ]);
  });

  it('ignores lookalikes whose checksum is wrong', () => {
    const key = generateApiKey('secret', 'test');
    const bad = `${key.slice(0, 20)}${key[20] === 'a' ? 'b' : 'a'}${key.slice(21)}`;
    expect(findApiKeysInText(`sk_test_${'x'.repeat(38)} ${bad} adm_${'0'.repeat(38)}`)).toEqual([]);
  });

  it('finds every generated key in random surrounding text', () => {
    fc.assert(
      fc.property(fc.array(fc.tuple(fc.string({ maxLength: 30 }), anyKey), { maxLength: 5 }), (parts) => {
        // Separate key and text with a space: glued letters are covered below.
        const text = parts.map(([noise, key]) => `${noise} ${key} `).join('');
        const found = findApiKeysInText(text).map((f) => f.value);
        expect(found).toEqual(parts.map(([, key]) => key));
      }),
    );
  });

  it('finds a key glued to letters on either side', () => {
    const key = generateApiKey('restricted', 'live');
    const [found] = findApiKeysInText(`xx${key}moreLetters123`);
    expect(found?.value).toBe(key);
    expect(found?.index).toBe(2);
  });

  it('finds adjacent keys', () => {
    const a = generateApiKey('secret', 'test');
    const b = generateAdminKey();
    expect(findApiKeysInText(`${a}${b}`).map((f) => f.value)).toEqual([a, b]);
  });

  it('stays linear on adversarial input', () => {
    const text = `sk_test_${'a'.repeat(70)}`.repeat(20_000) + 'adm_'.repeat(100_000);
    const started = performance.now();
    expect(findApiKeysInText(text)).toEqual([]);
    expect(performance.now() - started).toBeLessThan(3000);
  });
});
