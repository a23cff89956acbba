import { randomBytes } from 'node:crypto';
import { createServer, type IncomingHttpHeaders, type IncomingMessage, type Server } from 'node:http';
import { type AddressInfo, connect, type Socket } from 'node:net';
import { verifyGatehouseRequest } from '@gatehouse/sdk';
import { afterEach, describe, expect, it, vi } from 'vitest';
import WebSocket, { WebSocketServer } from 'ws';
import { cliCaller, withBadChecksum } from '../test-kit/harness.js';
import {
  createGatewayHarness,
  type GatewayHarness,
  type Received,
  UPSTREAM_SECRET,
  type Upstream,
} from './test-kit/gateway-harness.js';

/** A WebSocket echo upstream that records every handshake and counts TCP connections. */
interface WsUpstream extends Upstream {
  connections: number;
  /** the upstream's open WebSockets */
  clients: Set<WebSocket>;
  /** how to answer a handshake; default: accept */
  onUpgrade: (req: IncomingMessage, accept: () => void, socket: import('node:stream').Duplex) => void;
}

async function startWsUpstream(): Promise<WsUpstream> {
  const received: Received[] = [];
  const wss = new WebSocketServer({ noServer: true });
  wss.on('connection', (ws) => {
    ws.on('message', (data, isBinary) => ws.send(data, { binary: isBinary }));
  });
  const server: Server = createServer((_req, res) => {
    res.writeHead(426, { 'content-type': 'text/plain' });
    res.end('upgrade required');
  });
  const upstream: WsUpstream = {
    url: '',
    received,
    connections: 0,
    clients: wss.clients,
    respond: () => {},
    onUpgrade: (_req, accept) => accept(),
    close: async () => {
      for (const client of wss.clients) client.terminate();
      server.closeAllConnections();
      // node:http no longer tracks upgraded sockets, such as a handshake left unanswered
      for (const socket of sockets) socket.destroy();
      await new Promise<void>((resolve) => wss.close(() => resolve()));
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
  const sockets = new Set<Socket>();
  server.on('connection', (socket: Socket) => {
    upstream.connections++;
    sockets.add(socket);
    socket.once('close', () => sockets.delete(socket));
  });
  server.on('upgrade', (req, socket, head) => {
    received.push({ method: req.method ?? '', url: req.url ?? '', headers: req.headers, body: '' });
    upstream.onUpgrade(
      req,
      () => wss.handleUpgrade(req, socket, head, (ws) => wss.emit('connection', ws, req)),
      socket,
    );
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  upstream.url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  return upstream;
}

interface Refused {
  status: number;
  headers: IncomingHttpHeaders;
  // biome-ignore lint/suspicious/noExplicitAny: error bodies are inspected field by field
  json: any;
}

/** Opens a WebSocket through the gateway: the open socket, or the HTTP answer that refused it. */
function openWs(
  url: string,
  key: string | null,
  headers: Record<string, string> = {},
  protocols: string[] = [],
): Promise<{ ws: WebSocket; upgrade: IncomingMessage } | { refused: Refused }> {
  return new Promise((resolve, reject) => {
    const ws = new WebSocket(url.replace(/^http/, 'ws'), protocols, {
      headers: { ...headers, ...(key === null ? {} : { authorization: `Bearer ${key}` }) },
    });
    ws.once('upgrade', (upgrade) => ws.once('open', () => resolve({ ws, upgrade })));
    ws.once('unexpected-response', (_req, res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () => {
        const text = Buffer.concat(chunks).toString();
        let json: unknown;
        try {
          json = JSON.parse(text);
        } catch {
          json = text;
        }
        resolve({ refused: { status: res.statusCode ?? 0, headers: res.headers, json } });
        ws.terminate();
      });
    });
    ws.once('error', reject);
  });
}

async function opened(
  url: string,
  key: string | null,
  headers?: Record<string, string>,
  protocols?: string[],
) {
  const r = await openWs(url, key, headers, protocols);
  if ('refused' in r) throw new Error(`refused with ${r.refused.status}`);
  return r;
}

async function refused(url: string, key: string | null, headers?: Record<string, string>) {
  const r = await openWs(url, key, headers);
  if (!('refused' in r)) {
    r.ws.terminate();
    throw new Error('the upgrade was accepted');
  }
  return r.refused;
}

function nextMessage(ws: WebSocket): Promise<{ data: Buffer; isBinary: boolean }> {
  return new Promise((resolve, reject) => {
    ws.once('message', (data, isBinary) => resolve({ data: data as Buffer, isBinary }));
    ws.once('error', reject);
  });
}

function closed(ws: WebSocket): Promise<void> {
  return new Promise((resolve) => {
    if (ws.readyState === WebSocket.CLOSED) resolve();
    else ws.once('close', () => resolve());
  });
}

let g: GatewayHarness;
let up: WsUpstream;
afterEach(async () => {
  await g?.close();
  await up?.close();
});

async function setup(options: Parameters<typeof createGatewayHarness>[0] = {}) {
  up = await startWsUpstream();
  g = await createGatewayHarness({ ...options, upstream: up });
}

describe('proxy upgrade (WebSocket): what works', () => {
  it('echoes text and binary frames through the proxy with a valid key', async () => {
    await setup();
    const { ws, upgrade } = await opened(`${g.url}/v1/stream?topic=payments`, g.secret, {
      'user-agent': 'ws-test/1',
    });
    expect(upgrade.statusCode).toBe(101);
    expect(upgrade.headers['request-id']).toMatch(/^req_/);
    expect(upgrade.headers['ratelimit']).toMatch(/^"account-w1";r=99;t=1$/);
    ws.send('hello gateway');
    const text = await nextMessage(ws);
    expect(text.isBinary).toBe(false);
    expect(text.data.toString()).toBe('hello gateway');
    const bytes = randomBytes(70_000); // over 64 KiB: a frame with a 64-bit length, split across reads
    ws.send(bytes);
    const binary = await nextMessage(ws);
    expect(binary.isBinary).toBe(true);
    expect(Buffer.compare(binary.data, bytes)).toBe(0);
    ws.close(1000, 'bye');
    await closed(ws);
    expect(g.log).toHaveLength(1);
    expect(g.log[0]).toMatchObject({
      id: upgrade.headers['request-id'],
      accountId: g.accountId,
      keyId: g.keyId,
      method: 'GET',
      route: '/v1/stream',
      status: 101,
      userAgent: 'ws-test/1',
      errorCode: null,
    });
  });

  it('sends the upstream signed Gatehouse identity headers and no Authorization', async () => {
    await setup();
    const { ws, upgrade } = await opened(
      `${g.url}/v1/stream?x=1`,
      g.secret,
      {
        'gatehouse-account': 'acct_forged',
        'gatehouse-signature': 't=1,v1=forged',
      },
      ['gatehouse.v1'],
    );
    expect(up.received).toHaveLength(1);
    const got = up.received[0]!;
    expect(got.url).toBe('/v1/stream?x=1');
    expect(got.headers['authorization']).toBeUndefined();
    expect(got.headers['upgrade']).toBe('websocket');
    expect(got.headers['connection']).toMatch(/upgrade/i);
    expect(got.headers['sec-websocket-protocol']).toBe('gatehouse.v1');
    expect(got.headers['gatehouse-account']).toBe(g.accountId);
    expect(got.headers['gatehouse-key-id']).toBe(g.keyId);
    expect(got.headers['request-id']).toBe(upgrade.headers['request-id']);
    expect(got.headers['x-forwarded-for']).toBe('127.0.0.1');
    const who = verifyGatehouseRequest({
      method: got.method,
      path: got.url,
      headers: got.headers,
      secret: UPSTREAM_SECRET,
      now: Math.floor(g.clock.now() / 1000),
    });
    expect(who).toMatchObject({ account: g.accountId, keyId: g.keyId, mode: 'test', scopes: ['*'] });
    // the subprotocol the upstream chose reaches the client in the 101
    expect(ws.protocol).toBe('gatehouse.v1');
    ws.close();
    await closed(ws);
  });

  it('forwards bytes the client sent right behind its handshake', async () => {
    await setup();
    const socket = connect(Number(new URL(g.url).port), '127.0.0.1');
    await new Promise<void>((resolve) => socket.once('connect', () => resolve()));
    const handshake =
      'GET /v1/stream HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n' +
      `Sec-WebSocket-Key: ${randomBytes(16).toString('base64')}\r\nSec-WebSocket-Version: 13\r\n` +
      `Authorization: Bearer ${g.secret}\r\n\r\n`;
    // one write: the frame arrives as the handshake's head bytes
    socket.write(Buffer.concat([Buffer.from(handshake), maskedTextFrame('early')]));
    const answer = await readUntil(socket, (b) => b.includes('early'));
    expect(answer.toString('latin1')).toMatch(/^HTTP\/1\.1 101 /);
    expect(answer.subarray(answer.indexOf('\r\n\r\n') + 4).toString('latin1')).toContain('early');
    socket.destroy();
  });

  it('passes a non-101 upstream answer back as it is', async () => {
    await setup();
    up.onUpgrade = (_req, _accept, socket) => {
      socket.end(
        'HTTP/1.1 403 Forbidden\r\ncontent-type: application/json\r\nx-upstream: yes\r\n' +
          'content-length: 20\r\nconnection: close\r\n\r\n{"error":"upstream"}',
      );
    };
    const res = await refused(`${g.url}/v1/stream`, g.secret);
    expect(res.status).toBe(403);
    expect(res.json).toEqual({ error: 'upstream' });
    expect(res.headers['x-upstream']).toBe('yes');
    expect(res.headers['request-id']).toMatch(/^req_/);
    expect(g.log.at(-1)).toMatchObject({ status: 403, keyId: g.keyId, errorCode: null });
  });

  it('prepends the upstream base path, as the HTTP proxy does', async () => {
    up = await startWsUpstream();
    const base: Upstream = { ...up, url: `${up.url}/base/` };
    g = await createGatewayHarness({ upstream: base });
    const { ws } = await opened(`${g.url}/v1/stream?q=1`, g.secret);
    expect(up.received[0]!.url).toBe('/base/v1/stream?q=1');
    const got = up.received[0]!;
    expect(
      verifyGatehouseRequest({
        method: 'GET',
        path: got.url,
        headers: got.headers,
        secret: UPSTREAM_SECRET,
        now: Math.floor(g.clock.now() / 1000),
      }),
    ).toMatchObject({ keyId: g.keyId });
    ws.close();
    await closed(ws);
  });

  it('closing the gateway cuts open tunnels instead of waiting for them', async () => {
    await setup();
    const { ws } = await opened(`${g.url}/v1/stream`, g.secret);
    const gone = closed(ws);
    await g.app.close();
    await gone;
    expect(ws.readyState).toBe(WebSocket.CLOSED);
  });
});

describe('proxy upgrade (WebSocket): what is refused and how', () => {
  it('refuses a missing or invalid key with 401 and the contract body; the upstream never sees a connection', async () => {
    await setup();
    const cases: [string | null, string][] = [
      [null, 'authentication_required'],
      ['sk_test_not_a_real_key', 'invalid_api_key'],
      [withBadChecksum(g.secret), 'invalid_api_key'],
    ];
    for (const [key, code] of cases) {
      const res = await refused(`${g.url}/v1/stream`, key);
      expect(res.status).toBe(401);
      expect(res.headers['request-id']).toMatch(/^req_/);
      expect(res.headers['content-type']).toBe('application/json; charset=utf-8');
      expect(res.json.error).toMatchObject({
        type: 'authentication_error',
        request_id: res.headers['request-id'],
      });
      expect(res.json.error.code).toBe(code);
      expect(g.log.at(-1)).toMatchObject({ status: 401, route: '/v1/stream', id: res.headers['request-id'] });
    }
    expect(up.connections).toBe(0);
    expect(up.received).toHaveLength(0);
    expect(g.log).toHaveLength(3);
  });

  it('refuses a key without the scope, as for HTTP', async () => {
    await setup({
      config: { routes: [{ method: 'GET', path: '/v1/orders/stream', scope: 'orders:write' }] },
    });
    const readOnly = await g.createKey({ type: 'restricted', scopes: ['payments:read'] });
    const other = await refused(`${g.url}/v1/customers/stream`, readOnly.secret);
    expect(other.status).toBe(403);
    expect(other.json.error.code).toBe('insufficient_scope');
    const routed = await refused(`${g.url}/v1/orders/stream`, readOnly.secret);
    expect(routed.status).toBe(403);
    expect(routed.json.error.code).toBe('insufficient_scope');
    expect(up.connections).toBe(0);
    // the scope it holds is enough
    const { ws } = await opened(`${g.url}/v1/payments/stream`, readOnly.secret);
    expect(up.received[0]!.headers['gatehouse-scopes']).toBe('payments:read');
    ws.close();
    await closed(ws);
    expect(g.log.map((e) => [e.status, e.errorCode])).toEqual([
      [403, 'insufficient_scope'],
      [403, 'insufficient_scope'],
      [101, null],
    ]);
  });

  it('refuses a revoked key', async () => {
    await setup();
    const first = await opened(`${g.url}/v1/stream`, g.secret);
    first.ws.close();
    await closed(first.ws);
    await g.h.runtime.keys.revoke(cliCaller, g.keyId, { reason: 'compromised' });
    const res = await refused(`${g.url}/v1/stream`, g.secret);
    expect(res.status).toBe(401);
    expect(res.json.error.code).toBe('invalid_api_key');
    expect(up.received).toHaveLength(1);
  });

  it('answers 429 with RateLimit and Retry-After once the key is over its limit', async () => {
    await setup();
    const limited = await g.createKey({ rate_limits: [{ limit: 1, window_seconds: 60 }] });
    const { ws } = await opened(`${g.url}/v1/stream`, limited.secret);
    const res = await refused(`${g.url}/v1/stream`, limited.secret);
    expect(res.status).toBe(429);
    expect(res.json.error.code).toBe('rate_limited');
    expect(Number(res.headers['retry-after'])).toBeGreaterThan(0);
    expect(res.headers['ratelimit-policy']).toContain('q=1;w=60');
    expect(up.received).toHaveLength(1);
    ws.close();
    await closed(ws);
  });

  it('answers 502 when the upstream refuses connections and 504 when it never answers, generically', async () => {
    await setup({ timeoutMs: 200 });
    up.onUpgrade = () => {}; // holds the handshake
    const slow = await refused(`${g.url}/v1/stream`, g.secret);
    expect(slow.status).toBe(504);
    expect(slow.json.error).toEqual({
      type: 'api_error',
      code: 'upstream_timeout',
      message: 'The upstream service did not answer in time.',
      request_id: slow.headers['request-id'],
    });
    expect(g.log.at(-1)).toMatchObject({ status: 504, errorCode: 'upstream_timeout', keyId: g.keyId });
    await up.close();
    const down = await refused(`${g.url}/v1/stream`, g.secret);
    expect(down.status).toBe(502);
    expect(down.json.error.code).toBe('upstream_unavailable');
    expect(JSON.stringify(down.json)).not.toMatch(/ECONNREFUSED|127\.0\.0\.1|stack/i);
    expect(g.log.at(-1)).toMatchObject({ status: 502, errorCode: 'upstream_unavailable' });
    up = await startWsUpstream(); // for afterEach
  });

  it('closes the client when the upstream drops the tunnel', async () => {
    await setup();
    const { ws } = await opened(`${g.url}/v1/stream`, g.secret);
    const gone = closed(ws);
    expect(up.clients.size).toBe(1);
    for (const client of up.clients) client.terminate();
    await gone;
    expect(ws.readyState).toBe(WebSocket.CLOSED);
  });

  it('answers a request to a path Gatehouse owns that only offers to upgrade (h2c) as a plain request', async () => {
    await setup();
    const { port } = new URL(g.url);
    const answer = await new Promise<string>((resolve) => {
      let out = '';
      const socket = connect(Number(port), '127.0.0.1', () =>
        socket.write(
          `GET /v1/account HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer ${g.secret}\r\n` +
            'Connection: Upgrade, HTTP2-Settings\r\nUpgrade: h2c\r\nHTTP2-Settings: AAMAAABkAAQCAAAAAAIAAAAA\r\n\r\n',
        ),
      );
      socket.on('data', (d) => {
        out += d;
      });
      socket.on('close', () => resolve(out));
      socket.on('error', () => resolve(out));
    });
    expect(answer.split('\r\n')[0]).toBe('HTTP/1.1 200 OK');
    expect(answer).toContain(`"id":"${g.accountId}"`);
    expect(up.connections).toBe(0);
  });

  it('survives a client that resets while a request offering h2c to an owned path is answered', async () => {
    const { gatewayServerFactory } = await import('./server-factory.js');
    const server = gatewayServerFactory({ handle: () => {}, close: async () => {} }, undefined, {
      handle: () => {},
      close: async () => {},
    } as never)((_req, res) => {
      setTimeout(() => res.end('late'), 200); // a slow answer: the client is gone by then
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    const port = (server.address() as AddressInfo).port;
    try {
      await new Promise<void>((resolve) => {
        const socket = connect(port, '127.0.0.1', () => {
          socket.write('GET /healthz HTTP/1.1\r\nHost: x\r\nConnection: Upgrade\r\nUpgrade: h2c\r\n\r\n');
          setTimeout(() => {
            socket.resetAndDestroy();
            resolve();
          }, 50);
        });
      });
      await new Promise((r) => setTimeout(r, 400)); // the answer is written to a reset socket
      const again = await new Promise<string>((resolve) => {
        let out = '';
        const socket = connect(port, '127.0.0.1', () =>
          socket.write('GET /healthz HTTP/1.1\r\nHost: x\r\nConnection: Upgrade\r\nUpgrade: h2c\r\n\r\n'),
        );
        socket.on('data', (d) => {
          out += d;
        });
        socket.on('close', () => resolve(out));
      });
      expect(again).toContain('late');
    } finally {
      server.close();
    }
  });

  it('answers 404 for an upgrade on a path Gatehouse owns, without asking the upstream', async () => {
    await setup();
    const res = await refused(`${g.url}/v1/keys`, g.secret);
    expect(res.status).toBe(404);
    expect(res.json.error.code).toBe('route_not_found');
    expect(up.connections).toBe(0);
  });
});

describe('proxy upgrade (WebSocket): how a tunnel ends', () => {
  /** A tunnel through the gateway with raw sockets at both ends (a ws client cannot half-close), and what each end read. */
  const rawTunnel = async () => {
    await setup();
    const upSocket = acceptRaw(up);
    const client = await rawUpgrade(g);
    const clientGot = collect(client);
    const upstream = await upSocket;
    return { client, clientGot, upstream, upstreamGot: collect(upstream) };
  };

  it('passes a half-close from the upstream on while the client keeps sending; both sockets go once both directions end', async () => {
    const { client, clientGot, upstream, upstreamGot } = await rawTunnel();
    // the upstream's FIN reaches the client as a FIN
    const clientEnded = new Promise<void>((resolve) => client.once('end', () => resolve()));
    upstream.end('down-then-fin');
    await clientEnded;
    expect(clientGot.text()).toMatch(/^HTTP\/1\.1 101 [\s\S]*\r\n\r\ndown-then-fin$/);
    expect(await gatewayConnections(g)).toBe(1);
    // the other direction still flows
    client.write('up-after-fin');
    await vi.waitFor(() => expect(upstreamGot.text()).toBe('up-after-fin'));
    const upstreamClosed = new Promise<void>((resolve) => upstream.once('close', () => resolve()));
    client.end();
    await upstreamClosed;
    await vi.waitFor(async () => expect(await gatewayConnections(g)).toBe(0));
  });

  it('passes a half-close from the client on while the upstream keeps sending', async () => {
    const { client, clientGot, upstream, upstreamGot } = await rawTunnel();
    const upstreamEnded = new Promise<void>((resolve) => upstream.once('end', () => resolve()));
    client.end('up-then-fin');
    await upstreamEnded;
    expect(upstreamGot.text()).toBe('up-then-fin');
    upstream.end('down-after-fin');
    await vi.waitFor(() => expect(clientGot.text()).toContain('down-after-fin'));
    await vi.waitFor(async () => expect(await gatewayConnections(g)).toBe(0));
  });

  it('destroys the client side when the upstream resets, and the upstream side when the client does', async () => {
    await setup();
    let upSocket = acceptRaw(up);
    const first = await rawUpgrade(g);
    await readUntil(first, (b) => b.includes('\r\n\r\n'));
    (await upSocket).resetAndDestroy();
    // the client holds its side open: only the gateway can have closed it
    await vi.waitFor(async () => expect(await gatewayConnections(g)).toBe(0));
    first.destroy();

    upSocket = acceptRaw(up);
    const second = await rawUpgrade(g);
    await readUntil(second, (b) => b.includes('\r\n\r\n'));
    const upstream = await upSocket;
    upstream.resume();
    const upstreamEnded = new Promise<void>((resolve) => upstream.once('end', () => resolve()));
    second.resetAndDestroy();
    await upstreamEnded;
    await vi.waitFor(async () => expect(await gatewayConnections(g)).toBe(0));
  });

  it('cuts a tunnel with no bytes either way for the idle timeout, and not one in use', async () => {
    await setup({ idleTimeoutMs: 300 });
    const { ws } = await opened(`${g.url}/v1/stream`, g.secret);
    const gone = closed(ws);
    // traffic every 100 ms keeps it open well past 300 ms
    let quietSince = 0;
    for (let i = 0; i < 8; i++) {
      await new Promise((resolve) => setTimeout(resolve, 100));
      ws.send(`ping ${i}`);
      expect((await nextMessage(ws)).data.toString()).toBe(`ping ${i}`);
      quietSince = performance.now();
    }
    expect(ws.readyState).toBe(WebSocket.OPEN);
    await gone;
    expect(performance.now() - quietSince).toBeGreaterThanOrEqual(250);
    await vi.waitFor(() => expect(up.clients.size).toBe(0));
    await vi.waitFor(async () => expect(await gatewayConnections(g)).toBe(0));
  });

  it('cuts a tunnel left half-open (the client never closes its side) after the idle timeout', async () => {
    await setup({ idleTimeoutMs: 300 });
    const upSocket = acceptRaw(up);
    const client = await rawUpgrade(g);
    const upstream = await upSocket;
    const upstreamClosed = new Promise<void>((resolve) => upstream.once('close', () => resolve()));
    upstream.end();
    await upstreamClosed;
    await vi.waitFor(async () => expect(await gatewayConnections(g)).toBe(0));
    client.destroy();
  });
});

describe('proxy upgrade (WebSocket): a handshake with a body', () => {
  it('is refused with 413 body_too_large before the upstream is asked, whether sized or chunked', async () => {
    await setup();
    for (const [headers, body] of [
      [['Content-Length: 5'], 'hello'],
      [['Transfer-Encoding: chunked'], '5\r\nhello\r\n0\r\n\r\n'],
    ] as const) {
      const client = await rawUpgrade(g, [...headers], body);
      const res = parseResponse(await readUntil(client, isCompleteResponse));
      expect(res.status).toBe(413);
      expect(res.headers['content-type']).toBe('application/json; charset=utf-8');
      expect(res.json.error).toMatchObject({
        type: 'invalid_request_error',
        code: 'body_too_large',
        request_id: res.headers['request-id'],
      });
      expect(g.log.at(-1)).toMatchObject({ status: 413, errorCode: 'body_too_large', keyId: g.keyId });
      client.destroy();
    }
    expect(up.connections).toBe(0);
  });

  it('accepts Content-Length: 0, which is no body', async () => {
    await setup();
    const client = await rawUpgrade(g, ['Content-Length: 0']);
    const answer = await readUntil(client, (b) => b.includes('\r\n\r\n'));
    expect(answer.toString('latin1')).toMatch(/^HTTP\/1\.1 101 /);
    client.destroy();
  });
});

/** The upstream answers the next handshake with a bare 101 and hands over its raw socket. */
function acceptRaw(upstream: WsUpstream): Promise<Socket> {
  return new Promise((resolve) => {
    upstream.onUpgrade = (_req, _accept, socket) => {
      socket.write('HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\r\n');
      resolve(socket as Socket);
    };
  });
}

/**
 * A WebSocket handshake written by hand on a socket that stays half-open when the other side
 * ends (as a client that ignores FIN would), with extra header lines and a body.
 */
async function rawUpgrade(gateway: GatewayHarness, headers: string[] = [], body = ''): Promise<Socket> {
  const socket = connect({ port: Number(new URL(gateway.url).port), host: '127.0.0.1', allowHalfOpen: true });
  await new Promise<void>((resolve) => socket.once('connect', () => resolve()));
  socket.write(
    'GET /v1/stream HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n' +
      `Sec-WebSocket-Key: ${randomBytes(16).toString('base64')}\r\nSec-WebSocket-Version: 13\r\n` +
      `Authorization: Bearer ${gateway.secret}\r\n${headers.map((h) => `${h}\r\n`).join('')}\r\n${body}`,
  );
  return socket;
}

/** Everything a socket receives from now on. */
function collect(socket: Socket): { text(): string } {
  const chunks: Buffer[] = [];
  socket.on('data', (c: Buffer) => chunks.push(c));
  return { text: () => Buffer.concat(chunks).toString('latin1') };
}

/** Sockets still open on the gateway's listener (node:http keeps counting them after an upgrade). */
function gatewayConnections(gateway: GatewayHarness): Promise<number> {
  return new Promise((resolve, reject) =>
    gateway.app.server.getConnections((err, n) => (err ? reject(err) : resolve(n))),
  );
}

/** Headers and a Content-Length body have all arrived. */
function isCompleteResponse(b: Buffer): boolean {
  const end = b.indexOf('\r\n\r\n');
  if (end < 0) return false;
  const length = /\r\ncontent-length: (\d+)/i.exec(b.subarray(0, end).toString('latin1'));
  return length !== null && b.length >= end + 4 + Number(length[1]);
}

/** A raw HTTP answer with a JSON body, as `openWs` reports a refusal. */
function parseResponse(b: Buffer): Refused {
  const end = b.indexOf('\r\n\r\n');
  const [statusLine, ...lines] = b.subarray(0, end).toString('latin1').split('\r\n');
  const headers: IncomingHttpHeaders = {};
  for (const line of lines) {
    const colon = line.indexOf(':');
    headers[line.slice(0, colon).toLowerCase()] = line.slice(colon + 1).trim();
  }
  return {
    status: Number(statusLine?.split(' ')[1]),
    headers,
    json: JSON.parse(b.subarray(end + 4).toString()),
  };
}

/** A client-to-server text frame (RFC 6455 §5.2): clients must mask. */
function maskedTextFrame(text: string): Buffer {
  const payload = Buffer.from(text);
  const mask = randomBytes(4);
  const masked = Buffer.from(payload.map((b, i) => b ^ (mask[i % 4] as number)));
  return Buffer.concat([Buffer.from([0x81, 0x80 | payload.length]), mask, masked]);
}

function readUntil(socket: Socket, done: (b: Buffer) => boolean): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    let got = Buffer.alloc(0);
    const timer = setTimeout(() => reject(new Error(`timed out with ${got.toString('latin1')}`)), 3000);
    socket.on('data', (c: Buffer) => {
      got = Buffer.concat([got, c]);
      if (done(got)) {
        clearTimeout(timer);
        resolve(got);
      }
    });
  });
}
