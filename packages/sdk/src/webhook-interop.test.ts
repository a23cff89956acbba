// Interop, both ways: what Gatehouse signs (`@gatehouse/core`) verifies with the npm
// `standardwebhooks` and `svix` verifiers, and what they sign verifies with our SDK.
// Those libraries read the system clock, so timestamps here are real "now".
import { createPublicKey, verify as edVerify } from 'node:crypto';
import {
  generateWebhookSecret,
  generateWebhookSigningKeyPair,
  parseWebhookSecret,
  signWebhook,
  signWebhookEd25519,
} from '@gatehouse/core';
import fc from 'fast-check';
import { Webhook as StandardWebhook } from 'standardwebhooks';
import { Webhook as SvixWebhook } from 'svix';
import { describe, expect, it } from 'vitest';
import { verifyWebhook } from './verify-webhook.js';
import { WebhookVerificationError } from './webhook-verification-error.js';

const nowSeconds = () => Math.floor(Date.now() / 1000);
const jsonBody = fc
  .dictionary(
    fc.string({ maxLength: 12 }),
    fc.oneof(fc.string(), fc.integer(), fc.boolean(), fc.constant(null)),
    {
      maxKeys: 6,
    },
  )
  .map((o) => JSON.stringify({ type: 'payment.succeeded', data: o }));
const webhookId = fc.stringMatching(/^evt_[0-9A-Za-z]{10,26}$/);

describe('Gatehouse signs, standardwebhooks and svix verify', () => {
  it('accepts our v1 signature, also with a rotation list of two', () => {
    fc.assert(
      fc.property(webhookId, jsonBody, fc.boolean(), (id, body, rotating) => {
        const current = generateWebhookSecret();
        const old = generateWebhookSecret();
        const timestamp = nowSeconds();
        const secrets = rotating
          ? [parseWebhookSecret(current), parseWebhookSecret(old)]
          : [parseWebhookSecret(current)];
        const headers = {
          'webhook-id': id,
          'webhook-timestamp': String(timestamp),
          'webhook-signature': signWebhook({ id, timestamp, body, secrets }),
        };
        expect(new StandardWebhook(current).verify(body, headers)).toEqual(JSON.parse(body));
        expect(new SvixWebhook(current).verify(body, headers)).toEqual(JSON.parse(body));
        if (rotating) expect(new StandardWebhook(old).verify(body, headers)).toEqual(JSON.parse(body));
        // and they refuse it under another secret
        expect(() => new StandardWebhook(generateWebhookSecret()).verify(body, headers)).toThrow();
      }),
      { numRuns: 50 },
    );
  });

  it('accepts our signature of a Buffer body (svix-* header names too)', () => {
    const secret = generateWebhookSecret();
    const body = Buffer.from('{"amount":1200,"currency":"eur","name":"Zoë"}');
    const timestamp = nowSeconds();
    const signature = signWebhook({ id: 'evt_buf', timestamp, body, secrets: [parseWebhookSecret(secret)] });
    const svixHeaders = {
      'svix-id': 'evt_buf',
      'svix-timestamp': String(timestamp),
      'svix-signature': signature,
    };
    expect(new SvixWebhook(secret).verify(body.toString(), svixHeaders)).toEqual(JSON.parse(body.toString()));
  });
});

describe('standardwebhooks and svix sign, our SDK verifies', () => {
  it('accepts what standardwebhooks signs', async () => {
    await fc.assert(
      fc.asyncProperty(webhookId, jsonBody, async (id, body) => {
        const secret = generateWebhookSecret();
        const timestamp = new Date(nowSeconds() * 1000);
        const headers = {
          'webhook-id': id,
          'webhook-timestamp': String(timestamp.getTime() / 1000),
          'webhook-signature': new StandardWebhook(secret).sign(id, timestamp, body),
        };
        expect(await verifyWebhook({ payload: body, headers, secret })).toEqual(JSON.parse(body));
        expect(
          await verifyWebhook({ payload: Buffer.from(body), headers: new Headers(headers), secret }),
        ).toEqual(JSON.parse(body));
      }),
      { numRuns: 50 },
    );
  });

  it('accepts what svix signs, with a Svix-style 24-byte secret and svix-* headers', async () => {
    const secret = `whsec_${Buffer.from(Array.from({ length: 24 }, (_, i) => (i * 37) & 255)).toString('base64')}`;
    const body = '{"type":"refund.created","data":{"id":"re_1"}}';
    const timestamp = new Date(nowSeconds() * 1000);
    const headers = {
      'svix-id': 'msg_2KWPBgLlAfxdpx2AI54pPJ85f4W',
      'svix-timestamp': String(timestamp.getTime() / 1000),
      'svix-signature': new SvixWebhook(secret).sign('msg_2KWPBgLlAfxdpx2AI54pPJ85f4W', timestamp, body),
    };
    expect(await verifyWebhook({ payload: body, headers, secret })).toEqual(JSON.parse(body));
  });

  it('refuses what standardwebhooks signs under another secret', async () => {
    const timestamp = new Date(nowSeconds() * 1000);
    const headers = {
      'webhook-id': 'evt_1',
      'webhook-timestamp': String(timestamp.getTime() / 1000),
      'webhook-signature': new StandardWebhook(generateWebhookSecret()).sign('evt_1', timestamp, '{}'),
    };
    await expect(
      verifyWebhook({ payload: '{}', headers, secret: generateWebhookSecret() }),
    ).rejects.toBeInstanceOf(WebhookVerificationError);
  });
});

/**
 * A verifier for `v1a` written from the Standard Webhooks specification text alone: "the content
 * to be signed is `{msg_id}.{timestamp}.{payload}`", asymmetric signatures are ed25519, the
 * public key is "base64 encoded, prefixed with `whpk_`", and "the signature header is a space
 * delimited list of signatures", each "the version identifier … followed by a comma (`,`),
 * followed by the base64 encoded signature".
 */
function specVerifyV1a(
  publicKeyText: string,
  id: string,
  timestamp: string,
  payload: string,
  header: string,
): boolean {
  const raw = Buffer.from(publicKeyText.slice('whpk_'.length), 'base64');
  const spki = Buffer.concat([Buffer.from('302a300506032b6570032100', 'hex'), raw]); // RFC 8410 SubjectPublicKeyInfo
  const key = createPublicKey({ key: spki, format: 'der', type: 'spki' });
  const content = Buffer.from(`${id}.${timestamp}.${payload}`, 'utf8');
  return header.split(' ').some((entry) => {
    const [version, signature] = entry.split(',');
    return (
      version === 'v1a' &&
      signature !== undefined &&
      edVerify(null, content, key, Buffer.from(signature, 'base64'))
    );
  });
}

describe('Ed25519 v1a against a verifier written from the spec', () => {
  it('accepts our v1a signatures, with one key or two during rotation, and refuses other keys', () => {
    fc.assert(
      fc.property(webhookId, jsonBody, (id, body) => {
        const current = generateWebhookSigningKeyPair();
        const old = generateWebhookSigningKeyPair();
        const timestamp = nowSeconds();
        const header = signWebhookEd25519({
          id,
          timestamp,
          body,
          privateKeys: [current.privateKey, old.privateKey],
        });
        expect(specVerifyV1a(current.publicKey, id, String(timestamp), body, header)).toBe(true);
        expect(specVerifyV1a(old.publicKey, id, String(timestamp), body, header)).toBe(true);
        expect(
          specVerifyV1a(generateWebhookSigningKeyPair().publicKey, id, String(timestamp), body, header),
        ).toBe(false);
        expect(specVerifyV1a(current.publicKey, id, String(timestamp + 1), body, header)).toBe(false);
      }),
      { numRuns: 30 },
    );
  });

  it('and our SDK accepts them with the whpk_ key', async () => {
    const pair = generateWebhookSigningKeyPair();
    const body = '{"type":"key.rolled"}';
    const timestamp = nowSeconds();
    const headers = {
      'webhook-id': 'evt_ed',
      'webhook-timestamp': String(timestamp),
      'webhook-signature': signWebhookEd25519({
        id: 'evt_ed',
        timestamp,
        body,
        privateKeys: [pair.privateKey],
      }),
    };
    expect(await verifyWebhook({ payload: body, headers, secret: pair.publicKey })).toEqual(JSON.parse(body));
  });
});
