import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import express from 'express';
import Fastify from 'fastify';
import { Hono } from 'hono';
import { request } from 'undici';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import type { RequestLogEntry } from '../../services/request-log.js';
import { cliCaller, createHarness, type Harness, withBadChecksum } from '../../test-kit/harness.js';
import { createGatewayEngine, type GatewayEngine } from '../engine.js';
import { parseGatewayConfig } from '../gateway-config.js';
import { gatehouseExpress } from './express.js';
import { gatehouseFastify } from './fastify.js';
import { gatehouseHono } from './hono.js';

let h: Harness;
let engine: GatewayEngine;
let log: RequestLogEntry[];
let secret: string;
let readOnly: string;
let accountId: string;
let calls: number;

beforeEach(async () => {
  h = await createHarness();
  log = [];
  h.runtime.requestLog = { record: (e) => void log.push(e) };
  engine = createGatewayEngine({
    runtime: h.runtime,
    config: parseGatewayConfig({ rate_limits: [{ limit: 3, window_seconds: 1 }] }),
  });
  const account = await h.runtime.accounts.create(cliCaller, { name: 'Acme' });
  accountId = account.id;
  const k = await h.runtime.keys.create(cliCaller, {
    type: 'secret',
    account: account.id,
    mode: 'test',
    rate_limits: [{ limit: 100, window_seconds: 1 }],
  });
  const r = await h.runtime.keys.create(cliCaller, {
    type: 'restricted',
    account: account.id,
    mode: 'test',
    scopes: ['payments:read'],
  });
  secret = (k as unknown as { secret: string }).secret;
  readOnly = (r as unknown as { secret: string }).secret;
  h.secrets.push(secret, readOnly);
  calls = 0;
});
afterEach(async () => {
  await h.close();
});

interface Answer {
  status: number;
  headers: Record<string, unknown>;
  // biome-ignore lint/suspicious/noExplicitAny: inspected field by field
  body: any;
}
type Send = (
  method: string,
  path: string,
  key: string | null,
  extra?: { body?: string; headers?: Record<string, string> },
) => Promise<Answer>;

function headersFor(key: string | null, extra: { body?: string; headers?: Record<string, string> } = {}) {
  const headers: Record<string, string> = { ...extra.headers };
  if (key !== null) headers['authorization'] = `Bearer ${key}`;
  if (extra.body !== undefined) headers['content-type'] ??= 'application/json';
  return headers;
}

/** The same behaviour, whichever framework the middleware sits in. */
function behaves(name: string, start: () => Promise<{ send: Send; close: () => Promise<void> }>) {
  describe(`${name} middleware`, () => {
    it('lets a valid key through with the principal, rate-limit headers and a request-log line', async () => {
      const app = await start();
      try {
        const res = await app.send('GET', '/v1/payments?limit=3', secret);
        expect(res.status).toBe(200);
        expect(res.body).toEqual({ account: accountId, calls: 1 });
        expect(res.headers['ratelimit-policy']).toBe('"w1";q=100;w=1, "account-w1";q=3;w=1');
        expect(res.headers['ratelimit']).toBe('"account-w1";r=2;t=1');
        expect(res.headers['request-id']).toMatch(/^req_/);
        expect(log).toHaveLength(1);
        expect(log[0]).toMatchObject({
          accountId,
          method: 'GET',
          route: '/v1/payments',
          status: 200,
          errorCode: null,
        });
      } finally {
        await app.close();
      }
    });

    it('refuses no key, a bad key and a missing scope with the contract error bodies', async () => {
      const app = await start();
      try {
        const none = await app.send('GET', '/v1/payments', null);
        expect(none.status).toBe(401);
        expect(none.body.error.code).toBe('authentication_required');
        expect(none.body.error.request_id).toBe(none.headers['request-id']);
        const bad = await app.send('GET', '/v1/payments', withBadChecksum(secret));
        expect(bad.status).toBe(401);
        expect(bad.body.error.code).toBe('invalid_api_key');
        const write = await app.send('POST', '/v1/payments', readOnly, { body: '{}' });
        expect(write.status).toBe(403);
        expect(write.body.error.code).toBe('insufficient_scope');
        expect(calls).toBe(0);
        expect(log.map((e) => e.errorCode)).toEqual([
          'authentication_required',
          'invalid_api_key',
          'insufficient_scope',
        ]);
      } finally {
        await app.close();
      }
    });

    it('answers 429 with Retry-After once the account limit is spent', async () => {
      const app = await start();
      try {
        for (let i = 0; i < 3; i++) expect((await app.send('GET', '/v1/payments', secret)).status).toBe(200);
        const over = await app.send('GET', '/v1/payments', secret);
        expect(over.status).toBe(429);
        expect(over.body.error.code).toBe('rate_limited');
        expect(over.headers['retry-after']).toBe('1');
        expect(calls).toBe(3);
        h.clock.advance(1000);
        expect((await app.send('GET', '/v1/payments', secret)).status).toBe(200);
      } finally {
        await app.close();
      }
    });

    it('replays an idempotent POST without running the handler again, and refuses a reused key', async () => {
      const app = await start();
      try {
        const headers = { 'idempotency-key': 'order-1' };
        const first = await app.send('POST', '/v1/payments', secret, { body: '{"amount":1}', headers });
        expect(first.status).toBe(200);
        const again = await app.send('POST', '/v1/payments', secret, { body: '{"amount":1}', headers });
        expect(again.status).toBe(200);
        expect(again.body).toEqual(first.body);
        expect(again.headers['idempotent-replayed']).toBe('true');
        // the answer's own headers come back with it; a cookie is not issued again
        expect(first.headers['location']).toBe('/v1/payments/pi_1');
        expect(again.headers['location']).toBe('/v1/payments/pi_1');
        expect(first.headers['set-cookie']).toBeDefined();
        expect(again.headers['set-cookie']).toBeUndefined();
        expect(calls).toBe(1);
        const other = await app.send('POST', '/v1/payments', secret, { body: '{"amount":2}', headers });
        expect(other.status).toBe(422);
        expect(other.body.error.code).toBe('idempotency_key_reused');
        h.clock.advance(1000);
        const asText = await app.send('POST', '/v1/payments', secret, {
          body: '{"amount":1}',
          headers: { ...headers, 'content-type': 'text/plain' },
        });
        expect(asText.status).toBe(422); // the same bytes as another type are another request
        h.clock.advance(1000);
        const invalid = await app.send('POST', '/v1/payments', secret, {
          body: '{}',
          headers: { 'idempotency-key': 'x'.repeat(256) },
        });
        expect(invalid.status).toBe(400);
        expect(invalid.body.error.code).toBe('idempotency_key_invalid');
        expect(calls).toBe(1);
      } finally {
        await app.close();
      }
    });

    it('refuses a retry of an answer too large to keep, without running the handler again', async () => {
      const app = await start();
      try {
        const headers = { 'idempotency-key': 'order-big' };
        const first = await app.send('POST', '/v1/big', secret, { body: '{}', headers });
        expect(first.status).toBe(200);
        expect(first.body.pad.length).toBeGreaterThan(engine.config.idempotency_max_response_bytes);
        await new Promise((r) => setTimeout(r, 50)); // a copy read beside the answer lands
        const again = await app.send('POST', '/v1/big', secret, { body: '{}', headers });
        expect(again.status).toBe(409);
        expect(again.body.error.code).toBe('idempotency_key_unreplayable');
        expect(calls).toBe(1);
      } finally {
        await app.close();
      }
    });
  });
}

const big = () => ({ pad: 'x'.repeat(engine.config.idempotency_max_response_bytes + 10) });

async function listen(server: import('node:http').Server) {
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  const send: Send = async (method, path, key, extra = {}) => {
    const res = await request(`${base}${path}`, {
      method: method as 'GET',
      headers: headersFor(key, extra),
      body: extra.body ?? null,
    });
    const text = await res.body.text();
    return { status: res.statusCode, headers: res.headers, body: text === '' ? undefined : JSON.parse(text) };
  };
  return { send, close: () => new Promise<void>((resolve) => server.close(() => resolve())) };
}

behaves('Express', async () => {
  const app = express();
  app.use(express.json(), gatehouseExpress(engine));
  const handler = (req: express.Request, res: express.Response) => {
    calls++;
    res.setHeader('location', `/v1/payments/pi_${calls}`);
    res.setHeader('set-cookie', 'session=s1');
    res.json({
      account: (req as unknown as { gatehouse: { accountId: string } }).gatehouse.accountId,
      calls,
    });
  };
  app.get('/v1/payments', handler);
  app.post('/v1/payments', handler);
  app.post('/v1/big', (_req, res) => {
    calls++;
    res.json(big());
  });
  return listen(createServer(app));
});

behaves('Fastify', async () => {
  const app = Fastify();
  await app.register(gatehouseFastify(engine));
  const handler = async (
    request: import('fastify').FastifyRequest,
    reply: import('fastify').FastifyReply,
  ) => {
    calls++;
    reply.header('location', `/v1/payments/pi_${calls}`).header('set-cookie', 'session=s1');
    return { account: request.gatehouse?.accountId, calls };
  };
  app.get('/v1/payments', handler);
  app.post('/v1/payments', handler);
  app.post('/v1/big', async () => {
    calls++;
    return big();
  });
  await app.ready();
  const send: Send = async (method, path, key, extra = {}) => {
    const res = await app.inject({
      method: method as 'GET',
      url: path,
      headers: headersFor(key, extra),
      ...(extra.body !== undefined ? { payload: extra.body } : {}),
    });
    return {
      status: res.statusCode,
      headers: res.headers,
      body: res.body === '' ? undefined : JSON.parse(res.body),
    };
  };
  return { send, close: () => app.close() };
});

behaves('Hono', async () => {
  const app = new Hono<{ Variables: { gatehouse: { accountId: string } } }>();
  app.use('/v1/*', gatehouseHono(engine, { remoteAddress: () => '127.0.0.1' }));
  const handler = (c: import('hono').Context<{ Variables: { gatehouse: { accountId: string } } }>) => {
    calls++;
    c.header('location', `/v1/payments/pi_${calls}`);
    c.header('set-cookie', 'session=s1');
    return c.json({ account: c.get('gatehouse').accountId, calls });
  };
  app.get('/v1/payments', handler);
  app.post('/v1/payments', handler);
  app.post('/v1/big', (c) => {
    calls++;
    return c.json(big());
  });
  const send: Send = async (method, path, key, extra = {}) => {
    const res = await app.request(path, {
      method,
      headers: headersFor(key, extra),
      ...(extra.body !== undefined ? { body: extra.body } : {}),
    });
    const text = await res.text();
    return {
      status: res.status,
      headers: Object.fromEntries(res.headers),
      body: text === '' ? undefined : JSON.parse(text),
    };
  };
  return { send, close: async () => {} };
});

describe('Hono middleware reading an idempotent request body', () => {
  it('leaves the body for the handler, and refuses one over the cap without reading it all', async () => {
    const app = new Hono();
    app.use('/v1/*', gatehouseHono(engine, { remoteAddress: () => '127.0.0.1' }));
    app.post('/v1/echo', async (c) => {
      calls++;
      return c.json({ got: await c.req.json() });
    });
    const send = (key: string, body: BodyInit) =>
      app.request('/v1/echo', {
        method: 'POST',
        headers: { ...headersFor(secret, { body: '' }), 'idempotency-key': key },
        body,
        duplex: 'half',
      } as RequestInit);
    const ok = await send('echo-1', '{"amount":7}');
    expect(ok.status).toBe(200);
    expect(await ok.json()).toEqual({ got: { amount: 7 } });
    const cap = engine.config.idempotency_max_body_bytes;
    let pulled = 0;
    const endless = new ReadableStream<Uint8Array>({
      pull(controller) {
        pulled += 64 * 1024;
        controller.enqueue(new Uint8Array(64 * 1024));
      },
    });
    const big = await send('echo-2', endless);
    expect(big.status).toBe(413);
    expect(((await big.json()) as { error: { code: string } }).error.code).toBe('body_too_large');
    expect(pulled).toBeLessThan(cap + 4 * 64 * 1024);
    expect(calls).toBe(1);
  });
});

describe('Hono middleware with an idempotent streamed answer', () => {
  it('streams it as it is made, keeps it once it ends, and replays it', async () => {
    const app = new Hono();
    app.use('/v1/*', gatehouseHono(engine, { remoteAddress: () => '127.0.0.1' }));
    app.post('/v1/stream', () => {
      calls++;
      const encoder = new TextEncoder();
      const body = new ReadableStream<Uint8Array>({
        start(controller) {
          controller.enqueue(encoder.encode('data: one\n\n'));
          setTimeout(() => {
            controller.enqueue(encoder.encode('data: two\n\n'));
            controller.close();
          }, 400);
        },
      });
      return new Response(body, { headers: { 'content-type': 'text/event-stream' } });
    });
    const init = () => ({
      method: 'POST',
      headers: { ...headersFor(secret, { body: '{}' }), 'idempotency-key': 'stream-1' },
      body: '{}',
    });
    const t0 = performance.now();
    const res = await app.request('/v1/stream', init());
    const reader = (res.body as ReadableStream<Uint8Array>).getReader();
    const firstChunk = await reader.read();
    expect(performance.now() - t0).toBeLessThan(300); // not held until the stream ends
    expect(new TextDecoder().decode(firstChunk.value)).toBe('data: one\n\n');
    while (!(await reader.read()).done);
    await new Promise((r) => setTimeout(r, 20));
    const again = await app.request('/v1/stream', init());
    expect(again.headers.get('idempotent-replayed')).toBe('true');
    expect(await again.text()).toBe('data: one\n\ndata: two\n\n');
    expect(calls).toBe(1);
  });
});
