import { randomBytes } from 'node:crypto';
import { createServer, type Server } from 'node:http';
import type { AddressInfo, Socket } from 'node:net';
import { generateAdminKey, generateApiKey, KEY_MAX_LENGTH } from '@gatehouse/core';
import { afterEach, describe, expect, it } from 'vitest';
import { DeliveryClient } from './delivery-client.js';
import type { WebhookTarget } from './webhook-url-guard.js';

/** A local receiver whose handler the test writes. */
async function receiver(handler: Parameters<typeof createServer>[1]) {
  const server: Server = createServer(handler);
  const sockets = new Set<Socket>();
  server.on('connection', (s) => {
    sockets.add(s);
    s.on('close', () => sockets.delete(s));
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return {
    port,
    sockets,
    target: (path = '/hook'): WebhookTarget => ({
      url: new URL(`http://127.0.0.1:${port}${path}`),
      address: '127.0.0.1',
      family: 4,
    }),
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}

const headers = { 'webhook-id': 'msg_1', 'webhook-timestamp': '1', 'webhook-signature': 'v1,x' };

describe('delivery client', () => {
  const cleanup: (() => Promise<void>)[] = [];
  afterEach(async () => {
    for (const c of cleanup.splice(0).reverse()) await c();
  });
  const client = (options: ConstructorParameters<typeof DeliveryClient>[0] = {}) => {
    const c = new DeliveryClient(options);
    cleanup.push(() => c.close());
    return c;
  };
  const serve = async (handler: Parameters<typeof createServer>[1]) => {
    const r = await receiver(handler);
    cleanup.push(r.close);
    return r;
  };

  it('POSTs the body with the signature headers and reports an empty 2xx without an excerpt', async () => {
    let seen: { method?: string; url?: string; headers?: Record<string, unknown>; body?: string } = {};
    const r = await serve((req, res) => {
      const chunks: Buffer[] = [];
      req.on('data', (c: Buffer) => chunks.push(c));
      req.on('end', () => {
        seen = {
          method: req.method,
          url: req.url,
          headers: req.headers,
          body: Buffer.concat(chunks).toString(),
        };
        res.writeHead(204).end();
      });
    });
    const result = await client().send({ target: r.target('/hook?x=1'), headers, body: '{"a":1}' });
    expect(result).toMatchObject({
      statusCode: 204,
      excerpt: null,
      errorCode: null,
      retryAfterMs: undefined,
    });
    expect(result.latencyMs).toBeGreaterThan(0);
    expect(seen).toMatchObject({
      method: 'POST',
      url: '/hook?x=1',
      body: '{"a":1}',
      headers: {
        'content-type': 'application/json',
        'user-agent': 'Gatehouse-Webhooks/1',
        'webhook-id': 'msg_1',
        'webhook-signature': 'v1,x',
      },
    });
  });

  it('keeps the first KiB of an answer, redacted, and lets go of the rest', async () => {
    const secret = `sk_live_${randomBytes(24).toString('hex')}`;
    const r = await serve((_req, res) => {
      res.writeHead(500, { 'content-type': 'text/plain' });
      // the secret inside the first KiB, then a body far larger than anybody should read
      res.write(`error for ${secret}: `);
      const more = () => {
        while (res.write('x'.repeat(16 * 1024)));
        res.once('drain', more);
      };
      more();
    });
    const result = await client().send({ target: r.target(), headers, body: '{}' });
    expect(result.statusCode).toBe(500);
    expect(result.errorCode).toBeNull();
    expect(result.excerpt).not.toContain(secret);
    expect(result.excerpt?.startsWith('error for ')).toBe(true);
    expect(Buffer.byteLength(result.excerpt ?? '')).toBeLessThanOrEqual(1024);
    expect(result.excerpt).toMatch(/x{500}$/);
  });

  it('redacts a key that the 1 KiB cut falls inside, and shows nothing of a key the read cut', async () => {
    const key = generateAdminKey();
    // five keys whose hints are shorter than they are: what follows moves up by 150 bytes
    const shrinking = `${Array.from({ length: 5 }, () => generateApiKey('secret', 'live')).join(' ')} `;
    const bodies = [
      // the key starts 15 bytes before the cut: cutting first would leave adm_ and 11 characters
      `${'x'.repeat(1024 - 15)}${key}`,
      `${'-'.repeat(1024 - 15)}${key}${'-'.repeat(4096)}`,
      // the read (1024 bytes of excerpt and the longest key past them) stops inside the key,
      // which the redaction before it brings inside the excerpt
      `${shrinking.padEnd(1024 + KEY_MAX_LENGTH - 10, '-')}${key}${'-'.repeat(4096)}`,
    ];
    let next = 0;
    const r = await serve((_req, res) => {
      res.writeHead(500).end(bodies[next++]);
    });
    const c = client();
    for (const _ of bodies) {
      const { excerpt } = await c.send({ target: r.target(), headers, body: '{}' });
      expect(Buffer.byteLength(excerpt ?? '')).toBeLessThanOrEqual(1024);
      expect(excerpt?.length).toBeGreaterThan(900);
      expect(excerpt).not.toContain(key.slice(0, 9));
    }
  });

  it('reads Retry-After in seconds and as an HTTP date', async () => {
    let answer = '120';
    const r = await serve((_req, res) => {
      res.writeHead(429, { 'retry-after': answer }).end('slow down');
    });
    const c = client();
    expect(await c.send({ target: r.target(), headers, body: '{}' })).toMatchObject({
      statusCode: 429,
      excerpt: 'slow down',
      retryAfterMs: 120_000,
    });
    answer = new Date(Date.now() + 60_000).toUTCString();
    const dated = await c.send({ target: r.target(), headers, body: '{}' });
    expect(dated.retryAfterMs).toBeGreaterThan(55_000);
    expect(dated.retryAfterMs).toBeLessThanOrEqual(60_000);
  });

  it('does not follow a redirect', async () => {
    let hits = 0;
    const r = await serve((req, res) => {
      hits++;
      if (req.url === '/hook') res.writeHead(307, { location: '/elsewhere' }).end();
      else res.writeHead(200).end();
    });
    expect(await client().send({ target: r.target(), headers, body: '{}' })).toMatchObject({
      statusCode: 307,
      errorCode: 'redirect_not_followed',
    });
    expect(hits).toBe(1);
  });

  it('times out an answer that does not come, and closes its connection', async () => {
    let socket: Socket | undefined;
    const r = await serve((req) => {
      socket = req.socket; // never answers
    });
    const started = Date.now();
    const result = await client({ totalTimeoutMs: 300 }).send({ target: r.target(), headers, body: '{}' });
    expect(result).toMatchObject({ statusCode: null, errorCode: 'timeout', excerpt: null });
    // the shared deadline fires within a slot (100 ms) after the timeout
    expect(Date.now() - started).toBeGreaterThanOrEqual(290);
    expect(Date.now() - started).toBeLessThan(2_000);
    for (let i = 0; i < 50 && !socket?.destroyed; i++) await new Promise((x) => setTimeout(x, 20));
    expect(socket?.destroyed).toBe(true);
  });

  it('reports a 2xx whose body stalls past the total timeout as a timeout, not a success', async () => {
    const r = await serve((_req, res) => {
      res.writeHead(200);
      res.write('accepted'); // and never ends
    });
    const result = await client({ totalTimeoutMs: 300 }).send({ target: r.target(), headers, body: '{}' });
    expect(result).toMatchObject({ statusCode: 200, errorCode: 'timeout', excerpt: 'accepted' });
  });

  it('reports a refused connection and a reset one with stable codes', async () => {
    const r = await serve((req) => req.socket.destroy());
    const c = client();
    expect(await c.send({ target: r.target(), headers, body: '{}' })).toMatchObject({
      statusCode: null,
      errorCode: 'connection_reset',
    });
    await r.close();
    expect(await c.send({ target: r.target(), headers, body: '{}' })).toMatchObject({
      statusCode: null,
      errorCode: 'connection_refused',
    });
  });

  it('keeps the status and the excerpt of an answer cut short', async () => {
    const r = await serve((req, res) => {
      res.writeHead(502, { 'content-length': '1000' });
      res.write('partial answer');
      setTimeout(() => req.socket.destroy(), 20);
    });
    expect(await client().send({ target: r.target(), headers, body: '{}' })).toMatchObject({
      statusCode: 502,
      excerpt: 'partial answer',
      errorCode: null,
    });
  });

  it('sends many attempts at once over the keep-alive pool, each with its own answer', async () => {
    const r = await serve((req, res) => {
      const chunks: Buffer[] = [];
      req.on('data', (c: Buffer) => chunks.push(c));
      req.on('end', () => res.writeHead(200).end(Buffer.concat(chunks)));
    });
    const c = client({ connectionsPerOrigin: 2 });
    const results = await Promise.all(
      Array.from({ length: 200 }, (_, i) => c.send({ target: r.target(), headers, body: `{"i":${i}}` })),
    );
    expect(results.map((x) => x.excerpt)).toEqual(Array.from({ length: 200 }, (_, i) => `{"i":${i}}`));
    expect(r.sockets.size).toBeLessThanOrEqual(2);
  });
});
