import { createHmac, createPublicKey, randomBytes } from 'node:crypto';
import { existsSync, readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import {
  generateWebhookSecret,
  generateWebhookSigningKeyPair,
  parseWebhookPublicKey,
  parseWebhookSecret,
  parseWebhookSigningKey,
  signWebhook,
  signWebhookEd25519,
  verifyWebhookSignatureV1a,
  webhookHeaders,
  webhookPublicKeyOf,
  webhookSignatureV1,
  webhookSignatureV1a,
  webhookSignedContent,
} from './webhook-signature.js';

// The repository's parent folder holds `shared/` beside the checkout.
const vectorFile = (name: string) =>
  fileURLToPath(new URL(`../../../../shared/vectors/wycheproof/${name}`, import.meta.url));
const HMAC_VECTORS = vectorFile('hmac_sha256_test.json');
const ED25519_VECTORS = vectorFile('ed25519_test.json');

function requireVectors(file: string, what: string): boolean {
  const present = existsSync(file);
  if (!present && process.env.CI === 'true') throw new Error(`missing test vectors: ${file}`);
  if (!present) console.warn(`skipping Wycheproof ${what}: ${file} not found`);
  return present;
}

const counting = (): ((n: number) => Buffer) => {
  let next = 0;
  return (n) => Buffer.from(Array.from({ length: n }, () => next++ & 0xff));
};

describe('webhook secrets', () => {
  it('generates whsec_ and 32 random bytes, and parses them back', () => {
    const secret = generateWebhookSecret(counting());
    expect(secret).toBe(`whsec_${Buffer.from(Array.from({ length: 32 }, (_, i) => i)).toString('base64')}`);
    expect(parseWebhookSecret(secret)).toEqual(Buffer.from(Array.from({ length: 32 }, (_, i) => i)));
    expect(generateWebhookSecret()).not.toBe(generateWebhookSecret());
  });

  it('accepts the secret with or without the prefix', () => {
    const secret = generateWebhookSecret();
    expect(parseWebhookSecret(secret.slice('whsec_'.length))).toEqual(parseWebhookSecret(secret));
  });

  it('accepts 24 to 64 bytes (the spec range) and refuses other lengths and non-base64', () => {
    for (const n of [24, 32, 64])
      expect(parseWebhookSecret(`whsec_${randomBytes(n).toString('base64')}`)).toHaveLength(n);
    for (const n of [1, 16, 23, 65]) {
      expect(() => parseWebhookSecret(`whsec_${randomBytes(n).toString('base64')}`)).toThrow(TypeError);
    }
    for (const bad of [
      '',
      'whsec_',
      'whsec_not base64!',
      `whsec_${randomBytes(32).toString('base64url')}_`,
    ]) {
      expect(() => parseWebhookSecret(bad)).toThrow(TypeError);
    }
  });

  it('never puts the secret in the error', () => {
    const secret = `whsec_${randomBytes(8).toString('base64')}`;
    try {
      parseWebhookSecret(secret);
      expect.unreachable();
    } catch (err) {
      expect(String((err as Error).message)).not.toContain(secret.slice(6));
    }
  });
});

describe('signWebhook (v1, HMAC-SHA256)', () => {
  it('matches the example of the Standard Webhooks library tests', () => {
    expect(
      signWebhook({
        id: 'msg_p5jXN8AQM9LWM0D4loKWxJek',
        timestamp: 1614265330,
        body: '{"test": 2432232314}',
        secrets: [parseWebhookSecret('whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw')], // the library's published example secret
      }),
    ).toBe('v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE=');
  });

  it('signs id.timestamp.body, one v1 entry per secret, current first', () => {
    fc.assert(
      fc.property(
        fc.stringMatching(/^[A-Za-z0-9_-]{1,40}$/),
        fc.integer({ min: 0, max: 2 ** 40 }),
        fc.uint8Array({ maxLength: 300 }),
        fc.array(fc.uint8Array({ minLength: 24, maxLength: 64 }), { minLength: 1, maxLength: 3 }),
        (id, timestamp, body, secrets) => {
          const header = signWebhook({ id, timestamp, body, secrets });
          const expected = secrets.map(
            (s) =>
              `v1,${createHmac('sha256', s)
                .update(Buffer.concat([Buffer.from(`${id}.${timestamp}.`), body]))
                .digest('base64')}`,
          );
          expect(header).toBe(expected.join(' '));
        },
      ),
    );
  });

  it('signs a string body as its UTF-8 bytes', () => {
    const secrets = [randomBytes(32)];
    const body = '{"name":"Zoë ☃"}';
    expect(signWebhook({ id: 'evt_1', timestamp: 1, body, secrets })).toBe(
      signWebhook({ id: 'evt_1', timestamp: 1, body: Buffer.from(body, 'utf8'), secrets }),
    );
  });

  it('refuses ids that would make the content ambiguous or break the header, bad timestamps, no secrets', () => {
    const secrets = [randomBytes(32)];
    for (const id of ['', 'a.b', 'a b', 'a\nb', 'é', 'x'.repeat(256)]) {
      expect(() => signWebhook({ id, timestamp: 1, body: '', secrets })).toThrow(TypeError);
    }
    for (const timestamp of [-1, 1.5, Number.NaN, 2 ** 60]) {
      expect(() => signWebhook({ id: 'evt_1', timestamp, body: '', secrets })).toThrow(TypeError);
    }
    expect(() => signWebhook({ id: 'evt_1', timestamp: 1, body: '', secrets: [] })).toThrow(TypeError);
    expect(() => signWebhook({ id: 'evt_1', timestamp: 1, body: '', secrets: [Buffer.alloc(0)] })).toThrow(
      TypeError,
    );
  });

  it('finds the Wycheproof HMAC-SHA256 vectors (required in CI)', () => {
    requireVectors(HMAC_VECTORS, 'HMAC-SHA256');
  });

  describe.skipIf(!existsSync(HMAC_VECTORS))('Wycheproof HMAC-SHA256, through webhookSignatureV1', () => {
    interface MacTest {
      tcId: number;
      comment: string;
      key: string;
      msg: string;
      tag: string;
      result: 'valid' | 'invalid' | 'acceptable';
    }
    const file: { numberOfTests: number; testGroups: { tagSize: number; tests: MacTest[] }[] } = JSON.parse(
      readFileSync(HMAC_VECTORS, 'utf8'),
    );
    const cases = file.testGroups.flatMap((g) => g.tests.map((t) => ({ ...t, tagSize: g.tagSize })));

    it('has every case', () => {
      expect(cases).toHaveLength(file.numberOfTests);
    });

    it.each(cases)('tcId $tcId ($tagSize-bit tag): $result', (test) => {
      const mac = Buffer.from(
        webhookSignatureV1(Buffer.from(test.key, 'hex'), Buffer.from(test.msg, 'hex')),
        'base64',
      ).subarray(0, test.tagSize / 8);
      const tag = Buffer.from(test.tag, 'hex');
      const matches = tag.length === mac.length && tag.equals(mac);
      if (test.result === 'valid') expect(matches).toBe(true);
      if (test.result === 'invalid') expect(matches).toBe(false);
    });
  });
});

describe('Ed25519 (v1a)', () => {
  // RFC 8032 section 7.1, test 1 (empty message) and test 2 (one byte 0x72).
  const RFC8032 = [
    {
      seed: '9d61b19deffd5a60ba844af492ec2cc44449c5697b326919703bac031cae7f60',
      pub: 'd75a980182b10ab7d54bfed3c964073a0ee172f3daa62325af021a68f707511a',
      msg: '',
      sig: 'e5564300c360ac729086e2cc806e828a84877f1eb8e5d974d873e065224901555fb8821590a33bacc61e39701cf9b46bd25bf5f0595bbe24655141438e7a100b',
    },
    {
      seed: '4ccd089b28ff96da9db6c346ec114e0f5b8a319f35aba624da8cf6ed4fb8a6fb',
      pub: '3d4017c3e843895a92b70aa74d1b7ebc9c982ccf2ec4968cc0cd55f12af4660c',
      msg: '72',
      sig: '92a009a9f0d4cab8720e820b5f642540a2b27b5416503f8fb3762223ebdb69da085ac1e43e15996e458f3613d0f11d8c387b2eaeb4302aeeb00d291612bb0c00',
    },
  ];

  it('generates whpk_/whsk_ pairs whose forms parse back and match', () => {
    const seed = Buffer.from(RFC8032[0]!.seed, 'hex');
    const pair = generateWebhookSigningKeyPair(() => Buffer.from(seed));
    expect(pair.privateKey).toBe(`whsk_${seed.toString('base64')}`);
    expect(pair.publicKey).toBe(`whpk_${Buffer.from(RFC8032[0]!.pub, 'hex').toString('base64')}`);
    expect(webhookPublicKeyOf(pair.privateKey)).toBe(pair.publicKey);
    const other = generateWebhookSigningKeyPair();
    expect(other.publicKey).not.toBe(pair.publicKey);
    expect(parseWebhookPublicKey(other.publicKey).asymmetricKeyType).toBe('ed25519');
  });

  it('reproduces the RFC 8032 signatures from the whsk_ seed', () => {
    for (const v of RFC8032) {
      const key = parseWebhookSigningKey(`whsk_${Buffer.from(v.seed, 'hex').toString('base64')}`);
      const msg = Buffer.from(v.msg, 'hex');
      expect(Buffer.from(webhookSignatureV1a(key, msg), 'base64').toString('hex')).toBe(v.sig);
      expect(verifyWebhookSignatureV1a(Buffer.from(v.pub, 'hex'), msg, Buffer.from(v.sig, 'hex'))).toBe(true);
      expect(webhookPublicKeyOf(key)).toBe(`whpk_${Buffer.from(v.pub, 'hex').toString('base64')}`);
    }
  });

  it('accepts the 64-byte seed-and-public-key form only when the halves match', () => {
    const v = RFC8032[0]!;
    const both = Buffer.concat([Buffer.from(v.seed, 'hex'), Buffer.from(v.pub, 'hex')]);
    expect(() => parseWebhookSigningKey(`whsk_${both.toString('base64')}`)).not.toThrow();
    const wrong = Buffer.concat([Buffer.from(v.seed, 'hex'), Buffer.from(RFC8032[1]!.pub, 'hex')]);
    expect(() => parseWebhookSigningKey(`whsk_${wrong.toString('base64')}`)).toThrow(TypeError);
    expect(() => parseWebhookSigningKey('whsk_AAAA')).toThrow(TypeError);
    expect(() => parseWebhookPublicKey(`whpk_${randomBytes(31).toString('base64')}`)).toThrow(TypeError);
  });

  it('signs id.timestamp.body as v1a, one entry per key, and the signatures verify', () => {
    const a = generateWebhookSigningKeyPair();
    const b = generateWebhookSigningKeyPair();
    const input = { id: 'evt_01', timestamp: 1_700_000_000, body: '{"a":1}' };
    const header = signWebhookEd25519({
      ...input,
      privateKeys: [a.privateKey, parseWebhookSigningKey(b.privateKey)],
    });
    const parts = header.split(' ');
    expect(parts).toHaveLength(2);
    const content = webhookSignedContent(input);
    for (const [i, pair] of [a, b].entries()) {
      const [version, sig] = parts[i]!.split(',');
      expect(version).toBe('v1a');
      expect(
        verifyWebhookSignatureV1a(
          parseWebhookPublicKey(pair.publicKey),
          content,
          Buffer.from(sig!, 'base64'),
        ),
      ).toBe(true);
    }
    // the other key, or another body, does not verify
    const [, sigA] = parts[0]!.split(',');
    expect(
      verifyWebhookSignatureV1a(parseWebhookPublicKey(b.publicKey), content, Buffer.from(sigA!, 'base64')),
    ).toBe(false);
    expect(
      verifyWebhookSignatureV1a(
        parseWebhookPublicKey(a.publicKey),
        webhookSignedContent({ ...input, body: '{"a":2}' }),
        Buffer.from(sigA!, 'base64'),
      ),
    ).toBe(false);
  });

  it('refuses a public key as a signing key', () => {
    const pair = generateWebhookSigningKeyPair();
    expect(() =>
      signWebhookEd25519({
        id: 'evt_1',
        timestamp: 1,
        body: '',
        privateKeys: [createPublicKey(parseWebhookSigningKey(pair.privateKey))],
      }),
    ).toThrow(TypeError);
  });

  it('finds the Wycheproof Ed25519 vectors (required in CI)', () => {
    requireVectors(ED25519_VECTORS, 'Ed25519');
  });

  describe.skipIf(!existsSync(ED25519_VECTORS))(
    'Wycheproof Ed25519, through verifyWebhookSignatureV1a',
    () => {
      interface EddsaTest {
        tcId: number;
        comment: string;
        msg: string;
        sig: string;
        result: 'valid' | 'invalid' | 'acceptable';
      }
      const file: {
        numberOfTests: number;
        testGroups: { publicKey: { pk: string }; tests: EddsaTest[] }[];
      } = JSON.parse(readFileSync(ED25519_VECTORS, 'utf8'));
      const cases = file.testGroups.flatMap((g) => g.tests.map((t) => ({ ...t, pk: g.publicKey.pk })));

      it('has every case, valid and invalid ones', () => {
        expect(cases).toHaveLength(file.numberOfTests);
        expect(cases.some((c) => c.result === 'invalid')).toBe(true);
      });

      it.each(cases)('tcId $tcId ($comment): $result', (test) => {
        const ok = verifyWebhookSignatureV1a(
          parseWebhookPublicKey(`whpk_${Buffer.from(test.pk, 'hex').toString('base64')}`),
          Buffer.from(test.msg, 'hex'),
          Buffer.from(test.sig, 'hex'),
        );
        if (test.result === 'valid') expect(ok).toBe(true);
        if (test.result === 'invalid') expect(ok).toBe(false);
      });
    },
  );
});

describe('webhookHeaders', () => {
  it('carries id, timestamp and both schemes while an endpoint changes scheme', () => {
    const secret = randomBytes(32);
    const pair = generateWebhookSigningKeyPair();
    const input = { id: 'evt_9', timestamp: 42, body: '{}' };
    const headers = webhookHeaders({ ...input, secrets: [secret], privateKeys: [pair.privateKey] });
    expect(headers['webhook-id']).toBe('evt_9');
    expect(headers['webhook-timestamp']).toBe('42');
    expect(headers['webhook-signature']).toBe(
      `${signWebhook({ ...input, secrets: [secret] })} ${signWebhookEd25519({ ...input, privateKeys: [pair.privateKey] })}`,
    );
    expect(() => webhookHeaders(input)).toThrow(TypeError);
  });
});
