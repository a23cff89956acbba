import { afterEach, describe, expect, it } from 'vitest';
import { createGatewayHarness, type GatewayHarness } from './test-kit/gateway-harness.js';

let g: GatewayHarness;
afterEach(async () => {
  await g?.close();
});

describe('proxy: what is refused and how', () => {
  it('answers 504 upstream_timeout with a generic message when the upstream is too slow', async () => {
    g = await createGatewayHarness({ timeoutMs: 200 });
    g.upstream.respond = () => {}; // never answers
    const res = await g.send('GET', '/v1/payments');
    expect(res.status).toBe(504);
    expect(res.json.error).toEqual({
      type: 'api_error',
      code: 'upstream_timeout',
      message: 'The upstream service did not answer in time.',
      request_id: res.headers['request-id'],
    });
    expect(g.log.at(-1)).toMatchObject({ status: 504, errorCode: 'upstream_timeout', keyId: g.keyId });
  });

  it('answers 502 upstream_unavailable when the upstream refuses connections, without internals', async () => {
    g = await createGatewayHarness();
    await g.upstream.close();
    const res = await g.send('POST', '/v1/payments', { body: '{}' });
    expect(res.status).toBe(502);
    expect(res.json.error.code).toBe('upstream_unavailable');
    expect(res.text).not.toMatch(/ECONNREFUSED|127\.0\.0\.1|undici|stack/i);
  });

  it('answers 502 when the upstream drops the connection before answering', async () => {
    g = await createGatewayHarness();
    g.upstream.respond = (_r, res) => res.socket?.destroy();
    const res = await g.send('GET', '/v1/payments');
    expect(res.status).toBe(502);
    expect(res.json.error.code).toBe('upstream_unavailable');
  });

  it('refuses with the contract body and Request-Id: no key, unknown key, missing scope, wrong mode', async () => {
    g = await createGatewayHarness({
      config: { routes: [{ method: '*', path: '/v1/live_only/*', modes: ['live'] }] },
    });
    const readOnly = await g.createKey({ type: 'restricted', scopes: ['payments:read'] });
    const cases: [string, string, string | null, number, string][] = [
      ['GET', '/v1/payments', null, 401, 'authentication_required'],
      ['GET', '/v1/payments', `sk_test_${'a'.repeat(32)}aaaaaa`, 401, 'invalid_api_key'],
      ['POST', '/v1/payments', readOnly.secret, 403, 'insufficient_scope'],
      ['GET', '/v1/customers', readOnly.secret, 403, 'insufficient_scope'],
      ['GET', '/v1/live_only/x', g.secret, 403, 'mode_mismatch'],
    ];
    for (const [method, path, key, status, code] of cases) {
      const res = await g.send(method, path, { key });
      expect(res.status, `${method} ${path}`).toBe(status);
      expect(res.json.error.code).toBe(code);
      expect(res.json.error.request_id).toBe(res.headers['request-id']);
    }
    expect((await g.send('GET', '/v1/payments/pi_1', { key: readOnly.secret })).status).toBe(200);
    expect(g.upstream.received).toHaveLength(1);
    expect(g.log.map((e) => e.errorCode)).toEqual([
      'authentication_required',
      'invalid_api_key',
      'insufficient_scope',
      'insufficient_scope',
      'mode_mismatch',
      null,
    ]);
  });

  it('applies a per-route scope override', async () => {
    g = await createGatewayHarness({
      config: { routes: [{ method: 'POST', path: '/v1/payments/:id/refund', scope: 'refunds:write' }] },
    });
    const refunder = await g.createKey({ type: 'restricted', scopes: ['refunds:write'] });
    const payer = await g.createKey({ type: 'restricted', scopes: ['payments:write'] });
    expect((await g.send('POST', '/v1/payments/pi_1/refund', { key: refunder.secret })).status).toBe(200);
    expect((await g.send('POST', '/v1/payments/pi_1/refund', { key: payer.secret })).status).toBe(403);
    expect((await g.send('POST', '/v1/payments', { key: refunder.secret })).status).toBe(403);
  });

  it('keeps upstream errors as they are (an upstream 4xx is not the gateway’s)', async () => {
    g = await createGatewayHarness();
    g.upstream.respond = (_r, res) => {
      res.writeHead(402, { 'content-type': 'application/json' });
      res.end('{"error":{"code":"card_declined"}}');
    };
    const res = await g.send('POST', '/v1/payments', { body: '{}' });
    expect(res.status).toBe(402);
    expect(res.json.error.code).toBe('card_declined');
  });
});
