import { createHmac } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { GatehouseSignatureError } from './gatehouse-signature-error.js';
import { verifyGatehouseRequest } from './verify-gatehouse-request.js';

const SECRET = 'test-upstream-secret-0123456789abcdef';
const NOW = 1_767_000_000;

const identity = {
  'Gatehouse-Account': 'acct_01JABCDEFGHJKMNPQRSTVWXYZ0',
  'Gatehouse-Key-Id': 'key_01JABCDEFGHJKMNPQRSTVWXYZ1',
  'Gatehouse-Mode': 'test',
  'Gatehouse-Scopes': 'payments:write,customers:read',
  'Request-Id': 'req_01JABCDEFGHJKMNPQRSTVWXYZ2',
};

/** Signs independently of the SDK, straight from the documented format. */
function sign(secret: string, t: number, method: string, path: string, h = identity): string {
  const s = [
    t,
    method,
    path,
    h['Gatehouse-Account'],
    h['Gatehouse-Key-Id'],
    h['Gatehouse-Mode'],
    h['Gatehouse-Scopes'],
    h['Request-Id'],
  ].join('\n');
  return createHmac('sha256', secret).update(s).digest('base64url');
}

function signed(t = NOW, method = 'POST', path = '/v1/payments?expand=customer') {
  return { ...identity, 'Gatehouse-Signature': `t=${t},v1=${sign(SECRET, t, method, path)}` };
}

function codeOf(fn: () => unknown): string {
  try {
    fn();
  } catch (err) {
    if (err instanceof GatehouseSignatureError) return err.code;
    throw err;
  }
  return 'accepted';
}

const base = { method: 'POST', path: '/v1/payments?expand=customer', secret: SECRET, now: NOW };

describe('verifyGatehouseRequest', () => {
  it('accepts a request signed in the documented format and returns who made it', () => {
    expect(verifyGatehouseRequest({ ...base, headers: signed() })).toEqual({
      account: identity['Gatehouse-Account'],
      keyId: identity['Gatehouse-Key-Id'],
      mode: 'test',
      scopes: ['payments:write', 'customers:read'],
      requestId: identity['Request-Id'],
    });
  });

  it('matches a fixed vector (computed with openssl dgst -sha256 -hmac)', () => {
    // S = "1767000000\nGET\n/v1/payments\nacct_1\nkey_1\nlive\n*\nreq_1", secret "whsec-like-secret"
    const headers = {
      'gatehouse-account': 'acct_1',
      'gatehouse-key-id': 'key_1',
      'gatehouse-mode': 'live',
      'gatehouse-scopes': '*',
      'request-id': 'req_1',
      'gatehouse-signature': `t=${NOW},v1=Ocy64x4VEPk8TBEfqbXBTY7dd9heFV8hNifHhbjXChQ`,
    };
    const input = { headers, method: 'get', path: '/v1/payments', secret: 'whsec-like-secret', now: NOW };
    const got = verifyGatehouseRequest(input);
    expect(got.mode).toBe('live');
    expect(got.scopes).toEqual(['*']);
    expect(codeOf(() => verifyGatehouseRequest({ ...input, secret: 'whsec-like-secreT' }))).toBe(
      'invalid_signature',
    );
  });

  it('reads Node headers, Fetch Headers and records in any case', () => {
    const h = signed();
    const lower = Object.fromEntries(Object.entries(h).map(([k, v]) => [k.toLowerCase(), v]));
    const upper = Object.fromEntries(Object.entries(h).map(([k, v]) => [k.toUpperCase(), v]));
    for (const headers of [h, lower, upper, new Headers(h)]) {
      expect(verifyGatehouseRequest({ ...base, headers }).account).toBe(identity['Gatehouse-Account']);
    }
  });

  it('accepts any of several v1 signatures (secret rotation)', () => {
    const good = sign(SECRET, NOW, 'POST', base.path);
    const old = sign('the-previous-secret-0123456789abcdef', NOW, 'POST', base.path);
    for (const value of [`t=${NOW},v1=${old},v1=${good}`, `t=${NOW},v1=${good},v1=${old}`]) {
      const headers = { ...identity, 'Gatehouse-Signature': value };
      expect(codeOf(() => verifyGatehouseRequest({ ...base, headers }))).toBe('accepted');
    }
    const headers = { ...identity, 'Gatehouse-Signature': `t=${NOW},v1=${old}` };
    expect(codeOf(() => verifyGatehouseRequest({ ...base, headers }))).toBe('invalid_signature');
  });

  it('refuses a missing signature or a missing signed header', () => {
    const { 'Gatehouse-Signature': _, ...unsigned } = signed();
    expect(codeOf(() => verifyGatehouseRequest({ ...base, headers: unsigned }))).toBe('missing_header');
    for (const name of Object.keys(identity)) {
      const headers: Record<string, string> = { ...signed() };
      delete headers[name];
      expect(
        codeOf(() => verifyGatehouseRequest({ ...base, headers })),
        name,
      ).toBe('missing_header');
    }
  });

  it('refuses every tampered field', () => {
    for (const name of Object.keys(identity)) {
      const headers: Record<string, string> = { ...signed(), [name]: 'tampered' };
      expect(
        codeOf(() => verifyGatehouseRequest({ ...base, headers })),
        name,
      ).toBe('invalid_signature');
    }
    const headers = signed();
    expect(codeOf(() => verifyGatehouseRequest({ ...base, headers, method: 'GET' }))).toBe(
      'invalid_signature',
    );
    expect(codeOf(() => verifyGatehouseRequest({ ...base, headers, path: '/v1/payments' }))).toBe(
      'invalid_signature',
    );
    expect(codeOf(() => verifyGatehouseRequest({ ...base, headers, path: '/v1/payments?expand=x' }))).toBe(
      'invalid_signature',
    );
    expect(codeOf(() => verifyGatehouseRequest({ ...base, headers, secret: `${SECRET}x` }))).toBe(
      'invalid_signature',
    );
    // the timestamp is signed: moving it (within tolerance) breaks the signature
    const moved = {
      ...headers,
      'Gatehouse-Signature': headers['Gatehouse-Signature'].replace(`t=${NOW}`, `t=${NOW + 1}`),
    };
    expect(codeOf(() => verifyGatehouseRequest({ ...base, headers: moved }))).toBe('invalid_signature');
  });

  it('refuses malformed signature headers', () => {
    for (const value of [
      'garbage',
      `v1=${sign(SECRET, NOW, 'POST', base.path)}`,
      `t=${NOW}`,
      `t=abc,v1=x`,
      `t=${NOW},v1=short`,
    ]) {
      const headers = { ...identity, 'Gatehouse-Signature': value };
      expect(
        codeOf(() => verifyGatehouseRequest({ ...base, headers })),
        value,
      ).toBe('invalid_signature');
    }
  });

  it('checks the timestamp both ways, with the tolerance inclusive', () => {
    const at = (t: number, toleranceSeconds?: number) =>
      codeOf(() =>
        verifyGatehouseRequest({
          ...base,
          headers: signed(t),
          ...(toleranceSeconds === undefined ? {} : { toleranceSeconds }),
        }),
      );
    expect(at(NOW - 300)).toBe('accepted');
    expect(at(NOW + 300)).toBe('accepted');
    expect(at(NOW - 301)).toBe('timestamp_too_old');
    expect(at(NOW + 301)).toBe('timestamp_too_new');
    expect(at(NOW - 10, 5)).toBe('timestamp_too_old');
    expect(at(NOW + 10, 5)).toBe('timestamp_too_new');
  });

  it('refuses a signed but unknown mode', () => {
    const h = { ...identity, 'Gatehouse-Mode': 'prod' };
    const headers = { ...h, 'Gatehouse-Signature': `t=${NOW},v1=${sign(SECRET, NOW, 'POST', base.path, h)}` };
    expect(codeOf(() => verifyGatehouseRequest({ ...base, headers }))).toBe('invalid_signature');
  });

  it('never puts request data in the error message', () => {
    try {
      verifyGatehouseRequest({ ...base, headers: { ...signed(), 'Gatehouse-Account': 'acct_secretish' } });
      expect.unreachable();
    } catch (err) {
      expect(String(err)).not.toContain('acct_secretish');
      expect(String(err)).not.toContain(SECRET);
    }
  });

  it('uses the system clock by default', () => {
    const t = Math.floor(Date.now() / 1000);
    const { now: _, ...noNow } = base;
    expect(codeOf(() => verifyGatehouseRequest({ ...noNow, headers: signed(t) }))).toBe('accepted');
  });
});
