import { verifyGatehouseRequest } from '@gatehouse/sdk';
import { afterEach, describe, expect, it } from 'vitest';
import { createGatewayHarness, type GatewayHarness, UPSTREAM_SECRET } from './test-kit/gateway-harness.js';

let g: GatewayHarness;
afterEach(async () => {
  await g?.close();
});

describe('proxy: what works', () => {
  it('forwards an authorized request with signed identity headers and streams the answer back', async () => {
    g = await createGatewayHarness();
    const res = await g.send('POST', '/v1/payments?expand=customer', {
      headers: { 'content-type': 'application/json', 'user-agent': 'test-agent/1' },
      body: '{"amount":100}',
    });
    expect(res.status).toBe(200);
    expect(res.json).toEqual({ object: 'payment', n: 1 });
    expect(res.headers['x-upstream']).toBe('yes');
    expect(res.headers['request-id']).toMatch(/^req_/);
    expect(res.headers['ratelimit-policy']).toBe('"w1";q=1000;w=1, "account-w1";q=100;w=1');
    expect(res.headers['ratelimit']).toMatch(/^"account-w1";r=99;t=1$/);
    const got = g.upstream.received[0]!;
    expect(got.method).toBe('POST');
    expect(got.url).toBe('/v1/payments?expand=customer');
    expect(got.body).toBe('{"amount":100}');
    expect(got.headers['authorization']).toBeUndefined();
    expect(got.headers['gatehouse-account']).toBe(g.accountId);
    expect(got.headers['gatehouse-key-id']).toBe(g.keyId);
    expect(got.headers['gatehouse-mode']).toBe('test');
    expect(got.headers['gatehouse-scopes']).toBe('*');
    expect(got.headers['request-id']).toBe(res.headers['request-id']);
    // the SDK's verifier, as an upstream author would use it, accepts what the gateway sent
    const who = verifyGatehouseRequest({
      method: got.method,
      path: got.url,
      headers: got.headers,
      secret: UPSTREAM_SECRET,
      now: Math.floor(g.clock.now() / 1000),
    });
    expect(who).toMatchObject({ account: g.accountId, keyId: g.keyId, mode: 'test', scopes: ['*'] });
    // the request log: the path without its query, and no secret anywhere
    expect(g.log).toHaveLength(1);
    expect(g.log[0]).toMatchObject({
      id: res.headers['request-id'],
      accountId: g.accountId,
      keyId: g.keyId,
      mode: 'test',
      method: 'POST',
      route: '/v1/payments',
      status: 200,
      clientIp: '127.0.0.1',
      userAgent: 'test-agent/1',
      errorCode: null,
    });
    expect(JSON.stringify(g.log)).not.toContain(g.secret);
  });

  it('still serves the API Gatehouse owns on the same listener', async () => {
    g = await createGatewayHarness();
    const res = await g.send('GET', '/v1/account');
    expect(res.status).toBe(200);
    expect(res.json.id).toBe(g.accountId);
    expect(g.upstream.received).toHaveLength(0);
  });
});
