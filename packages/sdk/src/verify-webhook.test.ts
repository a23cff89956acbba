import { createHmac, sign as edSign, generateKeyPairSync, randomBytes } from 'node:crypto';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { verifyWebhook, verifyWebhookSignature } from './verify-webhook.js';
import { memoryDedupStore } from './webhook-dedup.js';
import { WebhookVerificationError } from './webhook-verification-error.js';

const NOW = 1_767_000_000;
const newSecret = () => `whsec_${randomBytes(32).toString('base64')}`;

/** Signs straight from the Standard Webhooks text, independently of the code under test. */
function v1(secret: string, id: string, t: number | string, body: string | Buffer): string {
  const key = Buffer.from(secret.replace(/^whsec_/, ''), 'base64');
  return `v1,${createHmac('sha256', key).update(`${id}.${t}.`).update(body).digest('base64')}`;
}

function edPair() {
  const { publicKey, privateKey } = generateKeyPairSync('ed25519');
  const raw = publicKey.export({ format: 'der', type: 'spki' }).subarray(-32);
  return { whpk: `whpk_${raw.toString('base64')}`, privateKey };
}

async function codeOf(p: Promise<unknown> | (() => unknown)): Promise<string> {
  try {
    await (typeof p === 'function' ? p() : p);
  } catch (err) {
    if (err instanceof WebhookVerificationError) return err.code;
    throw err;
  }
  return 'accepted';
}

const body = JSON.stringify({ id: 'evt_1', type: 'payment.succeeded', data: { amount: 1200, note: 'Zoë' } });

describe('verifyWebhook', () => {
  const secret = newSecret();
  const headers = (t = NOW, sig = v1(secret, 'evt_1', t, body)) => ({
    'webhook-id': 'evt_1',
    'webhook-timestamp': String(t),
    'webhook-signature': sig,
  });

  it('returns the parsed event for a valid delivery (string, Buffer and Uint8Array payloads)', async () => {
    const expected = JSON.parse(body);
    expect(await verifyWebhook({ payload: body, headers: headers(), secret, now: NOW })).toEqual(expected);
    expect(await verifyWebhook({ payload: Buffer.from(body), headers: headers(), secret, now: NOW })).toEqual(
      expected,
    );
    const u8 = new Uint8Array(Buffer.from(`xx${body}`)).subarray(2);
    expect(await verifyWebhook({ payload: u8, headers: headers(), secret, now: NOW })).toEqual(expected);
  });

  it('reads Node headers, Fetch Headers and records in any case, and the svix- names', async () => {
    const h = headers();
    const variants = [
      h,
      new Headers(h),
      {
        'Webhook-Id': h['webhook-id'],
        'WEBHOOK-TIMESTAMP': h['webhook-timestamp'],
        'Webhook-Signature': h['webhook-signature'],
      },
      {
        'svix-id': h['webhook-id'],
        'svix-timestamp': h['webhook-timestamp'],
        'svix-signature': h['webhook-signature'],
      },
      { ...h, 'webhook-signature': [h['webhook-signature']] },
    ];
    for (const hs of variants)
      expect(await verifyWebhook({ payload: body, headers: hs, secret, now: NOW })).toBeTruthy();
  });

  it('says missing_header when a header is absent or empty', async () => {
    for (const name of ['webhook-id', 'webhook-timestamp', 'webhook-signature'] as const) {
      const h: Record<string, string> = { ...headers() };
      delete h[name];
      expect(await codeOf(verifyWebhook({ payload: body, headers: h, secret, now: NOW }))).toBe(
        'missing_header',
      );
      expect(
        await codeOf(verifyWebhook({ payload: body, headers: { ...h, [name]: '' }, secret, now: NOW })),
      ).toBe('missing_header');
    }
  });

  it('checks the timestamp both ways, at the tolerance exactly', async () => {
    const at = async (t: number, toleranceSeconds?: number) =>
      codeOf(
        verifyWebhook({
          payload: body,
          headers: headers(t),
          secret,
          now: NOW,
          ...(toleranceSeconds ? { toleranceSeconds } : {}),
        }),
      );
    expect(await at(NOW - 300)).toBe('accepted');
    expect(await at(NOW + 300)).toBe('accepted');
    expect(await at(NOW - 301)).toBe('timestamp_too_old');
    expect(await at(NOW + 301)).toBe('timestamp_too_new');
    expect(await at(NOW - 31, 30)).toBe('timestamp_too_old');
  });

  it('refuses a replay with a fresh timestamp: the timestamp is signed', async () => {
    const old = headers(NOW - 3600);
    const replay = { ...old, 'webhook-timestamp': String(NOW) };
    expect(await codeOf(verifyWebhook({ payload: body, headers: replay, secret, now: NOW }))).toBe(
      'invalid_signature',
    );
  });

  it('refuses any change to the body, the id or the signature', async () => {
    await fc.assert(
      fc.asyncProperty(fc.nat(body.length - 1), fc.integer({ min: 1, max: 255 }), async (at, flip) => {
        const bytes = Buffer.from(body);
        bytes[at] = bytes[at]! ^ flip;
        expect(await codeOf(verifyWebhook({ payload: bytes, headers: headers(), secret, now: NOW }))).toBe(
          'invalid_signature',
        );
      }),
    );
    expect(
      await codeOf(
        verifyWebhook({ payload: body, headers: { ...headers(), 'webhook-id': 'evt_2' }, secret, now: NOW }),
      ),
    ).toBe('invalid_signature');
    for (const sig of [
      'v1,',
      'v1,abc',
      'v2,' + v1(secret, 'evt_1', NOW, body).slice(3),
      'garbage',
      v1(newSecret(), 'evt_1', NOW, body),
    ]) {
      expect(
        await codeOf(verifyWebhook({ payload: body, headers: headers(NOW, sig), secret, now: NOW })),
      ).toBe('invalid_signature');
    }
    expect(
      await codeOf(
        verifyWebhook({
          payload: body,
          headers: { ...headers(), 'webhook-timestamp': '17e8' },
          secret,
          now: NOW,
        }),
      ),
    ).toBe('invalid_signature');
  });

  it('accepts during rotation: any signature in the list under any configured secret', async () => {
    const old = newSecret();
    const current = newSecret();
    const both = `${v1(current, 'evt_1', NOW, body)} ${v1(old, 'evt_1', NOW, body)}`;
    for (const s of [old, current, [old, current], [newSecret(), current]]) {
      expect(
        await codeOf(verifyWebhook({ payload: body, headers: headers(NOW, both), secret: s, now: NOW })),
      ).toBe('accepted');
    }
    // the Fetch Headers join of a repeated header: "a, b"
    const joined = `${v1(newSecret(), 'evt_1', NOW, body)}, ${v1(current, 'evt_1', NOW, body)}`;
    expect(
      await codeOf(
        verifyWebhook({ payload: body, headers: headers(NOW, joined), secret: current, now: NOW }),
      ),
    ).toBe('accepted');
  });

  it('accepts the secret without its prefix and refuses malformed or private keys as a usage error', async () => {
    expect(
      await codeOf(verifyWebhook({ payload: body, headers: headers(), secret: secret.slice(6), now: NOW })),
    ).toBe('accepted');
    await expect(
      verifyWebhook({ payload: body, headers: headers(), secret: 'whsec_c2hvcnQ=', now: NOW }),
    ).rejects.toThrow(TypeError);
    await expect(
      verifyWebhook({ payload: body, headers: headers(), secret: 'whsk_AAAA', now: NOW }),
    ).rejects.toThrow(TypeError);
  });

  it('verifies Ed25519 v1a signatures with a whpk_ key, beside v1 ones', async () => {
    const ed = edPair();
    const sig = `v1a,${edSign(null, Buffer.from(`evt_1.${NOW}.${body}`), ed.privateKey).toString('base64')}`;
    expect(
      await codeOf(verifyWebhook({ payload: body, headers: headers(NOW, sig), secret: ed.whpk, now: NOW })),
    ).toBe('accepted');
    expect(
      await codeOf(
        verifyWebhook({ payload: body, headers: headers(NOW, sig), secret: edPair().whpk, now: NOW }),
      ),
    ).toBe('invalid_signature');
    const mixed = `${v1(secret, 'evt_1', NOW, body)} ${sig}`;
    expect(
      await codeOf(
        verifyWebhook({ payload: body, headers: headers(NOW, mixed), secret: [secret, ed.whpk], now: NOW }),
      ),
    ).toBe('accepted');
    // an HMAC secret never accepts a v1a signature, and a public key never a v1 one
    expect(await codeOf(verifyWebhook({ payload: body, headers: headers(NOW, sig), secret, now: NOW }))).toBe(
      'invalid_signature',
    );
    expect(
      await codeOf(verifyWebhook({ payload: body, headers: headers(), secret: ed.whpk, now: NOW })),
    ).toBe('invalid_signature');
  });

  it('refuses a second delivery of the same id with dedup, and processes it again after release', async () => {
    const dedup = memoryDedupStore();
    expect(await codeOf(verifyWebhook({ payload: body, headers: headers(), secret, now: NOW, dedup }))).toBe(
      'accepted',
    );
    const retry = headers(NOW + 5);
    expect(await codeOf(verifyWebhook({ payload: body, headers: retry, secret, now: NOW + 5, dedup }))).toBe(
      'duplicate',
    );
    await dedup.release?.('evt_1');
    expect(await codeOf(verifyWebhook({ payload: body, headers: retry, secret, now: NOW + 5, dedup }))).toBe(
      'accepted',
    );
  });

  it('refuses an id that is not visible ASCII without "." (one that would sign like another id)', async () => {
    const dedup = memoryDedupStore();
    const sent = { ...headers(), 'webhook-id': 'evt_01ABC' };
    sent['webhook-signature'] = v1(secret, 'evt_01ABC', NOW, body);
    expect(await codeOf(verifyWebhook({ payload: body, headers: sent, secret, now: NOW, dedup }))).toBe(
      'accepted',
    );
    // U+0141 is cut to 0x41 ('A') by a byte-wise encoding: the same signed bytes, a new dedup key
    const disguised = { ...sent, 'webhook-id': 'evt_01\u0141BC' };
    for (const payload of [body, Buffer.from(body)])
      expect(await codeOf(verifyWebhook({ payload, headers: disguised, secret, now: NOW, dedup }))).toBe(
        'invalid_signature',
      );
    const dotted = { ...headers(), 'webhook-id': 'evt.1' };
    dotted['webhook-signature'] = v1(secret, 'evt.1', NOW, body);
    expect(await codeOf(verifyWebhook({ payload: body, headers: dotted, secret, now: NOW }))).toBe(
      'invalid_signature',
    );
  });

  it('refuses a tolerance or dedup time that is not a finite number of seconds (NaN turned the checks off)', async () => {
    const old = headers(1);
    for (const toleranceSeconds of [Number.NaN, Number.POSITIVE_INFINITY, -1])
      expect(() =>
        verifyWebhookSignature({ payload: body, headers: old, secret, now: NOW, toleranceSeconds }),
      ).toThrow(TypeError);
    await expect(
      verifyWebhook({
        payload: body,
        headers: headers(),
        secret,
        now: NOW,
        dedup: memoryDedupStore(),
        dedupTtlSeconds: Number.NaN,
      }),
    ).rejects.toThrow(TypeError);
  });

  it('does not claim the id of a delivery it refuses', async () => {
    const dedup = memoryDedupStore();
    const forged = headers(NOW, v1(newSecret(), 'evt_1', NOW, body));
    expect(await codeOf(verifyWebhook({ payload: body, headers: forged, secret, now: NOW, dedup }))).toBe(
      'invalid_signature',
    );
    expect(await codeOf(verifyWebhook({ payload: body, headers: headers(), secret, now: NOW, dedup }))).toBe(
      'accepted',
    );
  });

  it('keeps payload, headers and secret out of the error message', async () => {
    try {
      await verifyWebhook({
        payload: body,
        headers: headers(NOW, v1(newSecret(), 'evt_1', NOW, body)),
        secret,
        now: NOW,
      });
      expect.unreachable();
    } catch (err) {
      const text = `${(err as Error).message} ${JSON.stringify(err)}`;
      expect(text).not.toContain('evt_1');
      expect(text).not.toContain(secret.slice(6, 20));
      expect(text).not.toContain('payment');
    }
  });

  it('verifies large bodies (the two-update path) as Buffer, Uint8Array and string', async () => {
    const big = JSON.stringify({ id: 'evt_1', data: 'é'.repeat(40_000) });
    const h = headers(NOW, v1(secret, 'evt_1', NOW, big));
    for (const payload of [big, Buffer.from(big), new Uint8Array(Buffer.from(big))]) {
      expect(await codeOf(verifyWebhook({ payload, headers: h, secret, now: NOW }))).toBe('accepted');
    }
    const tampered = Buffer.from(big);
    tampered[tampered.length - 3] = 0x41;
    expect(await codeOf(verifyWebhook({ payload: tampered, headers: h, secret, now: NOW }))).toBe(
      'invalid_signature',
    );
  });

  it('refuses a v1 signature whose base64 is not the canonical spelling of the MAC', async () => {
    const good = v1(secret, 'evt_1', NOW, body);
    // the last character before '=' carries two unused bits: flip them, same bytes, other text
    const last = good.at(-2)!;
    const alphabet = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/';
    const twin = alphabet[alphabet.indexOf(last) ^ 1]!;
    const odd = `${good.slice(0, -2)}${twin}=`;
    expect(Buffer.from(odd.slice(3), 'base64')).toEqual(Buffer.from(good.slice(3), 'base64'));
    expect(await codeOf(verifyWebhook({ payload: body, headers: headers(NOW, odd), secret, now: NOW }))).toBe(
      'invalid_signature',
    );
    expect(
      await codeOf(
        verifyWebhook({ payload: body, headers: headers(NOW, `${odd} ${good}`), secret, now: NOW }),
      ),
    ).toBe('accepted');
  });

  it('has a synchronous signature check that returns id and timestamp', () => {
    expect(verifyWebhookSignature({ payload: body, headers: headers(), secret, now: NOW })).toEqual({
      id: 'evt_1',
      timestamp: NOW,
    });
  });

  it('verifies raw bytes that are not valid UTF-8 (signature before parsing)', async () => {
    const raw = Buffer.from([0x7b, 0xff, 0xfe, 0x7d]);
    const h = headers(NOW, v1(secret, 'evt_1', NOW, raw));
    expect(() => verifyWebhookSignature({ payload: raw, headers: h, secret, now: NOW })).not.toThrow();
    const other = Buffer.from(raw.toString('utf8'));
    expect(await codeOf(() => verifyWebhookSignature({ payload: other, headers: h, secret, now: NOW }))).toBe(
      'invalid_signature',
    );
  });
});
