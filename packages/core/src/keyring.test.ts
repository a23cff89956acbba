import { inspect } from 'node:util';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { Keyring, KeyringError } from './keyring.js';

const b64 = (bytes: Uint8Array) => Buffer.from(bytes).toString('base64');
const key32 = fc.uint8Array({ minLength: 32, maxLength: 32 });
const keyName = fc.stringMatching(/^[a-z][a-z0-9_-]{0,31}$/);
const version = fc.integer({ min: 1, max: 999_999_999 });

/** Every 8-character piece of `material`: none may appear in an error message. */
function pieces(material: string): string[] {
  const out: string[] = [];
  for (let i = 0; i + 8 <= material.length; i++) out.push(material.slice(i, i + 8));
  return out;
}

function parseError(text: string): KeyringError {
  try {
    Keyring.parse(text);
  } catch (err) {
    if (err instanceof KeyringError) return err;
    throw err;
  }
  throw new Error('parse accepted the text');
}

describe('Keyring.parse', () => {
  it('reads comma- and newline-separated name:version:base64key entries', () => {
    const [a, b, c] = [Buffer.alloc(32, 1), Buffer.alloc(32, 2), Buffer.alloc(32, 3)];
    const text = `# keys\npepper:1:${a.toString('base64')}, pepper:2:${b.toString('base64')}\r\n\n  data:1:${c.toString('base64url')}\n`;
    const ring = Keyring.parse(text);
    expect(ring.names()).toEqual(['data', 'pepper']);
    expect(ring.versions('pepper')).toEqual([2, 1]);
    expect(ring.current('pepper')).toEqual({ name: 'pepper', version: 2, key: b });
    expect(ring.get('pepper', 1)?.key.equals(a)).toBe(true);
    expect(ring.get('data', 1)?.key.equals(c)).toBe(true);
    expect(ring.get('data', 2)).toBeUndefined();
    expect(ring.get('nope', 1)).toBeUndefined();
    expect(ring.versions('nope')).toEqual([]);
  });

  it('round-trips through serialize', () => {
    const entries = fc.uniqueArray(fc.tuple(keyName, version, key32), {
      minLength: 1,
      maxLength: 8,
      selector: ([name, v]) => `${name}:${v}`,
    });
    fc.assert(
      fc.property(entries, (list) => {
        const text = list.map(([name, v, key]) => `${name}:${v}:${b64(key)}`).join('\n');
        const ring = Keyring.parse(text);
        for (const [name, v, key] of list) expect(ring.get(name, v)?.key.equals(Buffer.from(key))).toBe(true);
        const again = Keyring.parse(ring.serialize());
        expect(again.serialize()).toBe(ring.serialize());
        for (const name of ring.names()) expect(again.versions(name)).toEqual(ring.versions(name));
      }),
    );
  });

  it.each([
    ['', 'ERR_KEYRING_EMPTY'],
    [' , \n# only a comment', 'ERR_KEYRING_EMPTY'],
    ['pepper:1', 'ERR_KEYRING_ENTRY_MALFORMED'],
    ['pepper:1:KEY:extra', 'ERR_KEYRING_ENTRY_MALFORMED'],
    ['KEY', 'ERR_KEYRING_ENTRY_MALFORMED'],
    ['Pepper:1:KEY', 'ERR_KEYRING_NAME_INVALID'],
    [':1:KEY', 'ERR_KEYRING_NAME_INVALID'],
    ['pepper:0:KEY', 'ERR_KEYRING_VERSION_INVALID'],
    ['pepper:01:KEY', 'ERR_KEYRING_VERSION_INVALID'],
    ['pepper:v1:KEY', 'ERR_KEYRING_VERSION_INVALID'],
    ['pepper:1:SHORT', 'ERR_KEYRING_KEY_INVALID'],
    ['pepper:1:LONG', 'ERR_KEYRING_KEY_INVALID'],
    ['pepper:1:NOTB64', 'ERR_KEYRING_KEY_INVALID'],
    ['pepper:1:KEY,pepper:1:KEY', 'ERR_KEYRING_DUPLICATE'],
  ])('refuses %j with %s', (template, code) => {
    const key = Buffer.alloc(32, 7);
    const text = template
      .replaceAll('KEY', key.toString('base64'))
      .replaceAll('SHORT', key.subarray(0, 31).toString('base64'))
      .replaceAll('LONG', Buffer.concat([key, key]).toString('base64'))
      .replaceAll('NOTB64', `${key.toString('base64').slice(0, 40)}!!!=`);
    const err = parseError(text);
    expect(err.code).toBe(code);
    expect(err.name).toBe('KeyringError');
  });

  it('refuses non-canonical base64 (stray low bits in the last character)', () => {
    const text = Buffer.alloc(32, 0).toString('base64'); // 'AAAA…AAA='
    expect(Keyring.parse(`pepper:1:${text}`).current('pepper').key).toHaveLength(32);
    expect(parseError(`pepper:1:${text.slice(0, 42)}B=`).code).toBe('ERR_KEYRING_KEY_INVALID');
  });

  it('never puts key material in an error message', () => {
    const broken = fc.constantFrom(
      (k: string) => k, // a key with no name or version
      (k: string) => `pepper:${k}`,
      (k: string) => `${k}:1:${k}`,
      (k: string) => `pepper:${k}:${k}`,
      (k: string) => `pepper:1:${k}x`,
      (k: string) => `pepper:1:${k.slice(0, -4)}`,
      (k: string) => `pepper:1:${k}:${k}`,
      (k: string) => `pepper:1:${k},pepper:1:${k}`,
      (k: string) => `data:2:${k}\npepper:1:${k}${k}`,
    );
    fc.assert(
      fc.property(key32, broken, (bytes, make) => {
        const material = b64(bytes);
        const err = parseError(make(material));
        for (const piece of [...pieces(material), ...pieces(Buffer.from(bytes).toString('base64url'))]) {
          expect(err.message).not.toContain(piece);
          expect(String(err.stack)).not.toContain(piece);
        }
      }),
    );
  });
});

describe('Keyring', () => {
  it('generates pepper:1 and data:1 of 32 random bytes each', () => {
    const ring = Keyring.generate();
    expect(ring.names()).toEqual(['data', 'pepper']);
    expect(ring.current('pepper').version).toBe(1);
    expect(ring.current('pepper').key).toHaveLength(32);
    expect(ring.current('data').key.equals(ring.current('pepper').key)).toBe(false);
    expect(ring.serialize()).toMatch(/^data:1:[A-Za-z0-9+/]{43}=,pepper:1:[A-Za-z0-9+/]{43}=$/);
  });

  it('refuses a random source that returns the wrong number of bytes', () => {
    expect(() => Keyring.generate(() => Buffer.alloc(16))).toThrow(RangeError);
  });

  it('throws KeyringError from current() for a missing name', () => {
    expect(() => Keyring.generate().current('signing')).toThrow(KeyringError);
  });

  it('adds a version without changing the original', () => {
    const ring = Keyring.generate();
    const next = ring.withNewVersion('pepper');
    expect(ring.versions('pepper')).toEqual([1]);
    expect(next.versions('pepper')).toEqual([2, 1]);
    expect(next.get('pepper', 1)?.key.equals(ring.current('pepper').key)).toBe(true);
    expect(next.current('pepper').key.equals(ring.current('pepper').key)).toBe(false);
    expect(next.current('data').key.equals(ring.current('data').key)).toBe(true);
    expect(next.withNewVersion('webhooks').versions('webhooks')).toEqual([1]);
    expect(() => ring.withNewVersion('Bad Name')).toThrow(KeyringError);
  });

  it('hands out copies: changing a returned key changes nothing', () => {
    const ring = Keyring.generate();
    const before = ring.serialize();
    ring.current('pepper').key.fill(0);
    ring.get('data', 1)?.key.fill(0);
    expect(ring.serialize()).toBe(before);
  });

  it('never shows key material when logged or turned into JSON', () => {
    const ring = Keyring.generate();
    const material = ring.current('pepper').key.toString('base64');
    for (const shown of [
      inspect(ring, { showHidden: true, depth: 10 }),
      JSON.stringify(ring),
      String(ring),
    ]) {
      expect(shown).not.toContain(material.slice(0, 12));
    }
    expect(JSON.parse(JSON.stringify(ring))).toEqual({ data: [1], pepper: [1] });
  });
});
