import { createServer } from 'node:http';
import { type AddressInfo, connect } from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import { createGatewayHarness, type GatewayHarness, type Upstream } from './test-kit/gateway-harness.js';

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

  it('closes a connection whose body was not read to the end when the upstream failed while it was sent', async () => {
    // an upstream that refuses a large body at once and hangs up, as the demo payments API does
    const server = createServer((_req, res) => {
      res.writeHead(413, { 'content-type': 'application/json', connection: 'close' });
      res.end('{}');
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    const upstream: Upstream = {
      url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
      received: [],
      respond: () => {},
      close: async () => {
        server.closeAllConnections();
        server.close();
      },
    };
    g = await createGatewayHarness({ upstream });
    const body = Buffer.alloc(2_000_000, 'a');
    const socket = connect(Number(new URL(g.url).port), '127.0.0.1');
    let answer = '';
    socket.on('data', (d: Buffer) => {
      answer += d.toString('latin1');
    });
    socket.on('error', () => {});
    const closed = new Promise<boolean>((resolve) => {
      socket.once('close', () => resolve(true));
      setTimeout(() => resolve(false), 3_000);
    });
    socket.write(
      `POST /v1/payments HTTP/1.1\r\nhost: x\r\nauthorization: Bearer ${g.secret}\r\n` +
        `content-type: application/json\r\ncontent-length: ${body.length}\r\n\r\n`,
    );
    socket.write(body.subarray(0, 300_000)); // the rest never comes
    // before: the 502 said keep-alive and the connection stayed open, half read, until the
    // server's own timeouts (a minute), holding up a graceful shutdown as long
    expect(await closed).toBe(true);
    socket.destroy();
    expect(answer).toMatch(/^HTTP\/1\.1 502 /);
    expect(answer.toLowerCase()).toContain('connection: close');
    expect(answer).toContain('"code":"upstream_unavailable"');
    await upstream.close();
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

  it('answers what Fastify and node:http cannot read with the standard error and headers', async () => {
    g = await createGatewayHarness();
    // Gatehouse's own paths, which the listener hands to Fastify
    for (const path of ['/v1/keys/%ff', '/_gatehouse/ext_authz/%']) {
      const res = await g.send('GET', path);
      expect(res.status, path).toBe(400);
      expect(res.json.error).toMatchObject({ type: 'invalid_request_error', code: 'request_malformed' });
      expect(res.json.error.request_id).toBe(res.headers['request-id']);
      expect(res.headers['cache-control']).toBe('no-store');
      expect(res.headers['x-content-type-options']).toBe('nosniff');
      expect(res.text).not.toContain('%');
    }
    // headers over node:http's limit (16 KiB): answered on the socket, and the connection closed
    const big = await g.send('GET', '/v1/payments', { headers: { 'x-big': 'x'.repeat(20_000) } });
    expect(big.status).toBe(431);
    expect(big.json.error).toMatchObject({ type: 'invalid_request_error', code: 'headers_too_large' });
    expect(big.json.error.request_id).toBe(big.headers['request-id']);
    expect(big.headers['cache-control']).toBe('no-store');
    expect(big.headers['x-content-type-options']).toBe('nosniff');
    expect(big.headers['connection']).toBe('close');
    expect(g.upstream.received).toHaveLength(0);
    expect((await g.send('GET', '/v1/payments')).status).toBe(200);
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
