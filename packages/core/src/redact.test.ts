import { KEY_MODES, KEY_TYPES } from '@gatehouse/contract';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { generateAdminKey, generateApiKey, KEY_MAX_LENGTH, keyHint } from './api-key-format.js';
import { isSensitiveName, REDACTED, redactExcerpt, redactObject, redactSecrets } from './redact.js';

const anyKey = fc.oneof(
  fc
    .tuple(fc.constantFrom(...KEY_TYPES), fc.constantFrom(...KEY_MODES))
    .map(([t, m]) => generateApiKey(t, m)),
  fc.constant(null).map(() => generateAdminKey()),
);
/** Text to surround secrets with, heavy on the characters keys are made of. */
const noise = fc.oneof(
  fc.string({ maxLength: 20 }),
  fc.stringMatching(/^[A-Za-z0-9_]{0,20}$/),
  fc.constantFrom('Bearer ', 'adm_', 'sk_test_', '"', 'key=', '\n', 'Basic '),
);

/** The random part of a key: what must never reach a log. */
function randomPart(key: string): string {
  return key.slice(key.startsWith('adm_') ? 4 : 8, -6);
}

describe('redactSecrets', () => {
  it('replaces keys with their hint', () => {
    const sk = generateApiKey('secret', 'live');
    const adm = generateAdminKey();
    expect(redactSecrets(`using ${sk} now`)).toBe(`using ${keyHint(sk)} now`);
    expect(redactSecrets(`operator ${adm}.`)).toBe(`operator ${keyHint(adm)}.`);
  });

  it('never lets a generated key, or its random part, through, whatever surrounds it', () => {
    fc.assert(
      fc.property(fc.array(fc.tuple(noise, anyKey), { minLength: 1, maxLength: 4 }), noise, (parts, tail) => {
        const text = parts.map(([n, key]) => n + key).join('') + tail;
        const out = redactSecrets(text);
        for (const [, key] of parts) {
          expect(out).not.toContain(key);
          expect(out).not.toContain(randomPart(key).slice(0, 16));
          expect(out).not.toContain(randomPart(key).slice(16));
        }
      }),
      { numRuns: 500 },
    );
  });

  it("redacts keys glued together (one must not swallow the next one's prefix)", () => {
    const a = generateApiKey('secret', 'test');
    const b = generateApiKey('secret', 'live');
    const c = generateAdminKey();
    expect(redactSecrets(a + b + c)).toBe(keyHint(a) + keyHint(b) + keyHint(c));
    expect(redactSecrets(`adm_XYZ${a}`)).toBe(`adm_XYZ${keyHint(a)}`);
  });

  it('redacts key-shaped text whether or not the checksum is valid', () => {
    const fake = `sk_live_${'a'.repeat(32)}ZZZZZZ`;
    expect(redactSecrets(fake)).toBe('sk_live_…ZZZZ');
    expect(redactSecrets('rk_test_short')).toBe('rk_test_…');
    expect(redactSecrets(`adm_${'b'.repeat(40)}`)).toBe('adm_…bbbb');
  });

  it('leaves ordinary identifiers that merely start with adm_ alone', () => {
    expect(redactSecrets('table adm_users and adm_audit_log')).toBe('table adm_users and adm_audit_log');
  });

  it('redacts webhook secrets, Bearer and Basic credentials, and secret query parameters', () => {
    const whsec = `whsec_${Buffer.alloc(32, 0xab).toString('base64')}`;
    expect(redactSecrets(`secret=${whsec}!`)).toBe(`secret=whsec_${REDACTED}!`);
    expect(redactSecrets('Authorization: Bearer eyJhbGciOi.J9.abc-_')).toBe(
      `Authorization: Bearer ${REDACTED}`,
    );
    expect(redactSecrets('authorization: bearer opaque')).toBe(`authorization: bearer ${REDACTED}`);
    const basic = Buffer.from(`${generateApiKey('secret', 'test')}:`).toString('base64');
    expect(redactSecrets(`Authorization: Basic ${basic}`)).toBe(`Authorization: Basic ${REDACTED}`);
    expect(redactSecrets('GET /cb?code=1&access_token=abc.def&x=2')).toBe(
      `GET /cb?code=1&access_token=${REDACTED}&x=2`,
    );
    expect(redactSecrets('/v1?api_key=k1;password=p2#top')).toBe(
      `/v1?api_key=${REDACTED};password=${REDACTED}#top`,
    );
    expect(redactSecrets('/v1?key=a;b')).toBe(`/v1?key=${REDACTED};b`);
  });

  it('keeps a JSON log line valid JSON', () => {
    const key = generateApiKey('secret', 'live');
    const line = JSON.stringify({
      msg: 'request',
      req: { headers: { authorization: `Bearer ${key}` }, url: `/v1/x?token=${key}` },
      note: `key ${key} "quoted"`,
      webhook: `whsec_${Buffer.alloc(32, 1).toString('base64')}`,
    });
    const out = redactSecrets(line);
    expect(out).not.toContain(randomPart(key));
    const parsed = JSON.parse(out);
    expect(parsed.req.headers.authorization).toBe(`Bearer ${REDACTED}`);
    expect(parsed.req.url).toBe(`/v1/x?token=${REDACTED}`);
    expect(parsed.note).toBe(`key ${keyHint(key)} "quoted"`);
  });

  it('is idempotent and leaves text without secrets unchanged', () => {
    fc.assert(
      fc.property(fc.string(), anyKey, (text, key) => {
        const once = redactSecrets(text + key);
        expect(redactSecrets(once)).toBe(once);
      }),
    );
    const plain = 'GET /v1/payments 200 12ms key_01HZY7 sk_live_…wxyz';
    expect(redactSecrets(plain)).toBe(plain);
  });

  it('stays linear on adversarial input', () => {
    const text = 'sk_test_'.repeat(100_000) + 'Bearer '.repeat(100_000) + `adm_${'a'.repeat(500_000)}`;
    const started = performance.now();
    redactSecrets(text);
    expect(performance.now() - started).toBeLessThan(2000);
  });
});

describe('redactExcerpt', () => {
  /** no five characters in a row of the key's random part (the hint shows only the checksum) */
  const leaks = (out: string, key: string) => {
    const random = randomPart(key);
    for (let i = 0; i + 5 <= random.length; i++) if (out.includes(random.slice(i, i + 5))) return true;
    return false;
  };

  it('redacts a key that straddles the limit whole, from text read past it', () => {
    fc.assert(
      fc.property(
        anyKey,
        fc.integer({ min: 1024 - 90, max: 1024 + 10 }),
        fc.constantFrom('-', 'x', ' '),
        noise,
        (key, at, fill, tail) => {
          const text = fill.repeat(at) + key + tail + '-'.repeat(500);
          const read = text.slice(0, 1024 + KEY_MAX_LENGTH);
          const out = redactExcerpt(read, 1024, false);
          expect(new TextEncoder().encode(out).length).toBeLessThanOrEqual(1024);
          expect(out.startsWith(fill.repeat(Math.min(at, 900)))).toBe(true);
          expect(leaks(out, key)).toBe(false);
        },
      ),
      { numRuns: 500 },
    );
  });

  it('drops a key cut off by the end of what was read, however little of it arrived', () => {
    for (const key of [
      generateAdminKey(),
      generateApiKey('secret', 'live'),
      generateApiKey('restricted', 'test'),
    ]) {
      for (let cut = 1; cut < key.length; cut++) {
        for (const before of ['error: ', 'error:xyz', 'x'.repeat(1000)]) {
          const out = redactExcerpt(before + key.slice(0, cut), 4096, false);
          expect(leaks(out, key)).toBe(false);
          expect(out.startsWith(before.slice(0, -3))).toBe(true);
        }
      }
      // a whole text is not cut: what ends it is all there is
      expect(redactExcerpt(`error: ${key}`, 4096, true)).toBe(`error: ${keyHint(key)}`);
    }
  });

  it('keeps ordinary text at the cut, and cuts between characters', () => {
    expect(redactExcerpt('partial answer', 1024, false)).toBe('partial answer');
    expect(redactExcerpt('table adm_users', 1024, false)).toBe('table ');
    expect(redactExcerpt('x'.repeat(2000), 1024, false)).toBe('x'.repeat(1024));
    expect(redactExcerpt('é'.repeat(600), 1024, true)).toBe('é'.repeat(512));
    expect(redactExcerpt('a€'.repeat(300), 1024, true)).toBe('a€'.repeat(256));
  });
});

describe('isSensitiveName', () => {
  it.each([
    'authorization',
    'Proxy-Authorization',
    'password',
    'new_password',
    'client_secret',
    'secretKey',
    'cookie',
    'Set-Cookie',
    'x-api-key',
    'apiKey',
    'key',
    'access_token',
    'csrfToken',
    'private_key',
    'signature',
    'credentials',
  ])('%s is sensitive', (name) => {
    expect(isSensitiveName(name)).toBe(true);
  });

  it.each([
    'key_id',
    'keyId',
    'keys',
    'hint',
    'idempotency_key',
    'Idempotency-Key',
    'account',
    'token_type',
    'url',
  ])('%s is not', (name) => {
    expect(isSensitiveName(name)).toBe(false);
  });
});

describe('redactObject', () => {
  it('deep-copies, redacting sensitive properties and secret-shaped strings', () => {
    const key = generateApiKey('restricted', 'live');
    const input = {
      id: 'key_01',
      headers: { Authorization: `Bearer ${key}`, 'x-request-id': 'req_1', cookie: 'sid=1' },
      body: { password: 'hunter2', nested: [{ token: 42 }, `leaked ${key}`], keyId: 'key_01', empty: null },
      count: 3,
      ok: true,
    };
    const snapshot = structuredClone(input);
    expect(redactObject(input)).toEqual({
      id: 'key_01',
      headers: { Authorization: REDACTED, 'x-request-id': 'req_1', cookie: REDACTED },
      body: {
        password: REDACTED,
        nested: [{ token: REDACTED }, `leaked ${keyHint(key)}`],
        keyId: 'key_01',
        empty: null,
      },
      count: 3,
      ok: true,
    });
    expect(input).toEqual(snapshot);
  });

  it('never lets a generated key through, wherever it sits', () => {
    fc.assert(
      fc.property(fc.jsonValue(), anyKey, fc.string(), (value, key, name) => {
        const holder = { [name]: key, list: [value, { note: `x${key}` }], value };
        const out = JSON.stringify(redactObject(holder));
        expect(out).not.toContain(randomPart(key));
      }),
    );
  });

  it('keeps Errors readable without their secrets', () => {
    const key = generateApiKey('secret', 'test');
    const err = Object.assign(new Error(`bad key ${key}`), { code: 'E1', apiKey: key });
    const out = redactObject({ err }) as { err: Record<string, unknown> };
    expect(out.err['name']).toBe('Error');
    expect(out.err['message']).toBe(`bad key ${keyHint(key)}`);
    expect(out.err['code']).toBe('E1');
    expect(out.err['apiKey']).toBe(REDACTED);
    expect(JSON.stringify(out)).not.toContain(randomPart(key));
  });

  it('survives cycles, deep nesting, binary data, Maps, Sets and __proto__ keys', () => {
    const cyclic: Record<string, unknown> = { a: 1 };
    cyclic['self'] = cyclic;
    expect(redactObject(cyclic)).toEqual({ a: 1, self: '[Circular]' });

    const shared = { v: 1 };
    expect(redactObject({ x: shared, y: shared })).toEqual({ x: { v: 1 }, y: { v: 1 } });

    let deep: unknown = 'bottom';
    for (let i = 0; i < 100; i++) deep = { deep };
    expect(JSON.stringify(redactObject(deep))).toContain('[Truncated]');

    expect(redactObject({ raw: Buffer.from('secret') })).toEqual({ raw: REDACTED });
    const date = new Date(0);
    expect(redactObject({ date })).toEqual({ date });

    const key = generateAdminKey();
    const map = redactObject(
      new Map([
        ['secret', 'x'],
        ['k', key],
      ]),
    ) as Map<string, string>;
    expect(map.get('secret')).toBe(REDACTED);
    expect(map.get('k')).toBe(keyHint(key));
    expect(redactObject(new Set([key]))).toEqual(new Set([keyHint(key)]));

    const polluted = JSON.parse('{"__proto__": {"admin": true}}');
    const out = redactObject(polluted) as Record<string, unknown>;
    expect(Object.getPrototypeOf(out)).toBe(Object.prototype);
    expect(Object.hasOwn(out, '__proto__')).toBe(true);
    expect(({} as Record<string, unknown>)['admin']).toBeUndefined();
  });

  it('passes primitives through, redacting strings', () => {
    const key = generateApiKey('publishable', 'live');
    expect(redactObject(key)).toBe(keyHint(key));
    for (const value of [1, true, null, undefined, 10n]) expect(redactObject(value)).toBe(value);
  });
});
