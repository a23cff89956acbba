import { connect } from 'node:net';
import { gunzipSync, gzipSync } from 'node:zlib';
import { request } from 'undici';
import { afterEach, describe, expect, it } from 'vitest';
import { createGatewayHarness, type GatewayHarness } from './test-kit/gateway-harness.js';

let g: GatewayHarness;
afterEach(async () => {
  await g?.close();
});

const json = { 'content-type': 'application/json' };

describe('proxy: idempotency', () => {
  it('replays a completed request without a second upstream call', async () => {
    g = await createGatewayHarness();
    g.upstream.respond = (r, res) => {
      res.writeHead(201, { 'content-type': 'application/json; charset=utf-8' });
      res.end(JSON.stringify({ id: 'pi_1', amount: JSON.parse(r.body).amount }));
    };
    const headers = { ...json, 'idempotency-key': 'order-42' };
    const first = await g.send('POST', '/v1/payments', { body: '{"amount":500}', headers });
    expect(first.status).toBe(201);
    expect(first.headers['idempotent-replayed']).toBeUndefined();
    const again = await g.send('POST', '/v1/payments', { body: '{"amount":500}', headers });
    expect(again.status).toBe(201);
    expect(again.text).toBe(first.text);
    expect(again.headers['content-type']).toBe('application/json; charset=utf-8');
    expect(again.headers['idempotent-replayed']).toBe('true');
    expect(again.headers['request-id']).not.toBe(first.headers['request-id']);
    expect(g.upstream.received).toHaveLength(1);
  });

  it('replays the answer with its own headers: a compressed body stays readable, Location and Retry-After stay', async () => {
    g = await createGatewayHarness();
    const body = gzipSync(JSON.stringify({ id: 'pi_1' }));
    g.upstream.respond = (_r, res) => {
      res.writeHead(201, {
        'content-type': 'application/json',
        'content-encoding': 'gzip',
        location: '/v1/payments/pi_1',
        'retry-after': '7',
        'set-cookie': 'session=s1',
      });
      res.end(body);
    };
    const send = () =>
      request(`${g.url}/v1/payments`, {
        method: 'POST',
        headers: { ...json, authorization: `Bearer ${g.secret}`, 'idempotency-key': 'gz-1' },
        body: '{"amount":500}',
      });
    const first = await send();
    expect(gunzipSync(Buffer.from(await first.body.arrayBuffer())).toString()).toBe('{"id":"pi_1"}');
    const again = await send();
    expect(again.statusCode).toBe(201);
    expect(again.headers['idempotent-replayed']).toBe('true');
    expect(again.headers['content-encoding']).toBe('gzip');
    expect(again.headers['location']).toBe('/v1/payments/pi_1');
    expect(again.headers['retry-after']).toBe('7');
    expect(again.headers['set-cookie']).toBeUndefined();
    expect(again.headers['ratelimit']).toBeDefined(); // this request's own, not the first one's
    expect(gunzipSync(Buffer.from(await again.body.arrayBuffer())).toString()).toBe('{"id":"pi_1"}');
    expect(g.upstream.received).toHaveLength(1);
  });

  it('does not keep an upstream 429: a retry with the key reaches the upstream', async () => {
    g = await createGatewayHarness();
    let busy = true;
    g.upstream.respond = (_r, res) => {
      res.writeHead(busy ? 429 : 201, { 'content-type': 'application/json', 'retry-after': '1' });
      res.end(busy ? '{"error":{"code":"rate_limited"}}' : '{"id":"pi_1"}');
    };
    const headers = { ...json, 'idempotency-key': 'order-busy' };
    expect((await g.send('POST', '/v1/payments', { body: '{}', headers })).status).toBe(429);
    busy = false;
    await new Promise((resolve) => setTimeout(resolve, 20)); // the key is let go after the answer
    const retry = await g.send('POST', '/v1/payments', { body: '{}', headers });
    expect(retry.status).toBe(201);
    expect(retry.headers['idempotent-replayed']).toBeUndefined();
    expect(g.upstream.received).toHaveLength(2);
  });

  it('finishes and keeps an idempotent request whose client hung up, and replays it to the retry', async () => {
    g = await createGatewayHarness();
    let answered: () => void = () => {};
    const upstreamAnswered = new Promise<void>((resolve) => {
      answered = resolve;
    });
    g.upstream.respond = (_r, res) => {
      // the payment is made; the answer takes a while, and the client will be gone by then
      setTimeout(() => {
        res.writeHead(201, { 'content-type': 'application/json; charset=utf-8' });
        res.end(JSON.stringify({ id: 'pi_slow', status: 'succeeded' }));
        answered();
      }, 300);
    };
    const headers = {
      ...json,
      'idempotency-key': 'order-hangup',
      authorization: `Bearer ${g.secret}`,
    };
    const gone = request(`${g.url}/v1/payments`, {
      method: 'POST',
      headers,
      body: '{"amount":700}',
      signal: AbortSignal.timeout(100),
    }).then(
      () => 'answered',
      () => 'aborted',
    );
    expect(await gone).toBe('aborted');
    await upstreamAnswered;
    let again = await g.send('POST', '/v1/payments', { body: '{"amount":700}', headers });
    for (let i = 0; i < 50 && again.status === 409; i++) {
      await new Promise((r) => setTimeout(r, 20)); // the answer is being kept
      again = await g.send('POST', '/v1/payments', { body: '{"amount":700}', headers });
    }
    expect(again.status).toBe(201);
    expect(again.json).toEqual({ id: 'pi_slow', status: 'succeeded' });
    expect(again.headers['idempotent-replayed']).toBe('true');
    expect(g.upstream.received).toHaveLength(1);
  });

  it('refuses the same key with a different body, path, query or body type with 422', async () => {
    g = await createGatewayHarness();
    const headers = { ...json, 'idempotency-key': 'order-43' };
    expect((await g.send('POST', '/v1/payments', { body: '{"amount":1}', headers })).status).toBe(200);
    for (const [path, body, type] of [
      ['/v1/payments', '{"amount":2}', 'application/json'],
      ['/v1/payments?capture=false', '{"amount":1}', 'application/json'],
      ['/v1/refunds', '{"amount":1}', 'application/json'],
      ['/v1/payments', '{"amount":1}', 'text/plain'],
    ] as const) {
      const res = await g.send('POST', path, { body, headers: { ...headers, 'content-type': type } });
      expect(res.status).toBe(422);
      expect(res.json.error).toMatchObject({ type: 'idempotency_error', code: 'idempotency_key_reused' });
    }
    expect(g.upstream.received).toHaveLength(1);
  });

  it('answers 409 to a repeat while the first is in flight', async () => {
    g = await createGatewayHarness();
    let release: () => void = () => {};
    g.upstream.respond = (_r, res) => {
      release = () => {
        res.writeHead(200, json);
        res.end('{"ok":true}');
      };
    };
    const headers = { ...json, 'idempotency-key': 'order-44' };
    const first = g.send('POST', '/v1/payments', { body: '{}', headers });
    while (g.upstream.received.length === 0) await new Promise((r) => setTimeout(r, 5));
    const second = await g.send('POST', '/v1/payments', { body: '{}', headers });
    expect(second.status).toBe(409);
    expect(second.json.error.code).toBe('idempotency_key_in_use');
    release();
    expect((await first).status).toBe(200);
    const third = await g.send('POST', '/v1/payments', { body: '{}', headers });
    expect(third.headers['idempotent-replayed']).toBe('true');
    expect(g.upstream.received).toHaveLength(1);
  });

  it('does not keep the gateway’s own 502/504: a retry reaches the upstream', async () => {
    g = await createGatewayHarness({ timeoutMs: 200 });
    g.upstream.respond = () => {};
    const headers = { ...json, 'idempotency-key': 'order-45' };
    expect((await g.send('POST', '/v1/payments', { body: '{}', headers })).status).toBe(504);
    g.upstream.respond = (_r, res) => {
      res.writeHead(200, json);
      res.end('{"ok":true}');
    };
    const retry = await g.send('POST', '/v1/payments', { body: '{}', headers });
    expect(retry.status).toBe(200);
    expect(retry.headers['idempotent-replayed']).toBeUndefined();
    expect(g.upstream.received).toHaveLength(2);
  });

  it('scopes keys to the account and mode, and ignores Idempotency-Key on other methods', async () => {
    g = await createGatewayHarness();
    const other = await g.createKey({ mode: 'live' });
    const headers = { ...json, 'idempotency-key': 'shared' };
    expect((await g.send('POST', '/v1/payments', { body: '{}', headers })).status).toBe(200);
    const live = await g.send('POST', '/v1/payments', { key: other.secret, body: '{"x":1}', headers });
    expect(live.status).toBe(200);
    expect(live.headers['idempotent-replayed']).toBeUndefined();
    await g.send('GET', '/v1/payments', { headers });
    await g.send('GET', '/v1/payments', { headers });
    expect(g.upstream.received).toHaveLength(4);
  });

  it('expires kept answers after 24 hours', async () => {
    g = await createGatewayHarness();
    const headers = { ...json, 'idempotency-key': 'order-46' };
    await g.send('POST', '/v1/payments', { body: '{}', headers });
    g.clock.advance(24 * 3600 * 1000 + 1);
    const later = await g.send('POST', '/v1/payments', { body: '{"new":true}', headers });
    expect(later.status).toBe(200);
    expect(g.upstream.received).toHaveLength(2);
  });

  it('refuses a retry, and does not run it again, when the answer was too large to keep', async () => {
    g = await createGatewayHarness({ config: { idempotency_max_response_bytes: 1024 } });
    g.upstream.respond = (_r, res) => {
      res.writeHead(201, { 'content-type': 'application/json; charset=utf-8' });
      res.end(JSON.stringify({ id: `pi_${g.upstream.received.length}`, pad: 'x'.repeat(4096) }));
    };
    const headers = { ...json, 'idempotency-key': 'order-big' };
    const first = await g.send('POST', '/v1/payments', { body: '{"amount":1}', headers });
    expect(first.status).toBe(201);
    const again = await g.send('POST', '/v1/payments', { body: '{"amount":1}', headers });
    expect(again.status).toBe(409);
    expect(again.json.error).toMatchObject({
      type: 'idempotency_error',
      code: 'idempotency_key_unreplayable',
    });
    expect(g.upstream.received).toHaveLength(1);
  });

  it('refuses a retry, and does not run it again, when the upstream’s answer was cut short', async () => {
    g = await createGatewayHarness();
    g.upstream.respond = (_r, res) => {
      res.writeHead(201, { 'content-type': 'application/json; charset=utf-8', 'content-length': '100' });
      res.write('{"id":"pi_cut"');
      setTimeout(() => res.destroy(), 20); // the payment was made; the answer breaks off
    };
    const headers = { ...json, 'idempotency-key': 'order-cut' };
    await g.send('POST', '/v1/payments', { body: '{"amount":1}', headers }).catch(() => null);
    await new Promise((r) => setTimeout(r, 50));
    const again = await g.send('POST', '/v1/payments', { body: '{"amount":1}', headers });
    expect(again.status).toBe(409);
    expect(again.json.error.code).toBe('idempotency_key_unreplayable');
    expect(g.upstream.received).toHaveLength(1);
  });

  it('logs a client that hangs up before its idempotent body is whole as 499, and keeps its key free', async () => {
    g = await createGatewayHarness();
    const { port } = new URL(g.url);
    await new Promise<void>((resolve) => {
      const socket = connect(Number(port), '127.0.0.1', () => {
        socket.write(
          `POST /v1/payments HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer ${g.secret}\r\n` +
            'Idempotency-Key: order-gone\r\nContent-Type: application/json\r\nContent-Length: 100\r\n\r\n{"amount":',
        );
        setTimeout(() => socket.destroy(), 100);
      });
      socket.on('close', () => resolve());
      socket.on('error', () => {});
    });
    const deadline = Date.now() + 2_000;
    while (g.log.length === 0 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 10));
    expect(g.log.map((e) => e.status)).toEqual([499]);
    expect(g.upstream.received).toHaveLength(0);
    const retry = await g.send('POST', '/v1/payments', {
      body: '{"amount":1}',
      headers: { ...json, 'idempotency-key': 'order-gone' },
    });
    expect(retry.status).toBe(200);
    expect(g.upstream.received).toHaveLength(1);
  });

  it('answers an idempotent chunked body over the cap with 413 as soon as it passes the cap', async () => {
    g = await createGatewayHarness({ config: { idempotency_max_body_bytes: 4096 } });
    const slowly = async function* () {
      for (let i = 0; i < 100; i++) {
        yield Buffer.alloc(1024, 0x61);
        await new Promise((r) => setTimeout(r, 20));
      }
    };
    const t0 = performance.now();
    const res = await request(`${g.url}/v1/payments`, {
      method: 'POST',
      headers: { authorization: `Bearer ${g.secret}`, 'idempotency-key': 'order-endless', ...json },
      body: slowly(),
    }).catch(() => null);
    const took = performance.now() - t0;
    if (res !== null) {
      expect(res.statusCode).toBe(413);
      await res.body.dump();
    }
    expect(took).toBeLessThan(1_000); // not the 2 s the whole body takes to arrive
    expect(g.log.at(-1)).toMatchObject({ status: 413, errorCode: 'body_too_large' });
    expect(g.upstream.received).toHaveLength(0);
  });

  it('refuses an invalid Idempotency-Key with 400', async () => {
    g = await createGatewayHarness();
    for (const key of ['x'.repeat(256), 'tab\there', 'ümlaut']) {
      const res = await g.send('POST', '/v1/payments', { body: '{}', headers: { 'idempotency-key': key } });
      expect(res.status).toBe(400);
      expect(res.json.error.code).toBe('idempotency_key_invalid');
    }
    expect(g.upstream.received).toHaveLength(0);
  });
});
