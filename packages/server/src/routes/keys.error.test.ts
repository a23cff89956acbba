import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { call, createHarness, type Harness, setupAccount } from '../test-kit/harness.js';

describe('keys: refused requests and how', () => {
  let h: Harness;
  let acct: { accountId: string; keyId: string; secret: string };
  beforeAll(async () => {
    h = await createHarness();
    acct = await setupAccount(h);
  });
  afterAll(() => h.close());

  const cases: [string, unknown, number, string, string | undefined][] = [
    ['unknown field', { nme: 'x' }, 400, 'parameter_unknown', 'nme'],
    ['wrong type', { name: 42 }, 400, 'parameter_invalid', 'name'],
    ['bad type enum', { type: 'superuser' }, 400, 'parameter_invalid', 'type'],
    ['bad scope', { type: 'restricted', scopes: ['everything'] }, 400, 'parameter_invalid', 'scopes[0]'],
    ['restricted without scopes', { type: 'restricted' }, 400, 'parameter_missing', 'scopes'],
    ['secret key with scopes', { scopes: ['keys:read'] }, 400, 'parameter_invalid', 'scopes'],
    [
      'publishable with scopes',
      { type: 'publishable', scopes: ['keys:read'] },
      400,
      'parameter_invalid',
      'scopes',
    ],
    ['bad CIDR', { ip_allowlist: ['10.0.0.0/33'] }, 400, 'parameter_invalid', 'ip_allowlist[0]'],
    ['odd IP encoding', { ip_allowlist: ['127.1'] }, 400, 'parameter_invalid', 'ip_allowlist[0]'],
    ['expiry in the past', { expires_at: 1 }, 400, 'parameter_invalid', 'expires_at'],
    [
      'both expiries',
      { expires_at: 4102444800, expires_in_seconds: 600 },
      400,
      'parameter_invalid',
      'expires_at',
    ],
    [
      'too many metadata keys',
      { metadata: Object.fromEntries(Array.from({ length: 51 }, (_, i) => [`k${i}`, 'v'])) },
      400,
      'parameter_invalid',
      'metadata',
    ],
    [
      'two rate-limit windows of one length',
      {
        rate_limits: [
          { limit: 10, window_seconds: 60 },
          { limit: 100, window_seconds: 60 },
        ],
      },
      400,
      'parameter_invalid',
      'rate_limits',
    ],
    ['live mode from a test key', { mode: 'live' }, 403, 'mode_mismatch', 'mode'],
  ];
  for (const [what, body, status, code, param] of cases) {
    it(`refuses ${what} with ${status} ${code}, and creates nothing`, async () => {
      const before = await h.store.listKeys({ accountId: acct.accountId }, { limit: 100 });
      const res = await call(h, 'POST', '/v1/keys', { key: acct.secret, body });
      expect(res.status).toBe(status);
      expect(res.body.error.code).toBe(code);
      if (param) expect(res.body.error.param).toBe(param);
      expect(res.body.error.request_id).toMatch(/^req_/);
      const after = await h.store.listKeys({ accountId: acct.accountId }, { limit: 100 });
      expect(after.data.length).toBe(before.data.length);
    });
  }

  it('refuses a body that is not JSON', async () => {
    const res = await call(h, 'POST', '/v1/keys', {
      key: acct.secret,
      headers: { 'content-type': 'application/json' },
      body: undefined,
    });
    expect(res.status).toBe(200); // an empty body means "no parameters"
    const bad = await h.app.inject({
      method: 'POST',
      url: '/v1/keys',
      headers: { authorization: `Bearer ${acct.secret}`, 'content-type': 'application/json' },
      payload: '{"name": ',
    });
    expect(bad.statusCode).toBe(400);
    expect(bad.json().error.code).toBe('body_invalid_json');
  });

  it('refuses form and text bodies with 415', async () => {
    for (const [type, payload] of [
      ['application/x-www-form-urlencoded', 'name=x'],
      ['text/plain', '{"name":"x"}'],
    ]) {
      const res = await h.app.inject({
        method: 'POST',
        url: '/v1/keys',
        headers: { authorization: `Bearer ${acct.secret}`, 'content-type': type as string },
        payload,
      });
      expect(res.statusCode, type).toBe(415);
      expect(res.json().error.code).toBe('unsupported_media_type');
    }
  });

  it('refuses an oversized body with 413', async () => {
    const res = await call(h, 'POST', '/v1/keys', { key: acct.secret, body: { name: 'x'.repeat(200_000) } });
    expect(res.status).toBe(413);
    expect(res.body.error.code).toBe('body_too_large');
  });

  it('refuses unknown query parameters and bad limits', async () => {
    const a = await call(h, 'GET', '/v1/keys?limit=1000', { key: acct.secret });
    expect(a.status).toBe(400);
    expect(a.body.error).toMatchObject({ code: 'parameter_invalid', param: 'limit' });
    const b = await call(h, 'GET', '/v1/keys?foo=1', { key: acct.secret });
    expect(b.body.error).toMatchObject({ code: 'parameter_unknown', param: 'foo' });
  });

  it('refuses both cursor directions at once on every list', async () => {
    for (const url of ['/v1/keys', '/v1/audit_events', '/v1/accounts']) {
      const key = url === '/v1/keys' ? acct.secret : h.adminKey;
      const res = await call(h, 'GET', `${url}?starting_after=a&ending_before=b`, { key });
      expect(res.status, url).toBe(400);
      expect(res.body.error).toMatchObject({ code: 'parameter_invalid', param: 'ending_before' });
    }
  });

  it('answers 404 with route_not_found for unknown routes, with a request id', async () => {
    const res = await call(h, 'GET', '/v1/nothing', { key: acct.secret });
    expect(res.status).toBe(404);
    expect(res.body.error.code).toBe('route_not_found');
    expect(res.headers['request-id']).toBe(res.body.error.request_id);
  });

  it('answers a URL it cannot decode with the standard error and headers, never echoing it', async () => {
    for (const url of ['/%', '/v1/keys/%ff', '/v1/keys/%<script>']) {
      const res = await call(h, 'GET', url, { key: acct.secret });
      expect(res.status, url).toBe(400);
      expect(res.body).toEqual({
        error: {
          type: 'invalid_request_error',
          code: 'request_malformed',
          message: 'The request could not be read: its URL or headers are malformed.',
          request_id: res.headers['request-id'],
        },
      });
      expect(res.headers['request-id']).toMatch(/^req_/);
      expect(res.headers['cache-control']).toBe('no-store');
      expect(res.headers['x-content-type-options']).toBe('nosniff');
    }
    // an id longer than any id is no such object, not Fastify's 414 echoing the path
    const long = await call(h, 'GET', `/v1/keys/${'k'.repeat(300)}`, { key: acct.secret });
    expect(long.status).toBe(404);
    expect(long.body.error.code).toBe('resource_missing');
    expect(JSON.stringify(long.body)).not.toContain('kkkk');
  });

  it('refuses to roll or update a revoked key', async () => {
    const k = await call(h, 'POST', '/v1/keys', { key: acct.secret, body: {} });
    await call(h, 'POST', `/v1/keys/${k.body.id}/revoke`, { key: acct.secret });
    const roll = await call(h, 'POST', `/v1/keys/${k.body.id}/roll`, { key: acct.secret });
    expect(roll.status).toBe(409);
    expect(roll.body.error.code).toBe('key_not_active');
    const upd = await call(h, 'POST', `/v1/keys/${k.body.id}`, { key: acct.secret, body: { name: 'y' } });
    expect(upd.body.error.code).toBe('key_not_active');
  });

  it('refuses to roll a key twice', async () => {
    const k = await call(h, 'POST', '/v1/keys', { key: acct.secret, body: {} });
    expect((await call(h, 'POST', `/v1/keys/${k.body.id}/roll`, { key: acct.secret })).status).toBe(200);
    expect((await call(h, 'POST', `/v1/keys/${k.body.id}/roll`, { key: acct.secret })).status).toBe(409);
  });

  it('bounds the grace period to 0–30 days', async () => {
    const k = await call(h, 'POST', '/v1/keys', { key: acct.secret, body: {} });
    for (const grace of [-1, 2_592_001, 1.5]) {
      const res = await call(h, 'POST', `/v1/keys/${k.body.id}/roll`, {
        key: acct.secret,
        body: { grace_period_seconds: grace },
      });
      expect(res.status).toBe(400);
      expect(res.body.error.param).toBe('grace_period_seconds');
    }
  });

  it('asks for account and mode when an operator creates a key', async () => {
    const a = await call(h, 'POST', '/v1/keys', { key: h.adminKey, body: { mode: 'test' } });
    expect(a.body.error).toMatchObject({ code: 'parameter_missing', param: 'account' });
    const b = await call(h, 'POST', '/v1/keys', { key: h.adminKey, body: { account: acct.accountId } });
    expect(b.body.error).toMatchObject({ code: 'parameter_missing', param: 'mode' });
    const c = await call(h, 'POST', '/v1/keys', {
      key: h.adminKey,
      body: { account: 'acct_01HZZZZZZZZZZZZZZZZZZZZZZZ', mode: 'test' },
    });
    expect(c.status).toBe(404);
  });
});
