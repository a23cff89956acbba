import { Readable } from 'node:stream';
import { verifyGatehouseRequest } from '@gatehouse/sdk';
import { afterEach, describe, expect, it } from 'vitest';
import { createGatewayHarness, type GatewayHarness, UPSTREAM_SECRET } from './test-kit/gateway-harness.js';

let g: GatewayHarness;
afterEach(async () => {
  await g?.close();
});

describe('front-proxy authorization endpoint', () => {
  it('nginx auth_request: 200 with signed Gatehouse-* headers for the original request line', async () => {
    g = await createGatewayHarness();
    const res = await g.send('GET', '/_gatehouse/authorize', {
      headers: { 'x-original-method': 'POST', 'x-original-uri': '/v1/payments?expand=customer' },
    });
    expect(res.status).toBe(200);
    expect(res.text).toBe('');
    expect(res.headers['gatehouse-account']).toBe(g.accountId);
    expect(res.headers['gatehouse-key-id']).toBe(g.keyId);
    expect(res.headers['gatehouse-mode']).toBe('test');
    expect(res.headers['gatehouse-scopes']).toBe('*');
    expect(res.headers['ratelimit-policy']).toContain('"w1";q=1000;w=1');
    const who = verifyGatehouseRequest({
      method: 'POST',
      path: '/v1/payments?expand=customer',
      headers: res.headers,
      secret: UPSTREAM_SECRET,
      now: Math.floor(g.clock.now() / 1000),
    });
    expect(who.keyId).toBe(g.keyId);
    expect(g.log.at(-1)).toMatchObject({ method: 'POST', route: '/v1/payments', status: 200 });
    expect(g.upstream.received).toHaveLength(0);
  });

  it('Traefik forwardAuth: reads X-Forwarded-Method and X-Forwarded-Uri', async () => {
    g = await createGatewayHarness();
    const readOnly = await g.createKey({ type: 'restricted', scopes: ['payments:read'] });
    const ok = await g.send('GET', '/_gatehouse/authorize', {
      key: readOnly.secret,
      headers: { 'x-forwarded-method': 'GET', 'x-forwarded-uri': '/v1/payments/pi_1' },
    });
    expect(ok.status).toBe(200);
    const no = await g.send('GET', '/_gatehouse/authorize', {
      key: readOnly.secret,
      headers: { 'x-forwarded-method': 'DELETE', 'x-forwarded-uri': '/v1/payments/pi_1' },
    });
    expect(no.status).toBe(403);
    expect(no.headers['gatehouse-status']).toBe('403');
    expect(no.headers['gatehouse-error-code']).toBe('insufficient_scope');
    expect(no.json.error.code).toBe('insufficient_scope');
  });

  it('Envoy ext_authz: the original path after the prefix and the original method', async () => {
    g = await createGatewayHarness();
    const res = await g.send('POST', '/_gatehouse/ext_authz/v1/payments?x=1');
    expect(res.status).toBe(200);
    const who = verifyGatehouseRequest({
      method: 'POST',
      path: '/v1/payments?x=1',
      headers: res.headers,
      secret: UPSTREAM_SECRET,
      now: Math.floor(g.clock.now() / 1000),
    });
    expect(who.account).toBe(g.accountId);
  });

  it('Envoy ext_authz: the OK answer tells Envoy to drop Authorization upstream; a refusal does not', async () => {
    g = await createGatewayHarness();
    const ok = await g.send('GET', '/_gatehouse/ext_authz/v1/payments');
    expect(ok.status).toBe(200);
    expect(ok.headers['x-envoy-auth-headers-to-remove']).toBe('authorization');
    const refused = await g.send('GET', '/_gatehouse/ext_authz/v1/payments', { key: null });
    expect(refused.status).toBe(401);
    expect(refused.headers['x-envoy-auth-headers-to-remove']).toBeUndefined();
  });

  it('decides on a request with any body, which it never parses', async () => {
    g = await createGatewayHarness();
    const bodies: [string | undefined, string][] = [
      ['application/x-www-form-urlencoded', 'amount=1&currency=eur'],
      [
        'multipart/form-data; boundary=x',
        '--x\r\nContent-Disposition: form-data; name="a"\r\n\r\n1\r\n--x--\r\n',
      ],
      ['application/xml', '<payment><amount>1</amount></payment>'],
      ['application/json', '{"amount":1,'],
      ['application/json', JSON.stringify({ amount: 1, pad: 'x'.repeat(100_000) })],
      ['not a media type', 'x'],
      [undefined, 'raw bytes'],
    ];
    for (const [type, body] of bodies) {
      const headers = type === undefined ? {} : { 'content-type': type };
      const envoy = await g.send('POST', '/_gatehouse/ext_authz/v1/payments', { headers, body });
      expect(envoy.status, `ext_authz ${type}`).toBe(200);
      expect(envoy.headers['gatehouse-account']).toBe(g.accountId);
      const traefik = await g.send('POST', '/_gatehouse/authorize', {
        headers: { ...headers, 'x-forwarded-method': 'POST', 'x-forwarded-uri': '/v1/payments' },
        body,
      });
      expect(traefik.status, `authorize ${type}`).toBe(200);
      // still a decision: no key, no entry
      const none = await g.send('POST', '/_gatehouse/ext_authz/v1/payments', { key: null, headers, body });
      expect(none.status, `ext_authz ${type} without a key`).toBe(401);
      expect(none.json.error.code).toBe('authentication_required');
    }
  });

  it("reads no more of a body than the gateway's max_body_bytes", async () => {
    g = await createGatewayHarness({ config: { max_body_bytes: 1024 } });
    const declared = await g.send('POST', '/_gatehouse/ext_authz/v1/payments', { body: 'x'.repeat(1025) });
    expect(declared.status).toBe(413);
    expect(declared.json.error.code).toBe('body_too_large');
    expect(declared.headers['gatehouse-status']).toBe('413');
    expect(declared.headers['gatehouse-error-code']).toBe('body_too_large');
    const chunked = await g.send('POST', '/_gatehouse/ext_authz/v1/payments', {
      body: Readable.from([Buffer.alloc(1000), Buffer.alloc(1000)]),
    });
    expect(chunked.status).toBe(413);
    expect(chunked.json.error.code).toBe('body_too_large');
    const within = await g.send('POST', '/_gatehouse/ext_authz/v1/payments', { body: 'x'.repeat(1024) });
    expect(within.status).toBe(200);
  });

  it('refuses with the real status and code headers: 401, and 429 with Retry-After', async () => {
    g = await createGatewayHarness();
    const limited = await g.createKey({ rate_limits: [{ limit: 1, window_seconds: 10 }] });
    const line = { 'x-original-method': 'GET', 'x-original-uri': '/v1/payments' };
    const none = await g.send('GET', '/_gatehouse/authorize', { key: null, headers: line });
    expect(none.status).toBe(401);
    expect(none.headers['gatehouse-error-code']).toBe('authentication_required');
    expect(none.json.error.request_id).toBe(none.headers['request-id']);
    expect(
      (await g.send('GET', '/_gatehouse/authorize', { key: limited.secret, headers: line })).status,
    ).toBe(200);
    const over = await g.send('GET', '/_gatehouse/authorize', { key: limited.secret, headers: line });
    expect(over.status).toBe(429);
    expect(over.headers['gatehouse-status']).toBe('429');
    expect(over.headers['retry-after']).toBe('10');
    expect(over.json.error.code).toBe('rate_limited');
  });

  it('refuses a request line whose nginx and Traefik headers disagree (a client sending the other pair)', async () => {
    g = await createGatewayHarness();
    const readOnly = await g.createKey({ type: 'restricted', scopes: ['payments:read'] });
    // Traefik set X-Forwarded-*; the client added X-Original-* to look like a read
    const forged = await g.send('GET', '/_gatehouse/authorize', {
      key: readOnly.secret,
      headers: {
        'x-forwarded-method': 'POST',
        'x-forwarded-uri': '/v1/payments',
        'x-original-method': 'GET',
        'x-original-uri': '/v1/payments',
      },
    });
    expect(forged.status).toBe(400);
    expect(forged.json.error.code).toBe('parameter_invalid');
    expect(forged.headers['gatehouse-account']).toBeUndefined();
    // for nginx's refusal page, which only sees these headers
    expect(forged.headers['gatehouse-status']).toBe('400');
    expect(forged.headers['gatehouse-error-code']).toBe('parameter_invalid');
    const otherPath = await g.send('GET', '/_gatehouse/authorize', {
      key: readOnly.secret,
      headers: {
        'x-forwarded-method': 'GET',
        'x-forwarded-uri': '/v1/admin',
        'x-original-uri': '/v1/payments',
      },
    });
    expect(otherPath.status).toBe(400);
    // the same line in both is what it says
    const same = await g.send('GET', '/_gatehouse/authorize', {
      key: readOnly.secret,
      headers: {
        'x-forwarded-method': 'get',
        'x-forwarded-uri': '/v1/payments',
        'x-original-method': 'GET',
        'x-original-uri': '/v1/payments',
      },
    });
    expect(same.status).toBe(200);
  });

  it('needs the original request line', async () => {
    g = await createGatewayHarness();
    const res = await g.send('GET', '/_gatehouse/authorize');
    expect(res.status).toBe(400);
    expect(res.json.error.code).toBe('parameter_missing');
    expect(res.headers['gatehouse-status']).toBe('400');
    expect(res.headers['gatehouse-error-code']).toBe('parameter_missing');
  });
});

describe('refusal page for nginx error_page', () => {
  it('renders the standard body of a known code with the original request id and Retry-After', async () => {
    g = await createGatewayHarness();
    const res = await g.send(
      'GET',
      '/_gatehouse/refusal?status=429&code=rate_limited&request_id=req_01ABC&retry_after=7',
      {
        key: null,
      },
    );
    expect(res.status).toBe(429);
    expect(res.headers['retry-after']).toBe('7');
    expect(res.headers['request-id']).toBe('req_01ABC');
    expect(res.json).toEqual({
      error: {
        type: 'rate_limit_error',
        code: 'rate_limited',
        message: 'Too many requests. Retry later.',
        request_id: 'req_01ABC',
      },
    });
  });

  it('renders 500 api_error when the front proxy had no code to pass on (no answer from Gatehouse)', async () => {
    g = await createGatewayHarness();
    for (const q of ['', 'status=&code=&request_id=&retry_after=']) {
      const res = await g.send('GET', `/_gatehouse/refusal?${q}`, { key: null });
      expect(res.status, q).toBe(500);
      expect(res.json.error).toMatchObject({ type: 'api_error', code: 'internal_error' });
    }
  });

  it('renders nothing else: unknown codes, mismatched statuses, odd ids or retry values are refused', async () => {
    g = await createGatewayHarness();
    for (const q of [
      'code=<script>',
      'code=__proto__',
      'code=toString',
      'status=200&code=rate_limited',
      'code=rate_limited&request_id=<b>x</b>',
      'code=rate_limited&retry_after=1;evil',
    ]) {
      const res = await g.send('GET', `/_gatehouse/refusal?${q}`, { key: null });
      expect(res.status, q).toBe(400);
      expect(res.json.error.code).toBe('parameter_invalid');
      expect(res.text).not.toContain('<');
    }
  });
});
